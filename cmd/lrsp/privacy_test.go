package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/model"
)

// TestPrivacyCommand checks lrsp privacy in both directions, as text and
// JSON, against the accountant.
func TestPrivacyCommand(t *testing.T) {
	var rep map[string]any
	out := mustRun(t, "privacy", "--epsilon", "1", "--delta", "1e-5", "--rounds", "20", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"epsilon", "delta", "noise_multiplier", "rounds", "sample_rate"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks key %q: %s", k, out)
		}
	}
	sigma, err := accountant.NoiseMultiplier(1, 1e-5, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep["noise_multiplier"] != sigma || rep["rounds"] != 20.0 || rep["sample_rate"] != 1.0 || !(rep["epsilon"].(float64) <= 1) {
		t.Errorf("report %v, want noise multiplier %v", rep, sigma)
	}
	// The other direction, with sampling, as text.
	out = mustRun(t, "privacy", "--noise-multiplier", "1.1", "--delta", "1e-5", "--rounds", "1000", "--sample-rate", "0.01")
	res, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: 1.1, SampleRate: 0.01, Rounds: 1000, Delta: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("epsilon           %.6g\n", res.Epsilon); !strings.Contains(out, want) {
		t.Errorf("output\n%s\nlacks %q", out, want)
	}
	// --accountant selects the accountant; the JSON names it and keeps
	// its keys. PLD is the default and tighter than RDP here.
	rdpOut := mustRun(t, "privacy", "--noise-multiplier", "1.1", "--delta", "1e-5", "--rounds", "1000", "--sample-rate", "0.01",
		"--accountant", "rdp", "--json")
	var rdp map[string]any
	if err := json.Unmarshal([]byte(rdpOut), &rdp); err != nil {
		t.Fatalf("%v\n%s", err, rdpOut)
	}
	if a, _ := rdp["accountant"].(string); !strings.HasPrefix(a, "rdp-") || !(rdp["epsilon"].(float64) > res.Epsilon) ||
		!strings.HasPrefix(res.Accountant, "pld-") {
		t.Errorf("rdp report %v; pld epsilon %v (%s)", rdp, res.Epsilon, res.Accountant)
	}
	wantErr(t, []string{"privacy", "--noise-multiplier", "1.1", "--delta", "1e-5", "--rounds", "10", "--sample-rate", "0.01",
		"--accountant", "moments"}, "accountant: unknown accountant")
}

// TestPrivacyErrors checks that invalid privacy parameters are clear
// errors, in lrsp privacy and in lrsp train --dp-*.
func TestPrivacyErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "30", "--samples", "10", "--dim", "6", "--rank", "2", "--sparsity", "1", "--out", data)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"privacy", "--epsilon", "0", "--delta", "1e-5", "--rounds", "5"}, "accountant: epsilon 0 must be positive"},
		{[]string{"privacy", "--epsilon", "-1", "--delta", "1e-5", "--rounds", "5"}, "must be positive"},
		{[]string{"privacy", "--epsilon", "1", "--delta", "0", "--rounds", "5"}, "delta 0 must be in (0, 1)"},
		{[]string{"privacy", "--epsilon", "1", "--delta", "1", "--rounds", "5"}, "delta 1 must be in (0, 1)"},
		{[]string{"privacy", "--epsilon", "1", "--delta", "1e-5", "--rounds", "5", "--sample-rate", "0"}, "sample rate 0 must be in (0, 1]"},
		{[]string{"privacy", "--epsilon", "1", "--delta", "1e-5", "--rounds", "5", "--sample-rate", "1.5"}, "sample rate 1.5"},
		{[]string{"privacy", "--epsilon", "1", "--delta", "1e-5", "--rounds", "0"}, "rounds 0 must be at least 1"},
		{[]string{"privacy", "--noise-multiplier", "0", "--delta", "1e-5", "--rounds", "5"}, "accountant: noise multiplier 0 must be positive"},
		{[]string{"privacy", "--epsilon", "1", "--noise-multiplier", "2", "--delta", "1e-5", "--rounds", "5"}, "exactly one of"},
		{[]string{"privacy", "--epsilon", "1", "--rounds", "5"}, "--delta is required"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "0", "--dp-delta", "1e-5"}, "dp: epsilon 0 must be positive"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "-2", "--dp-delta", "1e-5"}, "dp: epsilon -2 must be positive"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "0"}, "dp: delta 0 must be in (0, 1)"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-3", "--dp-accountant", "moments"}, "--dp-accountant \"moments\": want pld or rdp"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1.5"}, "dp: delta 1.5 must be in (0, 1)"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1"}, "needs --dp-delta"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--dp-sample-rate", "0"}, "--dp-sample-rate 0 must be in (0, 1]"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--dp-sample-rate", "1.01"}, "--dp-sample-rate 1.01"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--dp-clip", "0"}, "--dp-clip 0 must be positive"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--dp-clip", "-1"}, "--dp-clip -1 must be positive"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-noise-multiplier", "-1", "--dp-delta", "1e-5"}, "--dp-noise-multiplier -1 must be positive"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-delta", "1e-5"}, "exactly one of --dp-epsilon and --dp-noise-multiplier"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--dp-init", "moments"}, `dp init "moments": want private or random`},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--validation", "0.2"}, "private data"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--rank", "auto"}, "auto"},
		{[]string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-epsilon", "1", "--dp-delta", "1e-5", "--method", "global"}, "lrs and lowrank only"},
	}
	for _, c := range cases {
		wantErr(t, c.args, c.want)
	}
}

// TestTrainPrivate runs lrsp train --dp-* end to end and checks the ledger
// that lrsp inspect prints.
func TestTrainPrivate(t *testing.T) {
	dir := t.TempDir()
	data, out := filepath.Join(dir, "d.csv"), filepath.Join(dir, "m.lrsp")
	mustRun(t, "synth", "--users", "200", "--samples", "10", "--dim", "6", "--rank", "2", "--sparsity", "1", "--out", data)
	mustRun(t, "train", "--data", data, "--rank", "2", "--sparsity", "1", "--dp-epsilon", "4", "--dp-delta", "1e-4",
		"--dp-sample-rate", "0.5", "--rounds", "3", "--out", out)
	m, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	l := m.Privacy
	if l == nil || l.Rounds != 4 || l.SampleRate != 0.5 || l.Delta != 1e-4 || l.Epsilon > 4 || l.Epsilon < 3.99 || l.Clip != 1 {
		t.Fatalf("ledger %+v, want 4 releases at (4, 1e-4) with q = 0.5", l)
	}
	if s := mustRun(t, "inspect", "--model", out); !strings.Contains(s, "privacy     (4, 0.0001)-DP") {
		t.Errorf("inspect does not show the ledger:\n%s", s)
	}
	// An expert's noise multiplier is reported with its epsilon.
	s := mustRun(t, "train", "--data", data, "--rank", "2", "--sparsity", "0", "--method", "lowrank", "--dp-noise-multiplier", "3",
		"--dp-delta", "1e-4", "--dp-init", "random", "--rounds", "2", "--out", out)
	res, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: 3, Rounds: 2, Delta: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = model.Load(out); err != nil {
		t.Fatal(err)
	}
	if m.Privacy.Epsilon != res.Epsilon || m.Privacy.Rounds != 2 || m.Method != model.MethodLowRank || !strings.Contains(s, "-DP at the user level") {
		t.Errorf("ledger %+v, want epsilon %v over 2 releases; output:\n%s", m.Privacy, res.Epsilon, s)
	}
}
