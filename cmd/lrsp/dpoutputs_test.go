package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDPOutputs checks what lrsp train --dp-* writes and prints: the
// metrics hold only public per-release quantities (no timings), stdout
// does not print the number of samples, and the global fallback for unknown
// users is refused by predict, eval and serve for the private model.
func TestDPOutputs(t *testing.T) {
	dir := t.TempDir()
	p := func(s string) string { return filepath.Join(dir, s) }
	mustRun(t, "synth", "--users", "30", "--samples", "7", "--dim", "6", "--rank", "2", "--sparsity", "1", "--out", p("d.csv"))
	out := mustRun(t, "train", "--data", p("d.csv"), "--rank", "2", "--sparsity", "1", "--dp-noise-multiplier", "2",
		"--dp-delta", "1e-3", "--rounds", "2", "--out", p("m.lrsp"), "--metrics-out", p("metrics.json"))
	// 30 users x 7 samples: the sample count 210 is private.
	if strings.Contains(out, "samples") || strings.Contains(out, " "+strconv.Itoa(30*7)+" ") || strings.Contains(out, "overflow") {
		t.Errorf("lrsp train --dp-* printed private counts:\n%s", out)
	}
	raw, err := os.ReadFile(p("metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct {
		Rounds  []map[string]any `json:"rounds"`
		Privacy map[string]any   `json:"privacy"`
	}
	if err := json.Unmarshal(raw, &metrics); err != nil || len(metrics.Rounds) != 3 || metrics.Privacy == nil {
		t.Fatalf("metrics: %v\n%s", err, raw)
	}
	for _, rd := range metrics.Rounds {
		for k := range rd {
			if k != "round" && k != "step_norm" && k != "epsilon" {
				t.Errorf("metrics release %v has the field %q, want only round, step_norm and epsilon", rd["round"], k)
			}
		}
	}

	const refused = "model: the global fallback for unknown users is not available for a differentially private model"
	wantErr(t, []string{"predict", "--model", p("m.lrsp"), "--data", p("d.csv"), "--unknown", "global"}, "--unknown global", refused)
	wantErr(t, []string{"eval", "--model", p("m.lrsp"), "--data", p("d.csv"), "--unknown", "global"}, "--unknown global", refused)
	mustRun(t, "predict", "--model", p("m.lrsp"), "--data", p("d.csv"), "--out", p("pred.csv"))
	mustRun(t, "store", "import", "--model", p("m.lrsp"), "--store", p("s.db"))
	wantErr(t, []string{"serve", "--store", p("s.db"), "--addr", "127.0.0.1:0", "--unknown", "global"}, "serve: ", "--unknown global", refused)
}
