// Package neural trains neural LRS: a shared multilayer perceptron phi(x; V)
// whose output layer is personalized as low rank plus sparse,
//
//	yhat = <phi(x; V), theta_i>,  theta_i = U w_i + b_i,
//
// with U (h x r, orthonormal columns) shared, w_i r numbers and b_i at most
// k non-zeros over the h features of the network's last hidden layer. It
// also trains two baselines on the same MLP: the global network (one shared
// output vector theta_0) and the per-user dense head (each user's own
// theta_i over the h features, the FedRep / FedPer style), and generates
// synthetic data whose per-user functions are non-linear in x but share a
// low-dimensional structure (see Generate).
//
// Training alternates, for squared error:
//
//  1. per user, in parallel, with V and U fixed: (w_i, b_i) by AMHT-LRS's
//     per-user solve (package amht) on the user's current features phi(x);
//     for the global network, theta_0 by pooled least squares; for the
//     dense head, theta_i by per-user ridge least squares (see Options.Dense);
//  2. globally, with every (w_i, b_i) fixed: one pass of Adam over
//     mini-batches of users on (V, U) (on V for the global network), the
//     gradient computed by backpropagation (on V alone for the dense head);
//  3. re-orthonormalization U = Q R (the next round's per-user solves
//     absorb R).
//
// Inputs are standardized with the training mean and standard deviation
// during training; the standardization is folded into the first layer of
// the network stored in the model, so that the model takes raw inputs.
package neural

import (
	"fmt"
	"math"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/internal/fit"
)

// Options configures Train. Only Rank (and Sparsity for a sparse part)
// need setting; every other zero value is documented and usable.
type Options struct {
	// Hidden holds the widths of the hidden layers; nil means {64, 32}. The
	// last one is the dimension h of theta_i.
	Hidden []int
	// Rank is the number r of columns of U, in [1, h]; ignored by the
	// global network and the dense head.
	Rank int
	// Sparsity is the largest number k of non-zeros of each b_i, in
	// [0, h]; 0 gives the low-rank-only head theta_i = U w_i. Ignored by
	// the global network and the dense head.
	Sparsity int
	// Global trains the global network instead: one output vector theta_0
	// shared by all users, and no per-user parameters.
	Global bool
	// Dense trains the per-user dense head instead (FedRep / FedPer style,
	// model.MethodNeuralDense): theta_i is any vector over the h features,
	// fitted per user by ridge least squares with the network fixed, and
	// the Adam pass updates the network alone. Its ridge is Ridge when
	// positive; with Ridge 0 each user's ridge is chosen by exact
	// leave-one-out error over a grid (see DenseRidgeGrid). At most one of
	// Global and Dense may be set.
	Dense bool
	// Rounds bounds the number of alternating rounds (each one pass of Adam
	// over the users); 0 means 100. At most fit.MaxRounds (1e6).
	Rounds int
	// Batch is the number of users per Adam mini-batch; 0 means 16.
	Batch int
	// LearningRate is Adam's step size; 0 means 0.003.
	LearningRate float64
	// Ridge is the per-user ridge penalty on (w_i, b_i), as in
	// amht.Options (and on theta_0 for the global network, on theta_i for
	// the dense head); 0 means none (amht adds a small one for users with
	// fewer than r + k samples), and for the dense head a per-user ridge
	// chosen by leave-one-out.
	Ridge float64
	// Pursuit selects the per-user support search of b_i; the zero value is
	// amht.PursuitSwap.
	Pursuit amht.Pursuit
	// Patience is the number of rounds without validation improvement
	// before stopping; 0 means 10. It applies only with a validation set,
	// and training then returns the parameters of the best round.
	Patience int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// model does not depend on Workers: sums over users (the mini-batch
	// gradients, the global head's normal equations) are added in user
	// order, so any number of workers gives a bit-identical model and
	// statistics.
	Workers int
	// Seed seeds the initialisation and the order of the mini-batches.
	Seed uint64
	// Progress, when non-nil, is called after every round.
	Progress func(RoundStats)
}

// RoundStats reports one round of training; InlierLoss equals TrainLoss
// (no user is trimmed).
type RoundStats = fit.RoundStats

// The defaults of Options.Rounds and Options.Patience.
const (
	defaultRounds   = 100
	defaultPatience = 10
)

// schedule resolves Rounds and Patience with package fit, which also
// checks them (the network trainer has no tolerance).
func (o *Options) schedule() (fit.Schedule, error) {
	return fit.Schedule{Rounds: o.Rounds, Patience: o.Patience}.Resolve(defaultRounds, defaultPatience, fit.MaxRounds)
}

// withDefaults returns o with every zero option at its default; validate
// reports invalid options, which it leaves as they are.
func (o *Options) withDefaults() Options {
	v := *o
	if v.Hidden == nil {
		v.Hidden = []int{64, 32}
	}
	if s, err := v.schedule(); err == nil {
		v.Rounds, v.Patience = s.Rounds, s.Patience
	}
	if v.Batch == 0 {
		v.Batch = 16
	}
	if v.LearningRate == 0 {
		v.LearningRate = 0.003
	}
	v.Workers = fit.Workers(v.Workers, math.MaxInt)
	if v.Global || v.Dense {
		v.Rank, v.Sparsity = 0, 0
	}
	return v
}

// MaxWidth bounds the width of a hidden layer.
const MaxWidth = 1 << 14

func (o *Options) validate() error {
	if len(o.Hidden) == 0 {
		return fmt.Errorf("no hidden layers")
	}
	for l, h := range o.Hidden {
		if h <= 0 || h > MaxWidth {
			return fmt.Errorf("hidden layer %d has width %d, want 1..%d", l+1, h, MaxWidth)
		}
	}
	h := o.Hidden[len(o.Hidden)-1]
	lrs := !o.Global && !o.Dense
	switch {
	case o.Global && o.Dense:
		return fmt.Errorf("choose one of the global network and the dense head")
	case lrs && (o.Rank < 1 || o.Rank > h):
		return fmt.Errorf("rank %d must be in [1, %d] (the last hidden layer's width)", o.Rank, h)
	case lrs && (o.Sparsity < 0 || o.Sparsity > h):
		return fmt.Errorf("sparsity %d must be in [0, %d] (the last hidden layer's width)", o.Sparsity, h)
	case o.Batch < 0:
		return fmt.Errorf("batch %d must not be negative", o.Batch)
	case !(o.LearningRate >= 0) || math.IsInf(o.LearningRate, 0):
		return fmt.Errorf("learning rate %v must be finite and not negative", o.LearningRate)
	case !(o.Ridge >= 0) || math.IsInf(o.Ridge, 0):
		return fmt.Errorf("ridge %v must be finite and not negative", o.Ridge)
	case o.Pursuit < amht.PursuitSwap || o.Pursuit > amht.PursuitHTP:
		return fmt.Errorf("unknown pursuit %d", o.Pursuit)
	}
	_, err := o.schedule()
	return err
}
