package logistic

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/model"
)

// PersonalizeOptions configures Personalize. The zero value uses
// DefaultRidge, 25 Newton steps and GOMAXPROCS workers.
type PersonalizeOptions struct {
	// Ridge is the per-user ridge penalty, as in Options; 0 means
	// DefaultRidge.
	Ridge float64
	// NewtonSteps bounds the Newton iterations per support; 0 means 25.
	NewtonSteps int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS.
	Workers int
}

// Personalize fits every user of ds (0/1 targets) to the logistic model m
// with m's U fixed, searching a support of at most m.Sparsity entries for
// b, and returns the users in ds's order. Upsert them into m to keep them.
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, opt PersonalizeOptions) ([]model.User, error) {
	if m.Loss != model.LossLogistic {
		return nil, fmt.Errorf("personalize: the model was trained with the %q loss, not logistic", m.Loss)
	}
	switch m.Method {
	case model.MethodLRS, model.MethodLowRank, model.MethodLocal:
	default:
		return nil, fmt.Errorf("personalize: a logistic %q model has no per-user part to fit", m.Method)
	}
	if m.Theta0 != nil {
		return nil, fmt.Errorf("personalize: logistic models with a theta_0 offset are not supported")
	}
	if err := CheckTargets(ds); err != nil {
		return nil, fmt.Errorf("personalize: %w", err)
	}
	if len(ds.Features) != m.Dim {
		return nil, fmt.Errorf("personalize: the data have %d features, the model %d", len(ds.Features), m.Dim)
	}
	if opt.Ridge == 0 {
		opt.Ridge = DefaultRidge
	}
	if opt.NewtonSteps == 0 {
		opt.NewtonSteps = 25
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	d, r, k := m.Dim, m.Rank, m.Sparsity
	maxM := 0
	for i := range ds.Users {
		maxM = max(maxM, ds.Users[i].Len())
	}
	ut := linalg.TransposeInto(nil, d, r, m.U)
	users := make([]model.User, len(ds.Users))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSolver(d, r, k, maxM, opt.Ridge, opt.NewtonSteps)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ds.Users) || ctx.Err() != nil {
					return
				}
				u := &ds.Users[i]
				out := fit{w: make([]float64, r), idx: make([]int32, k), val: make([]float64, k)}
				if u.Len() > 0 {
					s.solve(u.X, u.Y, ut, &out)
				}
				users[i] = model.User{ID: u.ID, W: out.w, Index: out.idx[:out.nnz:out.nnz], Value: out.val[:out.nnz:out.nnz]}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return users, nil
}
