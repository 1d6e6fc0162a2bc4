package pack_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

// mapped reports whether Open is expected to map files on this system.
var mapped = map[string]bool{"aix": true, "darwin": true, "dragonfly": true, "freebsd": true,
	"linux": true, "netbsd": true, "openbsd": true, "solaris": true}[runtime.GOOS]

// scanned is what a Scan passed to its callback, as bits, so that NaNs and
// signed zeros compare exactly.
type scanned struct {
	users []int
	x, y  [][]uint64
}

func bits(v []float64) []uint64 {
	if v == nil {
		return nil
	}
	b := make([]uint64, len(v))
	for j, f := range v {
		b[j] = math.Float64bits(f)
	}
	return b
}

// scanRanges scans users lo..hi-1 for each range, reusing one Scratch.
func scanRanges(p *pack.File, ranges [][2]int) (scanned, error) {
	var got scanned
	var sc dataset.Scratch
	for _, r := range ranges {
		err := p.Scan(r[0], r[1], &sc, func(i int, x, y []float64) error {
			got.users = append(got.users, i)
			got.x = append(got.x, bits(x))
			got.y = append(got.y, bits(y))
			return nil
		})
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// TestScanMappedMatchesReadAt checks that Scan, ReadAll and Chunks give
// bit for bit the values of the ReadAt path when the file is mapped, for
// both precisions, with and without targets, over ranges of users that
// start and end anywhere.
func TestScanMappedMatchesReadAt(t *testing.T) {
	data := synthData(t, synth.Options{Users: 64, Samples: 20, Dim: 40, Rank: 2, Sparsity: 2, Noise: 0.1, Seed: 4})
	for _, tc := range []struct {
		name string
		ds   *dataset.Dataset
	}{
		{"synth", data.Train},
		{"uneven-targets", unevenUsers(23, 5, true)},
		{"uneven-no-targets", unevenUsers(23, 5, false)},
	} {
		for _, prec := range []pack.Precision{pack.Float32, pack.Float64} {
			t.Run(fmt.Sprintf("%s/float%d", tc.name, 8*prec), func(t *testing.T) {
				path := write(t, tc.ds, prec)
				mp, err := pack.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer mp.Close()
				rp, err := pack.OpenReadAt(path)
				if err != nil {
					t.Fatal(err)
				}
				defer rp.Close()
				if pack.Mapped(mp) != mapped || pack.Mapped(rp) {
					t.Fatalf("mapped: Open %v, OpenReadAt %v; want %v, false", pack.Mapped(mp), pack.Mapped(rp), mapped)
				}
				n := mp.NumUsers()
				ranges := [][2]int{{0, n}, {0, 1}, {n - 1, n}, {3, 7}, {7, 7}, {1, n - 1}}
				for lo := 0; lo < n; lo += 5 {
					ranges = append(ranges, [2]int{lo, min(lo+5, n)})
				}
				want, err := scanRanges(rp, ranges)
				if err != nil {
					t.Fatal(err)
				}
				got, err := scanRanges(mp, ranges)
				if err != nil {
					t.Fatal(err)
				}
				if len(want.users) == 0 || !reflect.DeepEqual(got, want) {
					t.Fatalf("mapped Scan differs from ReadAt (%d and %d users)", len(got.users), len(want.users))
				}
				ctx := context.Background()
				wa, err := rp.ReadAll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ga, err := mp.ReadAll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(datasetBits(ga), datasetBits(wa)) {
					t.Fatal("mapped ReadAll differs from ReadAt")
				}
				var wc, gc [][]any
				for _, c := range []struct {
					p   *pack.File
					out *[][]any
				}{{rp, &wc}, {mp, &gc}} {
					for chunk, err := range c.p.Chunks(ctx, 2000) {
						if err != nil {
							t.Fatal(err)
						}
						*c.out = append(*c.out, datasetBits(chunk))
					}
				}
				if len(wc) < 2 || !reflect.DeepEqual(gc, wc) {
					t.Fatalf("mapped Chunks differ from ReadAt (%d and %d chunks)", len(gc), len(wc))
				}
			})
		}
	}
}

// datasetBits returns the users of ds with their values as bits.
func datasetBits(ds *dataset.Dataset) []any {
	var out []any
	for _, u := range ds.Users {
		out = append(out, u.ID, bits(u.X), bits(u.Y), u.Rows)
	}
	return out
}

// TestScanTruncatedAfterOpen checks that a file truncated below the data of
// the users scanned after it was opened makes Scan return an error naming
// the file, mapped or not, instead of crashing the program.
func TestScanTruncatedAfterOpen(t *testing.T) {
	data := synthData(t, synth.Options{Users: 64, Samples: 20, Dim: 40, Rank: 2, Sparsity: 2, Seed: 5})
	for _, tc := range []struct {
		name   string
		open   func(string) (*pack.File, error)
		prec   pack.Precision
		size   int64
		mapped bool
	}{
		{"mapped/float32/4096", pack.Open, pack.Float32, 4096, mapped},
		{"mapped/float64/4096", pack.Open, pack.Float64, 4096, mapped},
		{"mapped/float64/0", pack.Open, pack.Float64, 0, mapped},
		{"mapped/float64/100000", pack.Open, pack.Float64, 100000, mapped},
		{"readat/float32/4096", pack.OpenReadAt, pack.Float32, 4096, false},
		{"readat/float64/100000", pack.OpenReadAt, pack.Float64, 100000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, data.Train, tc.prec)
			p, err := tc.open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if pack.Mapped(p) != tc.mapped {
				t.Fatalf("mapped %v, want %v", pack.Mapped(p), tc.mapped)
			}
			if err := os.Truncate(path, tc.size); err != nil {
				t.Fatal(err)
			}
			users := 0
			var sc dataset.Scratch
			err = p.Scan(0, p.NumUsers(), &sc, func(int, []float64, []float64) error {
				users++
				return nil
			})
			if err == nil || !strings.HasPrefix(err.Error(), "pack: read "+path+": ") {
				t.Fatalf("after %d users: error %v, want one naming %s", users, err, path)
			}
			if tc.mapped && !strings.Contains(err.Error(), "the file changed while it was being read") {
				t.Errorf("error %v, want one saying that the file changed", err)
			}
			if users == p.NumUsers() {
				t.Errorf("every user scanned")
			}
			// The File still works as far as it can: a second Scan fails
			// the same way, and Close succeeds.
			if err2 := p.Scan(0, p.NumUsers(), &sc, func(int, []float64, []float64) error { return nil }); err2 == nil {
				t.Error("second Scan: no error")
			}
		})
	}
}

// TestScanTruncatedInCallback checks that a file truncated while fn reads
// float64 features in place from the mapping gives an error, not a crash.
func TestScanTruncatedInCallback(t *testing.T) {
	if !mapped {
		t.Skip("no memory maps on " + runtime.GOOS)
	}
	data := synthData(t, synth.Options{Users: 8, Samples: 200, Dim: 40, Rank: 2, Sparsity: 2, Seed: 6})
	path := write(t, data.Train, pack.Float64)
	p, err := pack.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var sc dataset.Scratch
	var sum float64
	err = p.Scan(0, p.NumUsers(), &sc, func(i int, x, y []float64) error {
		if err := os.Truncate(path, 0); err != nil {
			return err
		}
		for _, v := range x {
			sum += v
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "changed while it was being read") {
		t.Fatalf("error %v (sum %v), want one naming %s", err, sum, path)
	}
}

// TestScanCallbackPanics checks that a panic of fn that is not a fault
// reading the mapping passes through Scan, and that Scan restores the
// goroutine's panic-on-fault setting.
func TestScanCallbackPanics(t *testing.T) {
	data := synthData(t, synth.Options{Users: 4, Samples: 3, Dim: 2, Rank: 1, Seed: 7})
	for _, tc := range []struct {
		name string
		fn   func(x []float64)
	}{
		{"value", func([]float64) { panic("boom") }},
		{"index", func(x []float64) { _ = x[len(x)+int(x[0]*0)] }},
		{"nil", func(x []float64) {
			var p *[4]float64
			if len(x) > 0 {
				_ = p[0]
			}
		}},
	} {
		for _, open := range []func(string) (*pack.File, error){pack.Open, pack.OpenReadAt} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := open(write(t, data.Train, pack.Float64))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				var r any
				func() {
					defer func() { r = recover() }()
					var sc dataset.Scratch
					err = p.Scan(0, p.NumUsers(), &sc, func(_ int, x, _ []float64) error {
						tc.fn(x)
						return nil
					})
				}()
				if r == nil {
					t.Fatalf("no panic; Scan returned %v", err)
				}
				if tc.name == "value" && r != "boom" {
					t.Errorf("panic %v, want boom", r)
				}
				if _, ok := r.(runtime.Error); tc.name != "value" && !ok {
					t.Errorf("panic %v, want a runtime.Error", r)
				}
			})
		}
	}
}

// TestScanAfterClose checks that a Scan after Close returns an error, and
// that Close waits for a Scan in progress.
func TestScanAfterClose(t *testing.T) {
	data := synthData(t, synth.Options{Users: 4, Samples: 3, Dim: 2, Rank: 1, Seed: 8})
	for _, prec := range []pack.Precision{pack.Float32, pack.Float64} {
		for name, open := range map[string]func(string) (*pack.File, error){"mapped": pack.Open, "readat": pack.OpenReadAt} {
			t.Run(fmt.Sprintf("%s/float%d", name, 8*prec), func(t *testing.T) {
				path := write(t, data.Train, prec)
				p, err := open(path)
				if err != nil {
					t.Fatal(err)
				}
				var sc dataset.Scratch
				var closed atomic.Bool
				done := make(chan error)
				err = p.Scan(0, p.NumUsers(), &sc, func(i int, x, y []float64) error {
					if i == 0 {
						go func() { done <- p.Close(); closed.Store(true) }()
						time.Sleep(20 * time.Millisecond)
					}
					if closed.Load() {
						return errors.New("closed during the Scan")
					}
					_ = x[len(x)-1] + y[0]
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				for _, r := range [][2]int{{0, p.NumUsers()}, {1, 1}} {
					err = p.Scan(r[0], r[1], &sc, func(int, []float64, []float64) error { return nil })
					if !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), path) {
						t.Errorf("Scan(%d, %d) after Close: %v, want an error naming %s", r[0], r[1], err, path)
					}
				}
				if _, err := p.ReadAll(context.Background()); err == nil {
					t.Error("ReadAll after Close: no error")
				}
				if err := p.Close(); err == nil {
					t.Error("second Close: no error")
				}
			})
		}
	}
}

// TestScanVerifiesOnceUntilWritten checks that a mapped File verifies a
// user's checksum on its first Scan only, and again after the file is
// written in place (its modification time changed): a byte of a user's
// data changed then is a checksum error, as it is on the ReadAt path,
// which verifies every Scan.
func TestScanVerifiesOnceUntilWritten(t *testing.T) {
	if !mapped {
		t.Skip("no memory maps on this system")
	}
	data := synthData(t, synth.Options{Users: 20, Samples: 10, Dim: 6, Rank: 2, Sparsity: 1, Noise: 0.1, Seed: 6})
	for _, open := range []struct {
		name string
		fn   func(string) (*pack.File, error)
	}{{"mapped", pack.Open}, {"readat", pack.OpenReadAt}} {
		t.Run(open.name, func(t *testing.T) {
			path := write(t, data.Train, pack.Float64)
			p, err := open.fn(path)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if _, err := scanRanges(p, [][2]int{{0, p.NumUsers()}}); err != nil {
				t.Fatal(err)
			}
			for i := range p.NumUsers() {
				if got := pack.Verified(p, i); got != pack.Mapped(p) {
					t.Fatalf("user %d: verified %v after a Scan, want %v", i, got, pack.Mapped(p))
				}
			}
			// Flip a byte of the last user's data in place, and move the
			// modification time as a write does.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			at := p.DataBytes() - 3 // inside the last user's features
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, pack.DataStart(p)+at); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x40
			if _, err := f.WriteAt(b, pack.DataStart(p)+at); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chtimes(path, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			_, err = scanRanges(p, [][2]int{{0, p.NumUsers()}})
			if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Scan after an in-place write: %v, want a checksum mismatch naming %s", err, path)
			}
		})
	}
}
