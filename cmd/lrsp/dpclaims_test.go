package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// TestLargeDelta checks that lrsp train --dp-* and lrsp privacy --users
// refuse a delta of 1/users or more unless told to allow it.
func TestLargeDelta(t *testing.T) {
	dir := t.TempDir()
	data, out := filepath.Join(dir, "d.csv"), filepath.Join(dir, "m.lrsp")
	mustRun(t, "synth", "--users", "30", "--samples", "10", "--dim", "6", "--rank", "2", "--sparsity", "1", "--out", data)
	train := []string{"train", "--data", data, "--rank", "2", "--sparsity", "1", "--dp-noise-multiplier", "2", "--rounds", "2",
		"--out", out, "--dp-delta"}
	privacy := []string{"privacy", "--noise-multiplier", "2", "--rounds", "5", "--delta"}
	for _, tc := range []struct {
		name string
		args []string
		want []string // nil: success
	}{
		{"train small delta", append(train, "0.03"), nil},
		{"train delta 1/users", append(train, "0.05"), []string{"dp: delta is not below 1/users", "1/30", "--dp-allow-large-delta overrides"}},
		{"train large delta", append(train, "0.5"), []string{"dp: delta is not below 1/users"}},
		{"train large delta allowed", append(train, "0.5", "--dp-allow-large-delta"), nil},
		{"privacy without users", append(privacy, "0.5"), nil},
		{"privacy small delta", append(privacy, "1e-5", "--users", "1000"), nil},
		{"privacy delta 1/users", append(privacy, "0.001", "--users", "1000"), []string{"dp: delta is not below 1/users", "--allow-large-delta overrides"}},
		{"privacy large delta allowed", append(privacy, "0.5", "--users", "10", "--allow-large-delta"), nil},
		{"privacy users 0", append(privacy, "1e-5", "--users", "0"), []string{"--users 0 must be positive"}},
		{"privacy bad delta with users", append(privacy, "2", "--users", "10", "--allow-large-delta"), []string{"dp: delta 2 must be in (0, 1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string(nil), tc.args...)
			if tc.want == nil {
				mustRun(t, args...)
				return
			}
			wantErr(t, args, tc.want...)
		})
	}
}

// TestInspectNotPrivate checks that lrsp inspect says that a model trained
// with a fixed noise seed is not private, and why.
func TestInspectNotPrivate(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 30, Samples: 10, Dim: 6, Rank: 2, Sparsity: 1, Noise: 0.1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := method.Config{Method: model.MethodLRS, Rank: 2, Sparsity: 1, Rounds: 2,
		DP: &model.DPConfig{Init: "random", Clip: 1, StepSize: 1, SampleRate: 1, NoiseMultiplier: 1, Delta: 1e-5}}
	res, err := method.Train(context.Background(), data.Train, c, method.Options{NoiseSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.lrsp")
	if err := model.Save(path, res.Model); err != nil {
		t.Fatal(err)
	}
	s := mustRun(t, "inspect", "--model", path)
	if !strings.Contains(s, "privacy     none: NOT PRIVATE") || !strings.Contains(s, dp.NotPrivateFixedSeed) || strings.Contains(s, "-DP") {
		t.Errorf("inspect does not say that the model is not private, and why:\n%s", s)
	}
}
