package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
)

// This file holds lrsp compare --loss logistic: every method trained by
// package logistic, tuned by validation log loss, scored by log loss,
// accuracy and mean per-user ROC AUC.

// checkCompareLoss validates --loss and, for the logistic loss, that every
// method has a logistic version.
func checkCompareLoss(f *compareFlags) error {
	loss, err := lossName(f.loss)
	if err != nil {
		return err
	}
	f.loss = loss
	if loss != model.LossLogistic {
		return nil
	}
	for _, m := range f.methods {
		if _, err := oneOf("methods", m, logistic.Methods...); err != nil {
			return fmt.Errorf("%w (with --loss logistic)", err)
		}
	}
	return nil
}

// compareLogistic tunes (by validation log loss) and trains one logistic
// method and scores it.
func compareLogistic(ctx context.Context, c *cobra.Command, f *compareFlags, method string,
	known, fresh, testKnown, testNew *dataset.Dataset) (compareRow, float64, error) {
	row := compareRow{Method: method}
	if err := logistic.CheckTargets(known); err != nil {
		return row, 0, fmt.Errorf("%s: %w", f.data, err)
	}
	if fresh != nil {
		if err := logistic.CheckTargets(fresh); err != nil {
			return row, 0, fmt.Errorf("%s: %w", f.data, err)
		}
	}
	for _, ds := range []*dataset.Dataset{testKnown, testNew} {
		if err := logistic.CheckTargets(ds); err != nil {
			return row, 0, fmt.Errorf("%s: %w", f.test, err)
		}
	}
	m, res, err := tuneAndFit(ctx, c, f, method, model.LossLogistic, known, &row)
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
	if row.Test, cls, err = scoreLogistic(m, testKnown); err != nil {
		return row, 0, err
	}
	row.Classification = &cls
	if fresh != nil {
		users, err := logistic.Personalize(ctx, m, fresh, logistic.PersonalizeOptions{Workers: f.opt.Workers})
		if err != nil {
			return row, 0, err
		}
		mn := *m
		mn.Users = users
		e, nc, err := scoreLogistic(&mn, testNew)
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

// writeLogisticTable writes a logistic comparison as a Markdown table:
// test log loss, accuracy and mean per-user ROC AUC, the best of each in
// bold.
func writeLogisticTable(w io.Writer, rep *compareReport) {
	writeTableHead(w, rep, "logistic loss: ", []string{"test log loss", "accuracy", "mean user AUC"},
		[]string{"new log loss", "new accuracy", "new mean user AUC"})
	type best struct{ ll, acc, auc float64 }
	b := [2]best{{math.Inf(1), math.Inf(-1), math.Inf(-1)}, {math.Inf(1), math.Inf(-1), math.Inf(-1)}}
	note := func(k int, c *eval.Classification) {
		if c == nil {
			return
		}
		b[k].ll = math.Min(b[k].ll, c.LogLoss)
		b[k].acc = math.Max(b[k].acc, c.Accuracy)
		b[k].auc = math.Max(b[k].auc, c.MeanUserAUC)
	}
	for _, r := range rep.Rows {
		note(0, r.Classification)
		note(1, r.NewClassification)
	}
	cell := func(v, best float64) string {
		s := fmt.Sprintf("%.4f", v)
		if v == best {
			return "**" + s + "**"
		}
		return s
	}
	scores := func(c *eval.Classification, k int) string {
		if c == nil {
			return " | | |"
		}
		return fmt.Sprintf(" %s | %s | %s |", cell(c.LogLoss, b[k].ll), cell(c.Accuracy, b[k].acc), cell(c.MeanUserAUC, b[k].auc))
	}
	for _, r := range rep.Rows {
		center := ""
		if r.Center {
			center = "yes"
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "| %s | %d | %d | %.3g | %s |", r.Method, r.Rank, r.Sparsity, r.Ridge, center)
		sb.WriteString(scores(r.Classification, 0))
		if rep.NewUsers > 0 {
			sb.WriteString(scores(r.NewClassification, 1))
		}
		fmt.Fprintf(&sb, " %.1f | %.2f | %.2f (%d) |", r.BytesPerUser, r.TrainSeconds, r.TuneSeconds, r.Candidates)
		fmt.Fprintln(w, sb.String())
	}
}
