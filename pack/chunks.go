package pack

import (
	"context"
	"fmt"
	"iter"

	"github.com/lrsp/lrsp/dataset"
)

// Chunks returns an iterator over the users of p in file order, a chunk of
// users at a time, so that a file larger than memory can be processed with
// bounded memory. Each chunk is a Dataset of whole users whose features
// take at most maxBytes as float64 values, except that a chunk always holds
// at least one user: a user larger than maxBytes, or any user when maxBytes
// is below 1, is a chunk of its own. len(chunk.Users) counts the users
// done, for a progress bar.
//
// The input rows of a chunk's samples (User.Rows) count from 0 in each
// chunk, in file order, so that a chunk can be predicted on its own. The
// caller may keep each user's Y and Rows, which are allocated once per
// chunk for all its users, but not the Dataset nor any user's X: the next
// chunk reuses them.
//
// The iterator checks ctx before reading each chunk. An error, from ctx or
// from reading (a checksum mismatch names the file and the user), is
// yielded once with a nil chunk and ends the iteration. The iterator may be
// ranged over more than once; p must stay open meanwhile.
func (p *File) Chunks(ctx context.Context, maxBytes int64) iter.Seq2[*dataset.Dataset, error] {
	return func(yield func(*dataset.Dataset, error) bool) {
		chunk := &dataset.Dataset{Features: p.features, HasTarget: p.target}
		d := p.d
		var xbuf, ybuf []float64
		var rbuf []int
		visit := func(i int, x, y []float64) error {
			n, at := p.m[i], len(rbuf)
			u := dataset.User{ID: p.ids[i]}
			// Full slice expressions: each user's slices end at its samples.
			xbuf = append(xbuf, x[:n*d]...)
			u.X = xbuf[at*d : (at+n)*d : (at+n)*d]
			for s := range n {
				rbuf = append(rbuf, at+s)
			}
			u.Rows = rbuf[at : at+n : at+n]
			if p.target {
				ybuf = append(ybuf, y...)
				u.Y = ybuf[at : at+n : at+n]
			}
			chunk.Users = append(chunk.Users, u)
			return nil
		}
		var sc dataset.Scratch
		// Scan reads its whole range of users at once: hand it one chunk
		// at a time.
		for lo := 0; lo < len(p.ids); {
			hi, samples := lo, 0
			for hi < len(p.ids) && (hi == lo || 8*int64(samples)*int64(d) < maxBytes) {
				samples += p.m[hi]
				hi++
			}
			if err := ctx.Err(); err != nil {
				yield(nil, fmt.Errorf("pack: read %s: %w", p.path, err))
				return
			}
			// Sized up front, so that appends never move the users' slices.
			if cap(xbuf) < samples*d {
				xbuf = make([]float64, 0, samples*d)
			}
			xbuf, ybuf, rbuf = xbuf[:0], nil, make([]int, 0, samples)
			if p.target {
				ybuf = make([]float64, 0, samples)
			}
			chunk.Users = chunk.Users[:0]
			if err := p.Scan(lo, hi, &sc, visit); err != nil {
				yield(nil, err) // Scan's errors name the package; visit has none
				return
			}
			if !yield(chunk, nil) {
				return
			}
			lo = hi
		}
	}
}
