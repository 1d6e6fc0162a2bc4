package experiment

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// PhaseOptions configures the Phase experiment.
type PhaseOptions struct {
	// Dim, Rank and Sparsity are d, r and k of the generated data and of
	// the trained models. Dim and Rank must be positive; Sparsity may be 0.
	Dim, Rank, Sparsity int
	// Samples lists the samples per user m (the heat map's columns); nil
	// means 10, 15, 20, 25, 30, 40, 50, 60.
	Samples []int
	// Users lists the numbers of users t (the heat map's rows); nil means
	// 50, 100, 200, 500, 1000, 2000.
	Users []int
	// Pursuits lists the per-user support searches to compare, one heat
	// map each; nil means amht.PursuitSwap and amht.PursuitHTP.
	Pursuits []amht.Pursuit
	// LineUsers is the t at which the line plot compares the pursuits; 0
	// means the largest of Users. It must be one of Users.
	LineUsers int
	// Tolerance is the largest relative parameter error of a user counted
	// as recovered exactly; 0 means 1e-6.
	Tolerance float64
	// Rounds bounds the AMHT-LRS rounds; 0 means amht's default (50).
	Rounds int
	// Seed seeds the data (each cell draws its own data from a seed
	// derived from Seed, m and t; the pursuits of a cell share it) and
	// the training.
	Seed uint64
	// Parallel is the number of training runs at a time, each on one
	// core; 0 means GOMAXPROCS.
	Parallel int
	// Progress, when not nil, is called after each training run.
	Progress func(Step)
}

func (o PhaseOptions) withDefaults() (PhaseOptions, error) {
	if o.Samples == nil {
		o.Samples = []int{10, 15, 20, 25, 30, 40, 50, 60}
	}
	if o.Users == nil {
		o.Users = []int{50, 100, 200, 500, 1000, 2000}
	}
	if o.Pursuits == nil {
		o.Pursuits = []amht.Pursuit{amht.PursuitSwap, amht.PursuitHTP}
	}
	if o.Tolerance == 0 {
		o.Tolerance = 1e-6
	}
	o.Samples = sortedUnique(o.Samples)
	o.Users = sortedUnique(o.Users)
	if o.LineUsers == 0 && len(o.Users) > 0 {
		o.LineUsers = o.Users[len(o.Users)-1]
	}
	switch {
	case o.Dim <= 0 || o.Rank <= 0 || o.Rank > o.Dim || o.Sparsity < 0 || o.Sparsity > o.Dim:
		return o, fmt.Errorf("phase: need 0 < rank <= dim and 0 <= sparsity <= dim, got d=%d r=%d k=%d", o.Dim, o.Rank, o.Sparsity)
	case len(o.Samples) == 0 || o.Samples[0] <= 0:
		return o, fmt.Errorf("phase: samples per user must be positive, got %v", o.Samples)
	case len(o.Users) == 0 || o.Users[0] <= 0:
		return o, fmt.Errorf("phase: numbers of users must be positive, got %v", o.Users)
	case len(o.Pursuits) == 0:
		return o, fmt.Errorf("phase: no pursuit to run")
	case !slices.Contains(o.Users, o.LineUsers):
		return o, fmt.Errorf("phase: line-plot users %d is not one of the users %v", o.LineUsers, o.Users)
	case !(o.Tolerance > 0):
		return o, fmt.Errorf("phase: tolerance %v must be positive", o.Tolerance)
	case o.Rounds < 0:
		return o, fmt.Errorf("phase: rounds %d must not be negative", o.Rounds)
	}
	for _, p := range o.Pursuits {
		if _, err := pursuitName(p); err != nil {
			return o, fmt.Errorf("phase: %w", err)
		}
	}
	return o, nil
}

// pursuitName returns the name of p as used in model configs and CSVs.
func pursuitName(p amht.Pursuit) (string, error) {
	switch p {
	case amht.PursuitSwap:
		return "swap", nil
	case amht.PursuitGreedy:
		return "greedy", nil
	case amht.PursuitHTP:
		return "htp", nil
	}
	return "", fmt.Errorf("unknown pursuit %d", p)
}

func sortedUnique(v []int) []int {
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// PhaseCell is the outcome of one training run of the Phase experiment.
type PhaseCell struct {
	// Pursuit names the support search: "swap", "greedy" or "htp".
	Pursuit string
	// Users and Samples are t and m.
	Users, Samples int
	// Recovered is the fraction of users recovered exactly: support equal
	// to the true support and relative parameter error below the
	// tolerance.
	Recovered float64
	// SupportRecovered is the fraction of users whose support is exact.
	SupportRecovered float64
	// ParamError is ||Theta - Theta*||_F / ||Theta*||_F over all users.
	ParamError float64
	// SubspaceDistance is ||(I - U U^T) U*||_F.
	SubspaceDistance float64
	// Rounds is the number of rounds run and Stopped why training ended
	// (see amht.Result).
	Rounds  int
	Stopped string
	// Seconds is the wall time of the training run alone.
	Seconds float64
}

// PhaseResult holds the cells of a Phase experiment, ordered by pursuit
// (in the order of Options.Pursuits), then t, then m.
type PhaseResult struct {
	// Options are the options run, with defaults filled in.
	Options PhaseOptions
	Cells   []PhaseCell
}

// Phase trains AMHT-LRS on noiseless synthetic data for every m, t and
// pursuit of opt and measures exact recovery. Cancelling ctx stops it
// within one round of every running training.
func Phase(ctx context.Context, opt PhaseOptions) (*PhaseResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &PhaseResult{Options: opt}
	res.Cells = make([]PhaseCell, len(opt.Pursuits)*len(opt.Users)*len(opt.Samples))
	type cellJob struct {
		pos, t, m int
		p         amht.Pursuit
	}
	var cjs []cellJob
	for pi, p := range opt.Pursuits {
		for ti, t := range opt.Users {
			for mi, m := range opt.Samples {
				cjs = append(cjs, cellJob{pos: (pi*len(opt.Users)+ti)*len(opt.Samples) + mi, t: t, m: m, p: p})
			}
		}
	}
	// Largest runs first, so that the parallel runs finish together.
	slices.SortStableFunc(cjs, func(a, b cellJob) int { return b.t*b.m - a.t*a.m })
	jobs := make([]job, len(cjs))
	for i, cj := range cjs {
		jobs[i] = func(ctx context.Context) (string, error) {
			cell, err := phaseCell(ctx, opt, cj.t, cj.m, cj.p)
			if err != nil {
				return "", err
			}
			res.Cells[cj.pos] = cell
			return fmt.Sprintf("%s t=%d m=%d: %.3f recovered", cell.Pursuit, cj.t, cj.m, cell.Recovered), nil
		}
	}
	if err := runJobs(ctx, opt.Parallel, jobs, opt.Progress); err != nil {
		return nil, fmt.Errorf("phase: %w", err)
	}
	return res, nil
}

func phaseCell(ctx context.Context, opt PhaseOptions, t, m int, p amht.Pursuit) (PhaseCell, error) {
	name, _ := pursuitName(p)
	cell := PhaseCell{Pursuit: name, Users: t, Samples: m}
	data, err := synth.Generate(synth.Options{Users: t, Samples: m, Dim: opt.Dim, Rank: opt.Rank,
		Sparsity: opt.Sparsity, Seed: mixSeed(opt.Seed, t, m)})
	if err != nil {
		return cell, err
	}
	start := time.Now()
	tr, err := amht.Train(ctx, data.Train, nil, amht.Options{Rank: opt.Rank, Sparsity: opt.Sparsity,
		Rounds: opt.Rounds, Pursuit: p, Workers: 1, Seed: opt.Seed})
	if err != nil {
		return cell, fmt.Errorf("%s t=%d m=%d: %w", name, t, m, err)
	}
	cell.Seconds = time.Since(start).Seconds()
	cell.Rounds, cell.Stopped = len(tr.Rounds), tr.Stopped.String()
	rec, err := eval.CompareTruth(tr.Model, data.Truth)
	if err != nil {
		return cell, fmt.Errorf("%s t=%d m=%d: %w", name, t, m, err)
	}
	cell.SupportRecovered, cell.ParamError, cell.SubspaceDistance = rec.SupportRecovered, rec.ParamError, rec.SubspaceDistance
	n, err := exactlyRecovered(tr.Model, data.Truth, opt.Tolerance)
	if err != nil {
		return cell, fmt.Errorf("%s t=%d m=%d: %w", name, t, m, err)
	}
	cell.Recovered = float64(n) / float64(t)
	return cell, nil
}

// exactlyRecovered counts the users of m whose support equals the true
// support and whose relative parameter error is below tol, both as
// eval.CompareTruth computes them for a model holding that user alone.
func exactlyRecovered(m *model.Model, truth *synth.Truth, tol float64) (int, error) {
	n := 0
	one := *m
	for i := range m.Users {
		one.Users = m.Users[i : i+1]
		rec, err := eval.CompareTruth(&one, truth)
		if err != nil {
			return 0, err
		}
		if rec.SupportRecovered == 1 && rec.ParamError < tol {
			n++
		}
	}
	return n, nil
}

// Write writes phase.csv, one heat map phase-PURSUIT.png per pursuit and,
// with more than one pursuit, phase-pursuits.png comparing them at
// Options.LineUsers users. It returns the paths written.
//
// The columns of phase.csv are: pursuit, users (t), samples (m), dim,
// rank, sparsity, recovered (fraction of users recovered exactly),
// support_recovered (fraction with the exact support), parameter_error
// (relative, over all users), subspace_distance, rounds, stopped, seconds.
func (r *PhaseResult) Write(dir string) ([]string, error) {
	o := r.Options
	tb := table{header: []string{"pursuit", "users", "samples", "dim", "rank", "sparsity", "recovered",
		"support_recovered", "parameter_error", "subspace_distance", "rounds", "stopped", "seconds"}}
	for _, c := range r.Cells {
		tb.add(c.Pursuit, c.Users, c.Samples, o.Dim, o.Rank, o.Sparsity, c.Recovered, c.SupportRecovered,
			c.ParamError, c.SubspaceDistance, c.Rounds, c.Stopped, c.Seconds)
	}
	path, err := tb.writeCSV(dir, "phase.csv")
	if err != nil {
		return nil, err
	}
	paths := []string{path}
	nm := len(o.Samples)
	per := len(o.Users) * nm
	var lines []series
	for pi := range o.Pursuits {
		cells := r.Cells[pi*per : (pi+1)*per]
		z := make([][]float64, len(o.Users))
		for ti := range o.Users {
			z[ti] = make([]float64, nm)
			for mi := range o.Samples {
				z[ti][mi] = cells[ti*nm+mi].Recovered
			}
		}
		name := cells[0].Pursuit
		p, err := heatMap(fmt.Sprintf("Users recovered exactly (%s pursuit; d=%d, r=%d, k=%d)", name, o.Dim, o.Rank, o.Sparsity),
			"samples per user m", "users t", o.Samples, o.Users, z)
		if err != nil {
			return paths, err
		}
		path, err := savePNG(p, dir, "phase-"+name+".png")
		if err != nil {
			return paths, err
		}
		paths = append(paths, path)
		ti := slices.Index(o.Users, o.LineUsers)
		s := series{name: name}
		for mi, m := range o.Samples {
			s.xys = append(s.xys, plotter.XY{X: float64(m), Y: z[ti][mi]})
		}
		lines = append(lines, s)
	}
	if len(lines) > 1 {
		p, err := linePlot(fmt.Sprintf("Pursuits compared at t=%d (d=%d, r=%d, k=%d)", o.LineUsers, o.Dim, o.Rank, o.Sparsity),
			"samples per user m", "fraction of users recovered exactly", false, lines)
		if err != nil {
			return paths, err
		}
		p.Y.Min, p.Y.Max = 0, 1.05
		p.Legend.Top = false
		p.Legend.Left = false
		path, err := savePNG(p, dir, "phase-pursuits.png")
		if err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
