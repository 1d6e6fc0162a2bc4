package logistic

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// Methods lists every logistic method, in the order lrsp reports them: the
// same methods as package baseline's, with the logistic loss.
var Methods = []string{model.MethodGlobal, model.MethodLocal, model.MethodFinetune,
	model.MethodGlobalSparse, model.MethodLowRank, model.MethodLRS}

// BaselineOptions configures the logistic baselines Global, Local and
// Finetune. The zero value uses DefaultRidge, 25 Newton steps and
// GOMAXPROCS workers.
type BaselineOptions struct {
	// Ridge is the penalty (Ridge/2) ||theta||^2 added to the mean loss of
	// the global fit (Global) or of each user's fit (Local; Finetune, where
	// it pulls theta_i toward theta_0); 0 means DefaultRidge.
	Ridge float64
	// SharedRidge is the ridge of Finetune's pooled fit of theta_0; 0 means
	// Ridge/t for t users (see Options.SharedRidge).
	SharedRidge float64
	// NewtonSteps bounds the Newton iterations; 0 means 25.
	NewtonSteps int
	// Workers is the number of parallel workers for Local and Finetune; 0
	// means GOMAXPROCS. The model does not depend on Workers: each user's
	// fit depends on that user alone.
	Workers int
}

// withDefaults resolves the zero values of Ridge and NewtonSteps.
func (o BaselineOptions) withDefaults() BaselineOptions {
	if o.Ridge == 0 {
		o.Ridge = DefaultRidge
	}
	if o.NewtonSteps == 0 {
		o.NewtonSteps = 25
	}
	return o
}

// Local fits one dense ridge-penalized logistic regression per user, each
// on the user's samples alone. The model's method is model.MethodLocal.
func Local(ctx context.Context, ds *dataset.Dataset, opt BaselineOptions) (*model.Model, error) {
	opt = opt.withDefaults()
	res, err := train(ctx, ds, nil, Options{Sparsity: ds.Dim(), Rounds: 1, Ridge: opt.Ridge,
		NewtonSteps: opt.NewtonSteps, Workers: opt.Workers})
	if err != nil {
		return nil, fmt.Errorf("logistic: local: %w", err)
	}
	m := res.Model
	m.Method = model.MethodLocal
	m.Config = model.Config{Version: model.ConfigVersion, Loss: model.LossLogistic, Method: m.Method,
		Sparsity: ds.Dim(), Ridge: opt.Ridge, NewtonSteps: opt.NewtonSteps}
	return m, nil
}

// Global fits one ridge-penalized logistic regression to the samples of all
// users pooled, each sample weighted equally. The model's method is
// model.MethodGlobal: theta_0 holds the fit and users have no parameters of
// their own.
func Global(ctx context.Context, ds *dataset.Dataset, opt BaselineOptions) (*model.Model, error) {
	if err := checkData(ds); err != nil {
		return nil, fmt.Errorf("logistic: global: %w", err)
	}
	opt = opt.withDefaults()
	theta, err := sharedFit(ctx, ds, nil, opt.Ridge, opt.NewtonSteps)
	if err != nil {
		return nil, fmt.Errorf("logistic: global: %w", err)
	}
	m := &model.Model{Method: model.MethodGlobal, Dim: ds.Dim(), Features: ds.Features, U: []float64{}, Theta0: theta,
		Users: make([]model.User, len(ds.Users)), Loss: model.LossLogistic,
		Config: model.Config{Version: model.ConfigVersion, Loss: model.LossLogistic, Method: model.MethodGlobal,
			Ridge: opt.Ridge, NewtonSteps: opt.NewtonSteps}}
	for i := range ds.Users {
		m.Users[i] = model.User{ID: ds.Users[i].ID, W: []float64{}}
	}
	return m, nil
}

// Finetune fits the global model theta_0 (ridge opt.SharedRidge) and then
// fine-tunes it for each user: a dense per-user correction b_i, so that
// theta_i = theta_0 + b_i, minimising the user's mean logistic loss plus
// (Ridge/2) ||b_i||^2, a proximal step toward theta_0. Every user's
// training loss is at most its loss under theta_0 (Newton from b_i = 0
// only descends). The model's method is model.MethodFinetune; it stores d
// numbers per user.
func Finetune(ctx context.Context, ds *dataset.Dataset, opt BaselineOptions) (*model.Model, error) {
	if err := checkData(ds); err != nil {
		return nil, fmt.Errorf("logistic: finetune: %w", err)
	}
	opt = opt.withDefaults()
	shared := opt.SharedRidge
	if shared == 0 {
		shared = opt.Ridge / float64(len(ds.Users))
	}
	theta0, err := sharedFit(ctx, ds, nil, shared, opt.NewtonSteps)
	if err != nil {
		return nil, fmt.Errorf("logistic: finetune: %w", err)
	}
	res, err := train(ctx, ds, nil, Options{Sparsity: ds.Dim(), Rounds: 1, Ridge: opt.Ridge,
		NewtonSteps: opt.NewtonSteps, Workers: opt.Workers, Offset: theta0})
	if err != nil {
		return nil, fmt.Errorf("logistic: finetune: %w", err)
	}
	m := res.Model
	m.Method = model.MethodFinetune
	m.Config = model.Config{Version: model.ConfigVersion, Loss: model.LossLogistic, Method: m.Method,
		Sparsity: ds.Dim(), Ridge: opt.Ridge, Theta0Ridge: shared, NewtonSteps: opt.NewtonSteps}
	return m, nil
}

// globalSparseRounds bounds the alternations of GlobalSparse.
const globalSparseRounds = 10

// GlobalSparse fits theta_i = theta_0 + b_i with k-sparse b_i
// (k = opt.Sparsity, at least 1; opt.Rank must be 0): it alternates a
// pooled ridge logistic fit of theta_0 (ridge opt.SharedRidge; every
// sample's score offset by its user's <x, b_i>) with the per-user sparse
// solves of Train given theta_0 (ridge opt.Ridge, the support searched as
// for lrs), until the mean training loss improves by less than 1e-6 of
// itself or 10 alternations have run, and keeps the alternation of lowest
// training loss. validation, when not nil, is passed to every per-user
// step. The model's method is model.MethodGlobalSparse.
func GlobalSparse(ctx context.Context, ds, validation *dataset.Dataset, opt Options) (*Result, error) {
	if err := checkData(ds); err != nil {
		return nil, fmt.Errorf("logistic: global-sparse: %w", err)
	}
	d := ds.Dim()
	if opt.Rank != 0 {
		return nil, fmt.Errorf("logistic: global-sparse: rank %d must be 0 (the model has no U)", opt.Rank)
	}
	if opt.Sparsity < 1 || opt.Sparsity > d {
		return nil, fmt.Errorf("logistic: global-sparse: sparsity %d must be in [1, %d] (the number of features)", opt.Sparsity, d)
	}
	if err := opt.validate(d); err != nil {
		return nil, fmt.Errorf("logistic: global-sparse: %w", err)
	}
	full := opt.withDefaults()
	shared := full.sharedRidge(len(ds.Users))
	theta0, err := sharedFit(ctx, ds, nil, shared, full.NewtonSteps)
	if err != nil {
		return nil, fmt.Errorf("logistic: global-sparse: theta_0: %w", err)
	}
	var best *Result
	bestLoss := 0.0
	off := make([][]float64, len(ds.Users))
	for round := 0; round < globalSparseRounds; round++ {
		o := opt
		o.Offset, o.Center = theta0, false
		res, err := train(ctx, ds, validation, o)
		if err != nil {
			return nil, fmt.Errorf("logistic: global-sparse: %w", err)
		}
		loss := res.Rounds[len(res.Rounds)-1].TrainLoss
		improved := best == nil || loss < bestLoss*(1-1e-6)
		if best == nil || loss < bestLoss {
			best, bestLoss = res, loss
		}
		if !improved {
			break
		}
		// Offsets <x, b_i> of every sample, then theta_0 given them.
		for i := range ds.Users {
			u := &ds.Users[i]
			mu := &res.Model.Users[i]
			o := off[i][:0]
			for s := 0; s < u.Len(); s++ {
				x := u.X[s*d : (s+1)*d]
				v := 0.0
				for p, j := range mu.Index {
					v += x[j] * mu.Value[p]
				}
				o = append(o, v)
			}
			off[i] = o
		}
		if theta0, err = sharedFit(ctx, ds, off, shared, full.NewtonSteps); err != nil {
			return nil, fmt.Errorf("logistic: global-sparse: theta_0: %w", err)
		}
	}
	best.Model.Method = model.MethodGlobalSparse
	best.Model.Config.Method = model.MethodGlobalSparse
	best.Model.Config.Theta0Ridge = shared
	return best, nil
}

// TrainMethod trains any logistic method on ds (0/1 targets): method is
// one of Methods. opt configures it: Rank, Sparsity, Center and every
// training option for lrs and lowrank (whose Sparsity is forced to 0);
// Sparsity and the training options for global-sparse; Ridge, SharedRidge,
// NewtonSteps and Workers for global, local and finetune (Ridge is the
// global fit's ridge for global, the per-user ridge for the others).
// validation, when not nil, is used for early stopping by the iterative
// methods and ignored by the others. Center is an error for methods other
// than lrs and lowrank. The model's Config records the method.
func TrainMethod(ctx context.Context, ds, validation *dataset.Dataset, method string, opt Options) (*Result, error) {
	if opt.Center && method != model.MethodLRS && method != model.MethodLowRank {
		return nil, fmt.Errorf("logistic: train %s: centring applies to lrs and lowrank only (%s has its own theta_0 or none)", method, method)
	}
	bo := BaselineOptions{Ridge: opt.Ridge, SharedRidge: opt.SharedRidge, NewtonSteps: opt.NewtonSteps, Workers: opt.Workers}
	var res *Result
	var m *model.Model
	var err error
	switch method {
	case model.MethodGlobal:
		m, err = Global(ctx, ds, bo)
	case model.MethodLocal:
		m, err = Local(ctx, ds, bo)
	case model.MethodFinetune:
		m, err = Finetune(ctx, ds, bo)
	case model.MethodGlobalSparse:
		opt.Rank = 0
		res, err = GlobalSparse(ctx, ds, validation, opt)
	case model.MethodLowRank:
		opt.Sparsity = 0
		res, err = Train(ctx, ds, validation, opt)
	case model.MethodLRS:
		res, err = Train(ctx, ds, validation, opt)
	default:
		return nil, fmt.Errorf("logistic: train: unknown method %q: want one of %v", method, Methods)
	}
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &Result{Model: m, Stopped: fit.StopClosedForm}
	}
	res.Model.Method = method
	res.Model.Config.Method = method
	if err := res.Model.Validate(); err != nil {
		return nil, fmt.Errorf("logistic: train %s: %w", method, err)
	}
	return res, nil
}

// checkData checks that ds has users and 0/1 targets.
func checkData(ds *dataset.Dataset) error {
	if err := checkTargets(ds); err != nil {
		return err
	}
	if len(ds.Users) == 0 {
		return errors.New("no users")
	}
	return nil
}

// sharedFit returns the ridge-penalized logistic regression theta_0 over
// the samples of every user of ds pooled, each sample weighing equally:
// the minimiser of (1/N) sum_ij loss(off_ij + <x_ij, theta_0>, y_ij) +
// (ridge/2) ||theta_0||^2, where off (parallel to ds.Users, each of the
// user's length) holds fixed score offsets, or is nil for none.
func sharedFit(ctx context.Context, ds *dataset.Dataset, off [][]float64, ridge float64, steps int) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, n := ds.Dim(), ds.Samples()
	x := make([]float64, 0, n*d)
	y := make([]float64, 0, n)
	var o []float64
	if off != nil {
		o = make([]float64, 0, n)
	}
	for i := range ds.Users {
		u := &ds.Users[i]
		x = append(x, u.X...)
		y = append(y, u.Y...)
		if off != nil {
			o = append(o, off[i]...)
		}
	}
	s := newSolver(d, 0, d, n, ridge, steps)
	out := userFit{w: []float64{}, idx: make([]int32, d), val: make([]float64, d)}
	s.solve(x, y, nil, o, &out)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	theta := make([]float64, d)
	for p := 0; p < out.nnz; p++ {
		theta[out.idx[p]] = out.val[p]
	}
	return theta, nil
}
