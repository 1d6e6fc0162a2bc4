package store

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lrsp/lrsp/internal/exactsum"
	"github.com/lrsp/lrsp/model"
)

// TestFallbackExactAfterExtremeUser guards the --unknown global fallback:
// putting and deleting users with extreme w must leave it bit-identical,
// also after reopening the store (a float64 running sum lost the other
// users' w for good).
func TestFallbackExactAfterExtremeUser(t *testing.T) {
	m := randomModel(20, 6, 2, 2, false, 7)
	s, path := importTemp(t, m)
	bits := func(w []float64) []uint64 {
		b := make([]uint64, len(w))
		for i, v := range w {
			b[i] = math.Float64bits(v)
		}
		return b
	}
	want := bits(s.Fallback().W)
	if got := bits(m.Fallback().W); !reflect.DeepEqual(got, want) {
		t.Fatalf("fresh store's fallback %v differs from the model's %v", s.Fallback().W, m.Fallback().W)
	}
	for i, w := range [][]float64{{1e300, -1e300}, {-1.7e308, 3e-320}, {math.MaxFloat64, 1e200}, {1e286, -1e286}} {
		id := "extreme" + string(rune('a'+i))
		if _, err := s.Put(model.User{ID: id, W: w}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(model.User{ID: id, W: []float64{w[1], w[0]}}); err != nil { // replace
			t.Fatal(err)
		}
		if _, err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := bits(s.Fallback().W); !reflect.DeepEqual(got, want) {
		t.Fatalf("fallback after put+delete of extreme users = %v, want %v", s.Fallback().W, m.Fallback().W)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := bits(s2.Fallback().W); !reflect.DeepEqual(got, want) {
		t.Fatalf("fallback after reopening = %v, want %v", s2.Fallback().W, m.Fallback().W)
	}
}

// TestImportRefusesHeldStore guards against a second writer: importing
// over a store that a running server holds open must fail with a clear
// error and leave the store as it was (the import used to rename a new file
// over it, and the server's later writes went to the replaced file).
func TestImportRefusesHeldStore(t *testing.T) {
	s, path := importTemp(t, randomModel(3, 4, 1, 1, false, 1))
	before, _ := os.ReadFile(path)
	err := Import(context.Background(), path, randomModel(5, 4, 1, 1, false, 2), ImportOptions{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("Import over a held store: %v, want ErrLocked", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("refused import changed the store file")
	}
	if _, _, err := Compact(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact of a held store: %v, want ErrLocked", err)
	}
	// Two opens: the second writer fails on the lock.
	if _, err := Open(path, Options{LockTimeout: 20 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	s.Close()
	if err := Import(context.Background(), path, randomModel(5, 4, 1, 1, false, 2), ImportOptions{}); err != nil {
		t.Fatalf("Import after the holder closed: %v", err)
	}
	assertNoTemps(t, path)
}

// assertNoTemps fails when temporary files of path remain.
func assertNoTemps(t *testing.T, path string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestStaleTempsRemoved guards against temporary files of a killed import
// that nothing removes: the next import removes those no process holds,
// and keeps one that a live writer holds locked. A temporary file itself
// never opens as a store: it has no completeness mark.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.db")
	// A half-written store, as a killed import leaves it.
	stale := filepath.Join(dir, ".users.db.tmp123")
	db, err := bolt.Open(stale, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := randomModel(4, 3, 1, 1, false, 1)
	if err := db.Update(func(tx *bolt.Tx) error { return writeShared(tx, m, 1000000, nil) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(stale, Options{}); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("Open of a half-written store: %v, want an incomplete-store error", err)
	}
	live := filepath.Join(dir, ".users.db.tmp456")
	ldb, err := bolt.Open(live, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ldb.Close()
	if err := Import(context.Background(), path, m, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file not removed: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("a locked temporary file was removed: %v", err)
	}
}

// TestCorruptRecordIsAnError guards the record checksums: a changed byte in
// a user's record is an error naming the user (never other parameters),
// and Check reports it.
func TestCorruptRecordIsAnError(t *testing.T) {
	m := randomModel(6, 5, 2, 2, true, 3)
	s, path := importTemp(t, m)
	s.Close()
	victim := m.Users[2].ID
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		v := bytes.Clone(b.Get([]byte(victim)))
		v[3] ^= 0x10 // a bit of w[0]
		return b.Put([]byte(victim), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Get(victim)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Get of a corrupt record: %v, want a checksum error naming %q", err, victim)
	}
	if _, err := s.Get(m.Users[0].ID); err != nil {
		t.Fatalf("Get of a sound record: %v", err)
	}
	s.Close()
	rep, err := Check(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], victim) {
		t.Fatalf("Check problems %q, want one naming %q", rep.Problems, victim)
	}
	// Deleting the corrupt record repairs the store: the sums are
	// recomputed from the other records.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delete(victim); !ok || err != nil {
		t.Fatalf("Delete of a corrupt record: %v, %v", ok, err)
	}
	rest := *m
	rest.Users = append(append([]model.User{}, m.Users[:2]...), m.Users[3:]...)
	if got, want := s.Fallback().W, rest.Fallback().W; !reflect.DeepEqual(got, want) || s.Len() != 5 {
		t.Fatalf("after deleting the corrupt record: fallback %v, %d users; want %v, 5", got, s.Len(), want)
	}
	s.Close()
	if rep, err := Check(context.Background(), path); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("Check after the repair: %v %q", err, rep.Problems)
	}
}

// TestCheck checks that a sound store passes and that each kind of damage
// is reported.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(tx *bolt.Tx) error
		want   string
	}{
		{"sound", nil, ""},
		{"count", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyCount, []byte{9, 0, 0, 0, 0, 0, 0, 0})
		}, "user count 9"},
		{"incomplete", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyComplete) }, "incomplete"},
		{"sums", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWSumX, encodeSums(make([]exactsum.Sum, 2)))
		}, "sum 0"},
		{"meta page", nil, "meta page 1 is damaged"},
		{"moved record", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketUsers)
			v := bytes.Clone(b.Get([]byte("user1")))
			if err := b.Delete([]byte("user1")); err != nil {
				return err
			}
			return b.Put([]byte("user1x"), v)
		}, `user "user1x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := importTemp(t, randomModel(5, 4, 2, 1, false, 4))
			s.Close()
			if tc.name == "meta page" {
				// A flipped byte in the transaction id of the second meta
				// page: bbolt silently opens from the first one.
				b, _ := os.ReadFile(path)
				b[os.Getpagesize()+16+48] ^= 1
				os.WriteFile(path, b, 0o600)
			}
			if tc.mutate != nil {
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(tc.mutate); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			rep, err := Check(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "meta page" || tc.name == "sound" {
				s, err := Open(path, Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				w := s.Warnings()
				s.Close()
				if tc.name == "sound" && len(w) > 0 {
					t.Fatalf("Open warnings %q for a sound store", w)
				}
				if tc.name == "meta page" && (len(w) != 1 || !strings.Contains(w[0], "meta page 1 is damaged")) {
					t.Fatalf("Open warnings %q, want the damaged meta page", w)
				}
			}
			if tc.want == "" {
				if len(rep.Problems) > 0 || rep.Users != 5 || rep.Version != FormatVersion {
					t.Fatalf("sound store: %+v", rep)
				}
				return
			}
			if len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("problems %q, want one containing %q", rep.Problems, tc.want)
			}
		})
	}
}

// TestByteFlipsNeverServeWrongUsers flips bytes all over a store file: each
// flipped store must either fail to open, or answer every user with its
// true parameters or an error; never other parameters, never a panic.
// Check must report every flip that changed what a read returns.
func TestByteFlipsNeverServeWrongUsers(t *testing.T) {
	m := randomModel(40, 6, 2, 2, true, 5)
	s, path := importTemp(t, m)
	s.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]model.User{}
	for _, u := range m.Users {
		want[u.ID] = norm(u)
	}
	step := max(1, len(orig)/800) // about 800 flips
	if testing.Short() {
		step *= 4
	}
	dir := t.TempDir()
	for off := 0; off < len(orig); off += step {
		b := bytes.Clone(orig)
		b[off] ^= 0x5a
		p := filepath.Join(dir, "flip.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		changed := func() bool {
			s, err := Open(p, Options{ReadOnly: true})
			if err != nil {
				return true
			}
			defer s.Close()
			changed := s.Len() != len(want) || !reflect.DeepEqual(s.Fallback().W, m.Fallback().W)
			for id, u := range want {
				got, err := s.Get(id)
				if err != nil {
					changed = true
					continue
				}
				if !reflect.DeepEqual(norm(got), u) {
					t.Errorf("flip at %d: user %s read as %+v, want %+v", off, id, got, u)
				}
			}
			return changed
		}()
		rep, err := Check(context.Background(), p)
		if err != nil {
			t.Fatalf("flip at %d: Check: %v", off, err)
		}
		if changed && len(rep.Problems) == 0 {
			t.Errorf("flip at %d changed what the store answers, but Check found no problem", off)
		}
	}
}

// FuzzDecodeUser feeds arbitrary records to the user record decoder of
// both formats: it must return an error or parameters that re-encode to
// the same record, never panic; and a record with a checksum must never
// decode after any change of its bytes or key that keeps its length.
func FuzzDecodeUser(f *testing.F) {
	m := randomModel(0, 6, 2, 3, false, 1)
	u := model.User{ID: "alice", W: []float64{1.5, -2}, Index: []int32{0, 4}, Value: []float64{3, 1e-300}}
	rec := encodeUser(nil, []byte(u.ID), &u)
	f.Add([]byte("alice"), rec, true)
	f.Add([]byte("alice"), rec[:len(rec)-4], false)
	f.Add([]byte("bob"), rec, true)
	f.Add([]byte(""), []byte{0x80, 0x80, 0x80}, true)
	f.Add([]byte("x"), []byte{7}, false)
	f.Fuzz(func(t *testing.T, id, v []byte, sum bool) {
		var got model.User
		if err := decodeUser(id, v, m, &got, sum); err != nil {
			return
		}
		re := encodeUser(nil, id, &got)
		if !sum {
			re = re[:len(re)-4]
		}
		// Uvarint accepts padded encodings; compare the parameters.
		var again model.User
		if err := decodeUser(id, re, m, &again, sum); err != nil || !reflect.DeepEqual(norm(again), norm(got)) {
			t.Fatalf("record %x of %q decodes to %+v, which does not round-trip (%v)", v, id, got, err)
		}
		if sum && !bytes.Equal(id, []byte("alice")) && bytes.Equal(v, rec) {
			t.Fatalf("alice's record decoded under key %q", id)
		}
	})
}
