package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	err = func() (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer recoverCorrupt(&err, "check")
		return db.View(func(tx *bolt.Tx) error {
			for e := range tx.Check() {
				rep.problem("bbolt: %v", e)
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
