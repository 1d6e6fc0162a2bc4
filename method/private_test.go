package method_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// TestPrivateClaims checks what private training through the contract
// claims: a ledger with a secret noise seed, none (and a note saying why)
// with a fixed one, and a refusal of delta >= 1/users unless overridden.
func TestPrivateClaims(t *testing.T) {
	linear, _, _ := trainingData(t) // 30 users: 1/users = 0.033
	for _, tc := range []struct {
		name   string
		delta  float64
		o      method.Options
		ledger bool
		note   string
		err    error
	}{
		{"secret seed", 1e-5, method.Options{}, true, "", nil},
		{"fixed noise seed", 1e-5, method.Options{NoiseSeed: 5}, false, dp.NotPrivateFixedSeed, nil},
		{"large delta", 0.1, method.Options{}, false, "", dp.ErrLargeDelta},
		{"large delta allowed", 0.1, method.Options{AllowLargeDelta: true}, true, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := method.Config{Method: model.MethodLRS, Rank: 2, Sparsity: 1, Rounds: 2,
				DP: &model.DPConfig{Init: "private", Clip: 1, StepSize: 1, SampleRate: 0.5, NoiseMultiplier: 1, Delta: tc.delta}}
			res, err := method.Train(context.Background(), linear.Train, c, tc.o)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := res.Model
			if (m.Privacy != nil) != tc.ledger || m.Config.NotPrivate() != tc.note {
				t.Fatalf("ledger %+v, note %q; want a ledger: %v, note %q", m.Privacy, m.Config.NotPrivate(), tc.ledger, tc.note)
			}
			if tc.ledger && m.Privacy.Delta != tc.delta {
				t.Errorf("ledger delta %v, want %v", m.Privacy.Delta, tc.delta)
			}
			if err := method.Validate(m.Config, m.Dim); err != nil {
				t.Errorf("the config does not validate: %v", err)
			}
		})
	}
}
