package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestLogisticEveryMethodCLI trains every method with --loss logistic,
// checks that personalizing the training users (lrsp personalize) leaves
// the predictions unchanged, that new users can be personalized, and that
// predict and eval work; then auto tuning and compare --loss logistic.
func TestLogisticEveryMethodCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "40", "--samples", "40", "--dim", "6", "--rank", "2", "--sparsity", "1",
		"--logistic-scale", "1.5", "--new-users", "10", "--test-samples", "20", "--seed", "3", "--out", p("d.csv"))
	cases := []struct {
		name string
		args []string
	}{
		{"global", []string{"--method", "global"}},
		{"local", []string{"--method", "local", "--ridge", "0.1"}},
		{"finetune", []string{"--method", "finetune", "--ridge", "0.3"}},
		{"global-sparse", []string{"--method", "global-sparse", "--sparsity", "1"}},
		{"lowrank", []string{"--method", "lowrank", "--rank", "2"}},
		{"lrs", []string{"--method", "lrs", "--rank", "2", "--sparsity", "1"}},
		{"lrs centred", []string{"--method", "lrs", "--rank", "1", "--sparsity", "1", "--center", "true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mp := p(strings.ReplaceAll(tc.name, " ", "-") + ".lrsp")
			args := append([]string{"train", "--loss", "logistic", "--data", p("d.csv"), "--rounds", "10", "--out", mp}, tc.args...)
			out := mustRun(t, args...)
			method := tc.args[1]
			if !strings.Contains(out, "trained logistic "+method) {
				t.Fatalf("train printed %q", out)
			}
			m, err := model.Load(mp)
			if err != nil {
				t.Fatal(err)
			}
			if m.Method != method || m.Loss != model.LossLogistic {
				t.Fatalf("model %s/%s, want %s/logistic", m.Method, m.Loss, method)
			}
			before := mustRun(t, "predict", "--model", mp, "--data", p("d-test.csv"), "--unknown", "global")
			mustRun(t, "personalize", "--model", mp, "--data", p("d.csv"), "--out", mp+".re")
			if after := mustRun(t, "predict", "--model", mp+".re", "--data", p("d-test.csv"), "--unknown", "global"); after != before {
				t.Fatal("personalizing the training users changed the predictions")
			}
			mustRun(t, "personalize", "--model", mp, "--data", p("d-new.csv"), "--out", mp+".new")
			js := mustRun(t, "eval", "--model", mp+".new", "--data", p("d-test.csv"), "--json")
			var rep struct {
				Classification *struct {
					AUC float64 `json:"auc"`
				} `json:"classification"`
			}
			if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Classification == nil {
				t.Fatalf("eval --json: %v\n%s", err, js)
			}
			// The users' theta_i scatter around 0, so one global model is
			// near chance; every personalized one must do better.
			if auc := rep.Classification.AUC; !(auc > 0.6) && method != model.MethodGlobal || !(auc > 0.4) {
				t.Fatalf("test AUC %.3f: no better than chance", auc)
			}
		})
	}
	out := mustRun(t, "train", "--loss", "logistic", "--data", p("d.csv"), "--rank", "auto", "--sparsity", "auto", "--ridge", "auto",
		"--center", "auto", "--rounds", "5", "--out", p("auto.lrsp"))
	for _, want := range []string{"validation log loss", "<- best", "trained logistic lrs"} {
		if !strings.Contains(out, want) {
			t.Fatalf("auto train output lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, "synth", "--users", "40", "--samples", "40", "--dim", "6", "--rank", "2", "--sparsity", "1",
		"--logistic-scale", "1.5", "--test-samples", "20", "--seed", "4", "--out", p("c.csv"))
	js := mustRun(t, "compare", "--loss", "logistic", "--data", p("c.csv"), "--test", p("c-test.csv"), "--methods", "global,finetune,lrs",
		"--rounds", "5", "--new-users", "0.2", "--json", "--out", p("t.md"))
	var rep compareReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("compare --json: %v\n%s", err, js)
	}
	if rep.Loss != model.LossLogistic || len(rep.Rows) != 3 {
		t.Fatalf("compare: loss %q, %d rows", rep.Loss, len(rep.Rows))
	}
	for _, r := range rep.Rows {
		c, n := r.Classification, r.NewClassification
		// The users' parameters have mean zero, so the global model is at
		// chance: only the personalized ones must beat it.
		better := r.Method == "global" || (c != nil && c.MeanUserAUC > 0.5 && c.Accuracy > 0.5)
		if c == nil || n == nil || !better || !(c.LogLoss > 0) || c.Samples != 32*20 || n.Samples != 8*20 {
			t.Fatalf("%s: classification scores missing or wrong: %+v %+v", r.Method, c, n)
		}
	}
	md := readFile(t, p("t.md"))
	for _, want := range []string{"test log loss", "mean user AUC", "new log loss", "| finetune |"} {
		if !strings.Contains(md, want) {
			t.Fatalf("table lacks %q:\n%s", want, md)
		}
	}
	wantErr(t, []string{"train", "--loss", "logistic", "--method", "global", "--center", "true", "--data", p("d.csv"), "--out", p("x.lrsp")},
		"--center", "lrs and lowrank")
	wantErr(t, []string{"train", "--loss", "logistic", "--method", "neural-lrs", "--data", p("d.csv"), "--out", p("x.lrsp")},
		"neural-lrs", "logistic")
	wantErr(t, []string{"compare", "--loss", "logistic", "--methods", "neural-lrs", "--data", p("d.csv"), "--test", p("d-test.csv")},
		"neural-lrs", "logistic")
	wantErr(t, []string{"compare", "--loss", "hinge", "--data", p("d.csv"), "--test", p("d-test.csv")}, "hinge")
}
