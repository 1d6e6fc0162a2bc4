// Package amht trains low-rank + sparse personalized linear models with
// AMHT-LRS: alternating minimization between per-user solves of (w_i, b_i),
// with b_i found by hard-thresholding pursuit, and a global update of the
// shared orthonormal basis U.
//
// The data flow of one round is: per-user solves (in parallel, each user's
// contribution to the U update computed while its data is in cache) ->
// global U update (preconditioned conjugate gradient or one gradient step)
// -> re-orthonormalization of U with R folded into every w_i.
package amht

import (
	"fmt"
	"math"

	"github.com/lrsp/lrsp/internal/fit"
)

// Init selects how U is initialised: InitMoments, InitRidgeSVD or
// InitRandom (see the constants of the same names in this package).
type Init = fit.Init

// Update selects how U is updated each round: UpdateCG or UpdateGradient.
type Update = fit.Update

// Threshold selects the hard-thresholding operator for b_i: ThresholdTopK
// or ThresholdValue.
type Threshold = fit.Threshold

// Pursuit selects how the support of b_i is searched: PursuitSwap,
// PursuitGreedy or PursuitHTP.
type Pursuit = fit.Pursuit

// StopReason says why training ended.
type StopReason = fit.StopReason

// RoundStats reports one round of training.
type RoundStats = fit.RoundStats

const (
	// InitMoments takes the top-r eigenvectors of the moment matrix
	// (1/t) sum_i (1/m_i) sum_j y_ij^2 x_ij x_ij^T by block power iteration,
	// never forming a d x d matrix.
	InitMoments = fit.InitMoments
	// InitRidgeSVD takes the top-r left singular vectors of the matrix of
	// per-user ridge solutions. It costs O(d^3) per user.
	InitRidgeSVD = fit.InitRidgeSVD
	// InitRandom takes a random orthonormal basis.
	InitRandom = fit.InitRandom

	// UpdateCG solves the least-squares problem in U with preconditioned
	// conjugate gradient, applying the operator user by user. Each CG
	// iteration streams the data once more (X_i v and X_i^T of that, with
	// X_i in cache).
	UpdateCG = fit.UpdateCG
	// UpdateGradient takes one preconditioned gradient step (over-relaxed:
	// see Options.StepSize), computed in the same pass over the data as the
	// per-user solves. It converges in fewer rounds than UpdateCG when the
	// features are close to uncorrelated, and in more when they are
	// strongly correlated (the diagonal preconditioner then misses most of
	// the curvature), where UpdateCG's extra passes pay.
	UpdateGradient = fit.UpdateGradient

	// ThresholdTopK keeps the k largest entries.
	ThresholdTopK = fit.ThresholdTopK
	// ThresholdValue keeps at most k entries, dropping those whose magnitude
	// is below a threshold that starts at the scale of the targets and
	// halves every round (the paper's shrinking threshold).
	ThresholdValue = fit.ThresholdValue

	// PursuitSwap runs orthogonal matching pursuit with columns normalised
	// after projecting out X_i U, refined by hard-thresholding pursuit; for
	// users whose fit is an outlier (see TrimFactor), and for new users in
	// Personalize, it adds a deeper search: support exchanges and restarts
	// from several first columns. It recovers supports from fewer samples
	// than PursuitHTP.
	PursuitSwap = fit.PursuitSwap
	// PursuitGreedy is PursuitSwap without the deeper search.
	PursuitGreedy = fit.PursuitGreedy
	// PursuitHTP is plain hard-thresholding pursuit started from the k
	// largest entries of the gradient: the straightforward reading.
	PursuitHTP = fit.PursuitHTP
)

// Options configures training. The zero value of each field is documented
// and usable; only Rank (and Sparsity for a sparse part) need setting.
type Options struct {
	// Rank is the number r of columns of U.
	Rank int
	// Sparsity is the largest number k of non-zeros of each b_i; 0 trains
	// the low-rank-only model theta_i = U w_i. A user with m_i samples gets
	// at most (m_i - r)/2 non-zeros, so that its fit cannot interpolate.
	Sparsity int
	// Rounds bounds the number of alternating rounds; 0 means 50. At most
	// fit.MaxRounds (1e6).
	Rounds int
	// Tolerance stops training when a round lowers the loss (the validation
	// loss when Validation is set, else the training loss) by less than this
	// fraction; 0 runs all rounds (still stopping at an exact fit).
	Tolerance float64
	// Init selects the initialisation of U; the zero value is InitMoments.
	Init Init
	// Update selects the U update; the zero value is UpdateCG. Package
	// method, and so lrsp train, default to UpdateGradient, which needs no
	// pass over the data beyond the per-user solves.
	Update Update
	// Threshold selects the thresholding operator; the zero value is
	// ThresholdTopK.
	Threshold Threshold
	// Pursuit selects the per-user support search; the zero value is
	// PursuitSwap.
	Pursuit Pursuit
	// Ridge is the per-user ridge penalty lambda on (w_i, b_i), in units of
	// the mean squared error; 0 means none, except a small automatic ridge
	// for users with fewer samples than r + k.
	Ridge float64
	// CGIterations bounds the conjugate-gradient iterations per round; 0
	// means 3. Warm-started at the previous U, a few iterations per round
	// suffice because the alternation itself converges linearly.
	CGIterations int
	// StepSize scales the preconditioned gradient step of UpdateGradient;
	// 0 means relaxedStep (1.4), an over-relaxed step. Alternating
	// minimization zigzags between U and the w_i, and stepping past the
	// preconditioned minimiser in U, as successive over-relaxation does,
	// cuts the rounds to converge: on the exact-recovery problems of
	// docs/results.md 26 rounds against 43 at step 1 (and 37 with
	// UpdateCG). When a round's inlier loss rises above the previous
	// round's, the default step falls back to 1 for the rest of training;
	// a step set here is used as given.
	StepSize float64
	// Refresh bounds the number of rounds between full support searches
	// of a user. In the rounds between, the user refits (w_i, b_i) on its
	// last support and keeps it when it is still a fixed point of hard
	// thresholding for the new U, at r + 1 passes over X_i instead of the
	// 15 to 30 of a search (more for the deep search of outliers); when it
	// is not, the user searches. A search that confirms a user's support
	// doubles the user's gap between searches, up to Refresh; one that
	// changes it makes the user search every round again. 0 means 8; 1
	// searches every user in every round.
	Refresh int
	// TrimFactor leaves users whose training MSE exceeds TrimFactor times
	// the median MSE out of the round's U update (they are still fitted);
	// 0 means 10, a negative value keeps every user.
	TrimFactor float64
	// DeepFits bounds the work of one user's deep support search (see
	// PursuitSwap), which the final per-user pass gives every user, in
	// candidate supports evaluated (least-squares fits): the search
	// returns the best support found when it reaches the bound. 0 means
	// 200 per unit of the user's support bound (at most Sparsity), above
	// what the search takes on typical users (up to 150 or so), so that it
	// binds only on users whose search would run long; a negative value
	// means no bound.
	DeepFits int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// model does not depend on Workers: users are handed out in chunks
	// fixed by the data, and the chunks' partial sums are added in chunk
	// order, so any number of workers gives a bit-identical model and
	// statistics.
	Workers int
	// Seed seeds the random initialisation.
	Seed uint64
	// Patience is the number of rounds without validation improvement
	// before early stopping; 0 means 3. It applies only with a validation
	// set.
	Patience int
	// Offset, when not nil, is a fixed shared parameter vector theta_0
	// (length d): users are fitted to y - X theta_0 and the model stores it
	// as Theta0. Nil means no offset.
	Offset []float64
	// Progress, when non-nil, is called after every round.
	Progress func(RoundStats)
	// FinalProgress, when non-nil, is called as the final per-user solves
	// after the last round (a deep support search for every user, often
	// longer than the rounds) progress: with done = 0 before they start,
	// then with the number of users done so far, up to users. Calls come
	// in order, one at a time.
	FinalProgress func(done, users int)
}

// The defaults of Options.Rounds and Options.Patience, and the default
// StepSize of UpdateGradient.
const (
	relaxedStep     = 1.4
	defaultRounds   = 50
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
	if v.CGIterations == 0 {
		v.CGIterations = 3
	}
	v.Workers = fit.Workers(v.Workers, math.MaxInt)
	if v.Refresh == 0 {
		v.Refresh = 8
	}
	if v.TrimFactor == 0 {
		v.TrimFactor = 10
	}
	return v
}

func (o *Options) validate(d int) error {
	switch {
	case o.Rank < 0 || o.Rank > d:
		return fmt.Errorf("rank %d must be in [0, %d] (the number of features)", o.Rank, d)
	case o.Sparsity < 0 || o.Sparsity > d:
		return fmt.Errorf("sparsity %d must be in [0, %d] (the number of features)", o.Sparsity, d)
	case o.Rank == 0 && o.Sparsity == 0:
		return fmt.Errorf("rank and sparsity are both 0: the model would be empty")
	case o.Offset != nil && len(o.Offset) != d:
		return fmt.Errorf("offset has %d entries, want %d", len(o.Offset), d)
	case !(o.Ridge >= 0) || math.IsInf(o.Ridge, 0):
		return fmt.Errorf("ridge %v must be finite and not negative", o.Ridge)
	case o.Refresh < 0 || o.Refresh > 255:
		return fmt.Errorf("refresh %d must be in [0, 255]", o.Refresh)
	case o.CGIterations < 0:
		return fmt.Errorf("cg iterations %d must not be negative", o.CGIterations)
	case !(o.StepSize >= 0) || math.IsInf(o.StepSize, 0):
		return fmt.Errorf("step size %v must not be negative", o.StepSize)
	}
	if _, err := o.schedule(); err != nil {
		return err
	}
	for _, err := range []error{o.Init.Valid(), o.Update.Valid(), o.Threshold.Valid(), o.Pursuit.Valid()} {
		if err != nil {
			return err
		}
	}
	return nil
}
