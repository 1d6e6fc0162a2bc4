package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
)

// This file holds the flags and the table of lrsp compare --loss logistic
// (see package compare): every method trained by package logistic, tuned
// by validation log loss, scored by log loss, accuracy and mean per-user
// ROC AUC.

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
