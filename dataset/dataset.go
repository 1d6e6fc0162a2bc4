// Package dataset holds per-user regression data: the samples (x, y) of many
// users, grouped by user, and the CSV reader that every lrsp subcommand uses.
//
// A Dataset keeps all features in one contiguous row-major buffer, grouped by
// user, so that the per-user solves of training stream it sequentially.
package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// User is the data of one user: Len() samples of dimension d.
type User struct {
	// ID is the user's identifier as it appears in the input.
	ID string
	// X holds the user's feature rows, row-major: sample j is X[j*d:(j+1)*d].
	X []float64
	// Y holds the targets, one per sample. It is nil when the input has no
	// target column.
	Y []float64
	// Rows holds, for each sample, its 0-based data row in the input, so that
	// outputs can be written in input order.
	Rows []int
}

// Len returns the number of samples of u.
func (u *User) Len() int { return len(u.Rows) }

// Dataset is the data of many users over the same named features.
type Dataset struct {
	// Features names the d feature columns in order.
	Features []string
	// Users holds the users in order of first appearance in the input.
	Users []User
	// HasTarget reports whether every sample has a target y.
	HasTarget bool
}

// Dim returns the number of features d.
func (ds *Dataset) Dim() int { return len(ds.Features) }

// Samples returns the total number of samples over all users.
func (ds *Dataset) Samples() int {
	n := 0
	for i := range ds.Users {
		n += ds.Users[i].Len()
	}
	return n
}

// Rows returns the total number of input rows (the largest row index + 1).
func (ds *Dataset) Rows() int {
	n := 0
	for i := range ds.Users {
		for _, r := range ds.Users[i].Rows {
			if r+1 > n {
				n = r + 1
			}
		}
	}
	return n
}

// Index returns a map from user ID to position in ds.Users.
func (ds *Dataset) Index() map[string]int {
	idx := make(map[string]int, len(ds.Users))
	for i := range ds.Users {
		idx[ds.Users[i].ID] = i
	}
	return idx
}

// Builder accumulates samples user by user into a Dataset with one
// contiguous feature buffer. The zero value is not usable; call NewBuilder.
type Builder struct {
	d        int
	features []string
	target   bool
	index    map[string]int
	xs       [][]float64 // per-user rows, appended
	ys       [][]float64
	rows     [][]int
	ids      []string
	n        int
}

// NewBuilder returns a Builder for samples over the named features; target
// says whether samples carry a y.
func NewBuilder(features []string, target bool) *Builder {
	return &Builder{d: len(features), features: features, target: target, index: map[string]int{}}
}

// Add appends one sample of user id. x must have length d; it is copied.
// y is ignored when the builder has no target. row is the sample's input row.
func (b *Builder) Add(id string, x []float64, y float64, row int) {
	i, ok := b.index[id]
	if !ok {
		i = len(b.ids)
		b.index[id] = i
		b.ids = append(b.ids, id)
		b.xs = append(b.xs, nil)
		b.ys = append(b.ys, nil)
		b.rows = append(b.rows, nil)
	}
	b.xs[i] = append(b.xs[i], x[:b.d]...)
	if b.target {
		b.ys[i] = append(b.ys[i], y)
	}
	b.rows[i] = append(b.rows[i], row)
	b.n++
}

// Dataset returns the accumulated data with all features in one buffer.
func (b *Builder) Dataset() *Dataset {
	ds := &Dataset{Features: b.features, HasTarget: b.target, Users: make([]User, len(b.ids))}
	xbuf := make([]float64, 0, b.n*b.d)
	var ybuf []float64
	if b.target {
		ybuf = make([]float64, 0, b.n)
	}
	for i, id := range b.ids {
		x0 := len(xbuf)
		xbuf = append(xbuf, b.xs[i]...)
		u := User{ID: id, X: xbuf[x0:len(xbuf):len(xbuf)], Rows: b.rows[i]}
		if b.target {
			y0 := len(ybuf)
			ybuf = append(ybuf, b.ys[i]...)
			u.Y = ybuf[y0:len(ybuf):len(ybuf)]
		}
		ds.Users[i] = u
		b.xs[i], b.ys[i] = nil, nil
	}
	return ds
}

// Split divides every user's samples into a training part and a held-out
// part of about fraction of its samples, chosen reproducibly from seed.
// Users keep at least one training sample; a user with one sample holds out
// nothing. The returned datasets share no memory with ds.
func Split(ds *Dataset, fraction float64, seed uint64) (train, held *Dataset, err error) {
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("dataset: split: fraction must be in [0, 1), got %v", fraction)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c727370))
	d := ds.Dim()
	tb := NewBuilder(ds.Features, ds.HasTarget)
	hb := NewBuilder(ds.Features, ds.HasTarget)
	for i := range ds.Users {
		u := &ds.Users[i]
		m := u.Len()
		nh := int(fraction*float64(m) + 0.5)
		if nh > m-1 {
			nh = m - 1
		}
		perm := rng.Perm(m)
		hold := make([]bool, m)
		for _, j := range perm[:nh] {
			hold[j] = true
		}
		for j := 0; j < m; j++ {
			y := 0.0
			if ds.HasTarget {
				y = u.Y[j]
			}
			bl := tb
			if hold[j] {
				bl = hb
			}
			bl.Add(u.ID, u.X[j*d:(j+1)*d], y, u.Rows[j])
		}
	}
	return tb.Dataset(), hb.Dataset(), nil
}

// Subsample keeps at most n samples per user, chosen reproducibly from seed,
// in their original order. Users left with no samples are dropped; n below
// 0 counts as 0.
func Subsample(ds *Dataset, n int, seed uint64) *Dataset {
	n = max(n, 0)
	rng := rand.New(rand.NewPCG(seed, 0x73686f74))
	d := ds.Dim()
	b := NewBuilder(ds.Features, ds.HasTarget)
	for i := range ds.Users {
		u := &ds.Users[i]
		m := u.Len()
		keep := make([]bool, m)
		perm := rng.Perm(m)
		for _, j := range perm[:min(n, m)] {
			keep[j] = true
		}
		for j := 0; j < m; j++ {
			if !keep[j] {
				continue
			}
			y := 0.0
			if ds.HasTarget {
				y = u.Y[j]
			}
			b.Add(u.ID, u.X[j*d:(j+1)*d], y, u.Rows[j])
		}
	}
	return b.Dataset()
}

// SplitValidation holds out fraction of each user's samples for validation
// during training, as Split does; fraction 0 holds out nothing: train is ds
// itself and held is nil.
func SplitValidation(ds *Dataset, fraction float64, seed uint64) (train, held *Dataset, err error) {
	if fraction == 0 {
		return ds, nil, nil
	}
	return Split(ds, fraction, seed)
}

// HoldOutUsers moves round(fraction * n) of the n users of ds, at least one,
// chosen reproducibly from seed, out of ds into held, for example to score
// new users personalized against a model trained on the others. fraction
// must be in (0, 1) and at least one user must stay in keep. Both datasets
// keep ds's order of users and share the users' slices with ds.
func HoldOutUsers(ds *Dataset, fraction float64, seed uint64) (keep, held *Dataset, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("dataset: hold out users: fraction must be in (0, 1), got %v", fraction)
	}
	t := len(ds.Users)
	n := max(1, int(fraction*float64(t)+0.5))
	if n >= t {
		return nil, nil, fmt.Errorf("dataset: holding out %v of the users would hold out all %d", fraction, t)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e657775))
	out := make([]bool, t)
	for _, i := range rng.Perm(t)[:n] {
		out[i] = true
	}
	keep = &Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	held = &Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	for i, u := range ds.Users {
		if out[i] {
			held.Users = append(held.Users, u)
		} else {
			keep.Users = append(keep.Users, u)
		}
	}
	return keep, held, nil
}

// SplitUsers divides the users of ds by ID: in holds those that are also
// users of of, for example the test samples of the training users, and out
// the others. Both keep ds's order of users and share the users' slices
// with ds.
func SplitUsers(ds, of *Dataset) (in, out *Dataset) {
	idx := of.Index()
	in = &Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	out = &Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	for _, u := range ds.Users {
		if _, ok := idx[u.ID]; ok {
			in.Users = append(in.Users, u)
		} else {
			out.Users = append(out.Users, u)
		}
	}
	return in, out
}

// Reorder permutes the feature columns of ds in place into the order of
// features, matching them by name: ds must have exactly these features, in
// any order. A feature missing from ds or one that features lacks is an
// error naming them (the first eight of each); ds is then unchanged.
func (ds *Dataset) Reorder(features []string) error {
	pos := make(map[string]int, len(ds.Features))
	for j, f := range ds.Features {
		pos[f] = j
	}
	perm := make([]int, len(features))
	var missing, extra []string
	used := make(map[string]bool, len(features))
	for j, f := range features {
		p, ok := pos[f]
		if !ok || used[f] {
			missing = append(missing, f)
			continue
		}
		used[f] = true
		perm[j] = p
	}
	for _, f := range ds.Features {
		if !used[f] {
			extra = append(extra, f)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		msg := "dataset: the data's features do not match the %d wanted"
		args := []any{len(features)}
		if len(missing) > 0 {
			msg += "; missing %d: %s"
			args = append(args, len(missing), nameList(missing))
		}
		if len(extra) > 0 {
			msg += "; not wanted %d: %s (leave them out with --ignore)"
			args = append(args, len(extra), nameList(extra))
		}
		return fmt.Errorf(msg, args...)
	}
	identity := true
	for j, p := range perm {
		identity = identity && j == p
	}
	if !identity {
		d := len(features)
		row := make([]float64, d)
		for i := range ds.Users {
			x := ds.Users[i].X
			for s := 0; s+d <= len(x); s += d {
				for j, p := range perm {
					row[j] = x[s+p]
				}
				copy(x[s:s+d], row)
			}
		}
	}
	ds.Features = slices.Clone(features)
	return nil
}

// nameList formats names for a message: the first eight, quoted short.
func nameList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i == 8 {
			fmt.Fprintf(&b, ", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Quote(n))
	}
	return b.String()
}
