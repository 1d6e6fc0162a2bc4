package tune

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes the validation score of every candidate of r as an
// aligned text table headed by a line naming the method name, marking the
// winner with "<- best" and a candidate whose training failed with
// "failed". It returns the first write error.
func (r *Result) WriteTable(w io.Writer, name string) error {
	if _, err := fmt.Fprintf(w, "model selection for %s (validation %s on held-out samples of every user; ridge scale %.4g):\n",
		name, r.Criterion, r.RidgeScale); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Auto's candidates name their methods.
	methods := len(r.Scores) > 0 && r.Scores[0].Method != ""
	if methods {
		fmt.Fprint(tw, "method\t")
	}
	fmt.Fprintf(tw, "rank\tsparsity\tridge\tcenter\tvalidation %s\tseconds\t\t\n", r.Criterion)
	for i, s := range r.Scores {
		mark := ""
		if i == r.BestIndex {
			mark = "<- best"
		}
		score := strconv.FormatFloat(s.Criterion(), 'g', 6, 64)
		switch {
		case s.Err != "":
			score = "failed"
		case s.BIC != 0:
			score = "BIC " + strconv.FormatFloat(s.BIC, 'g', 8, 64)
		}
		if methods {
			fmt.Fprintf(tw, "%s\t", s.Method)
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4g\t%v\t%s\t%.2f\t%s\t\n", s.Rank, s.Sparsity, s.Ridge, s.Center, score, s.Seconds, mark)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	return nil
}
