package pack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
)

// unevenUsers returns users with 1, 2, ..., n samples of dimension d, with
// or without targets, their input rows interleaved.
func unevenUsers(n, d int, target bool) *dataset.Dataset {
	features := make([]string, d)
	for j := range features {
		features[j] = fmt.Sprintf("f%d", j)
	}
	b := dataset.NewBuilder(features, target)
	x := make([]float64, d)
	row := 0
	for s := range n {
		for i := s; i < n; i++ {
			for j := range x {
				x[j] = float64(1000*i + 10*s + j)
			}
			b.Add(fmt.Sprintf("u%d", i), x, float64(-i-s), row)
			row++
		}
	}
	return b.Dataset()
}

func TestChunks(t *testing.T) {
	const users, d = 6, 3
	for _, tc := range []struct {
		name     string
		maxBytes int64
		target   bool
		// sizes are the users of each chunk.
		sizes []int
	}{
		{"one user a chunk", 1, true, []int{1, 1, 1, 1, 1, 1}},
		{"zero is one user a chunk", 0, true, []int{1, 1, 1, 1, 1, 1}},
		{"negative is one user a chunk", -5, false, []int{1, 1, 1, 1, 1, 1}},
		// 3 samples of 3 features are 72 bytes: users 1 and 2 (1 + 2
		// samples) fill a chunk, then each larger user is a chunk of its
		// own.
		{"users larger than a chunk", 72, true, []int{2, 1, 1, 1, 1}},
		{"three small users, then one a chunk", 8 * d * (1 + 2 + 1), false, []int{3, 1, 1, 1}},
		{"whole file", 64 << 20, true, []int{users}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := unevenUsers(users, d, tc.target)
			p, err := pack.Open(write(t, ds, pack.Float64))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var sizes []int
			var got []dataset.User
			prevY := map[int][]float64{}
			for chunk, err := range p.Chunks(context.Background(), tc.maxBytes) {
				if err != nil {
					t.Fatal(err)
				}
				if chunk.HasTarget != tc.target || !reflect.DeepEqual(chunk.Features, ds.Features) {
					t.Fatalf("chunk %d: features %v, targets %v", len(sizes), chunk.Features, chunk.HasTarget)
				}
				sizes = append(sizes, len(chunk.Users))
				row := 0
				for _, u := range chunk.Users {
					for _, r := range u.Rows {
						if r != row {
							t.Fatalf("chunk %d: user %s: rows %v do not count from 0 in the chunk", len(sizes)-1, u.ID, u.Rows)
						}
						row++
					}
					// X is reused by the next chunk: copy it; Y and Rows are
					// the caller's to keep.
					u.X = append([]float64(nil), u.X...)
					got = append(got, u)
				}
				if len(chunk.Users) > 0 && chunk.Users[0].Y != nil {
					prevY[len(sizes)-1] = chunk.Users[0].Y
				}
			}
			if !reflect.DeepEqual(sizes, tc.sizes) {
				t.Errorf("chunk sizes %v, want %v", sizes, tc.sizes)
			}
			if len(got) != len(ds.Users) {
				t.Fatalf("%d users, want %d", len(got), len(ds.Users))
			}
			for i, w := range ds.Users {
				g := got[i]
				if g.ID != w.ID || !reflect.DeepEqual(g.X, w.X) || !reflect.DeepEqual(g.Y, w.Y) {
					t.Errorf("user %d: %s x %v y %v, want %s x %v y %v", i, g.ID, g.X, g.Y, w.ID, w.X, w.Y)
				}
			}
			// Kept targets survive the chunks after them.
			for k, y := range prevY {
				if want := ds.Users[sumTo(tc.sizes, k)].Y; !reflect.DeepEqual(y, want) {
					t.Errorf("chunk %d: kept targets %v changed, want %v", k, y, want)
				}
			}
		})
	}
}

func sumTo(sizes []int, k int) int {
	n := 0
	for _, s := range sizes[:k] {
		n += s
	}
	return n
}

func TestChunksStop(t *testing.T) {
	ds := unevenUsers(5, 2, true)
	path := write(t, ds, pack.Float32)
	p, err := pack.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name string
		// cancelAfter cancels ctx after that many chunks (-1: before).
		cancelAfter int
		// breakAfter stops ranging after that many chunks (0: never).
		breakAfter int
		chunks     int
		err        error
	}{
		{"cancelled before", -1, 0, 0, context.Canceled},
		{"cancelled after two chunks", 2, 0, 2, context.Canceled},
		{"break after three chunks", -2, 3, 3, nil},
		{"all", -2, 0, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tc.cancelAfter == -1 {
				cancel()
			}
			n, errs := 0, 0
			var last error
			for chunk, err := range p.Chunks(ctx, 1) {
				if err != nil {
					errs++
					last = err
					if chunk != nil {
						t.Errorf("chunk %v with error %v", chunk, err)
					}
					continue
				}
				n++
				if n == tc.cancelAfter {
					cancel()
				}
				if n == tc.breakAfter {
					break
				}
			}
			if n != tc.chunks {
				t.Errorf("%d chunks, want %d", n, tc.chunks)
			}
			if !errors.Is(last, tc.err) || (tc.err != nil) != (errs == 1) {
				t.Errorf("%d errors, last %v, want one %v", errs, last, tc.err)
			}
			if last != nil && (!strings.HasPrefix(last.Error(), "pack: ") || !strings.Contains(last.Error(), path)) {
				t.Errorf("error %q does not start with pack: and name %s", last, path)
			}
		})
	}
}

func TestChunksCorrupt(t *testing.T) {
	ds := unevenUsers(4, 2, true)
	path := write(t, ds, pack.Float64)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the last user's first feature, 3000 (see
	// unevenUsers), which only the user's checksum covers.
	at := bytes.Index(b, binary.LittleEndian.AppendUint64(nil, math.Float64bits(3000)))
	if at < 0 {
		t.Fatal("feature 3000 not found in the file")
	}
	bad := filepath.Join(t.TempDir(), "bad.lrspd")
	if err := os.WriteFile(bad, flip(b, at+7), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := pack.Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := 0
	var last error
	for _, err := range p.Chunks(context.Background(), 1) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if last == nil || !strings.HasPrefix(last.Error(), "pack: ") || !strings.Contains(last.Error(), bad) ||
		!strings.Contains(last.Error(), `"u3"`) || !strings.Contains(last.Error(), "corrupted") {
		t.Fatalf("after %d chunks: error %v, want one naming %s and user u3", n, last, bad)
	}
	if n != 3 {
		t.Errorf("%d chunks before the corrupt user, want 3", n)
	}
}

func ExampleFile_Chunks() {
	dir, err := os.MkdirTemp("", "pack-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	b := dataset.NewBuilder([]string{"a", "b"}, true)
	for i, id := range []string{"ann", "bob", "bob", "cy", "cy", "cy"} {
		b.Add(id, []float64{float64(i), 1}, float64(i), i)
	}
	path := filepath.Join(dir, "data.lrspd")
	if err := pack.WriteDataset(path, b.Dataset(), pack.Float64); err != nil {
		fmt.Println(err)
		return
	}
	p, err := pack.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	// Chunks of at most 48 bytes of features: 3 samples of 2 float64.
	for chunk, err := range p.Chunks(context.Background(), 48) {
		if err != nil {
			fmt.Println(err)
			return
		}
		var users []string
		for _, u := range chunk.Users {
			users = append(users, fmt.Sprintf("%s: rows %v, y %v", u.ID, u.Rows, u.Y))
		}
		fmt.Println(strings.Join(users, "; "))
	}
	// Output:
	// ann: rows [0], y [0]; bob: rows [1 2], y [1 2]
	// cy: rows [0 1 2], y [3 4 5]
}
