package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/lrsp/lrsp/internal/exactsum"
	"github.com/lrsp/lrsp/model"
)

// ImportOptions configures Import. The zero value commits every 20,000
// users and reports no progress.
type ImportOptions struct {
	// BatchSize is the number of users written per transaction; 0 means
	// 20,000.
	BatchSize int
	// Progress, when set, is called after each committed batch with the
	// number of users written so far and the total.
	Progress func(done, total int)
}

// Import writes model m, shared parts and every user, into a new store file
// at path, replacing any file there. It writes a temporary file in the same
// directory in batched transactions, marks it complete after its last
// user, and renames it over path only then, so that a failed or cancelled
// import leaves path as it was and removes its temporary file. Users are
// written in ID order, which lets bbolt fill its pages densely. Duplicate
// user IDs are an error.
//
// Import refuses to replace a store that another process holds open (a
// running server, whose later writes would go to the replaced file), and
// removes temporary files that an import or compaction killed before it
// could clean up left next to path (those no process holds locked).
func Import(ctx context.Context, path string, m *model.Model, opt ImportOptions) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	batch := opt.BatchSize
	if batch <= 0 {
		batch = 20000
	}
	order := make([]int, len(m.Users))
	for i := range order {
		order[i] = i
		if n := len(m.Users[i].ID); n == 0 || n > MaxIDLen {
			return fmt.Errorf("import: user %d: ID of %d bytes, want 1..%d", i, n, MaxIDLen)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(m.Users[a].ID, m.Users[b].ID) })
	for p := 1; p < len(order); p++ {
		if id := m.Users[order[p]].ID; id == m.Users[order[p-1]].ID {
			return fmt.Errorf("import: user %q appears twice in the model", id)
		}
	}
	sums := make([]exactsum.Sum, m.Rank)
	for i := range m.Users {
		addW(sums, m.Users[i].W, +1)
	}

	// Hold the lock of the store being replaced until the rename, so that
	// no server opens it in between and none is writing to it now.
	old, err := lockExisting(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if old != nil {
		defer old.Close()
	}
	removeStaleTemps(path)
	tmp, err := tempPath(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	defer os.Remove(tmp) // no-op after the rename
	err = func() (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer recoverCorrupt(&err, "import")
		opts := boltOptions(false, 0)
		opts.NoGrowSync = true
		db, err := bolt.Open(tmp, 0o600, opts)
		if err != nil {
			return err
		}
		defer db.Close()
		// The file is not visible under path until it is complete and synced
		// below, so per-transaction fsyncs buy nothing.
		db.NoSync = true
		if err := db.Update(func(tx *bolt.Tx) error { return writeShared(tx, m, int64(len(m.Users)), sums) }); err != nil {
			return err
		}
		var arena []byte
		for start := 0; start < len(order); start += batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min(start+batch, len(order))
			err := db.Update(func(tx *bolt.Tx) error {
				users := tx.Bucket(bucketUsers)
				users.FillPercent = 0.95 // keys arrive in increasing order
				// bbolt keeps references to keys and values until the
				// commit, so each value gets its own stretch of arena.
				arena = arena[:0]
				for _, i := range order[start:end] {
					u := &m.Users[i]
					n := len(arena)
					arena = encodeUser(arena, []byte(u.ID), u)
					if err := users.Put([]byte(u.ID), arena[n:len(arena):len(arena)]); err != nil {
						return fmt.Errorf("user %q: %w", u.ID, err)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if opt.Progress != nil {
				opt.Progress(end, len(order))
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Sync every user before the completeness mark, and the mark
		// before the rename.
		if err := db.Sync(); err != nil {
			return err
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyComplete, []byte{1}) }); err != nil {
			return err
		}
		if err := db.Sync(); err != nil {
			return err
		}
		return db.Close()
	}()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if err := renameSynced(tmp, path); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	return nil
}

// lockExisting opens the bbolt file at path, if there is one, to hold its
// lock; it returns nil when path does not exist or is not a bbolt file,
// and an error when another process holds it.
func lockExisting(path string) (*bolt.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := openBolt(path, boltOptions(false, 0))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("cannot replace the store: %w", err)
		}
		return nil, nil // not a store: nothing holds it
	}
	return db, nil
}

// removeStaleTemps removes the temporary files of imports and compactions
// of path that were killed before they could remove them: those whose
// bbolt lock no process holds. A temporary file in use is locked by its
// writer and stays.
func removeStaleTemps(path string) {
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".tmp*"))
	for _, name := range names {
		st, err := os.Lstat(name)
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			continue // an empty file may be a writer's, not yet opened
		}
		db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: 10 * time.Millisecond, ReadOnly: true})
		if errors.Is(err, bolterrors.ErrTimeout) {
			continue // a live writer holds it
		}
		if db != nil {
			db.Close()
		}
		os.Remove(name)
	}
}

// globEscape escapes the pattern characters of filepath.Match in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeShared creates the buckets and writes the model's shared parts and
// the counters.
func writeShared(tx *bolt.Tx, m *model.Model, count int64, sums []exactsum.Sum) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketUsers); err != nil {
		return err
	}
	h := header{Method: m.Method, Dim: m.Dim, Rank: m.Rank, Sparsity: m.Sparsity, Features: m.Features,
		Theta0: m.Theta0 != nil, Privacy: m.Privacy, Loss: m.Loss, Prior: m.Prior}
	if !m.Config.IsZero() {
		h.Config = &m.Config
	}
	version := uint32(FormatVersion)
	if n := m.Network; n != nil {
		h.Network = &networkHeader{Inputs: n.Inputs, Sizes: n.Sizes, Activation: n.Activation}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	kvs := []struct {
		k, v []byte
	}{
		{keyFormat, binary.LittleEndian.AppendUint32(nil, version)},
		{keyHeader, hj},
		{keyU, putFloats(nil, m.U)},
	}
	if m.Network != nil {
		kvs = append(kvs, struct{ k, v []byte }{keyNetwork, encodeNetwork(nil, m.Network)})
	}
	for _, kv := range kvs {
		if err := meta.Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	if m.Theta0 != nil {
		if err := meta.Put(keyTheta0, putFloats(nil, m.Theta0)); err != nil {
			return err
		}
	}
	return putCounters(meta, count, sums)
}

// tempPath returns an unused temporary name next to path.
func tempPath(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	// bbolt initialises empty files itself.
	return name, nil
}

// renameSynced renames tmp over path and syncs the directory.
func renameSynced(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Users calls fn for every user in ID order within one read transaction,
// stopping at the first error or when ctx is cancelled. The user passed to
// fn is reused between calls; fn must copy what it keeps.
func (s *Store) Users(ctx context.Context, fn func(u *model.User) error) error {
	return s.view("read", func(tx *bolt.Tx) error {
		var u model.User
		c := tx.Bucket(bucketUsers).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := decodeUser(k, v, s.m, &u, !s.legacy()); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			u.ID = string(k)
			if err := fn(&u); err != nil {
				return err
			}
		}
		return nil
	})
}

// Export reads the whole store into a model, users in ID order. The model
// shares nothing with the store.
func (s *Store) Export(ctx context.Context) (*model.Model, error) {
	m := *s.m
	m.Features, m.U, m.Theta0, m.Config = slices.Clone(m.Features), slices.Clone(m.U), slices.Clone(m.Theta0), m.Config.Clone()
	if p := s.m.Privacy; p != nil {
		c := *p
		m.Privacy = &c
	}
	if n := s.m.Network; n != nil {
		c := *n
		c.Inputs, c.Sizes = slices.Clone(n.Inputs), slices.Clone(n.Sizes)
		c.Layers = make([][]float64, len(n.Layers))
		for l, v := range n.Layers {
			c.Layers[l] = slices.Clone(v)
		}
		m.Network = &c
	}
	m.Users = make([]model.User, 0, s.Len())
	err := s.Users(ctx, func(u *model.User) error {
		m.Users = append(m.Users, model.User{ID: u.ID, W: slices.Clone(u.W),
			Index: slices.Clone(u.Index), Value: slices.Clone(u.Value)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", s.path, err)
	}
	return &m, nil
}

// Compact rewrites the store file at path so that it holds only live data:
// it copies every key into a new temporary file (the completeness mark
// last, so that a half-written copy does not open), syncs it and renames it
// over path. Afterwards the bytes of deleted users are no
// longer in the file at path (the old file's disk blocks are released to the
// file system, which does not overwrite them). The store must not be open
// elsewhere; Compact fails if another process holds it. It returns the file
// sizes before and after.
func Compact(path string) (before, after int64, err error) {
	defer recoverCorrupt(&err, "compact")
	src, err := openBolt(path, boltOptions(false, 0))
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	defer src.Close()
	if err := src.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("not an lrsp user store")
		}
		return nil
	}); err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	removeStaleTemps(path)
	if st, err := os.Stat(path); err == nil {
		before = st.Size()
	}
	tmp, err := tempPath(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	defer os.Remove(tmp)
	err = func() error {
		opts := boltOptions(false, 0)
		opts.NoGrowSync = true
		dst, err := bolt.Open(tmp, 0o600, opts)
		if err != nil {
			return err
		}
		defer dst.Close()
		dst.NoSync = true
		if err := copyStore(dst, src, 64<<20); err != nil {
			return err
		}
		if err := dst.Sync(); err != nil {
			return err
		}
		return dst.Close()
	}()
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	// The rename happens while src still holds its lock on the old inode,
	// so no other process can open the old file in between.
	if err := renameSynced(tmp, path); err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	return before, st.Size(), nil
}

// copyStore copies the meta and users buckets of src into the empty dst,
// committing about every txMaxSize bytes, and the completeness mark last.
func copyStore(dst, src *bolt.DB, txMaxSize int) error {
	return src.View(func(stx *bolt.Tx) error {
		var complete []byte
		for _, name := range [][]byte{bucketMeta, bucketUsers} {
			b := stx.Bucket(name)
			if b == nil {
				return fmt.Errorf("not an lrsp user store (missing bucket %s)", name)
			}
			if err := dst.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(name); return err }); err != nil {
				return err
			}
			c := b.Cursor()
			k, v := c.First()
			for k != nil {
				err := dst.Update(func(tx *bolt.Tx) error {
					db := tx.Bucket(name)
					db.FillPercent = 0.95 // keys arrive in increasing order
					for size := 0; k != nil && size < txMaxSize; k, v = c.Next() {
						if v == nil {
							return fmt.Errorf("unexpected nested bucket %q in %s", k, name)
						}
						if bytes.Equal(name, bucketMeta) && bytes.Equal(k, keyComplete) {
							complete = bytes.Clone(v)
							continue
						}
						// bbolt keeps k and v until the commit, and they
						// point into src's memory map, valid until src's
						// transaction ends.
						if err := db.Put(k, v); err != nil {
							return err
						}
						size += len(k) + len(v)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		if complete == nil {
			return nil // a store of an earlier format: no mark
		}
		if err := dst.Sync(); err != nil {
			return err
		}
		return dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyComplete, complete) })
	})
}
