package accountant

import (
	"math"
	"strings"
	"testing"
)

// relErr returns |got-want|/|want|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// opacusOrders returns the default orders of Opacus' RDPAccountant
// (opacus/accountants/rdp.py, DEFAULT_ALPHAS), which are also the orders of
// the TensorFlow Privacy MNIST tutorial (tutorials/mnist_dpsgd_tutorial.py):
// [1 + x/10 for x in range(1, 100)] + list(range(12, 64)).
func opacusOrders() []float64 {
	var orders []float64
	for x := 1; x < 100; x++ {
		orders = append(orders, 1+float64(x)/10)
	}
	for a := 12; a < 64; a++ {
		orders = append(orders, float64(a))
	}
	return orders
}

// composedRDP returns rounds * RDPSampledGaussian(q, sigma, alpha) for every
// order.
func composedRDP(t *testing.T, q, sigma float64, rounds int, orders []float64) []float64 {
	t.Helper()
	rdp := make([]float64, len(orders))
	for k, a := range orders {
		r, err := RDPSampledGaussian(q, sigma, a)
		if err != nil {
			t.Fatalf("RDPSampledGaussian(%v, %v, %v): %v", q, sigma, a, err)
		}
		rdp[k] = float64(rounds) * r
	}
	return rdp
}

func TestRDPFullSamplingIsGaussian(t *testing.T) {
	// With q = 1 the sampled Gaussian is the Gaussian mechanism, whose RDP
	// is alpha/(2 sigma^2) (Mironov 2017, Proposition 7). The code must
	// return exactly this expression.
	for _, sigma := range []float64{0.1, 0.7, 1, 4.530877117, 100} {
		for _, alpha := range []float64{1.01, 1.5, 2, 3.14159, 32, 256, 1024} {
			got, err := RDPSampledGaussian(1, sigma, alpha)
			if err != nil {
				t.Fatal(err)
			}
			if want := alpha / (2 * sigma * sigma); got != want {
				t.Errorf("RDPSampledGaussian(1, %v, %v) = %v, want exactly %v", sigma, alpha, got, want)
			}
		}
	}
}

func TestRDPPublishedValues(t *testing.T) {
	// Google dp_accounting, rdp_privacy_accountant_test.py,
	// test_compute_rdp_poisson_sampled_gaussian: q = 0.01, sigma = 2.5,
	// 50 rounds. Integer orders are computed exactly by the finite
	// binomial sum in both libraries, so we require 1e-8 agreement with
	// the nine published digits.
	const q, sigma, rounds = 0.01, 2.5, 50
	for _, tc := range []struct {
		alpha, want float64
	}{
		{5, 2.18075656e-03},
		{50, 2.38460375e-02},
		{100, 1.67416308e02},
	} {
		got, err := RDPSampledGaussian(q, sigma, tc.alpha)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(rounds*got, tc.want); !(e <= 1e-8) {
			t.Errorf("alpha=%v: 50*RDP = %.10g, want %.10g (dp_accounting); rel err %.2g", tc.alpha, rounds*got, tc.want, e)
		}
	}

	// Fractional orders. The older TensorFlow Privacy / dp_accounting test
	// (same config) lists 6.5007e-04 and 1.0854e-03 with rtol 1e-4; these
	// come from the signed two-series formula that we implement. Newer
	// dp_accounting sums the absolute values of the series terms, which is
	// an upper bound, and lists 6.70579741e-04 and 1.08548710e-03; our
	// values must not exceed those. (The exact values, from mpmath
	// quadrature, are in TestRDPAgainstMpmath.)
	for _, tc := range []struct {
		alpha, oldTFP, absSumBound float64
	}{
		{1.5, 6.5007e-04, 6.70579741e-04},
		{2.5, 1.0854e-03, 1.08548710e-03},
	} {
		got, err := RDPSampledGaussian(q, sigma, tc.alpha)
		if err != nil {
			t.Fatal(err)
		}
		got *= rounds
		if e := relErr(got, tc.oldTFP); !(e <= 1e-4) {
			t.Errorf("alpha=%v: 50*RDP = %.10g, want %.5g (TF Privacy); rel err %.2g", tc.alpha, got, tc.oldTFP, e)
		}
		if !(got <= tc.absSumBound) {
			t.Errorf("alpha=%v: 50*RDP = %.10g exceeds dp_accounting's upper bound %.10g", tc.alpha, got, tc.absSumBound)
		}
	}
}

func TestRDPAgainstMpmath(t *testing.T) {
	// Reference values computed with mpmath 1.3.0 at 50 significant digits
	// by adaptive quadrature (quad, maxdegree=12, reported error < 1e-40)
	// of the definition, written so that nothing cancels:
	//   A - 1 = int N(z; 0, sigma^2) * ((1+x)^alpha - 1 - alpha*x) dz,
	//   x = q*expm1((2z-1)/(2 sigma^2)),   RDP = log1p(A-1)/(alpha-1).
	// (The alpha*x term integrates to zero.) These are independent of the
	// series used by the implementation.
	tests := []struct {
		q, sigma, alpha, want float64
	}{
		{0.01, 2.5, 1.5, 1.3001417943760795e-5},
		{0.01, 2.5, 2.5, 2.1708361138362486e-5},
		{0.01, 2.5, 5, 4.3615131246157617e-5},
		{0.04, 1.5, 3.9, 0.0018332021995838586},
		{256.0 / 60000, 1.12, 8.5, 9.9192560083564893e-5},
		{1e-3, 1, 2, 1.7182803522145154e-6},
		{1e-6, 1, 27, 3.3728889634032684e-11},
		{1e-4, 1, 1.5, 1.2885373907673299e-8},
		{0.1, 100, 20.5, 1.0252214593881178e-5},
		{0.5, 1, 1.25, 0.18403840772767036},
		{0.9, 2, 64, 7.8929671115149328},
		{0.2, 0.7, 12.5, 11.005713005840899},
	}
	for _, tc := range tests {
		got, err := RDPSampledGaussian(tc.q, tc.sigma, tc.alpha)
		if err != nil {
			t.Fatal(err)
		}
		// Fractional orders carry an absolute error of about
		// 1e-16/(alpha-1) (see RDPSampledGaussian), which matters only
		// for the tiny value at q = 1e-4.
		tol := 1e-9*tc.want + 1e-15/(tc.alpha-1)
		if !(math.Abs(got-tc.want) <= tol) {
			t.Errorf("RDPSampledGaussian(%v, %v, %v) = %.17g, want %.17g (mpmath); rel err %.2g",
				tc.q, tc.sigma, tc.alpha, got, tc.want, relErr(got, tc.want))
		}
	}
}

// log1pPowMinusLinear returns log((1+x)^alpha - 1 - alpha*x) for x > -1,
// x != 0 and alpha > 1, a non-negative quantity by convexity, without
// cancellation.
func log1pPowMinusLinear(x, alpha float64) float64 {
	if math.Abs(alpha*x) < 1e-3 {
		// Binomial series sum_{k>=2} C(alpha,k) x^k; each term is at most
		// 1e-3 times the previous one.
		term := alpha * (alpha - 1) / 2 * x * x
		sum := term
		for k := 3; k < 60 && math.Abs(term) > 1e-19*math.Abs(sum); k++ {
			term *= (alpha - float64(k) + 1) / float64(k) * x
			sum += term
		}
		return math.Log(sum)
	}
	l := alpha * math.Log1p(x)
	if l > 30 {
		// (1+x)^alpha dominates; x itself may overflow, so work with logs.
		return l + math.Log1p(-math.Exp(math.Log1p(alpha*x)-l))
	}
	return math.Log(math.Expm1(l) - alpha*x)
}

// rdpByQuadrature computes the RDP of the sampled Gaussian directly from its
// definition, independently of the implementation: the composite trapezoid
// rule, in log space, applied to
//
//	A - 1 = int N(z; 0, sigma^2) ((1+x)^alpha - 1 - alpha x) dz,  x = q expm1((2z-1)/(2 sigma^2)).
//
// The integrand is smooth and positive, and varies on the scales sigma (the
// Gaussian) and sigma^2 (the mixture ratio), so a step of a twentieth of the
// smaller scale makes the trapezoid rule accurate far beyond 1e-9.
func rdpByQuadrature(q, sigma, alpha float64) float64 {
	h := math.Min(sigma, sigma*sigma) / 20
	lo, hi := -40*sigma-2, alpha+40*sigma+2
	n := int(math.Ceil((hi - lo) / h))
	h = (hi - lo) / float64(n)
	logI := math.Inf(-1)
	for k := 0; k <= n; k++ {
		z := lo + float64(k)*h
		u := (2*z - 1) / (2 * sigma * sigma)
		if u == 0 {
			continue
		}
		var lf float64
		if u > 600 {
			// x = q*expm1(u) would overflow: log f = alpha*log(1+x) to
			// double precision, with log(1+x) = u + log(q) + log1p(...).
			lf = alpha * (u + math.Log(q) + math.Log1p((1-q)*math.Exp(-u)/q))
		} else {
			lf = log1pPowMinusLinear(q*math.Expm1(u), alpha)
		}
		lg := -z*z/(2*sigma*sigma) - math.Log(sigma) - 0.5*math.Log(2*math.Pi) + lf
		if k == 0 || k == n {
			lg -= math.Ln2
		}
		logI = logAddExp(logI, lg)
	}
	logI += math.Log(h)
	return log1pExp(logI) / (alpha - 1)
}

func TestRDPAgainstQuadrature(t *testing.T) {
	// Independent reference: direct numerical integration of the Renyi
	// divergence between the mixture (1-q)N(0,sigma^2) + qN(1,sigma^2) and
	// N(0,sigma^2), for integer and fractional orders. The first block
	// repeats the parameters of dp_accounting's test_compute_log_a_equals_mp
	// (which compares against mpmath there); the rest stresses the series
	// cap (q near 1/2, large sigma) and large orders.
	tests := []struct {
		q, sigma, alpha float64
	}{
		{1e-6, 1, 27},
		{1e-4, 1, 1.5},
		{1e-3, 1, 2},
		{0.01, 10, 20},
		{0.1, 100, 20.5},
		{0.99, 0.5, 256},
		{0.999, 100, 256.1},
		{0.5, 1, 1.25},
		{0.5, 64, 1.5},
		{0.5, 64, 2},
		{0.3, 4, 7.75},
		{0.05, 0.8, 32},
		{0.05, 0.8, 31.5},
		{1e-6, 100, 1.5},
		{1e-6, 100, 256},
	}
	for _, tc := range tests {
		got, err := RDPSampledGaussian(tc.q, tc.sigma, tc.alpha)
		if err != nil {
			t.Fatal(err)
		}
		want := rdpByQuadrature(tc.q, tc.sigma, tc.alpha)
		// 1e-6 relative, plus the documented absolute error of the
		// fractional-order series (relevant only for q = 1e-6).
		tol := 1e-6*want + 1e-15/(tc.alpha-1)
		if !(math.Abs(got-want) <= tol) {
			t.Errorf("RDPSampledGaussian(%v, %v, %v) = %.15g, quadrature %.15g; rel err %.2g",
				tc.q, tc.sigma, tc.alpha, got, want, relErr(got, want))
		}
	}
}

func TestRDPOrderStructure(t *testing.T) {
	// The Renyi divergence is non-decreasing in the order (van Erven and
	// Harremoes 2014, Theorem 3), and (alpha-1)*RDP = log A_alpha is convex
	// in alpha (Hoelder), so a fractional order lies below the chord between
	// the neighbouring integers (Wang, Balle and Kasiviswanathan 2019,
	// Corollary 10). Both checks exercise the fractional series against the
	// exact integer sum.
	for _, q := range []float64{1e-5, 0.01, 0.2, 0.5, 0.9} {
		for _, sigma := range []float64{0.6, 1, 3, 30} {
			prev := 0.0
			for a := 1.25; a <= 20; a += 0.25 {
				r, err := RDPSampledGaussian(q, sigma, a)
				if err != nil {
					t.Fatal(err)
				}
				if !(r >= prev*(1-1e-9)-1e-16) {
					t.Errorf("q=%v sigma=%v: RDP(%v) = %v < RDP(%v) = %v", q, sigma, a, r, a-0.25, prev)
				}
				prev = r
				if a == math.Trunc(a) || a < 2 {
					continue
				}
				fl, ce := math.Floor(a), math.Ceil(a)
				rf, _ := RDPSampledGaussian(q, sigma, fl)
				rc, _ := RDPSampledGaussian(q, sigma, ce)
				w := a - fl
				chord := (1-w)*(fl-1)*rf + w*(ce-1)*rc
				if !((a-1)*r <= chord*(1+1e-9)+1e-15) {
					t.Errorf("q=%v sigma=%v alpha=%v: log A = %v above chord %v", q, sigma, a, (a-1)*r, chord)
				}
			}
		}
	}
}

func TestRDPToEpsilon(t *testing.T) {
	// dp_accounting test_compute_epsilon_delta_pure_dp: constant RDP 1.1 at
	// orders 2..32 and delta 1e-5 give epsilon 1.32783806176 at order 32
	// ("computed by hand" there).
	var orders, rdp []float64
	for a := 2; a <= 32; a++ {
		orders = append(orders, float64(a))
		rdp = append(rdp, 1.1)
	}
	eps, order, err := RDPToEpsilon(orders, rdp, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(eps-1.32783806176) <= 1e-10) || order != 32 {
		t.Errorf("pure DP: got (%v, %v), want (1.32783806176, 32) (dp_accounting)", eps, order)
	}

	// dp_accounting test_compute_epsilon_delta_gaussian: the Gaussian
	// mechanism with sigma = 4.530877117 is (1, 1e-6)-DP by this
	// conversion over orders 1.000, 1.001, ..., 99.999 (assertAlmostEqual,
	// 7 places).
	orders, rdp = orders[:0], rdp[:0]
	for i := 1001; i < 100000; i++ {
		a := 0.001 * float64(i)
		orders = append(orders, a)
		rdp = append(rdp, a/(2*4.530877117*4.530877117))
	}
	eps, _, err = RDPToEpsilon(orders, rdp, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(eps-1) <= 5e-8) {
		t.Errorf("Gaussian sigma=4.530877117: epsilon = %.10g, want 1 (dp_accounting)", eps)
	}

	// Clamping at zero: with no privacy loss the bound is negative at
	// large orders and must be reported as 0.
	eps, _, err = RDPToEpsilon([]float64{2, 1e6}, []float64{0, 0}, 0.5)
	if err != nil || eps != 0 {
		t.Errorf("zero RDP: got (%v, %v), want (0, nil)", eps, err)
	}

	// Infinite RDP at some orders is allowed and ignored.
	eps, order, err = RDPToEpsilon([]float64{2, 3}, []float64{math.Inf(1), 0.5}, 1e-5)
	if err != nil || order != 3 {
		t.Errorf("infinite RDP at order 2: got (%v, %v, %v), want order 3", eps, order, err)
	}
}

func TestEpsilonOpacus(t *testing.T) {
	// Opacus opacus/tests/accountants_test.py, test_rdp_accountant: noise
	// multiplier 1.5, sample rate 0.04, int(90/0.04) = 2250 steps, delta
	// 1e-5, default alphas, Balle et al. 2020 conversion:
	// assertAlmostEqual(epsilon, 7.32911117143) (7 decimal places).
	res, err := Epsilon(Params{NoiseMultiplier: 1.5, SampleRate: 0.04, Rounds: 2250, Delta: 1e-5, Orders: opacusOrders(), Accountant: AccountantRDP})
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(res.Epsilon-7.32911117143) <= 5e-8) {
		t.Errorf("epsilon = %.12g, want 7.32911117143 (Opacus)", res.Epsilon)
	}
	if res.Order != 3.9 || !strings.Contains(res.Accountant, "rdp-sampled-gaussian") {
		t.Errorf("got order %v, accountant %q; want order 3.9 with the RDP accountant", res.Order, res.Accountant)
	}
}

func TestEpsilonTFPrivacyMNIST(t *testing.T) {
	// TensorFlow Privacy tutorials/README.md: the MNIST DP-SGD tutorial
	// (noise multiplier 1.12, batch 256 of 60000, 60 epochs, so
	// 60*(60000//256) = 14040 steps, delta 1e-5) reports
	// "the current epsilon is: 2.92", printed with %.2f. The tutorial used
	// the classical conversion eps = rdp - ln(delta)/(alpha-1) of Mironov
	// (2017) over the Opacus/TFP orders, so we reproduce it with that
	// conversion to the printed precision.
	const (
		q      = 256.0 / 60000
		sigma  = 1.12
		rounds = 60 * (60000 / 256)
		delta  = 1e-5
	)
	orders := opacusOrders()
	rdp := composedRDP(t, q, sigma, rounds, orders)
	classic := math.Inf(1)
	for k, a := range orders {
		classic = math.Min(classic, rdp[k]-math.Log(delta)/(a-1))
	}
	if !(math.Abs(classic-2.92) <= 0.005) {
		t.Errorf("classical conversion: epsilon = %.4f, want 2.92 (TF Privacy tutorial)", classic)
	}
	// The improved conversion can only be smaller.
	improved, _, err := RDPToEpsilon(orders, rdp, delta)
	if err != nil {
		t.Fatal(err)
	}
	if !(improved < classic) {
		t.Errorf("improved conversion %v not below classical %v", improved, classic)
	}
}

func TestGaussianExact(t *testing.T) {
	// Reference epsilons from the exact privacy profile (Balle and Wang 2018,
	// Theorem 8) evaluated with mpmath at 60 digits and inverted by 200
	// bisection steps: mu = sqrt(T)/sigma,
	// delta(eps) = ncdf(-eps/mu + mu/2) - exp(eps) ncdf(-eps/mu - mu/2).
	tests := []struct {
		sigma  float64
		rounds int
		delta  float64
		want   float64
	}{
		{1, 1, 1e-5, 4.3771780956812246},
		{0.5, 1, 1e-5, 9.9972561464343004},
		{2, 100, 1e-6, 35.566343714136217},
		{10, 1000, 1e-5, 17.856586830107614},
		{100, 1, 1e-5, 0.027219419814577136},
		{0.8, 50, 1e-8, 87.892901990815009},
	}
	for _, tc := range tests {
		got, err := ZCDPEpsilon(tc.sigma, tc.rounds, tc.delta)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(got, tc.want); !(e <= 1e-9) || got < tc.want*(1-1e-12) {
			t.Errorf("ZCDPEpsilon(%v, %v, %v) = %.17g, want %.17g (mpmath), rel err %.2g",
				tc.sigma, tc.rounds, tc.delta, got, tc.want, e)
		}
		// Round trip through the privacy profile: delta(eps) <= delta,
		// and equal up to the bisection tolerance.
		d, err := GaussianDelta(tc.sigma, tc.rounds, got)
		if err != nil {
			t.Fatal(err)
		}
		if !(d <= tc.delta) || !(relErr(d, tc.delta) <= 1e-8) {
			t.Errorf("GaussianDelta(%v, %v, %v) = %v, want %v", tc.sigma, tc.rounds, got, d, tc.delta)
		}
	}

	// With huge noise, delta(0) = erf(mu/(2 sqrt 2)) is already below the
	// target, so epsilon is 0.
	if got, err := ZCDPEpsilon(1e8, 1, 1e-5); err != nil || got != 0 {
		t.Errorf("ZCDPEpsilon(1e8, 1, 1e-5) = (%v, %v), want (0, nil)", got, err)
	}

	// dp_accounting's test_compute_epsilon_delta_gaussian calibrates sigma =
	// 4.530877117 so that the RDP conversion gives exactly (1, 1e-6); the
	// exact profile must be strictly tighter.
	if got, _ := ZCDPEpsilon(4.530877117, 1, 1e-6); !(got < 1) {
		t.Errorf("exact epsilon %v not below RDP epsilon 1", got)
	}

	// Dwork and Roth (2014, Theorem A.1): sigma = sqrt(2 ln(1.25/delta))/eps
	// gives (eps, delta)-DP for eps < 1, so the exact delta must be smaller.
	for _, eps := range []float64{0.1, 0.5, 0.9} {
		const delta = 1e-5
		sigma := math.Sqrt(2*math.Log(1.25/delta)) / eps
		if d, _ := GaussianDelta(sigma, 1, eps); !(d <= delta) {
			t.Errorf("classical calibration eps=%v: exact delta %v > %v", eps, d, delta)
		}
	}
}

// hockeyStickByQuadrature returns delta(eps) for N(mu,1) versus N(0,1) from
// its definition, int (p(x) - e^eps q(x))_+ dx, by composite Simpson's rule
// on [x*, x*+60] where x* = eps/mu + mu/2 is where the integrand vanishes.
// It is independent of the closed form.
func hockeyStickByQuadrature(eps, mu float64) float64 {
	xs := eps/mu + mu/2
	hi := math.Max(xs, mu) + 40
	const n = 200000
	h := (hi - xs) / n
	f := func(x float64) float64 {
		p := math.Exp(-(x-mu)*(x-mu)/2) / math.Sqrt(2*math.Pi)
		return p * -math.Expm1(eps-mu*x+mu*mu/2)
	}
	sum := f(xs) + f(hi)
	for k := 1; k < n; k++ {
		w := 2.0
		if k%2 == 1 {
			w = 4
		}
		sum += w * f(xs+float64(k)*h)
	}
	return sum * h / 3
}

func TestGaussianDeltaAgainstQuadrature(t *testing.T) {
	for _, tc := range []struct {
		sigma  float64
		rounds int
		eps    float64
	}{
		{1, 1, 4.3771780956812246},
		{1, 1, 0.5},
		{2, 100, 10},
		{0.7, 3, 3},
		{30, 1, 0.1},
	} {
		got, err := GaussianDelta(tc.sigma, tc.rounds, tc.eps)
		if err != nil {
			t.Fatal(err)
		}
		want := hockeyStickByQuadrature(tc.eps, gaussianMu(tc.sigma, tc.rounds))
		if e := relErr(got, want); !(e <= 1e-8) {
			t.Errorf("GaussianDelta(%v, %v, %v) = %.12g, quadrature %.12g, rel err %.2g",
				tc.sigma, tc.rounds, tc.eps, got, want, e)
		}
	}
}

func TestLogNormCDF(t *testing.T) {
	// log(ncdf(x)) from mpmath at 40 digits; -29.9 and -30.5 straddle the
	// switch to the asymptotic series.
	for _, tc := range []struct{ x, want float64 }{
		{-29.9, -451.32291245852863447},
		{-30.5, -469.46273732291211439},
		{-40, -804.60844201375378817},
		{-100, -5005.5242086942050886},
		{-1e4, -50000010.129278915181},
		{5, -2.8665161296376359338e-7},
	} {
		if got := logNormCDF(tc.x); !(relErr(got, tc.want) <= 1e-14) {
			t.Errorf("logNormCDF(%v) = %.17g, want %.17g", tc.x, got, tc.want)
		}
	}
}

func TestConversionOrdering(t *testing.T) {
	// For the composed Gaussian (rho = T/(2 sigma^2)): exact profile <=
	// Canonne-Kamath-Steinke conversion <= Bun-Steinke conversion, since
	// each is valid and each improves on the next.
	for _, sigma := range []float64{0.3, 0.8, 1, 2, 5, 20, 100} {
		for _, rounds := range []int{1, 10, 1000, 100000} {
			for _, delta := range []float64{0.1, 1e-5, 1e-10} {
				rho := float64(rounds) / (2 * sigma * sigma)
				tight, err := ZCDPEpsilon(sigma, rounds, delta)
				if err != nil {
					t.Fatal(err)
				}
				cks, err := ZCDPToEpsilon(rho, delta)
				if err != nil {
					t.Fatal(err)
				}
				loose, err := ZCDPLooseEpsilon(rho, delta)
				if err != nil {
					t.Fatal(err)
				}
				if !(tight <= cks*(1+1e-12)) || !(cks <= loose*(1+1e-12)) {
					t.Errorf("sigma=%v T=%v delta=%v: tight %v, CKS %v, loose %v not ordered",
						sigma, rounds, delta, tight, cks, loose)
				}
			}
		}
	}
	if got, _ := ZCDPToEpsilon(0, 1e-5); got != 0 {
		t.Errorf("ZCDPToEpsilon(0, 1e-5) = %v, want 0", got)
	}
	// Bun and Steinke (2016), Proposition 1.3, by hand:
	// 0.5 + 2 sqrt(0.5 ln 1e5) = 5.2985259121880...
	if got, _ := ZCDPLooseEpsilon(0.5, 1e-5); !(math.Abs(got-(0.5+2*math.Sqrt(0.5*math.Log(1e5)))) <= 1e-15) {
		t.Errorf("ZCDPLooseEpsilon(0.5, 1e-5) = %v", got)
	}
}

func TestEpsilonMethodSelection(t *testing.T) {
	// SampleRate 0 and 1 both mean no sampling and use the exact accountant.
	want, _ := ZCDPEpsilon(1.3, 400, 1e-6)
	for _, q := range []float64{0, 1} {
		res, err := Epsilon(Params{NoiseMultiplier: 1.3, SampleRate: q, Rounds: 400, Delta: 1e-6})
		if err != nil {
			t.Fatal(err)
		}
		if res.Epsilon != want || res.SampleRate != 1 || res.Order != 0 || !strings.HasPrefix(res.Accountant, "gaussian-exact") {
			t.Errorf("SampleRate %v: got %+v, want exact epsilon %v", q, res, want)
		}
	}
	// A sampling rate close to 1 with a single round: RDP conversion is
	// looser than the exact unsampled bound, which is then reported.
	res, err := Epsilon(Params{NoiseMultiplier: 1, SampleRate: 0.999, Rounds: 1, Delta: 1e-5, Accountant: AccountantRDP})
	if err != nil {
		t.Fatal(err)
	}
	exact, _ := ZCDPEpsilon(1, 1, 1e-5)
	if res.Epsilon != exact || !strings.Contains(res.Accountant, "sampling ignored") {
		t.Errorf("q=0.999: got %+v, want the exact epsilon %v", res, exact)
	}
}

func TestNoiseMultiplierRoundTrip(t *testing.T) {
	tests := []struct {
		eps, delta float64
		rounds     int
		q          float64
	}{
		{8, 1e-5, 2250, 0.04},
		{1, 1e-5, 14040, 256.0 / 60000},
		{3, 1e-6, 1000, 0.01},
		{0.5, 1e-5, 100, 1},
		{10, 1e-8, 1, 1},
		{2, 1e-5, 500, 0.3},
		{1, 1e-9, 1000000, 1e-4},
	}
	for _, tc := range tests {
		// The RDP accountant: the round trip is about the bisection, and
		// some rows are far outside the PLD's range (10^6 rounds).
		sigma, err := NoiseMultiplierFor(tc.eps, Params{Delta: tc.delta, Rounds: tc.rounds, SampleRate: tc.q, Accountant: AccountantRDP})
		if err != nil {
			t.Fatalf("NoiseMultiplier(%+v): %v", tc, err)
		}
		at := func(s float64) float64 {
			r, err := Epsilon(Params{NoiseMultiplier: s, SampleRate: tc.q, Rounds: tc.rounds, Delta: tc.delta, Accountant: AccountantRDP})
			if err != nil {
				t.Fatal(err)
			}
			return r.Epsilon
		}
		// The returned sigma meets the target, and a sigma 2e-6 smaller
		// (outside the final bisection bracket) does not.
		if e := at(sigma); !(e <= tc.eps) {
			t.Errorf("%+v: sigma %v gives epsilon %v > target", tc, sigma, e)
		}
		if e := at(sigma * (1 - 2e-6)); !(e > tc.eps) {
			t.Errorf("%+v: smaller sigma %v still gives epsilon %v <= target", tc, sigma*(1-2e-6), e)
		}
	}

	// Opacus opacus/tests/accountants_test.py, test_get_noise_multiplier:
	// epsilon 8, delta 1e-5, sample rate 0.04, 90 epochs gives 1.425307617.
	// Opacus bisects only to an absolute 0.01 and returns the midpoint,
	// and uses different orders, so agreement is expected to 0.01.
	sigma, err := NoiseMultiplierFor(8, Params{Delta: 1e-5, Rounds: 2250, SampleRate: 0.04, Accountant: AccountantRDP})
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(sigma-1.425307617) <= 0.01) {
		t.Errorf("NoiseMultiplier(8, 1e-5, 2250, 0.04) = %v, want 1.4253 +- 0.01 (Opacus)", sigma)
	}
}

func TestMonotonicity(t *testing.T) {
	eps := func(sigma, q float64, rounds int) float64 {
		t.Helper()
		// RDP here; TestPLDMonotone covers the PLD accountant.
		r, err := Epsilon(Params{NoiseMultiplier: sigma, SampleRate: q, Rounds: rounds, Delta: 1e-5, Accountant: AccountantRDP})
		if err != nil {
			t.Fatal(err)
		}
		return r.Epsilon
	}
	for _, q := range []float64{0.001, 0.05, 0.5, 1} {
		prev := math.Inf(1)
		for _, sigma := range []float64{0.5, 0.7, 1, 1.5, 2, 4, 8} {
			e := eps(sigma, q, 1000)
			if !(e <= prev) {
				t.Errorf("q=%v: epsilon %v at sigma %v exceeds %v at a smaller sigma", q, e, sigma, prev)
			}
			prev = e
		}
	}
	for _, q := range []float64{0.001, 0.05, 0.5, 1} {
		prev := 0.0
		for _, rounds := range []int{1, 10, 100, 1000, 10000} {
			e := eps(1.1, q, rounds)
			if !(e >= prev) {
				t.Errorf("q=%v: epsilon %v at %v rounds below %v at fewer rounds", q, e, rounds, prev)
			}
			prev = e
		}
	}
	for _, rounds := range []int{1, 100, 10000} {
		prev := 0.0
		for _, q := range []float64{1e-5, 1e-3, 0.01, 0.1, 0.3, 0.6, 0.9, 0.99, 1} {
			e := eps(1.1, q, rounds)
			if !(e >= prev) {
				t.Errorf("rounds=%v: epsilon %v at q=%v below %v at a smaller q", rounds, e, q, prev)
			}
			prev = e
		}
	}
}

func TestStability(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		max  float64
	}{
		// Tiny sampling rate, huge noise, a million rounds: the guarantee is
		// essentially perfect; the bound is limited by the largest order.
		{"tiny q, large sigma", Params{NoiseMultiplier: 100, SampleRate: 1e-6, Rounds: 1000000, Delta: 1e-5}, 0.01},
		{"tiny q, small delta", Params{NoiseMultiplier: 2, SampleRate: 1e-6, Rounds: 100000, Delta: 1e-12}, 1},
		{"little noise", Params{NoiseMultiplier: 0.05, SampleRate: 0.5, Rounds: 1000, Delta: 1e-5}, math.Inf(1)},
		{"many rounds, no sampling", Params{NoiseMultiplier: 1, Rounds: 1 << 30, Delta: 1e-5}, math.Inf(1)},
		{"huge noise, no sampling", Params{NoiseMultiplier: 1e12, Rounds: 1, Delta: 1e-5}, 1e-9},
	}
	for _, tc := range tests {
		res, err := Epsilon(tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		e := res.Epsilon
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 || e > tc.max {
			t.Errorf("%s: epsilon = %v, want finite in [0, %v]", tc.name, e, tc.max)
		}
	}
	for _, q := range []float64{1e-9, 1e-6, 0.5, 1 - 1e-9} {
		for _, sigma := range []float64{0.05, 1, 100, 1e4} {
			for _, a := range []float64{1.01, 1.5, 2, 256, 256.5} {
				r, err := RDPSampledGaussian(q, sigma, a)
				if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
					t.Errorf("RDPSampledGaussian(%v, %v, %v) = (%v, %v)", q, sigma, a, r, err)
				}
			}
		}
	}
}

func TestDefaultOrders(t *testing.T) {
	a, b := DefaultOrders(), DefaultOrders()
	a[0] = 99
	if b[0] == 99 {
		t.Error("DefaultOrders returns a shared slice")
	}
	for i, o := range b {
		if !(o > 1) || (i > 0 && !(o > b[i-1])) {
			t.Errorf("DefaultOrders()[%d] = %v: want increasing orders > 1", i, o)
		}
	}
}

func TestInvalidInputs(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	errOf := func(_ float64, err error) error { return err }
	errOf2 := func(_, _ float64, err error) error { return err }
	errOfRes := func(_ Result, err error) error { return err }
	ok := Params{NoiseMultiplier: 1, SampleRate: 0.01, Rounds: 10, Delta: 1e-5}
	with := func(f func(*Params)) Params { p := ok; f(&p); return p }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ZCDPEpsilon sigma 0", errOf(ZCDPEpsilon(0, 1, 1e-5)), "noise multiplier sigma must be positive and finite, got 0"},
		{"ZCDPEpsilon sigma NaN", errOf(ZCDPEpsilon(nan, 1, 1e-5)), "sigma"},
		{"ZCDPEpsilon sigma Inf", errOf(ZCDPEpsilon(inf, 1, 1e-5)), "sigma"},
		{"ZCDPEpsilon rounds 0", errOf(ZCDPEpsilon(1, 0, 1e-5)), "rounds must be at least 1, got 0"},
		{"ZCDPEpsilon delta 1.5", errOf(ZCDPEpsilon(1, 1, 1.5)), "accountant: delta must be in (0, 1), got 1.5"},
		{"ZCDPEpsilon delta 0", errOf(ZCDPEpsilon(1, 1, 0)), "delta"},
		{"ZCDPEpsilon delta 1", errOf(ZCDPEpsilon(1, 1, 1)), "delta"},
		{"ZCDPEpsilon delta NaN", errOf(ZCDPEpsilon(1, 1, nan)), "delta"},
		{"GaussianDelta eps -1", errOf(GaussianDelta(1, 1, -1)), "epsilon must be non-negative"},
		{"GaussianDelta eps Inf", errOf(GaussianDelta(1, 1, inf)), "epsilon"},
		{"ZCDPToEpsilon rho -1", errOf(ZCDPToEpsilon(-1, 1e-5)), "rho must be non-negative"},
		{"ZCDPToEpsilon rho NaN", errOf(ZCDPToEpsilon(nan, 1e-5)), "rho"},
		{"ZCDPToEpsilon delta -1", errOf(ZCDPToEpsilon(1, -1)), "delta"},
		{"ZCDPLooseEpsilon rho Inf", errOf(ZCDPLooseEpsilon(inf, 1e-5)), "rho"},
		{"ZCDPLooseEpsilon delta 2", errOf(ZCDPLooseEpsilon(1, 2)), "delta"},
		{"RDP q 0", errOf(RDPSampledGaussian(0, 1, 2)), "sample rate must be in (0, 1], got 0"},
		{"RDP q 1.5", errOf(RDPSampledGaussian(1.5, 1, 2)), "sample rate"},
		{"RDP q NaN", errOf(RDPSampledGaussian(nan, 1, 2)), "sample rate"},
		{"RDP sigma -1", errOf(RDPSampledGaussian(0.1, -1, 2)), "sigma"},
		{"RDP alpha 1", errOf(RDPSampledGaussian(0.1, 1, 1)), "order alpha must be finite and greater than 1, got 1"},
		{"RDP alpha 0.5", errOf(RDPSampledGaussian(0.1, 1, 0.5)), "order alpha"},
		{"RDP alpha Inf", errOf(RDPSampledGaussian(0.1, 1, inf)), "order alpha"},
		{"RDP alpha NaN", errOf(RDPSampledGaussian(0.1, 1, nan)), "order alpha"},
		{"RDPToEpsilon empty", errOf2(RDPToEpsilon(nil, nil, 1e-5)), "orders must not be empty"},
		{"RDPToEpsilon lengths", errOf2(RDPToEpsilon([]float64{2, 3}, []float64{1}, 1e-5)), "same length"},
		{"RDPToEpsilon negative rdp", errOf2(RDPToEpsilon([]float64{2}, []float64{-1}, 1e-5)), "rdp[0] must be non-negative"},
		{"RDPToEpsilon NaN rdp", errOf2(RDPToEpsilon([]float64{2}, []float64{nan}, 1e-5)), "rdp[0]"},
		{"RDPToEpsilon order 1", errOf2(RDPToEpsilon([]float64{1}, []float64{1}, 1e-5)), "order alpha"},
		{"RDPToEpsilon delta 0", errOf2(RDPToEpsilon([]float64{2}, []float64{1}, 0)), "delta"},
		{"RDPToEpsilon all infinite", errOf2(RDPToEpsilon([]float64{2}, []float64{inf}, 1e-5)), "infinite"},
		{"Epsilon sigma 0", errOfRes(Epsilon(with(func(p *Params) { p.NoiseMultiplier = 0 }))), "sigma"},
		{"Epsilon q -0.1", errOfRes(Epsilon(with(func(p *Params) { p.SampleRate = -0.1 }))), "sample rate"},
		{"Epsilon q 1.1", errOfRes(Epsilon(with(func(p *Params) { p.SampleRate = 1.1 }))), "sample rate"},
		{"Epsilon q NaN", errOfRes(Epsilon(with(func(p *Params) { p.SampleRate = nan }))), "sample rate"},
		{"Epsilon rounds -1", errOfRes(Epsilon(with(func(p *Params) { p.Rounds = -1 }))), "rounds"},
		{"Epsilon delta 0", errOfRes(Epsilon(with(func(p *Params) { p.Delta = 0 }))), "delta"},
		{"Epsilon bad order", errOfRes(Epsilon(with(func(p *Params) { p.Orders = []float64{2, 0.9} }))), "order alpha"},
		{"NoiseMultiplier eps 0", errOf(NoiseMultiplier(0, 1e-5, 10, 0.1)), "epsilon must be positive and finite, got 0"},
		{"NoiseMultiplier eps -1", errOf(NoiseMultiplier(-1, 1e-5, 10, 0.1)), "epsilon"},
		{"NoiseMultiplier eps NaN", errOf(NoiseMultiplier(nan, 1e-5, 10, 0.1)), "epsilon"},
		{"NoiseMultiplier eps Inf", errOf(NoiseMultiplier(inf, 1e-5, 10, 0.1)), "epsilon"},
		{"NoiseMultiplier delta 1", errOf(NoiseMultiplier(1, 1, 10, 0.1)), "delta"},
		{"NoiseMultiplier rounds 0", errOf(NoiseMultiplier(1, 1e-5, 0, 0.1)), "rounds"},
		{"NoiseMultiplier q 0", errOf(NoiseMultiplier(1, 1e-5, 10, 0)), "sample rate"},
		{"NoiseMultiplier q 2", errOf(NoiseMultiplier(1, 1e-5, 10, 2)), "sample rate"},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := tc.err.Error()
		if !strings.HasPrefix(msg, "accountant: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.name, msg, tc.want)
		}
	}
}
