package compare

import (
	"context"
	"fmt"
	"time"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// tuneAndFit selects method's rank, sparsity, ridge and centring by
// held-out validation on known with the given loss, fits the winner on all
// of known, and records the seconds and candidates in row.
func (opt *Options) tuneAndFit(ctx context.Context, method, loss string, known *dataset.Dataset,
	row *Row) (*model.Model, *tune.Result, error) {
	train := amht.Options{Rounds: opt.Rounds, Tolerance: opt.Tolerance, Workers: opt.Workers, Seed: opt.Seed}
	topt := tune.Options{Loss: loss, Base: baseline.Options{Method: method, AMHT: train}, Rank: true, Sparsity: true,
		Ridge: true, Center: true, Holdout: opt.Holdout, Repeats: opt.Repeats, Seed: opt.Seed}
	if opt.Progress != nil {
		topt.Progress = func(s tune.Score) { opt.Progress(Event{Method: method, Candidate: &s}) }
	}
	start := time.Now()
	res, err := tune.Select(ctx, known, topt)
	if err != nil {
		return nil, nil, err
	}
	row.TuneSeconds = time.Since(start).Seconds()
	row.Candidates = len(res.Scores)
	start = time.Now()
	m, err := tune.Fit(ctx, known, res.Best, loss)
	if err != nil {
		return nil, nil, err
	}
	row.TrainSeconds = time.Since(start).Seconds()
	return m, res, nil
}

// linear tunes and trains one linear method with the squared loss and
// scores it; it also returns the ridge scale of the tuning.
func (opt *Options) linear(ctx context.Context, method string, d *data) (Row, float64, error) {
	row := Row{Method: method}
	m, res, err := opt.tuneAndFit(ctx, method, model.LossSquared, d.known, &row)
	if err != nil {
		return row, 0, err
	}
	b := res.Best
	row.Rank, row.Sparsity, row.Ridge, row.Center = m.Rank, b.Sparsity, b.Ridge, b.Center
	if method != model.MethodLRS && method != model.MethodGlobalSparse {
		row.Sparsity = 0
	}
	if method != model.MethodLRS && method != model.MethodLowRank {
		row.Center = false
	}
	row.BytesPerUser = m.BytesPerUser()
	if row.Test, err = score(m, d.testKnown); err != nil {
		return row, 0, err
	}
	if d.fresh != nil {
		users, err := baseline.Personalize(ctx, m, d.fresh)
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
func (opt *Options) logistic(ctx context.Context, method string, d *data) (Row, float64, error) {
	row := Row{Method: method}
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
	m, res, err := opt.tuneAndFit(ctx, method, model.LossLogistic, d.known, &row)
	if err != nil {
		return row, 0, err
	}
	b := res.Best
	row.Rank, row.Sparsity, row.Ridge, row.Center = m.Rank, m.Sparsity, b.Ridge, b.Center && m.Theta0 != nil
	if method == model.MethodLocal || method == model.MethodFinetune {
		row.Sparsity = 0 // dense per-user parts, not a tuned sparsity
	}
	if method != model.MethodLRS && method != model.MethodLowRank {
		row.Center = false
	}
	row.BytesPerUser = m.BytesPerUser()
	var cls eval.Classification
	if row.Test, cls, err = scoreLogistic(m, d.testKnown); err != nil {
		return row, 0, err
	}
	row.Classification = &cls
	if d.fresh != nil {
		users, err := logistic.Personalize(ctx, m, d.fresh, logistic.PersonalizeOptions{Workers: opt.Workers})
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
