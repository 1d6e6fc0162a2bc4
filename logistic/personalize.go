package logistic

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/model"
)

// PersonalizeOptions configures Personalize. The zero value uses the
// model's own per-user ridge and Newton steps (as recorded in its Config;
// DefaultRidge and 25 for a model that records none) and GOMAXPROCS
// workers.
type PersonalizeOptions struct {
	// Ridge is the per-user ridge penalty, as in Options; 0 means the
	// model's.
	Ridge float64
	// NewtonSteps bounds the Newton iterations per support; 0 means the
	// model's.
	NewtonSteps int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// result does not depend on Workers: each user's fit depends on that
	// user alone.
	Workers int
}

// Personalize fits every user of ds (0/1 targets) to the logistic model m
// with everything shared fixed (U and theta_0), by the method that made m:
// lrs, lowrank and global-sparse users get the sparse per-user solve of
// Train (a support of at most m.Sparsity entries for b), local and
// finetune users a dense ridge fit (toward theta_0 for finetune), global
// users no parameters of their own. It returns the users in ds's order;
// Upsert them into m to keep them. With the zero options, personalizing a
// model's own training users reproduces their fits.
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, opt PersonalizeOptions) ([]model.User, error) {
	if m.Loss != model.LossLogistic {
		return nil, fmt.Errorf("logistic: personalize: the model was trained with the %q loss, not logistic", m.Loss)
	}
	if err := checkTargets(ds); err != nil {
		return nil, fmt.Errorf("logistic: personalize: %w", err)
	}
	if len(ds.Features) != m.Dim {
		return nil, fmt.Errorf("logistic: personalize: the data have %d features, the model %d", len(ds.Features), m.Dim)
	}
	switch m.Method {
	case model.MethodLRS, model.MethodLowRank, model.MethodLocal:
	case model.MethodGlobal, model.MethodFinetune, model.MethodGlobalSparse:
		if m.Theta0 == nil {
			return nil, fmt.Errorf("logistic: personalize: the logistic %s model has no theta_0", m.Method)
		}
	default:
		return nil, fmt.Errorf("logistic: personalize: the logistic loss has no method %q", m.Method)
	}
	if m.Method == model.MethodGlobal {
		users := make([]model.User, len(ds.Users))
		for i := range ds.Users {
			users[i] = model.User{ID: ds.Users[i].ID, W: []float64{}}
		}
		return users, nil
	}
	if opt.Ridge == 0 {
		opt.Ridge = m.Config.Ridge
		if opt.Ridge == 0 {
			opt.Ridge = DefaultRidge
		}
	}
	if opt.NewtonSteps == 0 {
		opt.NewtonSteps = m.Config.NewtonSteps
		if opt.NewtonSteps == 0 {
			opt.NewtonSteps = 25
		}
	}
	if err := m.Config.Validate(m.Dim); err != nil {
		return nil, fmt.Errorf("logistic: personalize: %w", err)
	}
	d, r, k := m.Dim, m.Rank, m.Sparsity
	maxM := 0
	for i := range ds.Users {
		maxM = max(maxM, ds.Users[i].Len())
	}
	ut := linalg.TransposeInto(nil, d, r, m.U)
	users := make([]model.User, len(ds.Users))
	type scratch struct {
		s   *solver
		off []float64
	}
	work := make([]*scratch, fit.Workers(opt.Workers, len(ds.Users)))
	err := fit.ForEach(ctx, len(ds.Users), len(work), func(wk, i int) error {
		if work[wk] == nil {
			work[wk] = &scratch{s: newSolver(d, r, k, maxM, opt.Ridge, opt.NewtonSteps)}
			if m.Theta0 != nil {
				work[wk].off = make([]float64, maxM)
			}
		}
		w := work[wk]
		u := &ds.Users[i]
		n := u.Len()
		out := userFit{w: make([]float64, r), idx: make([]int32, k), val: make([]float64, k)}
		if n > 0 {
			var o []float64
			if w.off != nil {
				o = w.off[:n]
				blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: n, Cols: d, Stride: d, Data: u.X},
					blas64.Vector{N: d, Inc: 1, Data: m.Theta0}, 0, blas64.Vector{N: n, Inc: 1, Data: o})
			}
			w.s.solve(u.X, u.Y, ut, o, &out)
		}
		users[i] = model.User{ID: u.ID, W: out.w, Index: out.idx[:out.nnz:out.nnz], Value: out.val[:out.nnz:out.nnz]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}
