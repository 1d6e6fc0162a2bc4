package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestStoreCheck checks lrsp store check on a sound store and on one with
// a corrupt user record: the problem names the user and the command fails
// (exit status 1).
func TestStoreCheck(t *testing.T) {
	dir := t.TempDir()
	mpath, spath := filepath.Join(dir, "m.lrsp"), filepath.Join(dir, "users.db")
	mustRun(t, "store", "random-model", "--users", "30", "--dim", "4", "--rank", "2", "--sparsity", "1", "--out", mpath)
	mustRun(t, "store", "import", "--model", mpath, "--store", spath)
	if out := mustRun(t, "store", "check", "--store", spath); !strings.Contains(out, "sound (format version 3, 30 users)") {
		t.Fatalf("store check of a sound store: %q", out)
	}
	db, err := bolt.Open(spath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("users"))
		v := bytes.Clone(b.Get([]byte("u7")))
		v[len(v)/2] ^= 0x40
		return b.Put([]byte("u7"), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, _, err := lrsp(t, "store", "check", "--store", spath)
	if err == nil || !strings.Contains(err.Error(), "1 problems") {
		t.Fatalf("store check of a corrupt store: err %v, want 1 problem", err)
	}
	if !strings.Contains(out, `problem: user "u7"`) || !strings.Contains(out, "checksum") {
		t.Fatalf("store check output %q does not name u7's checksum", out)
	}
}
