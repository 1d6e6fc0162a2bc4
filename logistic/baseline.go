package logistic

import (
	"context"
	"fmt"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// BaselineOptions configures the logistic baselines. The zero value uses
// DefaultRidge, 25 Newton steps and GOMAXPROCS workers.
type BaselineOptions struct {
	// Ridge is the penalty (Ridge/2) ||theta||^2 added to the mean loss; 0
	// means DefaultRidge.
	Ridge float64
	// NewtonSteps bounds the Newton iterations; 0 means 25.
	NewtonSteps int
	// Workers is the number of parallel workers for Local; 0 means
	// GOMAXPROCS.
	Workers int
}

// Local fits one dense ridge-penalized logistic regression per user, each
// on the user's samples alone. The model's method is model.MethodLocal.
func Local(ctx context.Context, ds *dataset.Dataset, opt BaselineOptions) (*model.Model, error) {
	res, err := Train(ctx, ds, nil, Options{Sparsity: ds.Dim(), Rounds: 1, Ridge: opt.Ridge,
		NewtonSteps: opt.NewtonSteps, Workers: opt.Workers})
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	m := res.Model
	m.Method = model.MethodLocal
	m.Config = map[string]string{"loss": model.LossLogistic, "ridge": fmt.Sprint(opt.Ridge)}
	return m, nil
}

// Global fits one ridge-penalized logistic regression to the samples of all
// users pooled, each sample weighted equally. The model's method is
// model.MethodGlobal: theta_0 holds the fit and users have no parameters of
// their own.
func Global(ctx context.Context, ds *dataset.Dataset, opt BaselineOptions) (*model.Model, error) {
	if err := CheckTargets(ds); err != nil {
		return nil, fmt.Errorf("global: %w", err)
	}
	d := ds.Dim()
	b := dataset.NewBuilder(ds.Features, true)
	for i := range ds.Users {
		u := &ds.Users[i]
		for s := 0; s < u.Len(); s++ {
			b.Add("all", u.X[s*d:(s+1)*d], u.Y[s], u.Rows[s])
		}
	}
	pooled := b.Dataset()
	res, err := Train(ctx, pooled, nil, Options{Sparsity: d, Rounds: 1, Ridge: opt.Ridge,
		NewtonSteps: opt.NewtonSteps, Workers: 1})
	if err != nil {
		return nil, fmt.Errorf("global: %w", err)
	}
	theta := make([]float64, d)
	res.Model.Theta(&res.Model.Users[0], theta)
	m := &model.Model{Method: model.MethodGlobal, Dim: d, Features: ds.Features, U: []float64{}, Theta0: theta,
		Users: make([]model.User, len(ds.Users)), Loss: model.LossLogistic,
		Config: map[string]string{"loss": model.LossLogistic, "ridge": fmt.Sprint(opt.Ridge)}}
	for i := range ds.Users {
		m.Users[i] = model.User{ID: ds.Users[i].ID, W: []float64{}}
	}
	return m, nil
}
