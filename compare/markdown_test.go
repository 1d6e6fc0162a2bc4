package compare_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/compare"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

func TestRowLabel(t *testing.T) {
	for _, tc := range []struct {
		row  compare.Row
		want string
	}{
		{compare.Row{Method: "lrs"}, "lrs"},
		{compare.Row{Method: "neural-lrs", Hidden: []int{64, 32}}, "neural-lrs [64 32]"},
		{compare.Row{Method: "neural-global", Hidden: []int{4}}, "neural-global [4]"},
	} {
		if got := tc.row.Label(); got != tc.want {
			t.Errorf("Label() = %q, want %q", got, tc.want)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	errs := func(rmse, mae, r2 float64) eval.Errors { return eval.Errors{RMSE: rmse, MAE: mae, R2: r2} }
	cls := func(ll, acc, auc float64) *eval.Classification {
		return &eval.Classification{LogLoss: ll, Accuracy: acc, MeanUserAUC: auc}
	}
	newErrs := errs(0.5, 0.4, 0.7)
	for _, tc := range []struct {
		name string
		res  compare.Result
		want string
	}{
		{
			name: "squared",
			res: compare.Result{Seed: 1, Loss: model.LossSquared, Users: 30, Samples: 240, Dim: 4, Rows: []compare.Row{
				{Method: "global", Ridge: 10.4, Test: errs(1.88151, 1.4168, 0.0358), BytesPerUser: 0, TrainSeconds: 0.011, TuneSeconds: 0.5, Candidates: 9},
				{Method: "lrs", Rank: 2, Sparsity: 1, Ridge: 0.0104, Center: true, Test: errs(0.17549, 0.1355, 0.9916), BytesPerUser: 29, Candidates: 40},
				{Method: "neural-global", Hidden: []int{4}, Test: errs(1.5, 1.2, -0.03), BytesPerUser: 1},
			}},
			want: "30 training users, 240 training samples (shots: all), d = 4, seed 1\n\n" +
				"| method | r | k | ridge | center | test RMSE | MAE | R^2 | bytes/user | train s | tune s (fits) |\n" +
				"|---|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|\n" +
				"| global | 0 | 0 | 10.4 |  | 1.8815 | 1.4168 | 0.0358 | 0.0 | 0.01 | 0.50 (9) |\n" +
				"| lrs | 2 | 1 | 0.0104 | yes | **0.1755** | 0.1355 | 0.9916 | 29.0 | 0.00 | 0.00 (40) |\n" +
				"| neural-global [4] | 0 | 0 | 0 |  | 1.5000 | 1.2000 | -0.0300 | 1.0 | 0.00 | 0.00 (0) |\n",
		},
		{
			name: "squared with new users and shots",
			res: compare.Result{Shots: 6, Seed: 3, Users: 24, NewUsers: 6, Samples: 144, Dim: 4, Rows: []compare.Row{
				{Method: "global", Test: errs(1, 1, 0), New: &newErrs},
				{Method: "local", Test: errs(0.25, 0.2, 0.9), New: &eval.Errors{RMSE: 0.75}},
			}},
			want: "24 training users, 144 training samples (shots: 6), d = 4, seed 3, 6 new users\n\n" +
				"| method | r | k | ridge | center | test RMSE | MAE | R^2 | new-user RMSE | new MAE | new R^2 | bytes/user | train s | tune s (fits) |\n" +
				"|---|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n" +
				"| global | 0 | 0 | 0 |  | 1.0000 | 1.0000 | 0.0000 | **0.5000** | 0.4000 | 0.7000 | 0.0 | 0.00 | 0.00 (0) |\n" +
				"| local | 0 | 0 | 0 |  | **0.2500** | 0.2000 | 0.9000 | 0.7500 | 0.0000 | 0.0000 | 0.0 | 0.00 | 0.00 (0) |\n",
		},
		{
			name: "logistic with new users",
			res: compare.Result{Seed: 1, Loss: model.LossLogistic, Users: 48, NewUsers: 12, Samples: 480, Dim: 6, Rows: []compare.Row{
				{Method: "global", Ridge: 1.05, Classification: cls(0.6912, 0.5573, 0.9), NewClassification: cls(0.7, 0.48, 0.4), BytesPerUser: 1},
				{Method: "lrs", Rank: 3, Ridge: 0.105, Classification: cls(0.5314, 0.724, 0.8314), BytesPerUser: 25},
			}},
			want: "logistic loss: 48 training users, 480 training samples (shots: all), d = 6, seed 1, 12 new users\n\n" +
				"| method | r | k | ridge | center | test log loss | accuracy | mean user AUC | new log loss | new accuracy | new mean user AUC | bytes/user | train s | tune s (fits) |\n" +
				"|---|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n" +
				"| global | 0 | 0 | 1.05 |  | 0.6912 | 0.5573 | **0.9000** | **0.7000** | **0.4800** | **0.4000** | 1.0 | 0.00 | 0.00 (0) |\n" +
				"| lrs | 3 | 0 | 0.105 |  | **0.5314** | **0.7240** | 0.8314 | | | | 25.0 | 0.00 | 0.00 (0) |\n",
		},
		{
			name: "no rows",
			res:  compare.Result{Loss: model.LossLogistic, Users: 1, Samples: 2, Dim: 3},
			want: "logistic loss: 1 training users, 2 training samples (shots: all), d = 3, seed 0\n\n" +
				"| method | r | k | ridge | center | test log loss | accuracy | mean user AUC | bytes/user | train s | tune s (fits) |\n" +
				"|---|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			if err := tc.res.WriteMarkdown(&sb); err != nil {
				t.Fatal(err)
			}
			if got := sb.String(); got != tc.want {
				t.Errorf("WriteMarkdown wrote\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteMarkdownError(t *testing.T) {
	res := compare.Result{Users: 1, Rows: []compare.Row{{Method: "lrs"}}}
	if err := res.WriteMarkdown(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("WriteMarkdown to a failing writer: %v", err)
	}
}
