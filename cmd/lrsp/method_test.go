package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainEveryLinearMethod trains every squared-loss linear method with
// the default flags, which set values (--rounds, --rank, --sparsity) that
// some methods do not use: they must be dropped, not refused. Regression: global, local
// and finetune failed with "config rounds does not apply".
func TestTrainEveryLinearMethod(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "30", "--samples", "12", "--dim", "6", "--rank", "1", "--sparsity", "1", "--out", data)
	for _, m := range []string{"lrs", "lowrank", "global", "local", "global-sparse", "finetune"} {
		out := mustRun(t, "train", "--data", data, "--method", m, "--ridge", "0.1", "--rounds", "3",
			"--out", filepath.Join(dir, m+".lrsp"))
		if !strings.Contains(out, "trained "+m) {
			t.Errorf("%s: %s", m, out)
		}
	}
}
