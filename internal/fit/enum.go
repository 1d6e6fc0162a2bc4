package fit

import (
	"fmt"
	"strings"
)

// enum is the table behind one of the package's enumerations: the text
// form of each value, in value order.
type enum struct {
	kind  string
	names []string
}

func (e enum) name(v int) string {
	if v < 0 || v >= len(e.names) {
		return fmt.Sprintf("%s(%d)", e.kind, v)
	}
	return e.names[v]
}

func (e enum) parse(s string) (int, error) {
	for i, n := range e.names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q: want %s", e.kind, s, e.list())
}

func (e enum) valid(v int) bool { return v >= 0 && v < len(e.names) }

func (e enum) marshal(v int) ([]byte, error) {
	if err := e.check(v); err != nil {
		return nil, err
	}
	return []byte(e.names[v]), nil
}

func (e enum) unmarshal(b []byte, v *int) error {
	n, err := e.parse(string(b))
	if err != nil {
		return err
	}
	*v = n
	return nil
}

func (e enum) check(v int) error {
	if !e.valid(v) {
		return fmt.Errorf("unknown %s %d: want %s", e.kind, v, e.list())
	}
	return nil
}

// list returns "a, b or c".
func (e enum) list() string {
	n := len(e.names)
	if n == 1 {
		return e.names[0]
	}
	return strings.Join(e.names[:n-1], ", ") + " or " + e.names[n-1]
}

var (
	pursuits   = enum{"pursuit", []string{"swap", "greedy", "htp"}}
	inits      = enum{"init", []string{"moments", "ridge-svd", "random"}}
	updates    = enum{"update", []string{"cg", "gradient"}}
	thresholds = enum{"threshold", []string{"topk", "value"}}
)

// Pursuit selects how the support of a user's sparse part b_i is searched.
// Its text form is "swap", "greedy" or "htp".
type Pursuit int

const (
	// PursuitSwap runs orthogonal matching pursuit with columns normalised
	// after projecting out X_i U, refined by hard-thresholding pursuit; for
	// users whose fit is an outlier, and for new users, it adds a deeper
	// search: support exchanges and restarts from several first columns. It
	// recovers supports from fewer samples than PursuitHTP.
	PursuitSwap Pursuit = iota
	// PursuitGreedy is PursuitSwap without the deeper search.
	PursuitGreedy
	// PursuitHTP is plain hard-thresholding pursuit started from the k
	// largest entries of the gradient: the straightforward reading.
	PursuitHTP
)

// Pursuits lists the text forms of every Pursuit, in value order.
func Pursuits() []string { return append([]string(nil), pursuits.names...) }

// String returns the text form of p.
func (p Pursuit) String() string { return pursuits.name(int(p)) }

// Valid reports an error when p is not one of the defined values.
func (p Pursuit) Valid() error { return pursuits.check(int(p)) }

// MarshalText returns the text form of p; it fails for an undefined value.
func (p Pursuit) MarshalText() ([]byte, error) { return pursuits.marshal(int(p)) }

// UnmarshalText sets p from its text form.
func (p *Pursuit) UnmarshalText(b []byte) error { return pursuits.unmarshal(b, (*int)(p)) }

// Init selects how AMHT-LRS initialises U. Its text form is "moments",
// "ridge-svd" or "random".
type Init int

const (
	// InitMoments takes the top-r eigenvectors of the moment matrix
	// (1/t) sum_i (1/m_i) sum_j y_ij^2 x_ij x_ij^T by block power iteration,
	// never forming a d x d matrix.
	InitMoments Init = iota
	// InitRidgeSVD takes the top-r left singular vectors of the matrix of
	// per-user ridge solutions. It costs O(d^3) per user.
	InitRidgeSVD
	// InitRandom takes a random orthonormal basis.
	InitRandom
)

// Inits lists the text forms of every Init, in value order.
func Inits() []string { return append([]string(nil), inits.names...) }

// String returns the text form of i.
func (i Init) String() string { return inits.name(int(i)) }

// Valid reports an error when i is not one of the defined values.
func (i Init) Valid() error { return inits.check(int(i)) }

// MarshalText returns the text form of i; it fails for an undefined value.
func (i Init) MarshalText() ([]byte, error) { return inits.marshal(int(i)) }

// UnmarshalText sets i from its text form.
func (i *Init) UnmarshalText(b []byte) error { return inits.unmarshal(b, (*int)(i)) }

// Update selects how AMHT-LRS updates U each round. Its text form is "cg"
// or "gradient".
type Update int

const (
	// UpdateCG solves the least-squares problem in U with preconditioned
	// conjugate gradient, applying the operator user by user.
	UpdateCG Update = iota
	// UpdateGradient takes one preconditioned gradient step, computed in
	// the same pass over the data as the per-user solves.
	UpdateGradient
)

// Updates lists the text forms of every Update, in value order.
func Updates() []string { return append([]string(nil), updates.names...) }

// String returns the text form of u.
func (u Update) String() string { return updates.name(int(u)) }

// Valid reports an error when u is not one of the defined values.
func (u Update) Valid() error { return updates.check(int(u)) }

// MarshalText returns the text form of u; it fails for an undefined value.
func (u Update) MarshalText() ([]byte, error) { return updates.marshal(int(u)) }

// UnmarshalText sets u from its text form.
func (u *Update) UnmarshalText(b []byte) error { return updates.unmarshal(b, (*int)(u)) }

// Threshold selects the hard-thresholding operator for b_i. Its text form
// is "topk" or "value".
type Threshold int

const (
	// ThresholdTopK keeps the k largest entries.
	ThresholdTopK Threshold = iota
	// ThresholdValue keeps at most k entries, dropping those whose magnitude
	// is below a threshold that starts at the scale of the targets and
	// halves every round (the paper's shrinking threshold).
	ThresholdValue
)

// Thresholds lists the text forms of every Threshold, in value order.
func Thresholds() []string { return append([]string(nil), thresholds.names...) }

// String returns the text form of t.
func (t Threshold) String() string { return thresholds.name(int(t)) }

// Valid reports an error when t is not one of the defined values.
func (t Threshold) Valid() error { return thresholds.check(int(t)) }

// MarshalText returns the text form of t; it fails for an undefined value.
func (t Threshold) MarshalText() ([]byte, error) { return thresholds.marshal(int(t)) }

// UnmarshalText sets t from its text form.
func (t *Threshold) UnmarshalText(b []byte) error { return thresholds.unmarshal(b, (*int)(t)) }
