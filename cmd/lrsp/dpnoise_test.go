package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// TestDPNoise checks lrsp train --dp-noise: discrete by default,
// continuous on request, both recorded in the model, anything else
// refused.
func TestDPNoise(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "40", "--samples", "10", "--dim", "6", "--rank", "2", "--sparsity", "1", "--out", data)
	train := func(out string, extra ...string) *model.Model {
		t.Helper()
		mustRun(t, append([]string{"train", "--data", data, "--rank", "2", "--sparsity", "1", "--dp-noise-multiplier", "2",
			"--rounds", "2", "--dp-delta", "1e-3", "--out", out}, extra...)...)
		m, err := model.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		args     []string
		noise    string
		discrete bool
	}{{nil, "discrete", true}, {[]string{"--dp-noise", "discrete"}, "discrete", true}, {[]string{"--dp-noise", "continuous"}, "continuous", false}} {
		m := train(filepath.Join(dir, tc.noise+".lrsp"), tc.args...)
		if m.Config.DP == nil || m.Config.DP.Noise != tc.noise || m.Privacy == nil ||
			strings.HasPrefix(m.Privacy.Mechanism, "discrete gaussian") != tc.discrete {
			t.Errorf("%v: config %+v, ledger %+v", tc.args, m.Config.DP, m.Privacy)
		}
	}
	wantErr(t, []string{"train", "--out", filepath.Join(t.TempDir(), "x.lrsp"), "--data", data, "--dp-noise-multiplier", "2", "--dp-delta", "1e-3", "--dp-noise", "float"},
		`dp noise "float": want discrete or continuous`)
}
