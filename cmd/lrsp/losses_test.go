package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestLogisticCLI runs synth, train, personalize, predict and eval with
// the logistic loss end to end, and the errors of bad targets and flags.
func TestLogisticCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "80", "--samples", "120", "--dim", "10", "--rank", "2", "--sparsity", "1",
		"--logistic-scale", "1.5", "--new-users", "20", "--test-samples", "50", "--out", p("d.csv"), "--truth", p("t.json"))
	out := mustRun(t, "train", "--loss", "logistic", "--data", p("d.csv"), "--rank", "2", "--sparsity", "1", "--out", p("m.lrsp"))
	if !strings.Contains(out, "trained logistic lrs") {
		t.Fatalf("train printed %q", out)
	}
	m, err := model.Load(p("m.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Loss != model.LossLogistic {
		t.Fatalf("model loss %q, want logistic", m.Loss)
	}
	mustRun(t, "personalize", "--model", p("m.lrsp"), "--data", p("d-new.csv"), "--out", p("m2.lrsp"))
	js := mustRun(t, "eval", "--model", p("m2.lrsp"), "--data", p("d-test.csv"), "--json")
	var rep struct {
		Classification *struct {
			AUC      float64 `json:"auc"`
			Accuracy float64 `json:"accuracy"`
			LogLoss  float64 `json:"log_loss"`
		} `json:"classification"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Classification == nil {
		t.Fatalf("eval --json: %v\n%s", err, js)
	}
	if c := rep.Classification; !(c.AUC > 0.8 && c.Accuracy > 0.7 && c.LogLoss < 0.6) {
		t.Fatalf("test scores %+v are too weak for this data", *c)
	}
	pred := mustRun(t, "predict", "--model", p("m2.lrsp"), "--data", p("d-test.csv"))
	for _, line := range strings.Split(strings.TrimSpace(pred), "\n")[1:] {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			t.Fatalf("prediction line %q", line)
		}
		if v, err := strconv.ParseFloat(f[1], 64); err != nil || v < 0 || v > 1 {
			t.Fatalf("prediction %q is not a probability", line)
		}
	}
	if err := os.WriteFile(p("bad.csv"), []byte("user,x0,y\na,1,0\na,2,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, []string{"train", "--loss", "logistic", "--data", p("bad.csv"), "--rank", "1", "--sparsity", "0", "--out", p("x.lrsp")},
		"bad.csv", "line 3", "not 0 or 1")
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--loss", "hinge", "--data", p("d.csv")}, "--loss", "hinge")
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--loss", "logistic", "--pursuit", "htp", "--data", p("d.csv")}, "--pursuit")
}
