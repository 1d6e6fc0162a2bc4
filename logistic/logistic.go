// Package logistic trains low-rank + sparse personalized logistic
// regression for 0/1 targets: user i's probability that y = 1 is
//
//	P(y = 1 | x) = sigmoid(<x, theta_i>),  theta_i = U w_i + b_i,
//
// with U (d x r) orthonormal and shared, and b_i at most k-sparse, optionally
// with a shared offset theta_0 (Options.Center). It also holds the logistic
// versions of every baseline of package baseline (global, local, finetune,
// global-sparse, lowrank; TrainMethod trains any of them by name),
// Personalize for all of them, and a generator of synthetic logistic data
// from the paper's model.
//
// Training mirrors package amht's alternation, with the squared error
// replaced by the mean logistic loss plus a small ridge:
//
//  1. per user, in parallel, with U fixed: damped Newton on (w_i, b_i) for
//     a given support of b_i; the support is searched greedily (forward
//     selection by the Newton score g_j^2 / H_jj), then refined by
//     hard-thresholded gradient steps on b_i (logistic hard-thresholding
//     pursuit), keeping the support with the lowest loss;
//  2. globally, with every (w_i, b_i) fixed: one Newton step in U, its
//     direction found by a few preconditioned conjugate-gradient iterations
//     on the exact Hessian (applied user by user), with a backtracking line
//     search that is cheap because the scores are linear in U;
//  3. re-orthonormalization U = Q R with R folded into every w_i.
package logistic

import (
	"fmt"
	"math"

	"github.com/lrsp/lrsp/internal/fit"
)

// Init selects how U is initialised.
type Init int

const (
	// InitMoments takes the top-r eigenvectors of the unbiased second
	// moment (1/t) sum_i g_i g_i^T of the per-user score vectors
	// g_i = (1/m_i) sum_j (2 y_ij - 1) x_ij, with the diagonal terms j = l
	// removed. For Gaussian x, E[g_i] is proportional to theta_i (Stein's
	// lemma), so the moment's top eigenvectors span the users' subspace.
	// It forms a d x d matrix; above MaxMomentDim features it falls back to
	// InitRandom.
	InitMoments Init = iota
	// InitRandom takes a random orthonormal basis.
	InitRandom
)

// MaxMomentDim is the largest number of features for which InitMoments
// forms the d x d moment matrix.
const MaxMomentDim = 2048

// Options configures Train. Only Rank (and Sparsity for a sparse part) need
// setting; every other zero value is documented and usable.
type Options struct {
	// Rank is the number r of columns of U.
	Rank int
	// Sparsity is the largest number k of non-zeros of each b_i; 0 trains
	// the low-rank-only model theta_i = U w_i.
	Sparsity int
	// Rounds bounds the number of alternating rounds; 0 means 30. At most
	// fit.MaxRounds (1e6).
	Rounds int
	// Tolerance stops training when a round lowers the objective (the
	// validation log loss when a validation set is given) by less than this
	// fraction; 0 runs all rounds.
	Tolerance float64
	// Ridge is the penalty (Ridge/2) ||(w_i, b_i)||^2 added to each user's
	// mean logistic loss; 0 means DefaultRidge. Some ridge is always
	// applied, because a user whose samples are separable has no finite
	// unpenalized fit.
	Ridge float64
	// Init selects the initialisation of U; the zero value is InitMoments.
	Init Init
	// NewtonSteps bounds the damped Newton iterations of each per-user fit
	// on a fixed support; 0 means 25 (they stop earlier on convergence).
	NewtonSteps int
	// CGIterations bounds the conjugate-gradient iterations of the Newton
	// step in U; 0 means 5.
	CGIterations int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// model does not depend on Workers: users are handed out in blocks
	// fixed by the user list, and the blocks' partial sums are added in
	// block order, so any number of workers gives a bit-identical model and
	// statistics.
	Workers int
	// Seed seeds the random initialisation.
	Seed uint64
	// Patience is the number of rounds without validation improvement
	// before early stopping; 0 means 3. It applies only with a validation
	// set.
	Patience int
	// Offset, when not nil, is a fixed shared theta_0 (length d): every
	// user's score becomes <x, theta_0 + U w_i + b_i>, and the per-user
	// ridge pulls (w_i, b_i) toward 0, that is theta_i toward theta_0. Nil
	// keeps the paper's model theta_i = U w_i + b_i.
	Offset []float64
	// Center, when Offset is nil, first fits theta_0 as one logistic
	// regression over all users' samples pooled (ridge SharedRidge) and
	// then trains with it as the Offset, so that
	// theta_i = theta_0 + U w_i + b_i. It helps when the users share a large
	// common part (a base rate far from 1/2) that would otherwise take one
	// of the r directions of U, and in the few-shot regime where a shared
	// model is most of what the data support.
	Center bool
	// SharedRidge is the ridge (SharedRidge/2) ||theta_0||^2 of the pooled
	// fit of theta_0 (with Center, and in the finetune and global-sparse
	// baselines); 0 means Ridge/t for t users: one user's prior spread over
	// all of them, so that theta_0, which sees t times the data, is not
	// shrunk by the strength that suits a user with a few samples.
	SharedRidge float64
	// Progress, when non-nil, is called after every round.
	Progress func(RoundStats)
}

// DefaultRidge is the per-user ridge penalty used when Options.Ridge is 0.
const DefaultRidge = 1e-3

// RoundStats reports one round of training: TrainLoss is the mean over
// users of the per-user mean logistic loss (without the ridge);
// InlierLoss equals it (no user is trimmed).
type RoundStats = fit.RoundStats

// The defaults of Options.Rounds and Options.Patience.
const (
	defaultRounds   = 30
	defaultPatience = 3
)

// schedule resolves Rounds, Tolerance and Patience with package fit,
// which also checks them.
func (o *Options) schedule() (fit.Schedule, error) {
	return fit.Schedule{Rounds: o.Rounds, Tolerance: o.Tolerance, Patience: o.Patience}.Resolve(
		defaultRounds, defaultPatience, fit.MaxRounds)
}

// withDefaults returns o with every zero option at its default; validate
// reports invalid options, which it leaves as they are.
func (o *Options) withDefaults() Options {
	v := *o
	if s, err := v.schedule(); err == nil {
		v.Rounds, v.Patience = s.Rounds, s.Patience
	}
	if v.Ridge == 0 {
		v.Ridge = DefaultRidge
	}
	if v.NewtonSteps == 0 {
		v.NewtonSteps = 25
	}
	if v.CGIterations == 0 {
		v.CGIterations = 5
	}
	v.Workers = fit.Workers(v.Workers, math.MaxInt)
	return v
}

// sharedRidge resolves Options.SharedRidge for t users, with Ridge already
// defaulted.
func (o *Options) sharedRidge(t int) float64 {
	if o.SharedRidge > 0 {
		return o.SharedRidge
	}
	return o.Ridge / float64(max(t, 1))
}

func (o *Options) validate(d int) error {
	switch {
	case o.Rank < 0 || o.Rank > d:
		return fmt.Errorf("rank %d must be in [0, %d] (the number of features)", o.Rank, d)
	case o.Sparsity < 0 || o.Sparsity > d:
		return fmt.Errorf("sparsity %d must be in [0, %d] (the number of features)", o.Sparsity, d)
	case o.Rank == 0 && o.Sparsity == 0:
		return fmt.Errorf("rank and sparsity are both 0: the model would be empty")
	case !(o.Ridge >= 0) || math.IsInf(o.Ridge, 0):
		return fmt.Errorf("ridge %v must be finite and not negative", o.Ridge)
	case o.NewtonSteps < 0:
		return fmt.Errorf("newton steps %d must not be negative", o.NewtonSteps)
	case o.CGIterations < 0:
		return fmt.Errorf("cg iterations %d must not be negative", o.CGIterations)
	case o.Init < InitMoments || o.Init > InitRandom:
		return fmt.Errorf("unknown init %d", o.Init)
	case !(o.SharedRidge >= 0) || math.IsInf(o.SharedRidge, 0):
		return fmt.Errorf("shared ridge %v must be finite and not negative", o.SharedRidge)
	case o.Offset != nil && len(o.Offset) != d:
		return fmt.Errorf("offset theta_0 has %d entries, want %d (the number of features)", len(o.Offset), d)
	}
	for j, v := range o.Offset {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("offset theta_0[%d] = %v is not finite", j, v)
		}
	}
	_, err := o.schedule()
	return err
}

// Sigmoid returns 1 / (1 + exp(-z)) without overflow.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// loss returns the logistic loss log(1 + exp(z)) - y z of score z and
// target y in {0, 1}, without overflow.
func loss(z, y float64) float64 {
	var l float64
	if z > 0 {
		l = z + math.Log1p(math.Exp(-z))
	} else {
		l = math.Log1p(math.Exp(z))
	}
	return l - y*z
}
