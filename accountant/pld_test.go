package accountant

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPLDBracket checks PLDEpsilon against the independent bracket of
// docs/dp/pld_bracket.py (numpy/scipy, optimistic and pessimistic
// discretisation at a much finer grid): never below the lower end, and at
// most 2% above the upper end.
func TestPLDBracket(t *testing.T) {
	b, err := os.ReadFile("testdata/pld_bracket.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Settings []struct {
			Q, Sigma     float64
			Rounds       int
			Delta        float64
			Lower, Upper float64
		}
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Settings) < 8 {
		t.Fatalf("fixture has %d settings, want at least 8", len(fx.Settings))
	}
	for _, s := range fx.Settings {
		r, err := PLDEpsilon(Params{NoiseMultiplier: s.Sigma, SampleRate: s.Q, Rounds: s.Rounds, Delta: s.Delta}, PLDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !(r.Epsilon >= s.Lower && r.Epsilon <= 1.02*s.Upper) {
			t.Errorf("q=%v sigma=%v T=%v delta=%v: PLD epsilon %v outside [%v, 1.02*%v]", s.Q, s.Sigma, s.Rounds, s.Delta,
				r.Epsilon, s.Lower, s.Upper)
		}
	}
}

// TestPLDGaussianExact checks the PLD accountant at q = 1 against the
// exact epsilon of Balle and Wang.
func TestPLDGaussianExact(t *testing.T) {
	for _, c := range []struct {
		sigma  float64
		rounds int
		delta  float64
	}{{0.5, 1, 1e-5}, {1, 10, 1e-6}, {4, 1000, 1e-8}, {20, 10000, 1e-5}, {2, 50, 1e-7}} {
		want := gaussianEpsilon(gaussianMu(c.sigma, c.rounds), c.delta)
		r, err := PLDEpsilon(Params{NoiseMultiplier: c.sigma, SampleRate: 1, Rounds: c.rounds, Delta: c.delta}, PLDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !(r.Epsilon >= want*(1-1e-9) && r.Epsilon <= want*1.01) {
			t.Errorf("%+v: PLD %v, exact %v", c, r.Epsilon, want)
		}
		if !strings.HasPrefix(r.Accountant, "pld-") {
			t.Errorf("accountant %q", r.Accountant)
		}
	}
}

// TestPLDMonotone checks that more rounds or less noise never lowers the
// PLD epsilon, and that it is at most the RDP epsilon.
func TestPLDMonotone(t *testing.T) {
	eps := func(sigma, q float64, rounds int) float64 {
		t.Helper()
		r, err := PLDEpsilon(Params{NoiseMultiplier: sigma, SampleRate: q, Rounds: rounds, Delta: 1e-6}, PLDOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rr, err := rdpEpsilon(Params{NoiseMultiplier: sigma, SampleRate: q, Rounds: rounds, Delta: 1e-6})
		if err != nil {
			t.Fatal(err)
		}
		if r.Epsilon > rr.Epsilon {
			t.Errorf("sigma %v q %v T %v: PLD %v above RDP %v", sigma, q, rounds, r.Epsilon, rr.Epsilon)
		}
		return r.Epsilon
	}
	for _, q := range []float64{0.001, 0.05, 0.5} {
		prev := 0.0
		for _, rounds := range []int{1, 10, 100, 1000} {
			if q == 0.5 && rounds == 1000 {
				continue // slow, and covered by the fixture
			}
			if e := eps(1, q, rounds); !(e >= prev) {
				t.Errorf("q=%v: epsilon %v at %d rounds below %v at fewer rounds", q, e, rounds, prev)
			} else {
				prev = e
			}
		}
		prev = math.Inf(1)
		for _, sigma := range []float64{0.5, 2, 20} {
			if e := eps(sigma, q, 30); !(e <= prev) {
				t.Errorf("q=%v: epsilon %v at sigma %v above %v at less noise", q, e, sigma, prev)
			} else {
				prev = e
			}
		}
	}
}

func TestPLDErrors(t *testing.T) {
	p := Params{NoiseMultiplier: 1, SampleRate: 0.1, Rounds: 10, Delta: 1e-5}
	for _, o := range []PLDOptions{{Interval: -1}, {Interval: math.Inf(1)}, {TailMass: 0.5}} {
		if _, err := PLDEpsilon(p, o); err == nil || !strings.HasPrefix(err.Error(), "accountant: ") {
			t.Errorf("%+v: err %v", o, err)
		}
	}
	p.Accountant = "moments"
	if _, err := Epsilon(p); err == nil || !strings.HasPrefix(err.Error(), "accountant: ") {
		t.Errorf("unknown accountant: err %v", err)
	}
}

func TestRDPEdgeWarning(t *testing.T) {
	// The best order (about 10) is above the grid.
	r, err := Epsilon(Params{NoiseMultiplier: 1.1, SampleRate: 0.01, Rounds: 1000, Delta: 1e-5, Accountant: AccountantRDP,
		Orders: []float64{1.5, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Warning == "" {
		t.Errorf("no warning at the edge of the order grid: %+v", r)
	}
	r, err = Epsilon(Params{NoiseMultiplier: 1.1, SampleRate: 0.01, Rounds: 1000, Delta: 1e-5, Accountant: AccountantRDP})
	if err != nil {
		t.Fatal(err)
	}
	if r.Warning != "" {
		t.Errorf("unexpected warning %q", r.Warning)
	}
}

// TestPLDTable prints the table of docs/dp/accountant.md (each accountant
// timed once) when LRSP_PLD_TABLE is set.
func TestPLDTable(t *testing.T) {
	if os.Getenv("LRSP_PLD_TABLE") == "" {
		t.Skip("set LRSP_PLD_TABLE=1 to print the table of docs/dp/accountant.md")
	}
	b, err := os.ReadFile("testdata/pld_bracket.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Settings []struct {
			Q, Sigma     float64
			Rounds       int
			Delta        float64
			Lower, Upper float64
			Seconds      float64
		}
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	for _, s := range fx.Settings {
		p := Params{NoiseMultiplier: s.Sigma, SampleRate: s.Q, Rounds: s.Rounds, Delta: s.Delta}
		t0 := time.Now()
		r, err := PLDEpsilon(p, PLDOptions{})
		dp := time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		t0 = time.Now()
		p.Accountant = AccountantRDP
		rr, err := rdpEpsilon(p)
		dr := time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("| %g | %g | %d | %g | [%.4f, %.4f] | %.0f s | %.4f | %+.2f%% | %.0f ms | %.4f | %+.1f%% | %.0f ms |\n",
			s.Q, s.Sigma, s.Rounds, s.Delta, s.Lower, s.Upper, s.Seconds, r.Epsilon, 100*(r.Epsilon/s.Upper-1),
			float64(dp.Microseconds())/1000, rr.Epsilon, 100*(rr.Epsilon/s.Upper-1), float64(dr.Microseconds())/1000)
	}
}

// TestPLDEpsilonInversion checks that the epsilon read off a composed
// distribution has hockey-stick divergence at most delta, and that a
// slightly smaller epsilon exceeds it.
func TestPLDEpsilonInversion(t *testing.T) {
	for _, remove := range []bool{true, false} {
		one, err := discretiseSampledGaussian(0.05, 1, 1e-3, 1e-12, remove)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := one.compose(100, 1e-9)
		if err != nil {
			t.Fatal(err)
		}
		for _, delta := range []float64{1e-5, 1e-8} {
			e := comp.epsilon(delta)
			if d := comp.delta(e); !(d <= delta*(1+1e-9)) {
				t.Errorf("remove=%v: delta(%v) = %v > %v", remove, e, d, delta)
			}
			if d := comp.delta(e * (1 - 1e-6)); !(d > delta) {
				t.Errorf("remove=%v: delta(%v) = %v <= %v: epsilon not minimal", remove, e*(1-1e-6), d, delta)
			}
		}
	}
}
