package method

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
)

// Options holds what a training run needs beyond the configuration: the
// settings that do not change the model (Workers, Progress) or that the
// model does not record (Holdout, Patience). The zero value trains on all
// the data with every CPU.
type Options struct {
	// Holdout, when positive, holds out this fraction of every user's
	// samples (dataset.Split, seeded by Config.Seed) to score every round
	// and stop early at the best one. The AMHT-LRS, logistic and baseline
	// methods keep the fit on the rest; the network methods then refit
	// every user on all its samples with the network and U fixed. Private
	// training rejects it (choosing a round on held-out samples would use
	// private data).
	Holdout float64
	// Patience is the number of rounds without validation improvement
	// before stopping (with Holdout); 0 means the trainer's default.
	Patience int
	// Workers is the number of parallel workers; 0 means GOMAXPROCS.
	Workers int
	// Progress, when not nil, is called after every round of the trainers
	// that have rounds (not private training, which reports Release).
	Progress func(fit.RoundStats)
	// FinalProgress, when not nil, is called as AMHT-LRS's final per-user
	// solves progress (see amht.Options.FinalProgress).
	FinalProgress func(done, users int)
	// Release, when not nil, is called after every noisy release of
	// private training; it carries only public quantities.
	Release func(dp.RoundStats)
	// NoiseSeed, when not 0, seeds private training's secret randomness
	// (noise and sampling): for reproducible experiments only. The model is
	// then not private: it has no ledger, and Config.NotPrivate says why
	// (see dp.Options.NoiseSeed).
	NoiseSeed uint64
	// AllowLargeDelta lets private training use a delta of 1/users or more,
	// which it otherwise refuses (see dp.CheckDelta).
	AllowLargeDelta bool
}

// Result is a trained model with the statistics of its training.
type Result struct {
	// Model is the trained model; Model.Config is the configuration it was
	// trained with, every default resolved.
	Model *model.Model
	// Rounds reports every round of the trainers that have rounds; it is
	// empty for closed-form methods and private training.
	Rounds []fit.RoundStats
	// Releases reports every release of private training.
	Releases []dp.RoundStats
	// Stopped says why training ended.
	Stopped fit.StopReason
	// TrainLoss is the mean per-user training loss of the published model
	// where the trainer reports it (AMHT-LRS), else the last round's.
	TrainLoss float64
	// NonFinite counts the user-rounds of private training whose
	// contribution overflowed and was left out (see dp.Result).
	NonFinite int
	// Timing reports the time before the first round and that of the
	// final per-user solves, where the trainer has them (AMHT-LRS).
	Timing fit.Timing
}

// roundsResult is the Result of a trainer with rounds that does not report
// its published model's loss: the last round's stands for it.
func roundsResult(m *model.Model, rounds []fit.RoundStats, stopped fit.StopReason) *Result {
	res := &Result{Model: m, Rounds: rounds, Stopped: stopped}
	if n := len(rounds); n > 0 {
		res.TrainLoss = rounds[n-1].TrainLoss
	}
	return res
}

// ErrNeedsMemory reports a method given a streamed source (such as a packed
// file) that it can only train from data in memory.
var ErrNeedsMemory = errors.New("method: this method trains from data in memory only (load the data into a dataset.Dataset)")

// Streams reports whether Train trains c from a streamed dataset.Source
// (a packed file) without loading it: AMHT-LRS for lrs with the squared
// loss, without centring, privacy or a hold-out.
func Streams(c Config, o Options) bool {
	return c.Method == model.MethodLRS && (c.Loss == "" || c.Loss == model.LossSquared) && !c.Center &&
		c.DP == nil && o.Holdout == 0
}

// Train validates c for the method it names and trains it on src, whose
// users must all have targets (0/1 targets for the logistic loss). Zero
// fields of c take the trainer's defaults. src may be streamed from disk
// where Streams says so; otherwise it must be a *dataset.Dataset. The same
// data, configuration and seed give the same model whatever o.Workers.
// Cancelling ctx stops training with ctx's error.
func Train(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	s, err := Lookup(c.Method, c.Loss)
	if err != nil {
		return nil, err
	}
	c.Loss = s.Loss
	if err := Validate(c, src.Dim()); err != nil {
		return nil, err
	}
	switch {
	case !src.HasTargets():
		return nil, errors.New("method: the data have no target column")
	case src.NumUsers() == 0:
		return nil, errors.New("method: the data have no users")
	case !(o.Holdout >= 0 && o.Holdout < 1):
		return nil, fmt.Errorf("method: hold-out fraction %v must be in [0, 1)", o.Holdout)
	case o.Patience < 0:
		return nil, fmt.Errorf("method: patience %d must not be negative", o.Patience)
	case c.DP != nil && !s.Private:
		return nil, fmt.Errorf("method: %s with the %s loss cannot be trained privately (lrs and lowrank with the squared loss can)", s.Name, s.Loss)
	case c.DP != nil && o.Holdout > 0:
		return nil, errors.New("method: private training cannot hold out samples: selecting a round on them would use private data")
	}
	if _, ok := src.(*dataset.Dataset); !ok && !Streams(c, o) {
		return nil, fmt.Errorf("%w: %s", ErrNeedsMemory, s.Name)
	}
	if c.DP != nil {
		return trainPrivate(ctx, src.(*dataset.Dataset), c, o)
	}
	res, err := s.train(ctx, src, c, o)
	if err != nil {
		return nil, err
	}
	res.Model.Config.Method, res.Model.Config.Loss = s.Name, lossField(s.Loss)
	if err := res.Model.Validate(); err != nil {
		return nil, fmt.Errorf("method: %s: %w", s.Name, err)
	}
	return res, nil
}

// lossField is the Config.Loss a model of loss records: empty for the
// squared loss, as files before the logistic loss had it.
func lossField(loss string) string {
	if loss == model.LossSquared {
		return ""
	}
	return loss
}

// split holds out o.Holdout of every user's samples of src (which Train
// has checked is in memory when Holdout is positive).
func split(src dataset.Source, o Options, seed uint64) (train dataset.Source, held *dataset.Dataset, err error) {
	if o.Holdout == 0 {
		return src, nil, nil
	}
	tr, held, err := dataset.Split(src.(*dataset.Dataset), o.Holdout, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("method: %w", err)
	}
	return tr, held, nil
}

// amhtOptions maps c onto AMHT-LRS's options; the enumerations were
// checked by Validate.
func amhtOptions(c Config, o Options) amht.Options {
	a := amht.Options{Rank: c.Rank, Sparsity: c.Sparsity, Rounds: c.Rounds, Tolerance: c.Tolerance,
		Pursuit: c.Pursuit, Ridge: c.Ridge, CGIterations: c.CGIterations, Refresh: c.Refresh, Workers: o.Workers,
		Seed: c.Seed, Patience: o.Patience, Progress: o.Progress, FinalProgress: o.FinalProgress}
	// Validate checked the names; "" keeps the zero value (the default).
	a.Init.UnmarshalText([]byte(c.Init))
	a.Update.UnmarshalText([]byte(c.Update))
	a.Threshold.UnmarshalText([]byte(c.Threshold))
	return a
}

// trainLRS trains lrs with the squared loss by AMHT-LRS, from a streamed
// source when there is nothing to hold out or centre.
func trainLRS(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	if c.Center {
		return trainBaseline(ctx, src, c, o)
	}
	train, held, err := split(src, o, c.Seed)
	if err != nil {
		return nil, err
	}
	r, err := amht.TrainSource(ctx, train, held, amhtOptions(c, o))
	if err != nil {
		return nil, err
	}
	return &Result{Model: r.Model, Rounds: r.Rounds, Stopped: r.Stopped, TrainLoss: r.TrainLoss, Timing: r.Timing}, nil
}

// trainBaseline trains the squared-loss methods of package baseline.
func trainBaseline(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	train, held, err := split(src, o, c.Seed)
	if err != nil {
		return nil, err
	}
	if c.Theta0Ridge != 0 && c.Theta0Ridge != c.Ridge {
		return nil, fmt.Errorf("method: %s: theta0_ridge %v differs from ridge %v: with the squared loss theta_0 is fitted "+
			"with Ridge spread over the users (see baseline.Options.Ridge)", c.Method, c.Theta0Ridge, c.Ridge)
	}
	b := baseline.Options{Method: c.Method, Rank: c.Rank, Sparsity: c.Sparsity, Ridge: c.Ridge, Center: c.Center,
		AMHT: amhtOptions(c, o)}
	var rounds []fit.RoundStats
	b.AMHT.Progress = func(st fit.RoundStats) {
		rounds = append(rounds, st)
		if o.Progress != nil {
			o.Progress(st)
		}
	}
	m, err := baseline.Train(ctx, train.(*dataset.Dataset), held, b)
	if err != nil {
		return nil, err
	}
	res := &Result{Model: m, Rounds: rounds, Stopped: fit.StopClosedForm}
	if n := len(rounds); n > 0 {
		res.Stopped, res.TrainLoss = fit.StopRounds, rounds[n-1].TrainLoss
	}
	return res, nil
}

// trainLogistic trains every method with the logistic loss.
func trainLogistic(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	ds := src.(*dataset.Dataset)
	if err := logistic.CheckTargets(ds); err != nil {
		return nil, fmt.Errorf("method: %w", err)
	}
	train, held, err := split(ds, o, c.Seed)
	if err != nil {
		return nil, err
	}
	lo := logistic.Options{Rank: c.Rank, Sparsity: c.Sparsity, Rounds: c.Rounds, Tolerance: c.Tolerance,
		Ridge: c.Ridge, NewtonSteps: c.NewtonSteps, CGIterations: c.CGIterations, Workers: o.Workers, Seed: c.Seed,
		Patience: o.Patience, Center: c.Center, SharedRidge: c.Theta0Ridge, Progress: o.Progress}
	if c.Init == "random" {
		lo.Init = logistic.InitRandom
	}
	r, err := logistic.TrainMethod(ctx, train.(*dataset.Dataset), held, c.Method, lo)
	if err != nil {
		return nil, err
	}
	return roundsResult(r.Model, r.Rounds, r.Stopped), nil
}

// trainNeural trains the network methods. With a hold-out, training stops
// at the best validation round and every user is then refitted on all its
// samples with the network and U fixed.
func trainNeural(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	ds := src.(*dataset.Dataset)
	train, held, err := split(ds, o, c.Seed)
	if err != nil {
		return nil, err
	}
	no := neural.Options{Hidden: c.Hidden, Rank: c.Rank, Sparsity: c.Sparsity, Global: c.Method == model.MethodNeuralGlobal,
		Dense: c.Method == model.MethodNeuralDense, Rounds: c.Rounds, Batch: c.Batch, LearningRate: c.LearningRate,
		Ridge: c.Ridge, Pursuit: c.Pursuit, Patience: o.Patience, Workers: o.Workers, Seed: c.Seed, Progress: o.Progress}
	if c.Method == model.MethodNeuralDense && c.DenseRidge > 0 {
		no.Ridge = c.DenseRidge
	}
	r, err := neural.Train(ctx, train.(*dataset.Dataset), held, no)
	if err != nil {
		return nil, err
	}
	m := r.Model
	if held != nil {
		users, err := personalizeNeural(ctx, m, ds, o.Workers)
		if err != nil {
			return nil, err
		}
		m.Upsert(users)
	}
	return roundsResult(m, r.Rounds, r.Stopped), nil
}

// trainPrivate trains lrs or lowrank with user-level differential privacy
// in the billboard model (package dp). c.DP.NoiseMultiplier must be set
// (dp.Calibrate derives it from a target epsilon) unless c.DP.Noiseless.
func trainPrivate(ctx context.Context, ds *dataset.Dataset, c Config, o Options) (*Result, error) {
	p := c.DP
	do := dp.Options{Rank: c.Rank, Sparsity: c.Sparsity, Rounds: c.Rounds, Clip: p.Clip, NoiseMultiplier: p.NoiseMultiplier,
		Noiseless: p.Noiseless, SampleRate: p.SampleRate, Delta: p.Delta, StepSize: p.StepSize, Pursuit: c.Pursuit,
		Ridge: c.Ridge, Workers: o.Workers, Seed: c.Seed, NoiseSeed: o.NoiseSeed, AllowLargeDelta: o.AllowLargeDelta,
		Progress: o.Release, Accountant: p.Accountant}
	if p.Init == dp.InitRandom.String() {
		do.Init = dp.InitRandom
	}
	noise, err := dp.ParseNoise(p.Noise)
	if err != nil {
		return nil, err
	}
	do.Noise = noise
	if c.Method == model.MethodLowRank {
		do.Sparsity = 0
	}
	r, err := dp.Train(ctx, ds, do)
	if err != nil {
		return nil, err
	}
	r.Model.Config.Method = c.Method
	return &Result{Model: r.Model, Releases: r.Rounds, Stopped: fit.StopRounds, NonFinite: r.NonFinite}, nil
}
