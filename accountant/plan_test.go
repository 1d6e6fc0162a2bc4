package accountant

import (
	"math"
	"strings"
	"testing"
)

// TestAnswer checks both directions of Answer against NoiseMultiplier and
// Epsilon, and that invalid queries name the field at fault.
func TestAnswer(t *testing.T) {
	sigma, err := NoiseMultiplier(1, 1e-5, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	calibrated, err := Epsilon(Params{NoiseMultiplier: sigma, SampleRate: 1, Rounds: 20, Delta: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	sampled, err := Epsilon(Params{NoiseMultiplier: 1.1, SampleRate: 0.01, Rounds: 1000, Delta: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		q       Query
		want    Report
		wantErr string
	}{
		{"calibrate", Query{Calibrate: true, Epsilon: 1, Delta: 1e-5, SampleRate: 1, Rounds: 20},
			Report{Epsilon: calibrated.Epsilon, Delta: 1e-5, NoiseMultiplier: sigma, Rounds: 20, SampleRate: 1, Accountant: calibrated.Accountant}, ""},
		{"account sampled", Query{NoiseMultiplier: 1.1, Epsilon: 7, Delta: 1e-5, SampleRate: 0.01, Rounds: 1000},
			Report{Epsilon: sampled.Epsilon, Delta: 1e-5, NoiseMultiplier: 1.1, Rounds: 1000, SampleRate: 0.01, Accountant: sampled.Accountant}, ""},
		{"delta 0", Query{Calibrate: true, Epsilon: 1, SampleRate: 1, Rounds: 5}, Report{}, "accountant: delta 0 must be in (0, 1)"},
		{"delta 1", Query{Calibrate: true, Epsilon: 1, Delta: 1, SampleRate: 1, Rounds: 5}, Report{}, "delta 1 must be in (0, 1)"},
		{"sample rate 0", Query{Calibrate: true, Epsilon: 1, Delta: 1e-5, Rounds: 5}, Report{}, "sample rate 0 must be in (0, 1]"},
		{"sample rate 1.5", Query{Calibrate: true, Epsilon: 1, Delta: 1e-5, SampleRate: 1.5, Rounds: 5}, Report{}, "sample rate 1.5 must be in (0, 1]"},
		{"rounds 0", Query{Calibrate: true, Epsilon: 1, Delta: 1e-5, SampleRate: 1}, Report{}, "rounds 0 must be at least 1"},
		{"epsilon 0", Query{Calibrate: true, NoiseMultiplier: 1, Delta: 1e-5, SampleRate: 1, Rounds: 5}, Report{}, "epsilon 0 must be positive and finite"},
		{"epsilon inf", Query{Calibrate: true, Epsilon: math.Inf(1), Delta: 1e-5, SampleRate: 1, Rounds: 5}, Report{}, "epsilon +Inf must be positive"},
		{"noise 0", Query{Epsilon: 1, Delta: 1e-5, SampleRate: 1, Rounds: 5}, Report{}, "noise multiplier 0 must be positive and finite"},
		{"noise NaN", Query{NoiseMultiplier: math.NaN(), Delta: 1e-5, SampleRate: 1, Rounds: 5}, Report{}, "noise multiplier NaN must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Answer(c.q)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), "accountant: ") {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if c.q.Calibrate && got.Epsilon > c.q.Epsilon {
				t.Errorf("calibrated epsilon %v exceeds the target %v", got.Epsilon, c.q.Epsilon)
			}
		})
	}
}

// TestReportRows checks the labels and formatting of Report.Rows.
func TestReportRows(t *testing.T) {
	r := Report{Epsilon: 0.98765432, Delta: 1.23456e-5, NoiseMultiplier: 3.14159265, Rounds: 20, SampleRate: 0.01, Accountant: "a"}
	want := [][2]string{{"noise multiplier", "3.14159"}, {"epsilon", "0.987654"}, {"delta", "1.23e-05"}, {"rounds", "20"},
		{"sample rate", "0.01"}, {"accountant", "a"}}
	got := r.Rows()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
