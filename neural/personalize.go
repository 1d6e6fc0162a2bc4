package neural

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// PersonalizeOptions configures Personalize. The zero value uses
// amht.PursuitSwap, no ridge and GOMAXPROCS workers; ModelOptions reads
// the values the model was trained with.
type PersonalizeOptions struct {
	// Pursuit selects the support search of b_i.
	Pursuit amht.Pursuit
	// Ridge is the per-user ridge penalty, as in Options.
	Ridge float64
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// result does not depend on Workers: each user's fit depends on that
	// user alone.
	Workers int
}

// ModelOptions returns the per-user options m was trained with (its
// config's ridge and pursuit).
func ModelOptions(m *model.Model) (PersonalizeOptions, error) {
	if err := m.Config.Validate(m.Dim); err != nil {
		return PersonalizeOptions{}, fmt.Errorf("neural: personalize: %w", err)
	}
	o := PersonalizeOptions{Ridge: m.Config.Ridge, Pursuit: m.Config.Pursuit}
	return o, nil
}

// Personalize fits every user of ds with m's network and U fixed: (w_i,
// b_i) by amht's per-user solve on the user's features phi(x), or for a
// model.MethodNeuralDense model the dense head theta_i by ridge least
// squares (opt.Ridge when positive, else the leave-one-out choice of
// Options.Dense), as training does. It returns
// the users in ds's order and does not change m; Upsert them to keep them.
// For a global network (model.MethodGlobal with a Network) users have no
// parameters and get empty ones.
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, opt PersonalizeOptions) ([]model.User, error) {
	n := m.Network
	if n == nil {
		return nil, errors.New("neural: personalize: the model has no network")
	}
	if !ds.HasTarget {
		return nil, errors.New("neural: personalize: the data have no target column")
	}
	if ds.Dim() != n.Sizes[0] {
		return nil, fmt.Errorf("neural: personalize: the data have %d features, the network %d inputs", ds.Dim(), n.Sizes[0])
	}
	out := make([]model.User, len(ds.Users))
	if m.Method == model.MethodGlobal {
		for i := range ds.Users {
			out[i] = model.User{ID: ds.Users[i].ID, W: []float64{}}
		}
		return out, nil
	}
	maxM := 1
	for i := range ds.Users {
		maxM = max(maxM, ds.Users[i].Len())
	}
	// newFit makes one worker's per-user fit on the features phi.
	var newFit func() (func(id string, phi, y []float64) (model.User, error), error)
	switch m.Method {
	case model.MethodNeuralLRS:
		lin := &model.Model{Method: model.MethodLRS, Dim: m.Dim, Rank: m.Rank, Sparsity: m.Sparsity, Features: m.Features, U: m.U}
		newFit = func() (func(id string, phi, y []float64) (model.User, error), error) {
			p, err := amht.NewPersonalizer(lin, maxM, amht.PersonalizeOptions{Pursuit: opt.Pursuit, Ridge: opt.Ridge})
			if err != nil {
				return nil, err
			}
			return func(id string, phi, y []float64) (model.User, error) {
				u, _, err := p.Fit(id, phi, y)
				return u, err
			}, nil
		}
	case model.MethodNeuralDense:
		newFit = func() (func(id string, phi, y []float64) (model.User, error), error) {
			s := newDenseSolver(m.Dim, maxM, opt.Ridge)
			theta := make([]float64, m.Dim)
			return func(id string, phi, y []float64) (model.User, error) {
				if err := s.solve(phi, y, theta); err != nil {
					return model.User{}, err
				}
				return denseUser(id, theta), nil
			}, nil
		}
	default:
		return nil, fmt.Errorf("neural: personalize: a %q model with a network is not supported", m.Method)
	}
	d, h := n.Sizes[0], m.Dim
	wmax := 0
	for _, s := range n.Sizes {
		wmax = max(wmax, s)
	}
	// One fit and one set of buffers per worker, made on its first user.
	type scratch struct {
		fit    func(id string, phi, y []float64) (model.User, error)
		phi    []float64
		sa, sb []float64
	}
	work := make([]*scratch, fit.Workers(opt.Workers, len(ds.Users)))
	err := fit.ForEach(ctx, len(ds.Users), len(work), func(k, i int) error {
		if work[k] == nil {
			fit, err := newFit()
			if err != nil {
				return fmt.Errorf("neural: personalize: %w", err)
			}
			work[k] = &scratch{fit: fit, phi: make([]float64, maxM*h), sa: make([]float64, wmax), sb: make([]float64, wmax)}
		}
		w := work[k]
		u := &ds.Users[i]
		for s := range u.Len() {
			n.Forward(u.X[s*d:(s+1)*d], w.phi[s*h:(s+1)*h], w.sa, w.sb)
		}
		var err error
		if out[i], err = w.fit(u.ID, w.phi[:u.Len()*h], u.Y); err != nil {
			return fmt.Errorf("neural: personalize: user %q: %w", u.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
