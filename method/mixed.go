package method

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/mixed"
	"github.com/lrsp/lrsp/model"
)

// Intercept is the name that Config.RandomEffects gives the data's
// constant feature (every value 1), whatever its column is called.
const Intercept = "intercept"

func mixedDefaults() Config {
	return Config{RandomEffects: []string{Intercept}, Criterion: "reml"}
}

func mixedLRSDefaults() Config {
	return Config{Rank: 2, Sparsity: 0, Rounds: 300, Tolerance: 1e-7, Seed: 1}
}

// checkMixed checks the classic mixed model's options: at least one random
// effect, no name twice.
func checkMixed(c *Config, _ int) error {
	if len(c.RandomEffects) == 0 {
		return errors.New("random_effects: name at least one feature (or intercept)")
	}
	for p, name := range c.RandomEffects {
		if slices.Contains(c.RandomEffects[:p], name) {
			return fmt.Errorf("random_effects: %q named twice", name)
		}
	}
	return nil
}

// RandomEffectColumns resolves names, as Config.RandomEffects holds them,
// to feature indices of ds: a feature's name, or Intercept for the first
// feature whose every value is 1 (when no feature is named "intercept").
func RandomEffectColumns(ds *dataset.Dataset, names []string) ([]int, error) {
	var cols []int
	for _, name := range names {
		j := slices.Index(ds.Features, name)
		if j < 0 && name == Intercept {
			j = constantFeature(ds)
			if j < 0 {
				return nil, errors.New("method: random effect intercept: the data have no constant feature (a column of ones); add one, or name features")
			}
		}
		if j < 0 {
			return nil, fmt.Errorf("method: random effect %q is not a feature of the data", name)
		}
		if slices.Contains(cols, j) {
			return nil, fmt.Errorf("method: random effect %q names feature %q twice", name, ds.Features[j])
		}
		cols = append(cols, j)
	}
	return cols, nil
}

// constantFeature returns the first feature of ds that is 1 in every
// sample, or -1.
func constantFeature(ds *dataset.Dataset) int {
	d := ds.Dim()
	for j := 0; j < d; j++ {
		ok := ds.Samples() > 0
		for _, u := range ds.Users {
			for s := 0; ok && s < u.Len(); s++ {
				ok = u.X[s*d+j] == 1
			}
			if !ok {
				break
			}
		}
		if ok {
			return j
		}
	}
	return -1
}

// trainMixed fits the classic linear mixed model.
func trainMixed(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	ds := src.(*dataset.Dataset)
	cols, err := RandomEffectColumns(ds, c.RandomEffects)
	if err != nil {
		return nil, err
	}
	return fitClassic(ctx, ds, c, cols, o)
}

// trainMixedLRS fits the mixed-model LRS by EM.
func trainMixedLRS(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error) {
	if o.Holdout > 0 {
		return nil, errors.New("method: mixed-lrs chooses its shrinkage by likelihood, not on held-out samples: drop the validation fraction")
	}
	r, err := mixed.FitLRS(ctx, src.(*dataset.Dataset), mixed.LRSOptions{Rank: c.Rank, Sparsity: c.Sparsity,
		Rounds: c.Rounds, Tolerance: c.Tolerance, Seed: c.Seed, Workers: o.Workers, Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	return roundsResult(r.Model, r.Rounds, r.Stopped), nil
}

func personalizeMixed(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	return mixed.Personalize(ctx, m, ds, workers)
}

// fitClassic fits random effects on the columns cols by REML or ML
// (mixed.FitLMM): theta_0 is the fixed effects, U the identity's columns
// cols, every user's w its random effects' posterior mean.
func fitClassic(ctx context.Context, ds *dataset.Dataset, c Config, cols []int, o Options) (*Result, error) {
	crit := mixed.REML
	if c.Criterion == "ml" {
		crit = mixed.ML
	}
	lmm, err := mixed.FitLMM(ctx, ds, mixed.LMMOptions{Criterion: crit, Random: cols})
	if err != nil {
		return nil, err
	}
	d, q := ds.Dim(), len(cols)
	m := &model.Model{Method: model.MethodMixed, Dim: d, Rank: q, Features: ds.Features, U: make([]float64, d*q),
		Theta0: slices.Clone(lmm.Beta), Prior: &model.Prior{Sigma: slices.Clone(lmm.Sigma), Noise: lmm.S2},
		Users: make([]model.User, len(ds.Users))}
	for a, j := range cols {
		m.U[j*q+a] = 1
	}
	for i := range ds.Users {
		u := &ds.Users[i]
		w, cov, err := lmm.Posterior(u.X, u.Y)
		if err != nil {
			return nil, fmt.Errorf("method: mixed: user %q: %w", u.ID, err)
		}
		m.Users[i] = model.User{ID: u.ID, W: w, Cov: mixed.PackLower(q, cov)}
	}
	stopped := fit.StopTolerance
	if !lmm.Converged {
		stopped = fit.StopRounds
	}
	m.Config = Config{Version: model.ConfigVersion, Method: model.MethodMixed, RandomEffects: c.RandomEffects,
		Criterion: strings.ToLower(crit.String()), Stopped: stopped.String()}
	return &Result{Model: m, Stopped: stopped}, nil
}
