package mixed

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// Personalize fits every user of ds against m, a model with a mixed-model
// prior, with every shared part fixed: each user's support of b (for
// m.Sparsity > 0) is chosen by greedy forward selection on the marginal
// likelihood, and its parameters are the posterior means given it. Users
// are returned in the order of ds.Users; the result does not depend on
// workers (0 means GOMAXPROCS).
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	if m.Prior == nil {
		return nil, fmt.Errorf("mixed: personalize: the %s model has no mixed-model prior", m.Method)
	}
	if ds.Dim() != m.Dim {
		return nil, fmt.Errorf("mixed: personalize: the data have %d features, the model %d", ds.Dim(), m.Dim)
	}
	if m.Sparsity > 0 && m.Prior.VarB == nil {
		return nil, fmt.Errorf("mixed: personalize: sparsity %d without prior variances of b", m.Sparsity)
	}
	p, err := newPrior(m.Dim, m.Rank, m.Prior.Sigma, m.Prior.VarB, m.Prior.Noise)
	if err != nil {
		return nil, fmt.Errorf("mixed: personalize: %w", err)
	}
	users := make([]model.User, len(ds.Users))
	nw := fit.Workers(workers, len(ds.Users))
	scr := make([]scratch, nw)
	err = fit.ForEach(ctx, len(ds.Users), nw, func(w, i int) error {
		du := &ds.Users[i]
		u, err := p.fitUser(m, du.ID, du.X, du.Y, &scr[w])
		users[i] = u
		return err
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// fitUser is Personalize for one user.
func (p *prior) fitUser(m *model.Model, id string, x, y []float64, sc *scratch) (model.User, error) {
	d, r := m.Dim, m.Rank
	if len(y) == 0 || len(x) != len(y)*d {
		return model.User{}, fmt.Errorf("mixed: user %q: %d feature values for %d samples of dimension %d", id, len(x), len(y), d)
	}
	t := append([]float64(nil), y...)
	for s := range t {
		if m.Theta0 != nil {
			t[s] -= blas64.Dot(blas64.Vector{N: d, Inc: 1, Data: x[s*d : (s+1)*d]}, blas64.Vector{N: d, Inc: 1, Data: m.Theta0})
		}
	}
	var post posterior
	var supp []int
	if m.Sparsity > 0 {
		supp = p.selectSupport(x, t, m.U, m.Sparsity, nil, sc, &post)
	} else {
		p.posterior(x, t, m.U, nil, sc, &post)
	}
	u := model.User{ID: id, W: append([]float64(nil), post.z[:r]...)}
	for q, j := range supp {
		u.Index = append(u.Index, int32(j))
		u.Value = append(u.Value, post.z[r+q])
	}
	n := post.n
	u.Cov = make([]float64, 0, n*(n+1)/2)
	for a := 0; a < n; a++ {
		for b := 0; b <= a; b++ {
			u.Cov = append(u.Cov, p.s2*post.ginv[a*n+b])
		}
	}
	return u, nil
}
