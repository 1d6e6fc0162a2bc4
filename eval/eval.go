// Package eval scores a model: prediction errors on data with targets and,
// for synthetic data, parameter recovery against the generating truth.
package eval

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// Unknown selects what prediction does for users the model does not know.
type Unknown int

const (
	// UnknownError makes an unknown user an error.
	UnknownError Unknown = iota
	// UnknownGlobal predicts with the model's fallback parameters (see
	// model.Model.Fallback). It is refused for a differentially private
	// model (see CheckUnknown).
	UnknownGlobal
)

// CheckUnknown reports an error when the policy unknown cannot be used with
// m: UnknownGlobal for a model trained with differential privacy, whose
// fallback is an un-noised average of the users' private parameters (see
// model.Model.CheckFallback). The error wraps model.ErrPrivateFallback.
func CheckUnknown(m *model.Model, unknown Unknown) error {
	if unknown != UnknownGlobal || m.Method == model.MethodGlobal {
		return nil
	}
	if err := m.CheckFallback(); err != nil {
		return fmt.Errorf("eval: unknown users: %w", err)
	}
	return nil
}

// Predict returns one prediction per sample of ds, indexed by input row:
// the score <x, theta_i>, or for a model with the logistic loss the
// probability sigmoid(<x, theta_i>) that the target is 1. For a model with
// a network, x is replaced by the network's features phi(x).
func Predict(m *model.Model, ds *dataset.Dataset, unknown Unknown) ([]float64, error) {
	return NewPredictor(m, unknown).Predict(ds)
}

// Predictor predicts with one model for many data sets, such as the chunks
// of users of a file streamed from disk: it indexes the model's users and
// computes the fallback user once. It is not safe for concurrent use.
type Predictor struct {
	m       *model.Model
	unknown Unknown
	idx     map[string]int
	fb      model.User
	err     error // the policy cannot be used with the model (see CheckUnknown)
}

// NewPredictor returns a Predictor for m that treats users not in m as
// unknown says. When CheckUnknown refuses the policy for m, every call of
// Predict returns its error.
func NewPredictor(m *model.Model, unknown Unknown) *Predictor {
	pr := &Predictor{m: m, unknown: unknown, idx: m.Index(), err: CheckUnknown(m, unknown)}
	if pr.err == nil && (unknown == UnknownGlobal || m.Method == model.MethodGlobal) {
		pr.fb = m.Fallback()
	}
	return pr
}

// Predict is the package-level Predict with the Predictor's model and
// policy for unknown users.
func (pr *Predictor) Predict(ds *dataset.Dataset) ([]float64, error) {
	if pr.err != nil {
		return nil, pr.err
	}
	m, unknown, idx, fb := pr.m, pr.unknown, pr.idx, pr.fb
	if err := CheckFeatures(m, ds); err != nil {
		return nil, err
	}
	out := make([]float64, ds.Rows())
	theta := make([]float64, m.Dim)
	d := m.Dim
	// A model with a network dots theta_i with phi(x), not with x.
	var phi, sa, sb []float64
	if n := m.Network; n != nil {
		d = n.Sizes[0]
		phi = make([]float64, m.Dim)
		sa, sb = make([]float64, slices.Max(n.Sizes)), make([]float64, slices.Max(n.Sizes))
	}
	for i := range ds.Users {
		u := &ds.Users[i]
		p, ok := idx[u.ID]
		var mu *model.User
		switch {
		case ok:
			mu = &m.Users[p]
		case m.Method == model.MethodGlobal || unknown == UnknownGlobal:
			mu = &fb
		default:
			return nil, fmt.Errorf("eval: predict: user %q (input row %d) is not in the model; personalize it first or use the global fallback", u.ID, u.Rows[0]+1)
		}
		m.Theta(mu, theta)
		for s, row := range u.Rows {
			x := u.X[s*d : (s+1)*d]
			if phi != nil {
				x = m.Network.Forward(x, phi, sa, sb)
			}
			out[row] = link(m.Loss, floatsDot(x, theta))
		}
	}
	return out, nil
}

// CheckFeatures reports an error when ds's features differ from m's input
// features: m.Features, or the network's inputs for a model with a network.
func CheckFeatures(m *model.Model, ds *dataset.Dataset) error {
	want := m.Features
	if m.Network != nil {
		want = m.Network.Inputs
	}
	if !slices.Equal(want, ds.Features) {
		return fmt.Errorf("eval: features of the data (%d: %s) do not match the model's (%d: %s)",
			len(ds.Features), short(ds.Features), len(want), short(want))
	}
	return nil
}

func short(f []string) string {
	if len(f) > 6 {
		return fmt.Sprint(f[:6], "...")
	}
	return fmt.Sprint(f)
}

func floatsDot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// Errors summarises prediction errors.
type Errors struct {
	Samples int     `json:"samples"`
	Users   int     `json:"users"`
	RMSE    float64 `json:"rmse"`
	MAE     float64 `json:"mae"`
	R2      float64 `json:"r2"`
	// UserRMSE holds quantiles of the per-user RMSE at 0, 0.1, 0.5, 0.9 and 1.
	UserRMSE Quantiles `json:"user_rmse"`
}

// Quantiles holds the minimum, 10th percentile, median, 90th percentile and
// maximum of a distribution.
type Quantiles struct {
	Min    float64 `json:"min"`
	P10    float64 `json:"p10"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Max    float64 `json:"max"`
}

// Score compares predictions (indexed by input row) with ds's targets.
func Score(ds *dataset.Dataset, pred []float64) (Errors, error) {
	if !ds.HasTarget {
		return Errors{}, errors.New("eval: score: the data have no target column")
	}
	if len(pred) < ds.Rows() {
		return Errors{}, fmt.Errorf("eval: score: %d predictions for %d input rows", len(pred), ds.Rows())
	}
	var e Errors
	var sse, sae, sy, syy float64
	per := make([]float64, 0, len(ds.Users))
	for i := range ds.Users {
		u := &ds.Users[i]
		if u.Len() == 0 {
			continue
		}
		us := 0.0
		for s, row := range u.Rows {
			r := u.Y[s] - pred[row]
			us += r * r
			sae += math.Abs(r)
			sy += u.Y[s]
			syy += u.Y[s] * u.Y[s]
		}
		sse += us
		e.Samples += u.Len()
		per = append(per, math.Sqrt(us/float64(u.Len())))
	}
	n := float64(e.Samples)
	e.Users = len(per)
	e.RMSE = math.Sqrt(sse / n)
	e.MAE = sae / n
	sst := syy - sy*sy/n
	e.R2 = 1 - sse/sst
	if sst <= 0 {
		e.R2 = math.NaN()
	}
	e.UserRMSE = quantiles(per)
	return e, nil
}

func quantiles(v []float64) Quantiles {
	if len(v) == 0 {
		return Quantiles{}
	}
	slices.Sort(v)
	// Linear interpolation between order statistics at (n-1)p (the common
	// "type 7" definition, so that the median of 1, 2, 3 is 2).
	q := func(p float64) float64 {
		h := float64(len(v)-1) * p
		lo := int(h)
		if lo+1 >= len(v) {
			return v[len(v)-1]
		}
		return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
	}
	return Quantiles{Min: v[0], P10: q(0.1), Median: q(0.5), P90: q(0.9), Max: v[len(v)-1]}
}

// Recovery compares a model's parameters with the truth that generated its
// training data.
type Recovery struct {
	// Users counts the users present in both the model and the truth.
	Users int `json:"users"`
	// ParamError is ||Theta - Theta*||_F / ||Theta*||_F over those users.
	ParamError float64 `json:"relative_parameter_error"`
	// SubspaceDistance is ||(I - U U^T) U*||_F.
	SubspaceDistance float64 `json:"subspace_distance"`
	// SupportRecovered is the fraction of users whose support of b equals
	// the true support exactly.
	SupportRecovered float64 `json:"support_recovered"`
	// UserParamError holds quantiles of the per-user relative error.
	UserParamError Quantiles `json:"user_parameter_error"`
}

// CompareTruth scores m against the truth. Users absent from the truth are
// an error; truth users absent from the model are ignored.
func CompareTruth(m *model.Model, t *synth.Truth) (Recovery, error) {
	var rec Recovery
	if t.D != m.Dim {
		return rec, fmt.Errorf("eval: compare truth: truth has d=%d, model has d=%d", t.D, m.Dim)
	}
	d, r := m.Dim, m.Rank
	theta := make([]float64, d)
	var num, den float64
	per := make([]float64, 0, len(m.Users))
	supp := 0
	for i := range m.Users {
		u := &m.Users[i]
		ts, err := t.Theta(u.ID)
		if err != nil {
			return rec, fmt.Errorf("eval: compare truth: %w", err)
		}
		m.Theta(u, theta)
		var n, dd float64
		for j := range theta {
			e := theta[j] - ts[j]
			n += e * e
			dd += ts[j] * ts[j]
		}
		num += n
		den += dd
		per = append(per, math.Sqrt(n/dd))
		if sameSupport(u, t.Users[u.ID].B) {
			supp++
		}
	}
	rec.Users = len(per)
	if rec.Users == 0 {
		return rec, errors.New("eval: compare truth: no model user is in the truth")
	}
	rec.ParamError = math.Sqrt(num / den)
	rec.SupportRecovered = float64(supp) / float64(rec.Users)
	rec.UserParamError = quantiles(per)
	// ||(I - U U^T) U*||_F, formed explicitly: the shortcut
	// ||U*||^2 - ||U^T U*||^2 loses half the digits to cancellation.
	p := make([]float64, r)
	tot := 0.0
	for c := 0; c < t.R; c++ {
		for a := 0; a < r; a++ {
			p[a] = 0
			for j := 0; j < d; j++ {
				p[a] += m.U[j*r+a] * t.U[j][c]
			}
		}
		for j := 0; j < d; j++ {
			e := t.U[j][c]
			for a := 0; a < r; a++ {
				e -= m.U[j*r+a] * p[a]
			}
			tot += e * e
		}
	}
	rec.SubspaceDistance = math.Sqrt(math.Max(tot, 0))
	return rec, nil
}

func sameSupport(u *model.User, b map[string]float64) bool {
	n := 0
	for p, j := range u.Index {
		if u.Value[p] == 0 {
			continue
		}
		if _, ok := b[strconv.Itoa(int(j))]; !ok {
			return false
		}
		n++
	}
	return n == len(b)
}
