package experiment

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot/plotter"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// RoundsOptions configures the Rounds experiment.
type RoundsOptions struct {
	// Users, Samples, Dim, Rank and Sparsity are t, m, d, r and k of the
	// generated data; all must be positive. lrs is trained with the true r
	// and k, lowrank with the true r.
	Users, Samples, Dim, Rank, Sparsity int
	// Noises lists the standard deviations of the target noise; nil means
	// 0 and 0.1. Every noise level uses the same features and true
	// parameters.
	Noises []float64
	// MaxRounds is the largest number of rounds; 0 means 20.
	MaxRounds int
	// Seed seeds the data and the training.
	Seed uint64
	// Parallel is the number of training runs at a time, each on one
	// core; 0 means GOMAXPROCS.
	Parallel int
	// Progress, when not nil, is called after each training run.
	Progress func(Step)
}

func (o RoundsOptions) withDefaults() (RoundsOptions, error) {
	if o.Noises == nil {
		o.Noises = []float64{0, 0.1}
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = 20
	}
	switch {
	case o.Users <= 0 || o.Samples <= 0 || o.Dim <= 0 || o.Rank <= 0 || o.Sparsity <= 0 || o.Rank > o.Dim || o.Sparsity > o.Dim:
		return o, fmt.Errorf("rounds: need positive t, m, d, r, k with r, k <= d, got t=%d m=%d d=%d r=%d k=%d",
			o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity)
	case len(o.Noises) == 0:
		return o, fmt.Errorf("rounds: no noise level")
	case o.MaxRounds < 0:
		return o, fmt.Errorf("rounds: max rounds %d must not be negative", o.MaxRounds)
	}
	for _, s := range o.Noises {
		if !(s >= 0) || math.IsInf(s, 0) {
			return o, fmt.Errorf("rounds: noise %v must be finite and non-negative", s)
		}
	}
	return o, nil
}

// RoundsPoint is the state of one training after a number of rounds.
type RoundsPoint struct {
	// Method is model.MethodLRS or model.MethodLowRank.
	Method string
	// Noise is the standard deviation of the target noise.
	Noise float64
	// Round is the number of rounds asked for; RoundsRun is the number
	// run, smaller when training stopped at an exact fit.
	Round, RoundsRun int
	// ParamError is ||Theta - Theta*||_F / ||Theta*||_F over all users,
	// SubspaceDistance is ||(I - U U^T) U*||_F and SupportRecovered the
	// fraction of users with the exact support (see eval.Recovery).
	ParamError, SubspaceDistance, SupportRecovered float64
	// TrainLoss is the mean per-user training MSE after the last round's
	// per-user solves (amht.RoundStats.TrainLoss).
	TrainLoss float64
}

// RoundsCurve is one method and noise level of the Rounds experiment.
type RoundsCurve struct {
	Method string
	Noise  float64
	// Points holds the state after 1, 2, ..., MaxRounds rounds.
	Points []RoundsPoint
	// Stats are the per-round statistics of the run with MaxRounds
	// rounds. Training is deterministic, so the run with L rounds repeats
	// the first L rounds of this one.
	Stats []amht.RoundStats
}

// RoundsResult holds the curves of a Rounds experiment: for each method
// (lrs, then lowrank), one curve per noise level in the order of
// Options.Noises.
type RoundsResult struct {
	// Options are the options run, with defaults filled in.
	Options RoundsOptions
	Curves  []RoundsCurve
}

// Rounds measures the relative parameter error of lrs and lowrank after
// every round. amht.Train publishes only the final model, so the model
// after L rounds is obtained by training with Rounds = L and Tolerance 0
// from the same data and seed on one core: training is then deterministic
// and the run with L rounds is exactly the first L rounds of a longer run
// (the per-round training losses agree to the last bit), at the cost of
// MaxRounds*(MaxRounds+1)/2 rounds per curve instead of MaxRounds.
func Rounds(ctx context.Context, opt RoundsOptions) (*RoundsResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	datas := make([]*synth.Data, len(opt.Noises))
	for i, s := range opt.Noises {
		datas[i], err = synth.Generate(synth.Options{Users: opt.Users, Samples: opt.Samples, Dim: opt.Dim,
			Rank: opt.Rank, Sparsity: opt.Sparsity, Noise: s, Seed: opt.Seed})
		if err != nil {
			return nil, fmt.Errorf("rounds: %w", err)
		}
	}
	methods := []struct {
		name string
		k    int
	}{{model.MethodLRS, opt.Sparsity}, {model.MethodLowRank, 0}}
	res := &RoundsResult{Options: opt}
	type runJob struct {
		curve, round int
		k            int
		data         *synth.Data
	}
	var rjs []runJob
	for _, me := range methods {
		for ni, s := range opt.Noises {
			c := len(res.Curves)
			res.Curves = append(res.Curves, RoundsCurve{Method: me.name, Noise: s, Points: make([]RoundsPoint, opt.MaxRounds)})
			for l := 1; l <= opt.MaxRounds; l++ {
				rjs = append(rjs, runJob{curve: c, round: l, k: me.k, data: datas[ni]})
			}
		}
	}
	// Longest runs first, so that the parallel runs finish together.
	slices.SortStableFunc(rjs, func(a, b runJob) int { return b.round - a.round })
	jobs := make([]job, len(rjs))
	for i, rj := range rjs {
		jobs[i] = func(ctx context.Context) (string, error) {
			c := &res.Curves[rj.curve]
			tr, err := amht.Train(ctx, rj.data.Train, nil, amht.Options{Rank: opt.Rank, Sparsity: rj.k,
				Rounds: rj.round, Workers: 1, Seed: opt.Seed})
			if err != nil {
				return "", fmt.Errorf("%s noise=%g rounds=%d: %w", c.Method, c.Noise, rj.round, err)
			}
			pt, err := roundsPoint(tr, rj.data.Truth)
			if err != nil {
				return "", fmt.Errorf("%s noise=%g rounds=%d: %w", c.Method, c.Noise, rj.round, err)
			}
			pt.Method, pt.Noise, pt.Round = c.Method, c.Noise, rj.round
			c.Points[rj.round-1] = pt
			if rj.round == opt.MaxRounds {
				c.Stats = tr.Rounds
			}
			return fmt.Sprintf("%s noise=%g rounds=%d: error %.3g", c.Method, c.Noise, rj.round, pt.ParamError), nil
		}
	}
	if err := runJobs(ctx, opt.Parallel, jobs, opt.Progress); err != nil {
		return nil, fmt.Errorf("rounds: %w", err)
	}
	return res, nil
}

func roundsPoint(tr *amht.Result, truth *synth.Truth) (RoundsPoint, error) {
	rec, err := eval.CompareTruth(tr.Model, truth)
	if err != nil {
		return RoundsPoint{}, err
	}
	return RoundsPoint{RoundsRun: len(tr.Rounds), ParamError: rec.ParamError, SubspaceDistance: rec.SubspaceDistance,
		SupportRecovered: rec.SupportRecovered, TrainLoss: tr.Rounds[len(tr.Rounds)-1].TrainLoss}, nil
}

// errorFloor is the smallest error drawn on the log-scale plot; exact
// recoveries reach about 1e-15.
const errorFloor = 1e-16

// Write writes rounds.csv and rounds.png (relative parameter error per
// round, log scale) and returns the paths written.
//
// The columns of rounds.csv are: method (lrs or lowrank), noise, users,
// samples, dim, rank, sparsity (of the data), round (rounds asked for),
// rounds_run (rounds run: fewer after an exact fit), parameter_error
// (relative, over all users), subspace_distance, support_recovered
// (fraction of users; 0 for lowrank when k > 0), train_loss (mean per-user
// training MSE).
func (r *RoundsResult) Write(dir string) ([]string, error) {
	o := r.Options
	tb := table{header: []string{"method", "noise", "users", "samples", "dim", "rank", "sparsity", "round",
		"rounds_run", "parameter_error", "subspace_distance", "support_recovered", "train_loss"}}
	var ss []series
	for _, c := range r.Curves {
		s := series{name: fmt.Sprintf("%s, noise %g", c.Method, c.Noise)}
		for _, p := range c.Points {
			tb.add(p.Method, p.Noise, o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, p.Round, p.RoundsRun,
				p.ParamError, p.SubspaceDistance, p.SupportRecovered, p.TrainLoss)
			s.xys = append(s.xys, plotter.XY{X: float64(p.Round), Y: math.Max(p.ParamError, errorFloor)})
		}
		ss = append(ss, s)
	}
	path, err := tb.writeCSV(dir, "rounds.csv")
	if err != nil {
		return nil, err
	}
	paths := []string{path}
	p, err := linePlot(fmt.Sprintf("Parameter error per round (t=%d, m=%d, d=%d, r=%d, k=%d)", o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity),
		"round", "relative parameter error", true, ss)
	if err != nil {
		return paths, err
	}
	p.Legend.Top = false
	p.Legend.Left = true
	path, err = savePNG(p, dir, "rounds.png")
	if err != nil {
		return paths, err
	}
	return append(paths, path), nil
}
