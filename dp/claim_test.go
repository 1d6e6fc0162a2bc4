package dp

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/model"
)

// TestFixedNoiseSeedNotPrivate checks that a run with a fixed noise seed
// makes no (epsilon, delta) claim: no ledger, no guarantee, no epsilon per
// release, and a configuration note that survives the model file; and
// that a run with a secret seed keeps its ledger and no note.
func TestFixedNoiseSeedNotPrivate(t *testing.T) {
	ds := smallData(t, 40, 2).Train
	for _, tc := range []struct {
		name      string
		noiseSeed uint64
		noiseless bool
		private   bool
	}{
		{"secret seed", 0, false, true},
		{"fixed seed", 3, false, false},
		{"noiseless fixed seed", 3, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Rank: 2, Sparsity: 1, Rounds: 2, SampleRate: 0.5, NoiseSeed: tc.noiseSeed, Noiseless: tc.noiseless}
			if !tc.noiseless {
				opt.NoiseMultiplier, opt.Delta = 1, 1e-5
			}
			res, err := Train(context.Background(), ds, opt)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Model
			note := m.Config.NotPrivate()
			if tc.private {
				if m.Privacy == nil || !(m.Privacy.Epsilon > 0) || res.Guarantee.Epsilon != m.Privacy.Epsilon || note != "" {
					t.Errorf("secret seed: ledger %+v, guarantee %+v, note %q; want a ledger and no note", m.Privacy, res.Guarantee, note)
				}
				for _, st := range res.Rounds {
					if st.Epsilon == nil {
						t.Errorf("release %d reports no epsilon", st.Round)
					}
				}
				return
			}
			if m.Privacy != nil || res.Guarantee != (accountant.Result{}) {
				t.Errorf("ledger %+v, guarantee %+v; want none", m.Privacy, res.Guarantee)
			}
			for _, st := range res.Rounds {
				if st.Epsilon != nil {
					t.Errorf("release %d reports epsilon %v", st.Round, *st.Epsilon)
				}
			}
			if note != NotPrivateFixedSeed {
				t.Errorf("note %q, want %q", note, NotPrivateFixedSeed)
			}
			var buf bytes.Buffer
			if err := model.Encode(&buf, m); err != nil {
				t.Fatal(err)
			}
			back, err := model.Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if back.Privacy != nil || back.Config.NotPrivate() != NotPrivateFixedSeed {
				t.Errorf("after the model file: ledger %+v, note %q", back.Privacy, back.Config.NotPrivate())
			}
		})
	}
}

// TestCheckDelta checks the rule delta < 1/users and its override.
func TestCheckDelta(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name       string
		delta      float64
		users      int
		allowLarge bool
		want       string // "" for no error
		large      bool   // the error wraps ErrLargeDelta
	}{
		{"small", 1e-5, 1000, false, "", false},
		{"just below 1/n", 0.0099, 100, false, "", false},
		{"equal to 1/n", 0.01, 100, false, "dp: delta is not below 1/users: delta 0.01 >= 1/100", true},
		{"above 1/n", 0.5, 10, false, "delta 0.5 >= 1/10", true},
		{"equal to 1/n, 1e5 users", 1e-5, 100000, false, "1/100000", true},
		{"one user", 1e-9, 1, false, "", false},
		{"above 1/n, allowed", 0.5, 10, true, "", false},
		{"users unknown", 0.5, 0, false, "", false},
		{"users negative", 1e-5, -1, false, "dp: number of users -1", false},
		{"zero", 0, 100, false, "dp: delta 0 must be in (0, 1)", false},
		{"one, allowed", 1, 100, true, "dp: delta 1 must be in (0, 1)", false},
		{"negative", -1e-5, 0, false, "must be in (0, 1)", false},
		{"NaN", nan, 100, true, "must be in (0, 1)", false},
	} {
		err := CheckDelta(tc.delta, tc.users, tc.allowLarge)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case err != nil && errors.Is(err, ErrLargeDelta) != tc.large:
			t.Errorf("%s: errors.Is(%v, ErrLargeDelta) = %v", tc.name, err, !tc.large)
		}
	}
}

// TestTrainLargeDelta checks that Train applies CheckDelta with the number
// of users, unless AllowLargeDelta or Noiseless.
func TestTrainLargeDelta(t *testing.T) {
	ds := smallData(t, 20, 5).Train // 1/users = 0.05
	for _, tc := range []struct {
		name  string
		opt   Options
		large bool
	}{
		{"small delta", Options{Delta: 0.049}, false},
		{"delta 1/users", Options{Delta: 0.05}, true},
		{"large delta", Options{Delta: 0.2}, true},
		{"large delta allowed", Options{Delta: 0.2, AllowLargeDelta: true}, false},
		{"noiseless", Options{Noiseless: true}, false},
	} {
		opt := tc.opt
		opt.Rank, opt.Rounds, opt.NoiseSeed = 2, 1, 1
		if !opt.Noiseless {
			opt.NoiseMultiplier = 1
		}
		_, err := Train(context.Background(), ds, opt)
		if tc.large != errors.Is(err, ErrLargeDelta) || (!tc.large && err != nil) {
			t.Errorf("%s: error %v, want ErrLargeDelta: %v", tc.name, err, tc.large)
		}
	}
}
