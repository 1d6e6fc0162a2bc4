package fit

import (
	"math"
	"strings"
	"testing"
)

func TestScheduleResolve(t *testing.T) {
	const rounds, patience = 50, 3
	for _, c := range []struct {
		name string
		in   Schedule
		max  int
		want Schedule
		err  string // a substring of the error; "" for none
	}{
		{"zero takes the defaults", Schedule{}, MaxRounds, Schedule{Rounds: rounds, Patience: patience}, ""},
		{"set values are kept", Schedule{Rounds: 7, Tolerance: 1e-4, Patience: 2}, MaxRounds,
			Schedule{Rounds: 7, Tolerance: 1e-4, Patience: 2}, ""},
		{"one round", Schedule{Rounds: 1}, MaxRounds, Schedule{Rounds: 1, Patience: patience}, ""},
		{"rounds at the bound", Schedule{Rounds: MaxRounds}, MaxRounds, Schedule{Rounds: MaxRounds, Patience: patience}, ""},
		{"rounds at a smaller bound", Schedule{Rounds: 10}, 10, Schedule{Rounds: 10, Patience: patience}, ""},
		{"rounds above the bound", Schedule{Rounds: MaxRounds + 1}, MaxRounds, Schedule{}, "rounds 1000001 must be in [0, 1000000]"},
		{"rounds above a smaller bound", Schedule{Rounds: 11}, 10, Schedule{}, "rounds 11 must be in [0, 10]"},
		{"huge rounds", Schedule{Rounds: math.MaxInt}, MaxRounds, Schedule{}, "must be in [0, 1000000]"},
		{"negative rounds", Schedule{Rounds: -1}, MaxRounds, Schedule{}, "rounds -1 must be in [0, 1000000]"},
		{"negative tolerance", Schedule{Tolerance: -1e-9}, MaxRounds, Schedule{}, "tolerance -1e-09 must be finite and not negative"},
		{"NaN tolerance", Schedule{Tolerance: math.NaN()}, MaxRounds, Schedule{}, "tolerance NaN"},
		{"infinite tolerance", Schedule{Tolerance: math.Inf(1)}, MaxRounds, Schedule{}, "tolerance +Inf"},
		{"negative patience", Schedule{Patience: -2}, MaxRounds, Schedule{}, "patience -2 must not be negative"},
		{"rounds checked first", Schedule{Rounds: -1, Tolerance: -1, Patience: -1}, MaxRounds, Schedule{}, "rounds -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.Resolve(rounds, patience, c.max)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("Resolve(%+v) failed: %v", c.in, err)
			case c.err != "" && err == nil:
				t.Fatalf("Resolve(%+v) = %+v, want an error with %q", c.in, got, c.err)
			case c.err != "" && !strings.Contains(err.Error(), c.err):
				t.Fatalf("Resolve(%+v) error %q, want %q in it", c.in, err, c.err)
			case c.err == "" && got != c.want:
				t.Errorf("Resolve(%+v) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

// A trainer without early stopping (dp) passes a patience default of 0:
// its schedule stays without patience.
func TestScheduleResolveNoPatience(t *testing.T) {
	got, err := Schedule{}.Resolve(10, 0, MaxRounds)
	if err != nil || got != (Schedule{Rounds: 10}) {
		t.Errorf("Resolve = %+v, %v; want {Rounds: 10}", got, err)
	}
}

// TestMonitor checks the stopping rules on sequences of monitored losses.
func TestMonitor(t *testing.T) {
	tests := []struct {
		name      string
		s         Schedule
		validated bool
		losses    []float64
		exact     int // round with an exact fit, or 0
		want      StopReason
		round     int // round after which training stops, or 0 for none
		best      int // last round reported best
	}{
		{"runs on", Schedule{Rounds: 5, Patience: 2}, false, []float64{4, 3, 2, 1, 0.5}, 0, StopRounds, 0, 0},
		{"tolerance", Schedule{Rounds: 9, Tolerance: 0.1, Patience: 2}, false, []float64{4, 2, 1.95, 1}, 0, StopTolerance, 3, 0},
		{"exact first", Schedule{Rounds: 9, Tolerance: 0.1, Patience: 1}, true, []float64{4, 4, 4}, 2, StopExact, 2, 1},
		{"patience", Schedule{Rounds: 9, Patience: 2}, true, []float64{3, 2, 2.5, 2.1, 1}, 0, StopEarly, 4, 2},
		{"no patience without validation", Schedule{Rounds: 9, Patience: 1}, false, []float64{3, 3, 3, 3}, 0, StopRounds, 0, 0},
		// Regression: the tolerance test fired at the first rise of the
		// validation loss, so that --patience did nothing.
		{"patience survives a validation rise with a tolerance", Schedule{Rounds: 30, Tolerance: 1e-6, Patience: 10}, true,
			[]float64{5, 4, 4.2, 3, 2.5, 2.6, 2.7, 2, 1.5}, 0, StopRounds, 0, 9},
		{"patience counts rounds below the tolerance", Schedule{Rounds: 30, Tolerance: 0.1, Patience: 3}, true,
			[]float64{4, 2, 1.95, 1.9, 1.85, 1}, 0, StopEarly, 5, 5},
		{"a rise then patience", Schedule{Rounds: 30, Tolerance: 1e-6, Patience: 2}, true,
			[]float64{3, 2, 2.5, 2.1}, 0, StopEarly, 4, 2},
		{"negative losses", Schedule{Rounds: 9, Tolerance: 0.1}, false, []float64{-1, -1.5, -1.51}, 0, StopTolerance, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.s.Monitor(tc.validated)
			best, round, why := 0, 0, StopRounds
			for i, l := range tc.losses {
				b, stop, w := m.Observe(i+1, l, i+1 == tc.exact)
				if b {
					best = i + 1
				}
				if stop {
					round, why = i+1, w
					break
				}
			}
			if round != tc.round || why != tc.want || best != tc.best {
				t.Fatalf("stopped after round %d (%s), best %d; want %d (%s), best %d", round, why, best, tc.round, tc.want, tc.best)
			}
		})
	}
}
