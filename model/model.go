// Package model holds a trained personalization model: the shared subspace U,
// an optional shared offset theta_0, and every user's personal parameters
// (w_i, b_i), so that user i's linear model is
//
//	theta_i = theta_0 + U w_i + b_i.
//
// It also defines the model's versioned binary file format (see Encode).
package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/lrsp/lrsp/internal/exactsum"
)

// Methods that produce a Model. Each fills a different part of theta_i.
const (
	MethodLRS          = "lrs"           // U w_i + b_i, b_i k-sparse (AMHT-LRS).
	MethodLowRank      = "lowrank"       // U w_i.
	MethodGlobal       = "global"        // theta_0 for every user.
	MethodLocal        = "local"         // dense b_i per user, fit alone.
	MethodGlobalSparse = "global-sparse" // theta_0 + b_i, b_i k-sparse.
	MethodFinetune     = "finetune"      // theta_0 + dense b_i.
	MethodMixed        = "mixed"         // linear mixed model: theta_0 + random effects on chosen features.
	MethodMixedLRS     = "mixed-lrs"     // theta_0 + U w_i + b_i with w_i, b_i random (mixed-model LRS).
)

// Losses a model can be trained with. The loss fixes the link between the
// linear score <x, theta_i> and the prediction.
const (
	// LossSquared is squared error: the prediction is the score itself.
	// The empty Loss means LossSquared, as in files written before Loss
	// existed.
	LossSquared = "squared"
	// LossLogistic is the logistic loss for 0/1 targets: the prediction is
	// the probability sigmoid(score) that the target is 1.
	LossLogistic = "logistic"
)

// User holds one user's personal parameters.
type User struct {
	// ID is the user's identifier.
	ID string
	// W holds the r coordinates of the user in the subspace U.
	W []float64
	// Index holds the positions of the non-zeros of b_i, increasing.
	Index []int32
	// Value holds the non-zeros of b_i, parallel to Index.
	Value []float64
	// Cov, for a user of a mixed model (see Model.Prior), holds the
	// posterior covariance of (w_i, b_i's non-zeros), n = len(W) +
	// len(Index) square, as its lower triangle row by row (n(n+1)/2
	// numbers); nil when the model does not keep it.
	Cov []float64
}

// Model is a trained personalization model over d named features.
type Model struct {
	// Method names the method that made the model (MethodLRS, ...).
	Method string
	// Dim is the number of features d.
	Dim int
	// Rank is the number of columns r of U (0 when there is no U).
	Rank int
	// Sparsity is the largest number k of non-zeros of any b_i; for dense
	// per-user parts it equals Dim.
	Sparsity int
	// Features names the d features, in the order of U's rows.
	Features []string
	// U is the d x r shared basis, row-major, with orthonormal columns.
	U []float64
	// Theta0 is the shared offset theta_0 (length d), or nil for none.
	Theta0 []float64
	// Users holds the personal parameters of every user.
	Users []User
	// Config records how the model was trained: the method's typed
	// configuration (see Config).
	Config Config
	// Loss is the training loss (LossSquared or LossLogistic); "" means
	// LossSquared.
	Loss string
	// Privacy is the differential-privacy ledger, or nil for a model trained
	// without a privacy guarantee (Config.NotPrivate then says why when a
	// private trainer made it without its guarantee).
	Privacy *Ledger
	// Prior, when not nil, is the population distribution of the personal
	// parameters that a mixed model fitted (MethodMixed, MethodMixedLRS):
	// every user's W and Value are posterior means under it, and new users
	// are personalized with it.
	Prior *Prior
	// Network, when not nil, is a shared network that maps input samples to
	// the Dim features named by Features (see MethodNeuralLRS); the data
	// then have the network's input features. Nil for linear models.
	Network *Network
}

// Prior is the fitted population distribution of a mixed model's personal
// parameters: w_i ~ N(0, Sigma), each non-zero b_ij ~ N(0, VarB[j]), and
// the noise of every target N(0, Noise). It is stored in the model file's
// JSON header.
type Prior struct {
	// Sigma is the r x r covariance of w_i, row-major and symmetric.
	Sigma []float64 `json:"sigma"`
	// VarB holds the prior variance of each entry of b_i (length d), or is
	// nil for a model without a sparse part.
	VarB []float64 `json:"var_b,omitempty"`
	// Noise is the variance sigma^2 of the noise of every target.
	Noise float64 `json:"noise"`
}

// validate checks p's sizes against d and r and that its values are
// finite, Sigma symmetric with a non-negative diagonal and the variances
// positive.
func (p *Prior) validate(d, r int) error {
	switch {
	case len(p.Sigma) != r*r:
		return fmt.Errorf("model: prior: Sigma has %d entries, want %d x %d", len(p.Sigma), r, r)
	case p.VarB != nil && len(p.VarB) != d:
		return fmt.Errorf("model: prior: %d variances of b, want %d", len(p.VarB), d)
	case !(p.Noise > 0) || math.IsInf(p.Noise, 0):
		return fmt.Errorf("model: prior: noise variance %v must be positive and finite", p.Noise)
	case !finite(p.Sigma):
		return errors.New("model: prior: Sigma has a non-finite value")
	}
	for a := 0; a < r; a++ {
		if p.Sigma[a*r+a] < 0 {
			return fmt.Errorf("model: prior: Sigma[%d][%d] = %v is negative", a, a, p.Sigma[a*r+a])
		}
		for b := 0; b < a; b++ {
			if p.Sigma[a*r+b] != p.Sigma[b*r+a] {
				return errors.New("model: prior: Sigma is not symmetric")
			}
		}
	}
	for j, v := range p.VarB {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("model: prior: variance %v of b's feature %d must be positive and finite", v, j)
		}
	}
	return nil
}

// Ledger records the differential-privacy guarantee of the published parts
// of a model (U and theta_0). A model with a ledger claims its (Epsilon,
// Delta); a run of a private trainer that cannot claim it (a fixed noise
// seed) leaves Model.Privacy nil and records the reason with
// Config.SetNotPrivate.
type Ledger struct {
	Mechanism       string  `json:"mechanism"`
	Clip            float64 `json:"clip"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
	Rounds          int     `json:"rounds"`
	SampleRate      float64 `json:"sample_rate"`
	Epsilon         float64 `json:"epsilon"`
	Delta           float64 `json:"delta"`
	Accountant      string  `json:"accountant"`
	Init            string  `json:"init"`
}

// Index returns a map from user ID to position in m.Users.
func (m *Model) Index() map[string]int {
	idx := make(map[string]int, len(m.Users))
	for i := range m.Users {
		idx[m.Users[i].ID] = i
	}
	return idx
}

// Theta writes user u's full parameter vector theta_0 + U w + b into dst,
// which must have length m.Dim, and returns dst.
func (m *Model) Theta(u *User, dst []float64) []float64 {
	d, r := m.Dim, m.Rank
	if r == 0 || len(u.W) != r || len(m.U) != d*r || len(dst) < d || m.Theta0 != nil && len(m.Theta0) < d {
		return m.thetaOneChain(u, dst)
	}
	// Eight (then four) entries at a time, each summed in the order of
	// thetaOneChain (theta_0[j], then U[j][0] w[0], U[j][1] w[1], ..., then
	// b's values), so the result is the same bit for bit; their chains of
	// additions overlap in the CPU instead of each waiting on the one
	// before (a single chain is bound by the latency of addition).
	w, U, t0 := u.W, m.U, m.Theta0
	j := 0
	for ; j+8 <= d; j += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float64
		if t0 != nil {
			s0, s1, s2, s3, s4, s5, s6, s7 = t0[j], t0[j+1], t0[j+2], t0[j+3], t0[j+4], t0[j+5], t0[j+6], t0[j+7]
		}
		b := U[j*r : (j+8)*r : (j+8)*r]
		for c, wc := range w {
			s0 += b[c] * wc
			s1 += b[r+c] * wc
			s2 += b[2*r+c] * wc
			s3 += b[3*r+c] * wc
			s4 += b[4*r+c] * wc
			s5 += b[5*r+c] * wc
			s6 += b[6*r+c] * wc
			s7 += b[7*r+c] * wc
		}
		dst[j], dst[j+1], dst[j+2], dst[j+3] = s0, s1, s2, s3
		dst[j+4], dst[j+5], dst[j+6], dst[j+7] = s4, s5, s6, s7
	}
	for ; j+4 <= d; j += 4 {
		var s0, s1, s2, s3 float64
		if t0 != nil {
			s0, s1, s2, s3 = t0[j], t0[j+1], t0[j+2], t0[j+3]
		}
		u0 := U[j*r : (j+1)*r : (j+1)*r][:len(w)]
		u1 := U[(j+1)*r : (j+2)*r : (j+2)*r][:len(w)]
		u2 := U[(j+2)*r : (j+3)*r : (j+3)*r][:len(w)]
		u3 := U[(j+3)*r : (j+4)*r : (j+4)*r][:len(w)]
		for c, wc := range w {
			s0 += u0[c] * wc
			s1 += u1[c] * wc
			s2 += u2[c] * wc
			s3 += u3[c] * wc
		}
		dst[j], dst[j+1], dst[j+2], dst[j+3] = s0, s1, s2, s3
	}
	for ; j < d; j++ {
		s := 0.0
		if t0 != nil {
			s = t0[j]
		}
		row := U[j*r : (j+1)*r]
		for c, wc := range w {
			s += row[c] * wc
		}
		dst[j] = s
	}
	for p, j := range u.Index {
		dst[j] += u.Value[p]
	}
	return dst
}

// thetaOneChain is Theta one entry at a time: the general case (no U part
// when w does not have Rank entries) and the reference order of the sums.
func (m *Model) thetaOneChain(u *User, dst []float64) []float64 {
	d, r := m.Dim, m.Rank
	for j := 0; j < d; j++ {
		s := 0.0
		if m.Theta0 != nil {
			s = m.Theta0[j]
		}
		if r > 0 && len(u.W) == r {
			row := m.U[j*r : (j+1)*r]
			for c, w := range u.W {
				s += row[c] * w
			}
		}
		dst[j] = s
	}
	for p, j := range u.Index {
		dst[j] += u.Value[p]
	}
	return dst
}

// ErrPrivateFallback is wrapped by the error CheckFallback returns for a
// model trained with differential privacy.
var ErrPrivateFallback = errors.New("model: the global fallback for unknown users is not available for a differentially private model")

// CheckFallback reports whether the fallback for unknown users (see
// Fallback) may be used with m. It returns an error wrapping
// ErrPrivateFallback when m was trained by a private trainer (it has a
// privacy ledger or a DP configuration): the fallback U * mean(w_i) is an
// unclipped, un-noised average of every user's private w_i, which is not
// covered by the ledger (only U is), and in the billboard model the w_i
// never leave their users, so no server could compute it. Predicting for an
// unknown user of such a model needs the user's own fit against the
// published U (lrsp personalize, or PUT /v1/users/{id} in lrsp serve).
func (m *Model) CheckFallback() error {
	if m.Privacy != nil || m.Config.DP != nil {
		return fmt.Errorf("%w: the mean of the users' w is an un-noised average of private data that the privacy "+
			"ledger does not cover (only U is published); personalize the user against U instead", ErrPrivateFallback)
	}
	return nil
}

// Fallback returns the parameters used for users the model does not know
// when the caller asks for a fallback: theta_0 plus U times the mean of the
// users' w, with no sparse part. For the global method this is theta_0.
// It is not private: callers must check CheckFallback before publishing
// anything computed from it. The mean is the exact sum of the users' w
// rounded once (package exactsum), so it does not depend on the order of
// the users, and a store that adds and removes users keeps it exactly.
func (m *Model) Fallback() User {
	w := make([]float64, m.Rank)
	if m.Rank > 0 && len(m.Users) > 0 {
		sums := make([]exactsum.Sum, m.Rank)
		for i := range m.Users {
			for c, v := range m.Users[i].W {
				sums[c].Add(v)
			}
		}
		for c := range w {
			w[c] = sums[c].Mean(int64(len(m.Users)))
		}
	}
	return User{ID: "", W: w}
}

// BytesPerUser returns the average encoded size of one user's personal
// parameters in the model file, excluding its ID.
func (m *Model) BytesPerUser() float64 {
	if len(m.Users) == 0 {
		return 0
	}
	total := 0
	for i := range m.Users {
		total += userPayload(m, &m.Users[i])
	}
	return float64(total) / float64(len(m.Users))
}

// Validate checks that the model's parts have consistent sizes and finite
// values and that no user ID appears twice, returning an error that names
// the first problem found (the user, for a duplicated ID).
func (m *Model) Validate() error {
	d, r := m.Dim, m.Rank
	switch {
	case d <= 0:
		return fmt.Errorf("model: dimension %d must be positive", d)
	case r < 0 || r > d:
		return fmt.Errorf("model: rank %d out of range [0, %d]", r, d)
	case m.Sparsity < 0 || m.Sparsity > d:
		return fmt.Errorf("model: sparsity %d out of range [0, %d]", m.Sparsity, d)
	case len(m.Features) != d:
		return fmt.Errorf("model: %d feature names for dimension %d", len(m.Features), d)
	case len(m.U) != d*r:
		return fmt.Errorf("model: U has %d entries, want %d x %d", len(m.U), d, r)
	case m.Theta0 != nil && len(m.Theta0) != d:
		return fmt.Errorf("model: theta_0 has %d entries, want %d", len(m.Theta0), d)
	case m.Loss != "" && m.Loss != LossSquared && m.Loss != LossLogistic:
		return fmt.Errorf("model: unknown loss %q", m.Loss)
	}
	if err := m.Config.Validate(d); err != nil {
		return err
	}
	if m.Network != nil {
		if err := m.Network.validate(d); err != nil {
			return err
		}
	}
	if m.Prior != nil {
		if err := m.Prior.validate(d, r); err != nil {
			return err
		}
	}
	if !finite(m.U) || !finite(m.Theta0) {
		return errors.New("model: U or theta_0 has a non-finite value")
	}
	var seen map[string]int
	if len(m.Users) > 1 {
		seen = make(map[string]int, len(m.Users))
	}
	for i := range m.Users {
		u := &m.Users[i]
		if seen != nil {
			if j, dup := seen[u.ID]; dup {
				return fmt.Errorf("model: user %q appears twice (users %d and %d)", u.ID, j, i)
			}
			seen[u.ID] = i
		}
		if len(u.W) != r {
			return fmt.Errorf("model: user %q: w has %d entries, want %d", u.ID, len(u.W), r)
		}
		if len(u.Index) != len(u.Value) || len(u.Index) > m.Sparsity {
			return fmt.Errorf("model: user %q: b has %d indices, %d values, sparsity %d", u.ID, len(u.Index), len(u.Value), m.Sparsity)
		}
		for p, j := range u.Index {
			if j < 0 || int(j) >= d || (p > 0 && j <= u.Index[p-1]) {
				return fmt.Errorf("model: user %q: b index %d out of order or range", u.ID, j)
			}
		}
		if !finite(u.W) || !finite(u.Value) || !finite(u.Cov) {
			return fmt.Errorf("model: user %q has a non-finite value", u.ID)
		}
		if n := len(u.W) + len(u.Index); u.Cov != nil && len(u.Cov) != n*(n+1)/2 {
			return fmt.Errorf("model: user %q: posterior covariance of %d numbers, want %d", u.ID, len(u.Cov), n*(n+1)/2)
		}
	}
	return nil
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Upsert adds users to m, replacing those with the same ID in place and
// appending new ones in order.
func (m *Model) Upsert(users []User) {
	idx := m.Index()
	for _, u := range users {
		if p, ok := idx[u.ID]; ok {
			m.Users[p] = u
			continue
		}
		idx[u.ID] = len(m.Users)
		m.Users = append(m.Users, u)
	}
}
