package compare

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// Label names the row in the Markdown table: the method, and the hidden
// widths of a network method ("neural-lrs [64 32]").
func (r *Row) Label() string {
	if len(r.Hidden) == 0 {
		return r.Method
	}
	return fmt.Sprintf("%s %v", r.Method, r.Hidden)
}

// WriteMarkdown writes the comparison as the Markdown table of
// lrsp compare: a line describing the data, then one row per method with
// its settings, its test scores (those of the new users too when there
// are any), the bytes per user and the seconds taken. With the squared
// loss the scores are RMSE, MAE and R^2, the best RMSE in bold; with the
// logistic loss they are log loss, accuracy and mean per-user ROC AUC,
// the best of each in bold. It returns the error of writing to w.
func (res *Result) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if res.Loss == model.LossLogistic {
		res.writeLogistic(bw)
	} else {
		res.writeSquared(bw)
	}
	return bw.Flush()
}

// writeHead writes the line that describes the comparison (after prefix)
// and the header of its table, whose score columns are cols, then newCols
// when there are new users.
func (res *Result) writeHead(w io.Writer, prefix string, cols, newCols []string) {
	shots := "all"
	if res.Shots > 0 {
		shots = fmt.Sprint(res.Shots)
	}
	fmt.Fprintf(w, "%s%d training users, %d training samples (shots: %s), d = %d, seed %d", prefix, res.Users, res.Samples, shots, res.Dim, res.Seed)
	if res.NewUsers > 0 {
		fmt.Fprintf(w, ", %d new users", res.NewUsers)
	}
	fmt.Fprintf(w, "\n\n")
	head := "| method | r | k | ridge | center |"
	sep := "|---|--:|--:|--:|:-:|"
	add := func(cols []string) {
		for _, c := range cols {
			head += " " + c + " |"
			sep += "--:|"
		}
	}
	add(cols)
	if res.NewUsers > 0 {
		add(newCols)
	}
	add([]string{"bytes/user", "train s", "tune s (fits)"})
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
}

// bold formats v with four decimals, in bold when it equals best.
func bold(v, best float64) string {
	s := fmt.Sprintf("%.4f", v)
	if v == best {
		return "**" + s + "**"
	}
	return s
}

// settings formats the first cells of r's row: label, rank, sparsity,
// ridge and centring.
func (r *Row) settings(label string) string {
	center := ""
	if r.Center {
		center = "yes"
	}
	return fmt.Sprintf("| %s | %d | %d | %.3g | %s |", label, r.Rank, r.Sparsity, r.Ridge, center)
}

// costs formats the last cells of r's row: bytes per user and seconds.
func (r *Row) costs() string {
	return fmt.Sprintf(" %.1f | %.2f | %.2f (%d) |", r.BytesPerUser, r.TrainSeconds, r.TuneSeconds, r.Candidates)
}

// writeSquared writes the table of the squared loss.
func (res *Result) writeSquared(w io.Writer) {
	res.writeHead(w, "", []string{"test RMSE", "MAE", "R^2"}, []string{"new-user RMSE", "new MAE", "new R^2"})
	best, bestNew := math.Inf(1), math.Inf(1)
	for _, r := range res.Rows {
		best = math.Min(best, r.Test.RMSE)
		if r.New != nil {
			bestNew = math.Min(bestNew, r.New.RMSE)
		}
	}
	for _, r := range res.Rows {
		var sb strings.Builder
		sb.WriteString(r.settings(r.Label()))
		fmt.Fprintf(&sb, " %s | %.4f | %.4f |", bold(r.Test.RMSE, best), r.Test.MAE, r.Test.R2)
		if r.New != nil {
			fmt.Fprintf(&sb, " %s | %.4f | %.4f |", bold(r.New.RMSE, bestNew), r.New.MAE, r.New.R2)
		}
		sb.WriteString(r.costs())
		fmt.Fprintln(w, sb.String())
	}
}

// writeLogistic writes the table of the logistic loss.
func (res *Result) writeLogistic(w io.Writer) {
	res.writeHead(w, "logistic loss: ", []string{"test log loss", "accuracy", "mean user AUC"},
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
	for _, r := range res.Rows {
		note(0, r.Classification)
		note(1, r.NewClassification)
	}
	scores := func(c *eval.Classification, k int) string {
		if c == nil {
			return " | | |"
		}
		return fmt.Sprintf(" %s | %s | %s |", bold(c.LogLoss, b[k].ll), bold(c.Accuracy, b[k].acc), bold(c.MeanUserAUC, b[k].auc))
	}
	for _, r := range res.Rows {
		var sb strings.Builder
		sb.WriteString(r.settings(r.Method))
		sb.WriteString(scores(r.Classification, 0))
		if res.NewUsers > 0 {
			sb.WriteString(scores(r.NewClassification, 1))
		}
		sb.WriteString(r.costs())
		fmt.Fprintln(w, sb.String())
	}
}
