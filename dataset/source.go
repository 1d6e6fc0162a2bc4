package dataset

// Source gives access to per-user samples that may live in memory or be
// streamed from disk. Users are numbered 0..NumUsers()-1. *Dataset
// implements Source; so does a packed data file (package pack).
type Source interface {
	// Dim returns the number of features d.
	Dim() int
	// FeatureNames returns the names of the d features.
	FeatureNames() []string
	// HasTargets reports whether every sample has a target y.
	HasTargets() bool
	// NumUsers returns the number of users.
	NumUsers() int
	// UserID returns the ID of user i.
	UserID(i int) string
	// UserLen returns the number of samples of user i.
	UserLen(i int) int
	// Scan reads users lo..hi-1 in order and calls fn with each user's
	// index, features (row-major, UserLen(i) x Dim()) and targets (nil
	// without targets). The slices are valid only during the call and must
	// not be modified. sc holds buffers that Scan may reuse across calls; a
	// Scratch must not be shared between concurrent Scans. Scan stops at
	// the first error, from reading or from fn, and returns it.
	Scan(lo, hi int, sc *Scratch, fn func(i int, x, y []float64) error) error
}

// Scratch holds reusable buffers for Source.Scan. Its zero value is ready
// to use.
type Scratch struct {
	// Bytes, X and Y are for the Source implementation's use.
	Bytes []byte
	X, Y  []float64
}

// FeatureNames returns ds.Features.
func (ds *Dataset) FeatureNames() []string { return ds.Features }

// HasTargets returns ds.HasTarget.
func (ds *Dataset) HasTargets() bool { return ds.HasTarget }

// NumUsers returns len(ds.Users).
func (ds *Dataset) NumUsers() int { return len(ds.Users) }

// UserID returns the ID of user i.
func (ds *Dataset) UserID(i int) string { return ds.Users[i].ID }

// UserLen returns the number of samples of user i.
func (ds *Dataset) UserLen(i int) int { return ds.Users[i].Len() }

// Scan calls fn with the in-memory samples of users lo..hi-1; it copies
// nothing.
func (ds *Dataset) Scan(lo, hi int, _ *Scratch, fn func(i int, x, y []float64) error) error {
	for i := lo; i < hi; i++ {
		u := &ds.Users[i]
		if err := fn(i, u.X, u.Y); err != nil {
			return err
		}
	}
	return nil
}
