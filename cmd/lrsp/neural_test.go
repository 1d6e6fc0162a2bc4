package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// rmseOf extracts the RMSE that lrsp eval prints.
func rmseOf(t *testing.T, out string) float64 {
	t.Helper()
	m := regexp.MustCompile(`RMSE ([0-9.eE+-]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no RMSE in %q", out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNeuralCLI runs synth-neural, train --method neural-lrs and
// neural-global, personalize, predict and eval end to end, and checks that
// neural LRS beats the global network and linear LRS on new users.
func TestNeuralCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth-neural", "--users", "100", "--samples", "30", "--dim", "6", "--latent", "4", "--rank", "2", "--sparsity", "0",
		"--new-users", "30", "--new-samples", "15", "--test-samples", "20", "--seed", "3", "--out", p("nl.csv"))
	common := []string{"--data", p("nl.csv"), "--hidden", "16,8", "--rank", "2", "--sparsity", "0", "--rounds", "30",
		"--batch", "8", "--learning-rate", "0.01", "--validation", "0.2", "--workers", "2"}
	mustRun(t, append([]string{"train", "--method", "neural-lrs", "--out", p("n.lrsp")}, common...)...)
	mustRun(t, append([]string{"train", "--method", "neural-global", "--out", p("g.lrsp")}, common...)...)
	mustRun(t, "train", "--data", p("nl.csv"), "--rank", "2", "--sparsity", "0", "--out", p("l.lrsp"))
	newRMSE := map[string]float64{}
	for _, name := range []string{"n", "g", "l"} {
		mustRun(t, "personalize", "--model", p(name+".lrsp"), "--data", p("nl-new.csv"), "--out", p(name+"2.lrsp"))
		newRMSE[name] = rmseOf(t, mustRun(t, "eval", "--model", p(name+"2.lrsp"), "--data", p("nl-new-test.csv")))
		rmseOf(t, mustRun(t, "eval", "--model", p(name+"2.lrsp"), "--data", p("nl-test.csv")))
	}
	t.Logf("new-user test RMSE: neural-lrs %.4f, global network %.4f, linear lrs %.4f", newRMSE["n"], newRMSE["g"], newRMSE["l"])
	if !(newRMSE["n"] < newRMSE["g"] && newRMSE["n"] < newRMSE["l"]) {
		t.Errorf("neural-lrs new-user RMSE %.4f does not beat the global network %.4f and linear lrs %.4f", newRMSE["n"], newRMSE["g"], newRMSE["l"])
	}
	out := mustRun(t, "predict", "--model", p("n2.lrsp"), "--data", p("nl-new-test.csv"))
	if recs := regexp.MustCompile(`(?m)^n\d+,`).FindAllString(out, -1); len(recs) != 30*20 {
		t.Errorf("predict wrote %d rows of new users, want %d", len(recs), 30*20)
	}
	// The data of a network model are its inputs, not its hidden features.
	wantErr(t, []string{"train", "--method", "neural-lrs", "--data", p("nl.csv"), "--hidden", "4", "--rank", "5", "--out", p("x.lrsp")}, "rank 5 must be in [1, 4]")
	wantErr(t, []string{"train", "--method", "neural-lrs", "--data", p("nl.csv"), "--init", "random", "--out", p("x.lrsp")}, "--init")
	wantErr(t, []string{"train", "--method", "neural-lrs", "--loss", "logistic", "--data", p("nl.csv"), "--out", p("x.lrsp")}, "neural-lrs")
	wantErr(t, []string{"train", "--method", "neural-lrs", "--data", p("nl.csv"), "--hidden", "0", "--out", p("x.lrsp")}, "--hidden")
	// A user store keeps the network: export gives back a model that
	// predicts the same.
	mustRun(t, "store", "import", "--model", p("n2.lrsp"), "--store", p("s.db"))
	mustRun(t, "store", "export", "--store", p("s.db"), "--out", p("n3.lrsp"))
	if again := mustRun(t, "predict", "--model", p("n3.lrsp"), "--data", p("nl-new-test.csv")); again != out {
		t.Error("the model exported from the store predicts differently from the imported one")
	}
}
