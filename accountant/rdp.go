package accountant

import "math"

// maxSeriesTerms bounds the number of terms of the series used for
// fractional orders (see logASampledGaussianFrac).
const maxSeriesTerms = 5000

// maxIntegerOrder is the largest integer order evaluated with the finite
// binomial sum, whose cost is linear in the order; larger integer orders
// use the series for fractional orders, which also holds for integers.
const maxIntegerOrder = 100_000

// DefaultOrders returns the Renyi orders used by the RDP accountant of
// [Epsilon] and [NoiseMultiplier] when no orders are given:
//
//	1.01, 1.02, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, ..., 1.9, 2, 2.5, ..., 12
//	(steps of 0.5), 13, 14, ..., 20, 22, 24, ..., 32, 36, 40, ..., 64,
//	72, 80, 96, 112, 128, 160, 192, 256,
//	320, 384, 512, 768, 1024, 1536, 2048, 4096.
//
// The fine grid near 1 serves large epsilon (few rounds, little noise); the
// large orders serve small epsilon (many rounds, much noise, small sampling
// rates). The grid is finer than the defaults of Opacus and TensorFlow
// Privacy; [Epsilon] sets Result.Warning when the best order is the
// smallest or the largest. Using more orders can only decrease the reported
// epsilon. The returned slice is newly allocated on every call, so callers
// may modify it.
func DefaultOrders() []float64 {
	orders := []float64{1.01, 1.02, 1.05, 1.1, 1.15, 1.2}
	for k := 3; k < 10; k++ {
		orders = append(orders, 1+float64(k)/10)
	}
	for k := 4; k <= 24; k++ {
		orders = append(orders, float64(k)/2)
	}
	for a := 13.0; a <= 20; a++ {
		orders = append(orders, a)
	}
	for a := 22.0; a <= 32; a += 2 {
		orders = append(orders, a)
	}
	for a := 36.0; a <= 64; a += 4 {
		orders = append(orders, a)
	}
	return append(orders, 72, 80, 96, 112, 128, 160, 192, 256, 320, 384, 512, 768, 1024, 1536, 2048, 4096)
}

// RDPSampledGaussian returns the Renyi differential privacy, at order alpha,
// of one round of the Poisson-subsampled Gaussian mechanism with sampling
// rate q, L2 sensitivity 1 and noise multiplier sigma, under add/remove-one
// adjacency. This is the Renyi divergence of order alpha of the mixture
// (1-q)*N(0, sigma^2) + q*N(1, sigma^2) from N(0, sigma^2), which by
// Mironov, Talwar and Zhang (2019, Section 3) dominates the divergence in the
// reverse direction. Renyi DP composes additively: T rounds satisfy T times
// this value.
//
// For q == 1 the result is exactly alpha/(2*sigma^2). For integer alpha it
// uses the binomial expansion of Mironov, Talwar and Zhang (2019, Section
// 3.3), rewritten as log(1 + sum of non-negative terms) so that it stays
// accurate to full relative precision even for tiny q and large sigma. For
// fractional alpha it uses their two-series expansion (as in TensorFlow
// Privacy and Opacus), summed in log space with signed terms; its absolute
// error is about 1e-16/(alpha-1), far below anything that affects epsilon.
// When sigma*|ln(1/q - 1)| is small (q near 1/2) the series converges slowly
// and is truncated with a conservative remainder bound, which can overstate
// the result by a relative amount of order 1e-8.
//
// The sampling rate q must be in (0, 1], sigma must be positive and finite,
// and alpha must be finite and greater than 1.
func RDPSampledGaussian(q, sigma, alpha float64) (float64, error) {
	if err := checkSampleRate(q); err != nil {
		return 0, err
	}
	if err := checkSigma(sigma); err != nil {
		return 0, err
	}
	if err := checkOrder(alpha); err != nil {
		return 0, err
	}
	if q == 1 {
		return alpha / (2 * sigma * sigma), nil
	}
	var logA float64
	if alpha == math.Trunc(alpha) && alpha <= maxIntegerOrder {
		logA = logASampledGaussianInt(q, sigma, int(alpha))
	} else {
		var err error
		if logA, err = logASampledGaussianFrac(q, sigma, alpha); err != nil {
			return 0, err
		}
	}
	// A_alpha >= 1 mathematically; only rounding can push log A below 0.
	return math.Max(0, logA) / (alpha - 1), nil
}

// logASampledGaussianInt returns log(A_alpha) for integer alpha >= 2, where
// A_alpha = sum_{i=0}^{alpha} C(alpha,i) (1-q)^(alpha-i) q^i exp((i^2-i)/(2 sigma^2)).
// Because the binomial weights sum to 1, A_alpha = 1 + B with
// B = sum_{i=2}^{alpha} C(alpha,i) (1-q)^(alpha-i) q^i expm1((i^2-i)/(2 sigma^2)),
// a sum of non-negative terms, so log(A_alpha) = log1p(B) has no
// cancellation even when A_alpha is within 1e-20 of 1.
func logASampledGaussianInt(q, sigma float64, alpha int) float64 {
	logQ, log1mQ := math.Log(q), math.Log1p(-q)
	inv2s2 := 1 / (2 * sigma * sigma)
	fa := float64(alpha)
	lgA, _ := math.Lgamma(fa + 1)
	logB := math.Inf(-1)
	for i := 2; i <= alpha; i++ {
		fi := float64(i)
		lgI, _ := math.Lgamma(fi + 1)
		lgJ, _ := math.Lgamma(fa - fi + 1)
		t := lgA - lgI - lgJ + fi*logQ + (fa-fi)*log1mQ + logExpm1(fi*(fi-1)*inv2s2)
		logB = logAddExp(logB, t)
	}
	return log1pExp(logB)
}

// logASampledGaussianFrac returns an upper bound on log(A_alpha) for
// non-integer alpha > 1 by the two-series expansion of Mironov, Talwar and
// Zhang (2019, Section 3.3): the integral defining A_alpha is split at
// z0 = sigma^2 ln(1/q - 1) + 1/2, and the generalised binomial series is
// expanded in the smaller of the two mixture components on each side.
//
// For i > alpha the coefficients C(alpha, i) alternate in sign and the terms
// decrease in magnitude, so the sum lies between any two consecutive partial
// sums; the larger of the last two is returned. Summation stops once a term
// is negligible (see seriesStopLevel) or after maxSeriesTerms terms. The cap
// only matters when sigma*|ln(1/q - 1)| is small (q near 1/2), where the
// terms decay polynomially; stopping there costs a relative overestimate of
// the order of the last term, not a loss of validity.
func logASampledGaussianFrac(q, sigma, alpha float64) (float64, error) {
	logQ, log1mQ := math.Log(q), math.Log1p(-q)
	sigma2 := sigma * sigma
	inv2s2 := 1 / (2 * sigma2)
	z0 := sigma2*(log1mQ-logQ) + 0.5
	sqrt2Sigma := math.Sqrt2 * sigma
	lgA, _ := math.Lgamma(alpha + 1)
	pos, neg := math.Inf(-1), math.Inf(-1)
	prev, term := math.Inf(1), math.Inf(1)
	sign, converged := 1, false
	for i := 0; i < maxSeriesTerms; i++ {
		fi := float64(i)
		j := alpha - fi
		lgI, _ := math.Lgamma(fi + 1)
		// Gamma(j+1) is negative for some j < -1; its sign is the sign
		// of the binomial coefficient C(alpha, i).
		var lgJ float64
		lgJ, sign = math.Lgamma(j + 1)
		logCoef := lgA - lgI - lgJ
		s0 := logCoef + fi*logQ + j*log1mQ + (fi*fi-fi)*inv2s2 + logHalfErfc((fi-z0)/sqrt2Sigma)
		s1 := logCoef + j*logQ + fi*log1mQ + (j*j-j)*inv2s2 + logHalfErfc((z0-j)/sqrt2Sigma)
		prev, term = term, logAddExp(s0, s1)
		if sign > 0 {
			pos = logAddExp(pos, term)
		} else {
			neg = logAddExp(neg, term)
		}
		if fi > alpha && term < seriesStopLevel(pos, neg) {
			converged = true
			break
		}
	}
	if !converged && (alpha+1 >= maxSeriesTerms || !(term < prev)) {
		// The remainder bound needs the alternating tail (i > alpha) and
		// decreasing terms.
		return 0, errorf("RDP series for q=%v, sigma=%v, alpha=%v did not converge", q, sigma, alpha)
	}
	if sign < 0 {
		// The previous partial sum is the larger of the last two.
		pos = logAddExp(pos, term)
	}
	if !(neg < pos) {
		return 0, errorf("RDP series for q=%v, sigma=%v, alpha=%v lost all precision", q, sigma, alpha)
	}
	return logSubExp(pos, neg), nil
}

// seriesStopLevel returns the log-magnitude below which a further term of
// the fractional-order series is negligible, given the running sums pos and
// neg of its positive and negative terms: 40 nats below A (beyond double
// precision), or 30 nats below A-1 when that is larger, so that the result is
// accurate relative to A-1 (and hence to the RDP) and not only to A.
func seriesStopLevel(pos, neg float64) float64 {
	level := pos - 40
	if neg < pos {
		if am1 := math.Expm1(logSubExp(pos, neg)); am1 > 0 {
			level = math.Max(level, math.Log(am1)-30)
		}
	}
	return level
}

// RDPToEpsilon converts Renyi differential privacy guarantees, rdp[k] at
// order orders[k], to (epsilon, delta)-differential privacy, and returns
// the smallest resulting epsilon together with the order that attains it.
// It uses the conversion of Balle, Barthe, Gaboardi, Hsu and Sato (AISTATS
// 2020, Theorem 21), also given by Canonne, Kamath and Steinke (2020):
//
//	epsilon = rdp + ln((alpha-1)/alpha) - (ln(delta) + ln(alpha))/(alpha-1),
//
// which is never worse than the classical epsilon = rdp -
// ln(delta)/(alpha-1) of Mironov (2017). The result is clamped at 0. The
// slices must have the same non-zero length, every order must be finite and
// greater than 1, and every rdp value must be non-negative (+Inf is allowed
// and means that order gives no guarantee).
func RDPToEpsilon(orders, rdp []float64, delta float64) (eps float64, order float64, err error) {
	if len(orders) == 0 {
		return 0, 0, errorf("orders must not be empty")
	}
	if len(orders) != len(rdp) {
		return 0, 0, errorf("orders and rdp must have the same length, got %d and %d", len(orders), len(rdp))
	}
	if err := checkDelta(delta); err != nil {
		return 0, 0, err
	}
	logDelta := math.Log(delta)
	eps = math.Inf(1)
	for k, a := range orders {
		if err := checkOrder(a); err != nil {
			return 0, 0, err
		}
		r := rdp[k]
		if !(r >= 0) {
			return 0, 0, errorf("rdp[%d] must be non-negative, got %v", k, r)
		}
		if math.IsInf(r, 1) {
			continue
		}
		e := r + math.Log1p(-1/a) - (logDelta+math.Log(a))/(a-1)
		if e < eps {
			eps, order = e, a
		}
	}
	if math.IsInf(eps, 1) {
		return 0, 0, errorf("rdp is infinite at every order")
	}
	return math.Max(0, eps), order, nil
}

// logAddExp returns log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// logSubExp returns log(exp(a) - exp(b)) for a > b.
func logSubExp(a, b float64) float64 {
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log(-math.Expm1(b-a))
}

// log1pExp returns log(1 + exp(x)) without overflow or loss of precision.
func log1pExp(x float64) float64 {
	if x > 36 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// logExpm1 returns log(exp(x) - 1) for x > 0 without overflow or loss of
// precision.
func logExpm1(x float64) float64 {
	if x > 36 {
		return x + math.Log1p(-math.Exp(-x))
	}
	return math.Log(math.Expm1(x))
}
