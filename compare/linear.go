package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// tuneAndFit selects method's settings on known with the given loss (see
// selectConfig), fits the winner on all of known, and records the seconds
// and candidates in row.
func (opt *Options) tuneAndFit(ctx context.Context, name, loss string, known *dataset.Dataset,
	row *Row) (*model.Model, *tune.Result, error) {
	start := time.Now()
	res, err := opt.selectConfig(ctx, name, loss, known)
	if err != nil {
		return nil, nil, err
	}
	row.TuneSeconds = time.Since(start).Seconds()
	row.Candidates = len(res.Scores)
	start = time.Now()
	fitted, err := method.Train(ctx, known, res.Best, method.Options{Workers: opt.Workers})
	if err != nil {
		return nil, nil, err
	}
	row.TrainSeconds = time.Since(start).Seconds()
	return fitted.Model, res, nil
}

// selectConfig chooses the configuration of method name: by tune.Auto for
// Auto (among every method of tune.AutoMethods) and for the mixed methods,
// whose shrinkage is fitted rather than tuned (the mixed model's random
// effects are opt.RandomEffects when given, unselected); by tune.Select's
// held-out validation of rank, sparsity, ridge and centring otherwise.
func (opt *Options) selectConfig(ctx context.Context, name, loss string, known *dataset.Dataset) (*tune.Result, error) {
	progress := func(s tune.Score) {
		if opt.Progress != nil {
			opt.Progress(Event{Method: name, Candidate: &s})
		}
	}
	switch {
	case name == model.MethodMixed && len(opt.RandomEffects) > 0:
		c, err := method.Defaults(name, "")
		c.RandomEffects = opt.RandomEffects
		return &tune.Result{Best: c}, err
	case name == Auto || name == model.MethodMixed || name == model.MethodMixedLRS:
		aopt := tune.AutoOptions{Repeats: opt.Repeats, Seed: opt.Seed, Workers: opt.Workers, Progress: progress}
		if name != Auto {
			aopt.Methods = []string{name}
		}
		return tune.Auto(ctx, known, aopt)
	}
	base := method.Config{Method: name, Loss: loss, Rounds: opt.Rounds, Tolerance: opt.Tolerance, Seed: opt.Seed}
	return tune.Select(ctx, known, tune.Options{Base: base, Rank: true, Sparsity: true, Ridge: true, Center: true,
		Holdout: opt.Holdout, Repeats: opt.Repeats, Seed: opt.Seed, Workers: opt.Workers, Progress: progress})
}

// linear tunes and trains one linear method with the squared loss and
// scores it; it also returns the ridge scale of the tuning.
func (opt *Options) linear(ctx context.Context, name string, d *data) (Row, float64, error) {
	row := Row{Method: name}
	m, res, err := opt.tuneAndFit(ctx, name, model.LossSquared, d.known, &row)
	if err != nil {
		return row, 0, err
	}
	b := res.Best
	row.Rank, row.Sparsity, row.Ridge, row.Center = m.Rank, b.Sparsity, b.Ridge, b.Center
	if name != model.MethodLRS && name != model.MethodGlobalSparse {
		row.Sparsity = 0
	}
	if name != model.MethodLRS && name != model.MethodLowRank {
		row.Center = false
	}
	row.BytesPerUser = m.BytesPerUser()
	if row.Test, err = score(m, d.testKnown); err != nil {
		return row, 0, err
	}
	if d.fresh != nil {
		users, err := method.Personalize(ctx, m, d.fresh, method.PersonalizeOptions{Workers: opt.Workers})
		if err != nil {
			return row, 0, err
		}
		e, err := score(withUsers(m, users), d.testNew)
		if err != nil {
			return row, 0, err
		}
		row.New = &e
	}
	return row, res.RidgeScale, nil
}

// logistic tunes (by validation log loss) and trains one logistic method
// and scores it; it also returns the ridge scale of the tuning.
func (opt *Options) logistic(ctx context.Context, name string, d *data) (Row, float64, error) {
	row := Row{Method: name}
	for _, part := range []struct {
		name string
		ds   *dataset.Dataset
	}{{opt.TrainName, d.known}, {opt.TrainName, d.fresh}, {opt.TestName, d.testKnown}, {opt.TestName, d.testNew}} {
		if part.ds == nil {
			continue
		}
		if err := logistic.CheckTargets(part.ds); err != nil {
			return row, 0, fmt.Errorf("%s: %w", part.name, err)
		}
	}
	m, res, err := opt.tuneAndFit(ctx, name, model.LossLogistic, d.known, &row)
	if err != nil {
		return row, 0, err
	}
	b := res.Best
	row.Rank, row.Sparsity, row.Ridge, row.Center = m.Rank, m.Sparsity, b.Ridge, b.Center && m.Theta0 != nil
	if name == model.MethodLocal || name == model.MethodFinetune {
		row.Sparsity = 0 // dense per-user parts, not a tuned sparsity
	}
	if name != model.MethodLRS && name != model.MethodLowRank {
		row.Center = false
	}
	row.BytesPerUser = m.BytesPerUser()
	var cls eval.Classification
	if row.Test, cls, err = scoreLogistic(m, d.testKnown); err != nil {
		return row, 0, err
	}
	row.Classification = &cls
	if d.fresh != nil {
		users, err := method.Personalize(ctx, m, d.fresh, method.PersonalizeOptions{Workers: opt.Workers})
		if err != nil {
			return row, 0, err
		}
		e, nc, err := scoreLogistic(withUsers(m, users), d.testNew)
		if err != nil {
			return row, 0, err
		}
		row.New, row.NewClassification = &e, &nc
	}
	return row, res.RidgeScale, nil
}

// scoreLogistic scores m's probabilities on test: the errors of the
// probabilities (RMSE is the square root of the Brier score) and the
// classification scores.
func scoreLogistic(m *model.Model, test *dataset.Dataset) (eval.Errors, eval.Classification, error) {
	pred, err := eval.Predict(m, test, eval.UnknownError)
	if err != nil {
		return eval.Errors{}, eval.Classification{}, err
	}
	e, err := eval.Score(test, pred)
	if err != nil {
		return e, eval.Classification{}, err
	}
	cls, err := eval.Classify(test, pred)
	return e, cls, err
}
