package tune

import (
	"math"
	"strings"
	"testing"
)

// TestWriteTable checks the table of candidates: the header, the winner's
// mark, a failed candidate and the log-loss criterion.
func TestWriteTable(t *testing.T) {
	cases := []struct {
		name string
		res  Result
		want string
	}{
		{"rmse", Result{Criterion: "RMSE", RidgeScale: 1.019, BestIndex: 0, Scores: []Score{
			{Rank: 2, Sparsity: 1, RMSE: 0.0411827, Seconds: 0.02},
			{Rank: 1, Sparsity: 1, Ridge: 0.5, Center: true, RMSE: 0.7427, Seconds: 0.01},
		}}, `model selection for lrs (validation RMSE on held-out samples of every user; ridge scale 1.019):
  rank  sparsity  ridge  center  validation RMSE  seconds         
     2         1      0   false        0.0411827     0.02  <- best
     1         1    0.5    true           0.7427     0.01         
`},
		{"failed and log loss", Result{Criterion: "log loss", RidgeScale: 2, BestIndex: 1, Scores: []Score{
			{Rank: 3, Sparsity: 0, RMSE: math.Inf(1), LogLoss: math.Inf(1), Err: "diverged", logistic: true},
			{Rank: 1, Sparsity: 0, RMSE: 0.4, LogLoss: 0.3, logistic: true, Seconds: 1.5},
		}}, `model selection for lrs (validation log loss on held-out samples of every user; ridge scale 2):
  rank  sparsity  ridge  center  validation log loss  seconds         
     3         0      0   false               failed     0.00         
     1         0      0   false                  0.3     1.50  <- best
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			if err := c.res.WriteTable(&b, "lrs"); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), c.want)
			}
		})
	}
}
