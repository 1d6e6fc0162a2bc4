package mixed

import (
	"fmt"
	"math"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// Intervals returns, for every sample of ds (indexed by row, as
// eval.Predict), the prediction x^T theta_i and the central predictive
// interval at level (in (0, 1)) for a new target of the sample's user:
// the prediction plus or minus z sqrt(v), z the standard normal quantile
// at (1 + level) / 2 and v = x_D^T C_i x_D + sigma^2, where C_i is the
// user's posterior covariance (User.Cov) and x_D = (U^T x, x_S). It
// accounts for the uncertainty of the user's parameters and the noise, not
// for that of the shared parts (theta_0, U, Sigma, sigma^2), which are
// estimated from every user. Every user of ds must be in m with a
// posterior covariance: m must be a mixed model.
func Intervals(m *model.Model, ds *dataset.Dataset, level float64) (pred, lo, hi []float64, err error) {
	switch {
	case m.Prior == nil:
		return nil, nil, nil, fmt.Errorf("mixed: intervals: the %s model is not a mixed model (train --method mixed or mixed-lrs)", m.Method)
	case !(level > 0 && level < 1):
		return nil, nil, nil, fmt.Errorf("mixed: intervals: level %v must be in (0, 1)", level)
	case ds.Dim() != m.Dim:
		return nil, nil, nil, fmt.Errorf("mixed: intervals: the data have %d features, the model %d", ds.Dim(), m.Dim)
	}
	z := math.Sqrt2 * math.Erfinv(level)
	d, r := m.Dim, m.Rank
	idx := m.Index()
	n := ds.Rows()
	pred, lo, hi = make([]float64, n), make([]float64, n), make([]float64, n)
	theta := make([]float64, d)
	for _, du := range ds.Users {
		i, ok := idx[du.ID]
		if !ok {
			return nil, nil, nil, fmt.Errorf("mixed: intervals: user %q is not in the model", du.ID)
		}
		u := &m.Users[i]
		k := len(u.W) + len(u.Index)
		if len(u.Cov) != k*(k+1)/2 {
			return nil, nil, nil, fmt.Errorf("mixed: intervals: user %q has no posterior covariance (personalize it with this release)", du.ID)
		}
		m.Theta(u, theta)
		xd := make([]float64, k)
		for s, row := range du.Rows {
			x := du.X[s*d : (s+1)*d]
			mean := 0.0
			for j, v := range x {
				mean += v * theta[j]
			}
			for c := 0; c < r; c++ {
				v := 0.0
				for j, xv := range x {
					v += xv * m.U[j*r+c]
				}
				xd[c] = v
			}
			for q, j := range u.Index {
				xd[r+q] = x[j]
			}
			v := m.Prior.Noise
			p := 0
			for a := 0; a < k; a++ {
				for b := 0; b < a; b++ {
					v += 2 * xd[a] * u.Cov[p] * xd[b]
					p++
				}
				v += xd[a] * u.Cov[p] * xd[a]
				p++
			}
			half := z * math.Sqrt(math.Max(v, 0))
			pred[row], lo[row], hi[row] = mean, mean-half, mean+half
		}
	}
	return pred, lo, hi, nil
}
