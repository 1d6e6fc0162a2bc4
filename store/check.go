package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"github.com/lrsp/lrsp/internal/exactsum"
	"github.com/lrsp/lrsp/model"
)

// CheckReport is what Check found in a store file.
type CheckReport struct {
	// Version is the store's format version (0 when unreadable).
	Version uint32
	// Users is the number of user records read.
	Users int
	// Problems lists every problem found, each naming the page, key or
	// user concerned; a store is sound when it is empty.
	Problems []string
	// Notes lists what could not be verified (e.g. the records of a
	// format without checksums).
	Notes []string
}

// maxProblems bounds the problems that Check lists.
const maxProblems = 1000

// Check verifies the whole store file at path, read-only: bbolt's
// consistency check of its pages, the shared parts, the completeness mark,
// every user record against its checksum and the model's sizes, the user
// count, and the exact sums of the fallback. It returns an error only when
// it cannot check (the file is missing or locked by a writer); everything
// wrong with the file's contents is in the report.
func Check(ctx context.Context, path string) (rep CheckReport, err error) {
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("check %s: %w", path, err)
	}
	db, err := openBolt(path, boltOptions(true, 0))
	if errors.Is(err, ErrLocked) {
		return rep, fmt.Errorf("check %s: %w", path, err)
	}
	if err != nil {
		rep.problem("open: %v", err)
		return rep, nil
	}
	defer db.Close()
	ps, meta := checkMetaPages(path, &rep)
	var bounds []string
	if meta != nil {
		bounds = walkPages(path, ps, meta)
		for _, b := range bounds {
			rep.problem("bbolt page structure: %s", b)
		}
	}
	err = func() (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer recoverCorrupt(&err, "check")
		return db.View(func(tx *bolt.Tx) error {
			if meta != nil && len(bounds) == 0 {
				// bbolt's check reads pages in a goroutine of its own,
				// where a fault cannot be recovered: run it only on
				// pages whose bounds were found sound.
				for e := range tx.Check() {
					rep.problem("bbolt: %v", e)
				}
			}
			return checkContents(ctx, tx, &rep)
		})
	}()
	if err != nil {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("check %s: %w", path, err)
		}
		rep.problem("%v", err)
	}
	return rep, nil
}

func (rep *CheckReport) problem(format string, args ...any) {
	if len(rep.Problems) < maxProblems {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	} else if len(rep.Problems) == maxProblems {
		rep.Problems = append(rep.Problems, "more problems not listed")
	}
}

// bbolt's meta page layout (go.etcd.io/bbolt/internal/common): a 16-byte
// page header, then magic, version, page size, flags (uint32 each), the
// root bucket (16 bytes), the freelist and high-water page ids and the
// transaction id (uint64 each), and an FNV-64a checksum of what precedes
// it.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltMetaOffset  = 16
	boltMetaSumSpan = 56
)

// checkMetaPages verifies both of bbolt's meta pages. bbolt opens a file
// with one damaged meta page silently, from the other one, which may be
// one transaction older; Check reports it. It returns the page size and
// the newest valid meta page (nil if there is none).
func checkMetaPages(path string, rep *CheckReport) (int64, []byte) {
	f, err := os.Open(path)
	if err != nil {
		rep.problem("meta pages: %v", err)
		return 0, nil
	}
	defer f.Close()
	read := func(off int64) ([]byte, error) {
		b := make([]byte, boltMetaOffset+boltMetaSumSpan+8)
		_, err := f.ReadAt(b, off)
		return b[boltMetaOffset:], err
	}
	valid := func(m []byte) (txid uint64, why string) {
		le := binary.LittleEndian
		switch {
		case le.Uint32(m) != boltMagic:
			return 0, "bad magic number"
		case le.Uint32(m[4:]) != boltVersion:
			return 0, fmt.Sprintf("version %d", le.Uint32(m[4:]))
		}
		h := fnv.New64a()
		h.Write(m[:boltMetaSumSpan])
		if h.Sum64() != le.Uint64(m[boltMetaSumSpan:]) {
			return 0, "checksum mismatch"
		}
		return le.Uint64(m[48:]), ""
	}
	m0, err := read(0)
	if err != nil {
		rep.problem("meta page 0: %v", err)
		return 0, nil
	}
	tx0, why0 := valid(m0)
	pageSize := int64(os.Getpagesize())
	if why0 == "" {
		pageSize = int64(binary.LittleEndian.Uint32(m0[8:]))
	}
	m1, err := read(pageSize)
	if err != nil {
		rep.problem("meta page 1: %v", err)
		return 0, nil
	}
	tx1, why1 := valid(m1)
	for i, why := range []string{why0, why1} {
		if why != "" {
			rep.problem("bbolt meta page %d is damaged (%s): bbolt opens the store from the other meta page (transaction %d), "+
				"which may be one transaction older than the last commit; a crash during a commit leaves the same, and the next write repairs it",
				i, why, max(tx0, tx1))
		}
	}
	switch {
	case why0 == "" && (why1 != "" || tx0 >= tx1):
		return pageSize, m0
	case why1 == "":
		return pageSize, m1
	}
	return pageSize, nil
}

// Page and element layout of bbolt files (go.etcd.io/bbolt/internal/common).
const (
	pageHeaderSize  = 16
	elementSize     = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
	inBucketSize    = 16 // root pgid, sequence
	maxCheckedDepth = 64
)

// pageWalker checks the bounds of every page and element reachable from a
// meta page by reading the file (not its memory map), so that Check can
// refuse to hand bbolt's own consistency check (which runs in a goroutine
// of bbolt's, where a fault on the mapped file cannot be recovered) a file
// whose offsets point outside their pages.
type pageWalker struct {
	f        *os.File
	ps, size int64
	hwm      uint64 // the high-water page id of the meta page
	seen     map[uint64]bool
	bad      []string
}

func (w *pageWalker) problem(format string, args ...any) {
	if len(w.bad) < 20 {
		w.bad = append(w.bad, fmt.Sprintf(format, args...))
	}
}

// walkPages returns the bound violations found from meta page m.
func walkPages(path string, ps int64, m []byte) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return []string{err.Error()}
	}
	le := binary.LittleEndian
	w := &pageWalker{f: f, ps: ps, size: st.Size(), hwm: le.Uint64(m[40:]), seen: map[uint64]bool{}}
	if ps < 512 || ps > 1<<20 {
		return []string{fmt.Sprintf("page size %d", ps)}
	}
	w.page(le.Uint64(m[16:]), 0) // the root bucket's root page
	return w.bad
}

// page checks page id and what it references.
func (w *pageWalker) page(id uint64, depth int) {
	if len(w.bad) > 0 {
		return
	}
	if id < 2 || id >= w.hwm || int64(id) > w.size/w.ps || depth > maxCheckedDepth || w.seen[id] {
		w.problem("page %d: referenced out of range (high water %d), twice, or too deep", id, w.hwm)
		return
	}
	w.seen[id] = true
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*w.ps); err != nil {
		w.problem("page %d: %v", id, err)
		return
	}
	n := (int64(binary.LittleEndian.Uint32(hdr[12:])) + 1) * w.ps
	if int64(id)*w.ps+n > w.size {
		w.problem("page %d: %d overflow pages run past the end of the file", id, n/w.ps-1)
		return
	}
	b := make([]byte, n)
	if _, err := w.f.ReadAt(b, int64(id)*w.ps); err != nil {
		w.problem("page %d: %v", id, err)
		return
	}
	w.elements(id, b, depth)
}

// elements checks the elements of page b (an inline page when id is 0).
func (w *pageWalker) elements(id uint64, b []byte, depth int) {
	le := binary.LittleEndian
	if len(b) < pageHeaderSize {
		w.problem("page %d: %d bytes", id, len(b))
		return
	}
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > len(b) {
		w.problem("page %d: %d elements do not fit", id, count)
		return
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		switch flags {
		case branchPageFlag:
			pos, ksize := int(le.Uint32(b[e:])), int(le.Uint32(b[e+4:]))
			if e+pos+ksize > len(b) || e+pos+ksize < e {
				w.problem("page %d: branch element %d out of the page", id, i)
				return
			}
			w.page(le.Uint64(b[e+8:]), depth+1)
		case leafPageFlag:
			eflags, pos := le.Uint32(b[e:]), int(le.Uint32(b[e+4:]))
			ksize, vsize := int(le.Uint32(b[e+8:])), int(le.Uint32(b[e+12:]))
			end := e + pos + ksize + vsize
			if end > len(b) || end < e {
				w.problem("page %d: leaf element %d out of the page", id, i)
				return
			}
			if eflags&bucketLeafFlag != 0 {
				v := b[e+pos+ksize : end]
				if len(v) < inBucketSize {
					w.problem("page %d: bucket element %d too short", id, i)
					return
				}
				if root := le.Uint64(v); root != 0 {
					w.page(root, depth+1)
				} else {
					w.elements(0, v[inBucketSize:], depth+1)
				}
			}
		default:
			w.problem("page %d: flags %#x, want a branch or leaf page", id, flags)
			return
		}
		if len(w.bad) > 0 {
			return
		}
	}
}

// checkContents checks the meta bucket and every user record.
func checkContents(ctx context.Context, tx *bolt.Tx, rep *CheckReport) error {
	meta, users := tx.Bucket(bucketMeta), tx.Bucket(bucketUsers)
	if meta == nil || users == nil {
		rep.problem("not an lrsp user store (missing buckets)")
		return nil
	}
	m, version, err := decodeShared(meta.Get)
	if err != nil {
		rep.problem("shared parts: %v", err)
		return nil
	}
	rep.Version = version
	legacy := version != FormatVersion
	var want []exactsum.Sum
	if legacy {
		rep.Notes = append(rep.Notes, fmt.Sprintf("format version %d: user records carry no checksums and were checked for sizes and finite values only", version))
	} else {
		if v := meta.Get(keyComplete); len(v) != 1 || v[0] != 1 {
			rep.problem("the store is incomplete: its import did not finish")
		}
		if want, err = decodeSums(meta.Get(keyWSumX), m.Rank); err != nil {
			rep.problem("%v", err)
		}
	}
	sums := make([]exactsum.Sum, m.Rank)
	var u model.User
	err = users.ForEach(func(k, v []byte) error {
		if rep.Users%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Users++
		if err := decodeUser(k, v, m, &u, !legacy); err != nil {
			rep.problem("user %q: %v", trimID(k), err)
			return nil
		}
		u.ID = string(k)
		if err := checkUser(m, &u); err != nil {
			rep.problem("user %q: %v", trimID(k), err)
			return nil
		}
		addW(sums, u.W, +1)
		return nil
	})
	if err != nil {
		return err
	}
	if c := meta.Get(keyCount); len(c) != 8 {
		rep.problem("meta: user count of %d bytes, want 8", len(c))
	} else if n := int(binary.LittleEndian.Uint64(c)); n != rep.Users {
		rep.problem("meta: user count %d, but the store holds %d user records", n, rep.Users)
	}
	if want != nil && len(rep.Problems) == 0 {
		for c := range sums {
			if !sums[c].Equal(&want[c]) {
				rep.problem("meta: sum %d of the users' w (for the fallback) is %v, the records add up to %v", c, want[c].Float64(), sums[c].Float64())
			}
		}
	}
	return nil
}

func trimID(k []byte) string {
	if len(k) > 64 {
		return string(k[:64]) + "..."
	}
	return string(k)
}
