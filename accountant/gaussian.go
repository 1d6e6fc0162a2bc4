package accountant

import "math"

// GaussianDelta returns the smallest delta for which composing rounds
// Gaussian mechanisms with L2 sensitivity 1 and noise multiplier sigma is
// (epsilon, delta)-differentially private. It evaluates the exact privacy
// profile of Balle and Wang (2018, Theorem 8),
//
//	delta(epsilon) = Phi(-epsilon/mu + mu/2) - exp(epsilon) * Phi(-epsilon/mu - mu/2),
//
// where mu = sqrt(rounds)/sigma and Phi is the standard normal distribution
// function. The computation is carried out in log space, so it neither
// overflows for large epsilon nor loses the tails of Phi. Epsilon must be
// non-negative and finite.
func GaussianDelta(sigma float64, rounds int, epsilon float64) (float64, error) {
	if err := checkSigma(sigma); err != nil {
		return 0, err
	}
	if err := checkRounds(rounds); err != nil {
		return 0, err
	}
	if !(epsilon >= 0) || math.IsInf(epsilon, 1) {
		return 0, errorf("epsilon must be non-negative and finite, got %v", epsilon)
	}
	return math.Exp(logGaussianDelta(epsilon, gaussianMu(sigma, rounds))), nil
}

// ZCDPEpsilon returns the smallest epsilon for which composing rounds
// Gaussian mechanisms with L2 sensitivity 1 and noise multiplier sigma is
// (epsilon, delta)-differentially private.
//
// The composition is rho-zCDP with rho = rounds/(2*sigma^2), but because it
// is exactly one Gaussian mechanism with noise multiplier
// sigma/sqrt(rounds), ZCDPEpsilon does not go through a generic zCDP
// conversion: it inverts the exact privacy profile of the Gaussian mechanism
// (see [GaussianDelta]) by bisection. The result is never smaller than the
// true value and exceeds it by at most about 1e-12 relative. It is at most
// [ZCDPToEpsilon](rho, delta), which is at most [ZCDPLooseEpsilon](rho,
// delta).
func ZCDPEpsilon(sigma float64, rounds int, delta float64) (float64, error) {
	if err := checkSigma(sigma); err != nil {
		return 0, err
	}
	if err := checkRounds(rounds); err != nil {
		return 0, err
	}
	if err := checkDelta(delta); err != nil {
		return 0, err
	}
	return gaussianEpsilon(gaussianMu(sigma, rounds), delta), nil
}

// ZCDPLooseEpsilon returns rho + 2*sqrt(rho*ln(1/delta)), the classical
// conversion of Bun and Steinke (TCC 2016, Proposition 1.3) from rho-zCDP to
// (epsilon, delta)-differential privacy. It is valid for every rho-zCDP
// mechanism but looser than [ZCDPToEpsilon]. Rho must be non-negative and
// finite.
func ZCDPLooseEpsilon(rho, delta float64) (float64, error) {
	if err := checkRho(rho); err != nil {
		return 0, err
	}
	if err := checkDelta(delta); err != nil {
		return 0, err
	}
	return rho + 2*math.Sqrt(rho*math.Log(1/delta)), nil
}

// ZCDPToEpsilon converts rho-zCDP to (epsilon, delta)-differential privacy
// with the improved conversion of Canonne, Kamath and Steinke (NeurIPS 2020;
// arXiv:2004.00010, Corollary 13 in v4):
//
//	epsilon = inf over alpha > 1 of rho*alpha + (ln(1/delta) + (alpha-1)*ln(1-1/alpha) - ln(alpha)) / (alpha-1).
//
// The infimum is found numerically; because the expression is a valid bound
// at every alpha, the returned value is always a valid epsilon, and it is
// clamped at 0. It is valid for every rho-zCDP mechanism. For the Gaussian
// mechanism itself [ZCDPEpsilon] is tighter. Rho must be non-negative and
// finite.
func ZCDPToEpsilon(rho, delta float64) (float64, error) {
	if err := checkRho(rho); err != nil {
		return 0, err
	}
	if err := checkDelta(delta); err != nil {
		return 0, err
	}
	logInvDelta := -math.Log(delta)
	// Parametrise alpha = 1 + exp(t) so that the search covers alpha from
	// just above 1 to astronomically large values uniformly.
	f := func(t float64) float64 {
		am1 := math.Exp(t)
		alpha := 1 + am1
		return rho*alpha + (logInvDelta-math.Log(alpha))/am1 + math.Log1p(-1/alpha)
	}
	const (
		tMin  = -20.0
		tMax  = 60.0
		steps = 320
	)
	h := (tMax - tMin) / steps
	bestT, bestF := tMin, f(tMin)
	for k := 1; k <= steps; k++ {
		t := tMin + float64(k)*h
		if v := f(t); v < bestF {
			bestT, bestF = t, v
		}
	}
	// Refine with a golden-section search on the bracketing grid cells.
	a, b := math.Max(tMin, bestT-h), math.Min(tMax, bestT+h)
	invPhi := (math.Sqrt(5) - 1) / 2
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	fc, fd := f(c), f(d)
	for range 100 {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - invPhi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + invPhi*(b-a)
			fd = f(d)
		}
	}
	bestF = math.Min(bestF, math.Min(fc, fd))
	return math.Max(0, bestF), nil
}

// gaussianMu returns the privacy parameter mu = sqrt(rounds)/sigma of the
// composition of rounds Gaussian mechanisms, that is, the sensitivity over
// the noise standard deviation of the equivalent single mechanism.
func gaussianMu(sigma float64, rounds int) float64 {
	return math.Sqrt(float64(rounds)) / sigma
}

// logGaussianDelta returns the logarithm of the exact delta(epsilon) of a
// Gaussian mechanism with sensitivity-to-noise ratio mu (Balle and Wang
// 2018, Theorem 8). It returns -Inf when delta underflows to zero.
func logGaussianDelta(eps, mu float64) float64 {
	a := logNormCDF(-eps/mu + mu/2)
	b := eps + logNormCDF(-eps/mu-mu/2)
	if !(b < a) {
		return math.Inf(-1)
	}
	// delta = exp(a) - exp(b) = exp(a) * (1 - exp(b-a)).
	return a + math.Log(-math.Expm1(b-a))
}

// gaussianEpsilon inverts logGaussianDelta: it returns the smallest epsilon
// >= 0 with delta(epsilon) <= delta, up to a relative bracketing error of
// about 1e-12, always erring upwards.
func gaussianEpsilon(mu, delta float64) float64 {
	logDelta := math.Log(delta)
	if logGaussianDelta(0, mu) <= logDelta {
		return 0
	}
	// Any rho-zCDP bound is valid for the Gaussian, which is mu^2/2-zCDP, so
	// the Bun-Steinke conversion gives an upper bracket.
	hi := mu*mu/2 + mu*math.Sqrt(2*math.Log(1/delta))
	for logGaussianDelta(hi, mu) > logDelta {
		// Defensive: only reachable through rounding.
		hi = 2*hi + 1e-300
		if math.IsInf(hi, 1) {
			return hi
		}
	}
	lo := 0.0
	for range 400 {
		if hi-lo <= 1e-12*hi {
			break
		}
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if logGaussianDelta(mid, mu) <= logDelta {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// logNormCDF returns log(Phi(x)) for the standard normal distribution
// function Phi, accurate to near machine precision for all x, including
// the far left tail where Phi(x) underflows.
func logNormCDF(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return math.NaN()
	case x > 0:
		// Phi(x) = 1 - Phi(-x); Phi(-x) <= 1/2 is computed without
		// cancellation by erfc.
		return math.Log1p(-0.5 * math.Erfc(x/math.Sqrt2))
	case x > -30:
		// erfc(|x|/sqrt 2) >= 1e-197 here, well inside the normal range.
		return math.Log(0.5 * math.Erfc(-x/math.Sqrt2))
	case math.IsInf(x, -1):
		return math.Inf(-1)
	}
	// Asymptotic expansion (Abramowitz and Stegun 26.2.12):
	// Phi(x) = phi(x)/t * (1 - 1/t^2 + 3/t^4 - 15/t^6 + ...), t = -x.
	// For t >= 30 the first omitted term is below 1e-19.
	t := -x
	t2 := t * t
	sum, term := 1.0, 1.0
	for k := 1; k <= 8; k++ {
		term *= -float64(2*k-1) / t2
		sum += term
	}
	return -t2/2 - math.Log(t) - 0.5*math.Log(2*math.Pi) + math.Log(sum)
}

// logHalfErfc returns log(erfc(x)/2), which equals log(Phi(-sqrt(2)*x)).
func logHalfErfc(x float64) float64 {
	return logNormCDF(-math.Sqrt2 * x)
}
