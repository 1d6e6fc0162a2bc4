package amht

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/model"
)

// PersonalizeOptions configures the fit of new users with U fixed. The zero
// value uses PursuitSwap, no ridge and GOMAXPROCS workers.
type PersonalizeOptions struct {
	// Pursuit selects the support search for b.
	Pursuit Pursuit
	// Ridge is the per-user ridge penalty, as in Options.
	Ridge float64
	// DeepFits bounds the work of each user's deep support search, as in
	// Options: 0 means 200 candidate supports per unit of the user's
	// support bound, a negative value no bound.
	DeepFits int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// result does not depend on Workers: each user's fit depends on that
	// user alone.
	Workers int
}

// validate checks the options: a defined pursuit and a finite,
// non-negative ridge.
func (o PersonalizeOptions) validate() error {
	if err := o.Pursuit.Valid(); err != nil {
		return fmt.Errorf("amht: personalize: %w", err)
	}
	if !(o.Ridge >= 0) || math.IsInf(o.Ridge, 0) {
		return fmt.Errorf("amht: personalize: ridge %v must be finite and not negative", o.Ridge)
	}
	return nil
}

// Personalizer fits one user at a time against a fixed model. It reuses its
// buffers across calls and is not safe for concurrent use; use one per
// goroutine.
type Personalizer struct {
	m   *model.Model
	s   *solver
	out userFit
	y   []float64
	ut  []float64 // U transposed, r x d
}

// NewPersonalizer returns a Personalizer for users of m with up to maxSamples
// samples each.
func NewPersonalizer(m *model.Model, maxSamples int, opt PersonalizeOptions) (*Personalizer, error) {
	switch m.Method {
	case model.MethodLRS, model.MethodLowRank, model.MethodGlobalSparse:
	default:
		return nil, fmt.Errorf("amht: personalize: a %q model has no low-rank + sparse personalization", m.Method)
	}
	if maxSamples <= 0 {
		return nil, errors.New("amht: personalize: maxSamples must be positive")
	}
	if err := opt.validate(); err != nil {
		return nil, err
	}
	s := newSolver(m.Dim, m.Rank, m.Sparsity, maxSamples, opt.Pursuit, opt.Ridge)
	s.deepFits = opt.DeepFits
	return &Personalizer{
		m: m, s: s,
		out: userFit{w: make([]float64, m.Rank), idx: make([]int32, m.Sparsity), val: make([]float64, m.Sparsity)},
		y:   make([]float64, maxSamples), ut: linalg.TransposeInto(nil, m.Dim, m.Rank, m.U),
	}, nil
}

// Fit returns the parameters of a user with samples x (row-major, len(y)
// rows of the model's dimension) and targets y, and the user's training
// mean squared error.
func (p *Personalizer) Fit(id string, x, y []float64) (model.User, float64, error) {
	u, mse, err := p.fit(id, x, y)
	if err != nil {
		return u, mse, fmt.Errorf("amht: personalize: %w", err)
	}
	return u, mse, nil
}

// fit is Fit with errors that do not name the package.
func (p *Personalizer) fit(id string, x, y []float64) (model.User, float64, error) {
	m, d := len(y), p.m.Dim
	if m == 0 || m > len(p.y) {
		return model.User{}, 0, fmt.Errorf("%d samples, want 1..%d", m, len(p.y))
	}
	if len(x) != m*d {
		return model.User{}, 0, fmt.Errorf("%d feature values for %d samples of dimension %d", len(x), m, d)
	}
	t := p.y[:m]
	copy(t, y)
	if p.m.Theta0 != nil {
		X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
		blas64.Gemv(blas.NoTrans, -1, X, blas64.Vector{N: d, Inc: 1, Data: p.m.Theta0}, 1, blas64.Vector{N: m, Inc: 1, Data: t})
	}
	p.s.solve(x, t, p.ut, 0, true, nil, &p.out)
	u := model.User{ID: id, W: append([]float64(nil), p.out.w...),
		Index: append([]int32(nil), p.out.idx[:p.out.nnz]...), Value: append([]float64(nil), p.out.val[:p.out.nnz]...)}
	return u, p.out.rss / float64(m), nil
}

// Personalize fits every user of ds with m's U and theta_0 fixed and
// returns their parameters in the order of ds.Users. It does not change m.
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, opt PersonalizeOptions) ([]model.User, error) {
	if !ds.HasTarget {
		return nil, errors.New("amht: personalize: the data have no target column")
	}
	if err := opt.validate(); err != nil {
		return nil, err
	}
	maxM := 0
	for i := range ds.Users {
		maxM = max(maxM, ds.Users[i].Len())
	}
	ps := make([]*Personalizer, max(1, fit.Workers(opt.Workers, len(ds.Users))))
	for k := range ps {
		var err error
		if ps[k], err = NewPersonalizer(m, max(maxM, 1), opt); err != nil {
			return nil, err
		}
	}
	out := make([]model.User, len(ds.Users))
	err := fit.ForEach(ctx, len(ds.Users), len(ps), func(k, i int) error {
		u := &ds.Users[i]
		var err error
		if out[i], _, err = ps[k].fit(u.ID, u.X, u.Y); err != nil {
			return fmt.Errorf("amht: personalize: user %q: %w", u.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
