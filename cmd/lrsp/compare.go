package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/tune"
)

// compareFlags are the flags of lrsp compare.
type compareFlags struct {
	data, test, out string
	methods         []string
	shots           int
	seed            uint64
	newUsers        float64
	asJSON          bool
	loss            string
	holdout         float64
	repeats         int
	opt             amht.Options
	cols            dataFlags
	neural          compareNeuralFlags
}

// compareRow is one method's line of the comparison.
type compareRow struct {
	Method   string  `json:"method"`
	Rank     int     `json:"rank"`
	Sparsity int     `json:"sparsity"`
	Ridge    float64 `json:"ridge"`
	Center   bool    `json:"center"`
	// Test scores the training users' test samples.
	Test eval.Errors `json:"test"`
	// New scores the new users' test samples, after personalizing them from
	// their training samples with everything shared fixed.
	New          *eval.Errors `json:"new_users,omitempty"`
	BytesPerUser float64      `json:"bytes_per_user"`
	// TrainSeconds is the time of the final fit on all training data;
	// TuneSeconds that of the model selection before it.
	TrainSeconds float64 `json:"train_seconds"`
	TuneSeconds  float64 `json:"tune_seconds"`
	Candidates   int     `json:"candidates"`
	// Classification and NewClassification hold the test scores of the
	// logistic loss (--loss logistic), for which Test and New score the
	// predicted probabilities (see compare_logistic.go).
	Classification    *eval.Classification `json:"classification,omitempty"`
	NewClassification *eval.Classification `json:"new_users_classification,omitempty"`
	// Hidden and Rounds are the hidden widths and training rounds of a
	// network method (see compare_neural.go).
	Hidden []int `json:"hidden,omitempty"`
	Rounds int   `json:"rounds,omitempty"`
}

// compareReport is the JSON output of lrsp compare.
type compareReport struct {
	Data       string       `json:"data"`
	Test       string       `json:"test"`
	Shots      int          `json:"shots"`
	Seed       uint64       `json:"seed"`
	Loss       string       `json:"loss"`
	Users      int          `json:"users"`
	NewUsers   int          `json:"new_users"`
	Samples    int          `json:"train_samples"`
	Dim        int          `json:"d"`
	RidgeScale float64      `json:"ridge_scale"`
	Rows       []compareRow `json:"methods"`
}

func newCompareCmd() *cobra.Command {
	var f compareFlags
	c := &cobra.Command{
		Use:   "compare",
		Short: "Train every method (auto-tuned) and compare them on test data",
		Long: `compare trains each method with its rank, sparsity, ridge and centring chosen by
held-out per-user validation on the training data (as "lrsp train ... auto"), and
scores it on the test data: RMSE, MAE and R^2 over the test samples of the
training users, the bytes each user costs in the model file, and the seconds
taken. --shots keeps at most N training samples per user, to study the
data-starved regime; --new-users holds out that fraction of the users, whose
training samples only personalize them against the shared parts (U, theta_0)
learned from the others, and scores their test samples separately.
The network methods (neural-lrs, neural-dense, neural-global; not in the
default list) are not tuned: they use --hidden and the --neural-* values,
stop early on --neural-validation of the training users' samples, and
personalize new users with the network (and U) fixed.`,
		Example: "  lrsp compare --data train.csv --test test.csv --shots 8 --new-users 0.2 --out table.md",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCompare(c, &f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.data, "data", "", "training data: CSV, Parquet (file or directory) or packed .lrspd (required)")
	fl.StringVar(&f.test, "test", "", "test data CSV with the same columns (required)")
	fl.StringSliceVar(&f.methods, "methods", baseline.Methods, "methods to compare")
	fl.IntVar(&f.shots, "shots", 0, "keep at most this many training samples per user (0: all)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of --shots, --new-users, the validation splits and training")
	fl.Float64Var(&f.newUsers, "new-users", 0, "fraction of the users held out as new users (0: none)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON instead of the table")
	fl.StringVar(&f.out, "out", "", "also write the table as Markdown to this file")
	fl.Float64Var(&f.holdout, "tune-holdout", 0.2, "fraction of each user's samples held out to score candidates")
	fl.IntVar(&f.repeats, "tune-repeats", 1, "random hold-out splits pooled per candidate")
	fl.IntVar(&f.opt.Rounds, "rounds", 50, "maximum number of alternating rounds (lrs, lowrank, global-sparse)")
	fl.Float64Var(&f.opt.Tolerance, "tolerance", 1e-6, "stop when a round improves the loss by less than this fraction")
	fl.IntVar(&f.opt.Workers, "workers", 0, "parallel workers (0: one per CPU)")
	fl.StringVar(&f.loss, "loss", model.LossSquared, "squared, or logistic for 0/1 targets: tuned by validation log loss, scored by log loss, accuracy and mean per-user AUC")
	f.cols.register(c)
	f.neural.register(c)
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("test")
	return c
}

func runCompare(c *cobra.Command, f *compareFlags) error {
	if err := checkCompareLoss(f); err != nil {
		return err
	}
	for _, m := range f.methods {
		if _, err := oneOf("methods", m, compareMethodNames(baseline.Methods)...); err != nil {
			return err
		}
	}
	if len(f.methods) == 0 {
		return fmt.Errorf("--methods: give at least one method")
	}
	if f.shots < 0 {
		return fmt.Errorf("--shots %d must not be negative", f.shots)
	}
	if !(f.newUsers >= 0 && f.newUsers < 1) {
		return fmt.Errorf("--new-users %v must be in [0, 1)", f.newUsers)
	}
	if f.opt.Rounds < 1 {
		return fmt.Errorf("--rounds %d must be at least 1", f.opt.Rounds)
	}
	ctx := c.Context()
	train, err := readData(ctx, c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	test, err := readData(ctx, c, f.test, f.cols.options(true))
	if err != nil {
		return err
	}
	if !equalStrings(train.Features, test.Features) {
		return fmt.Errorf("%s and %s have different feature columns", f.data, f.test)
	}
	if f.shots > 0 {
		train = dataset.Subsample(train, f.shots, f.seed)
	}
	known, fresh := train, (*dataset.Dataset)(nil)
	if f.newUsers > 0 {
		if known, fresh, err = dataset.HoldOutUsers(train, f.newUsers, f.seed); err != nil {
			return err
		}
	}
	testKnown, testNew, err := splitTest(test, known, fresh, f.test)
	if err != nil {
		return err
	}
	rep := compareReport{Data: f.data, Test: f.test, Shots: f.shots, Seed: f.seed, Users: len(known.Users),
		Samples: known.Samples(), Dim: known.Dim()}
	if fresh != nil {
		rep.NewUsers = len(fresh.Users)
	}
	f.opt.Seed = f.seed
	rep.Loss = f.loss
	for _, method := range f.methods {
		if isNeural(method) {
			row, err := compareNeural(ctx, c, f, method, known, fresh, testKnown, testNew)
			if err != nil {
				return fmt.Errorf("%s: %w", method, err)
			}
			rep.Rows = append(rep.Rows, row)
			continue
		}
		fit := compareMethod
		if f.loss == model.LossLogistic {
			fit = compareLogistic
		}
		row, scale, err := fit(ctx, c, f, method, known, fresh, testKnown, testNew)
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		rep.RidgeScale = scale
		rep.Rows = append(rep.Rows, row)
	}
	w := c.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeCompareTable(w, &rep)
	}
	if f.out != "" {
		if err := atomicfile.Write(f.out, func(w io.Writer) error { writeCompareTable(w, &rep); return nil }); err != nil {
			return fmt.Errorf("write %s: %w", f.out, err)
		}
	}
	return nil
}

// tuneAndFit selects method's rank, sparsity, ridge and centring by
// held-out validation on known with the given loss (showing the candidates
// on a terminal), fits the winner on all of known, and records the
// seconds and candidates in row.
func tuneAndFit(ctx context.Context, c *cobra.Command, f *compareFlags, method, loss string,
	known *dataset.Dataset, row *compareRow) (*model.Model, *tune.Result, error) {
	topt := tune.Options{Loss: loss, Base: baseline.Options{Method: method, AMHT: f.opt}, Rank: true, Sparsity: true,
		Ridge: true, Center: true, Holdout: f.holdout, Repeats: f.repeats, Seed: f.seed}
	if isTerminal(c.ErrOrStderr()) {
		label, name := "", "RMSE"
		if loss == model.LossLogistic {
			label, name = "logistic ", "log loss"
		}
		topt.Progress = func(s tune.Score) {
			fmt.Fprintf(c.ErrOrStderr(), "\r\033[Kcompare %s%s: r=%d k=%d ridge=%.3g center=%v: validation %s %.5g",
				label, method, s.Rank, s.Sparsity, s.Ridge, s.Center, name, s.Criterion())
		}
		defer fmt.Fprint(c.ErrOrStderr(), "\r\033[K")
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

// compareMethod tunes and trains one method and scores it.
func compareMethod(ctx context.Context, c *cobra.Command, f *compareFlags, method string,
	known, fresh, testKnown, testNew *dataset.Dataset) (compareRow, float64, error) {
	row := compareRow{Method: method}
	m, res, err := tuneAndFit(ctx, c, f, method, model.LossSquared, known, &row)
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
	if row.Test, err = scoreModel(m, testKnown); err != nil {
		return row, 0, err
	}
	if fresh != nil {
		users, err := baseline.Personalize(ctx, m, fresh)
		if err != nil {
			return row, 0, err
		}
		mn := *m
		mn.Users = users
		e, err := scoreModel(&mn, testNew)
		if err != nil {
			return row, 0, err
		}
		row.New = &e
	}
	return row, res.RidgeScale, nil
}

func scoreModel(m *model.Model, test *dataset.Dataset) (eval.Errors, error) {
	pred, err := eval.Predict(m, test, eval.UnknownError)
	if err != nil {
		return eval.Errors{}, err
	}
	return eval.Score(test, pred)
}

// splitTest divides the test users into those of known and those of fresh
// (nil: none); a test user in neither is an error.
func splitTest(test, known, fresh *dataset.Dataset, name string) (k, n *dataset.Dataset, err error) {
	k, n = dataset.SplitUsers(test, known)
	if fresh != nil {
		var rest *dataset.Dataset
		if n, rest = dataset.SplitUsers(n, fresh); len(rest.Users) > 0 {
			u := rest.Users[0]
			return nil, nil, fmt.Errorf("%s: user %q (input row %d) has no training samples", name, u.ID, u.Rows[0]+1)
		}
	} else if len(n.Users) > 0 {
		u := n.Users[0]
		return nil, nil, fmt.Errorf("%s: user %q (input row %d) has no training samples", name, u.ID, u.Rows[0]+1)
	}
	if len(k.Users) == 0 {
		return nil, nil, fmt.Errorf("%s: no test samples of training users", name)
	}
	if fresh != nil && len(n.Users) == 0 {
		return nil, nil, fmt.Errorf("%s: no test samples of the held-out new users", name)
	}
	return k, n, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeTableHead writes the line that describes a comparison (after
// prefix) and the header of its Markdown table, whose score columns are
// cols, then newCols when there are new users.
func writeTableHead(w io.Writer, rep *compareReport, prefix string, cols, newCols []string) {
	shots := "all"
	if rep.Shots > 0 {
		shots = fmt.Sprint(rep.Shots)
	}
	fmt.Fprintf(w, "%s%d training users, %d training samples (shots: %s), d = %d, seed %d", prefix, rep.Users, rep.Samples, shots, rep.Dim, rep.Seed)
	if rep.NewUsers > 0 {
		fmt.Fprintf(w, ", %d new users", rep.NewUsers)
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
	if rep.NewUsers > 0 {
		add(newCols)
	}
	add([]string{"bytes/user", "train s", "tune s (fits)"})
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
}

// writeCompareTable writes the comparison as a Markdown table.
func writeCompareTable(w io.Writer, rep *compareReport) {
	if rep.Loss == model.LossLogistic {
		writeLogisticTable(w, rep)
		return
	}
	writeTableHead(w, rep, "", []string{"test RMSE", "MAE", "R^2"}, []string{"new-user RMSE", "new MAE", "new R^2"})
	best, bestNew := math.Inf(1), math.Inf(1)
	for _, r := range rep.Rows {
		best = math.Min(best, r.Test.RMSE)
		if r.New != nil {
			bestNew = math.Min(bestNew, r.New.RMSE)
		}
	}
	bold := func(v, b float64) string {
		s := fmt.Sprintf("%.4f", v)
		if v == b {
			return "**" + s + "**"
		}
		return s
	}
	for _, r := range rep.Rows {
		center := ""
		if r.Center {
			center = "yes"
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "| %s | %d | %d | %.3g | %s | %s | %.4f | %.4f |", r.label(), r.Rank, r.Sparsity, r.Ridge, center,
			bold(r.Test.RMSE, best), r.Test.MAE, r.Test.R2)
		if r.New != nil {
			fmt.Fprintf(&sb, " %s | %.4f | %.4f |", bold(r.New.RMSE, bestNew), r.New.MAE, r.New.R2)
		}
		fmt.Fprintf(&sb, " %.1f | %.2f | %.2f (%d) |", r.BytesPerUser, r.TrainSeconds, r.TuneSeconds, r.Candidates)
		fmt.Fprintln(w, sb.String())
	}
}
