package accountant

import (
	"fmt"
	"math"
	"math/bits"

	"gonum.org/v1/gonum/dsp/fourier"
)

// PLDOptions tunes [PLDEpsilon]. The zero value selects the defaults.
type PLDOptions struct {
	// Interval is the discretisation interval h of the privacy loss. The
	// mass of each cell between two multiples of h is split between its
	// two ends so that both distributions of the pair keep their mass
	// ("connect the dots"); the result dominates the true pair, so the
	// returned epsilon is an upper bound. Its error is at most T*h, and in
	// practice about T*h^2. Zero means automatic: a power of 2 near
	// sqrt(DefaultPLDRelativeError*epsilon/T), and at most a tenth of the
	// standard deviation of the one-round loss, in [2^-20, 2^-5], with
	// epsilon first taken from the RDP accountant and then, if that gives a
	// finer grid, from a first PLD pass.
	Interval float64

	// TailMass bounds the probability mass left out on each side: the
	// one-round distribution is cut where each tail has mass below
	// TailMass/T (the upper tail is moved to +Inf and counted in delta in
	// full, the lower tail is moved up to the lowest loss kept), and the
	// composed distribution is computed on a grid outside which Chernoff
	// bounds leave mass at most TailMass on each side, which is added to
	// delta. Zero means 1e-3*delta, which changes epsilon by far less than
	// the discretisation does.
	TailMass float64
}

// DefaultPLDRelativeError is the relative discretisation error that the
// default [PLDOptions.Interval] aims at (see there); measured errors are
// 0.1% to 1% of epsilon.
const DefaultPLDRelativeError = 0.003

// maxPLDBins bounds the length of a discretised privacy loss distribution,
// so that a too fine interval fails instead of exhausting memory.
const maxPLDBins = 1 << 25

// methodPLD names the PLD accountant in Result.Accountant.
const methodPLD = "pld-sampled-gaussian (pessimistic discretisation, FFT composition; Koskela et al. 2020, Doroshenko et al. 2022)"

// PLDEpsilon returns an upper bound on the epsilon of p.Rounds rounds of the
// Poisson-subsampled Gaussian mechanism with sampling rate p.SampleRate (0
// means 1) and noise multiplier p.NoiseMultiplier at p.Delta, under
// add/remove-one adjacency, computed with the privacy loss distribution
// (PLD).
//
// For each order of the neighbouring pair, removal (the mixture
// (1-q)N(0,sigma^2)+qN(1,sigma^2) against N(0,sigma^2)) and addition (the
// reverse), the privacy loss of one round is discretised pessimistically on
// the grid of multiples of opt.Interval: every loss is rounded up, and the
// mass beyond the truncation bounds is put at +Inf. The T-fold composition
// is computed by repeated squaring with FFT convolutions, and epsilon is the
// smallest value at which the hockey-stick divergence of the composed
// distribution is at most delta. The result is the larger of the two
// orders' epsilons. Because losses are only ever rounded up and truncated
// mass is only moved to larger losses, the result is a certified upper bound
// on the true epsilon up to floating-point rounding, and it exceeds the
// true epsilon by at most Rounds*Interval (plus the negligible truncation
// error governed by opt.TailMass).
//
// p.Orders and p.Accountant are ignored. Result.Order is 0.
func PLDEpsilon(p Params, opt PLDOptions) (Result, error) {
	if err := checkParams(p); err != nil {
		return Result{}, err
	}
	q := p.SampleRate
	if q == 0 {
		q = 1
	}
	h := opt.Interval
	auto := h == 0
	if auto {
		r, err := rdpEpsilon(p)
		if err != nil {
			return Result{}, err
		}
		h = autoInterval(r.Epsilon, p.Rounds, q, p.NoiseMultiplier)
	}
	if !(h > 0) || math.IsInf(h, 1) {
		return Result{}, errorf("PLD interval must be positive and finite, got %v", opt.Interval)
	}
	tail := opt.TailMass
	if tail == 0 {
		tail = 1e-3 * p.Delta
	}
	if !(tail > 0 && tail < 1e-3) {
		return Result{}, errorf("PLD tail mass must be in (0, 1e-3), got %v", opt.TailMass)
	}
	eps, err := pldEpsilon(q, p.NoiseMultiplier, h, tail, p.Rounds, p.Delta)
	if err != nil {
		return Result{}, err
	}
	// The interval chosen from the RDP epsilon can be too coarse when the
	// RDP bound is loose (few rounds, small q); refine it once from the
	// PLD epsilon itself.
	if h1 := autoInterval(eps, p.Rounds, q, p.NoiseMultiplier); auto && h1 < h {
		h = h1
		if eps, err = pldEpsilon(q, p.NoiseMultiplier, h, tail, p.Rounds, p.Delta); err != nil {
			return Result{}, err
		}
	}
	return Result{
		Epsilon:         eps,
		Delta:           p.Delta,
		NoiseMultiplier: p.NoiseMultiplier,
		Rounds:          p.Rounds,
		SampleRate:      q,
		Accountant:      fmt.Sprintf("%s, interval %.3g", methodPLD, h),
	}, nil
}

// autoInterval returns the default interval for a run of t rounds with
// sampling rate q and noise multiplier sigma whose epsilon is about eps:
// the power of 2 nearest below the smaller of
// sqrt(DefaultPLDRelativeError*eps/t) and s/10, where
// s = q*sqrt(exp(1/sigma^2)-1) is about the standard deviation of the
// one-round privacy loss, clamped to [2^-20, 2^-5]. The connect-the-dots
// discretisation overstates the composed loss by about t*h^2 and its
// variance by about t*h^2/4; the two bounds keep both effects near
// DefaultPLDRelativeError*eps. Powers of 2 make nearby runs use the same
// grid.
func autoInterval(eps float64, t int, q, sigma float64) float64 {
	h := math.Sqrt(DefaultPLDRelativeError * eps / float64(t))
	h = math.Min(h, 0.1*q*math.Sqrt(math.Expm1(1/(sigma*sigma))))
	h = math.Exp2(math.Floor(math.Log2(h)))
	return math.Min(math.Exp2(-5), math.Max(math.Exp2(-20), h))
}

// pldEpsilon returns the larger of the PLD epsilons of removal and
// addition.
func pldEpsilon(q, sigma, h, tail float64, rounds int, delta float64) (float64, error) {
	eps := 0.0
	for _, remove := range []bool{true, false} {
		one, err := discretiseSampledGaussian(q, sigma, h, tail/float64(rounds), remove)
		if err != nil {
			return 0, err
		}
		comp, err := one.compose(rounds, tail)
		if err != nil {
			return 0, err
		}
		eps = math.Max(eps, comp.epsilon(delta))
	}
	return eps, nil
}

// pld is a discretised privacy loss distribution: mass pmf[i] at loss
// (offset+i)*h, and mass inf at +Inf. The masses sum to at most 1.
type pld struct {
	h      float64
	offset int
	pmf    []float64
	inf    float64
}

// lossDist is the distribution of the privacy loss of one round of the
// sampled Gaussian mechanism in one order of the neighbouring pair.
type lossDist struct {
	q, sigma float64
	remove   bool
}

// threshold returns the x at which the privacy loss equals l: for removal
// the loss log(1-q+q*exp((2x-1)/(2 sigma^2))) is increasing in x, for
// addition its negative is decreasing. ok is false when no x attains l:
// then l is below every loss (removal) or above every loss (addition).
func (d lossDist) threshold(l float64) (x float64, ok bool) {
	if !d.remove {
		l = -l
	}
	// exp(l) - (1-q) = expm1(l) + q must be positive.
	v := math.Expm1(l)/d.q + 1
	if !(v > 0) {
		return 0, false
	}
	return d.sigma*d.sigma*math.Log(v) + 0.5, true
}

// cdf returns P(L <= l) and P(L > l), each computed without cancellation.
func (d lossDist) cdf(l float64) (lo, hi float64) {
	x, ok := d.threshold(l)
	if !ok {
		if d.remove {
			return 0, 1
		}
		return 1, 0
	}
	s := d.sigma
	if d.remove {
		// X ~ (1-q)N(0,s^2) + qN(1,s^2); L <= l iff X <= x.
		lo = (1-d.q)*normCDF(x/s) + d.q*normCDF((x-1)/s)
		hi = (1-d.q)*normCDF(-x/s) + d.q*normCDF((1-x)/s)
		return lo, hi
	}
	// X ~ N(0,s^2); L <= l iff X >= x.
	return normCDF(-x / s), normCDF(x / s)
}

// normCDF returns Phi(z), accurate in both tails.
func normCDF(z float64) float64 {
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// discretiseSampledGaussian returns the pessimistic discretisation of the
// privacy loss distribution of one round on the grid of multiples of h,
// truncated to the losses between the tail-mass quantiles.
func discretiseSampledGaussian(q, sigma, h, tail float64, remove bool) (*pld, error) {
	d := lossDist{q: q, sigma: sigma, remove: remove}
	// Find losses lo and hi with P(L <= lo) <= tail and P(L > hi) <= tail
	// by doubling from 0.
	lo, hi := -1.0, 1.0
	for {
		if c, _ := d.cdf(lo); c <= tail {
			break
		}
		lo *= 2
		if lo < -1e6 {
			return nil, errorf("PLD: privacy loss has no lower truncation bound (sigma %v, q %v)", sigma, q)
		}
	}
	for {
		if _, s := d.cdf(hi); s <= tail {
			break
		}
		hi *= 2
		if hi > 1e6 {
			return nil, errorf("PLD: privacy loss has no upper truncation bound (sigma %v, q %v)", sigma, q)
		}
	}
	// Tighten both by bisection: lo is the largest loss found with
	// P(L <= lo) <= tail, hi the smallest with P(L > hi) <= tail.
	a, b := lo, hi
	for range 60 {
		if m := a + (b-a)/2; func() bool { c, _ := d.cdf(m); return c <= tail }() {
			a = m
		} else {
			b = m
		}
	}
	a, b, lo = lo, hi, a
	for range 60 {
		if m := a + (b-a)/2; func() bool { _, s := d.cdf(m); return s <= tail }() {
			b = m
		} else {
			a = m
		}
	}
	hi = b
	iLo := int(math.Floor(lo / h))
	iHi := int(math.Ceil(hi / h))
	if n := iHi - iLo + 1; n > maxPLDBins || n < 2 {
		return nil, errorf("PLD: interval %v needs %d bins for one round, more than %d; use a larger interval", h, n, maxPLDBins)
	}
	p := &pld{h: h, offset: iLo, pmf: make([]float64, iHi-iLo+1)}
	// The first measure is the one under which the loss is distributed
	// (the mixture for removal, N(0, sigma^2) for addition), the second
	// the other one. For removal L <= l iff X <= x(l); for addition
	// L <= l iff X >= x(l).
	mix := mixture{q: q, sigma: sigma}
	nrm := mixture{q: 0, sigma: sigma}
	first, second := mix, nrm
	if !remove {
		first, second = nrm, mix
	}
	x := func(l float64) float64 {
		if t, ok := d.threshold(l); ok {
			return t
		}
		return math.Inf(-1)
	}
	// Bin iLo gets all mass with L <= iLo*h (losses rounded up); +Inf gets
	// the mass with L > iHi*h.
	xPrev := x(float64(iLo) * h)
	if remove {
		p.pmf[0] = first.between(math.Inf(-1), xPrev)
	} else {
		p.pmf[0] = first.between(xPrev, math.Inf(1))
	}
	for i := iLo + 1; i <= iHi; i++ {
		xi := x(float64(i) * h)
		// The mass with (i-1)*h < L <= i*h is split between bins i-1 and
		// i so that both measures keep their mass (connect the dots): the
		// cell is a post-processing of the two new outcomes, so the new
		// pair dominates the old one. With mP and mQ the masses of the
		// cell under the first and second measure, mQ/mP is in
		// [exp(-i*h), exp(-(i-1)*h)]; the upper bin gets
		// b = (mP - mQ*exp((i-1)*h)) / (1 - exp(-h)).
		u, v := xPrev, xi
		if !remove {
			u, v = xi, xPrev
		}
		mP, mQ := first.between(u, v), second.between(u, v)
		b := 0.0
		if mP > 0 {
			b = (mP - mQ*math.Exp(float64(i-1)*h)) / -math.Expm1(-h)
			b = math.Min(mP, math.Max(0, b))
		}
		p.pmf[i-1-iLo] += mP - b
		p.pmf[i-iLo] += b
		xPrev = xi
	}
	if remove {
		p.inf = first.between(xPrev, math.Inf(1))
	} else {
		p.inf = first.between(math.Inf(-1), xPrev)
	}
	return p, nil
}

// mixture is the distribution (1-q)N(0, sigma^2) + qN(1, sigma^2); q = 0
// is N(0, sigma^2).
type mixture struct{ q, sigma float64 }

// between returns the mass of (u, v], computed as a difference of the
// distribution function below the median region and of the survival
// function above it, so that small masses keep their relative precision.
func (m mixture) between(u, v float64) float64 {
	if !(v > u) {
		return 0
	}
	s := m.sigma
	cdf := func(x float64) float64 { return (1-m.q)*normCDF(x/s) + m.q*normCDF((x-1)/s) }
	sf := func(x float64) float64 { return (1-m.q)*normCDF(-x/s) + m.q*normCDF((1-x)/s) }
	c := m.q / 2
	if u >= c {
		return math.Max(0, sf(u)-sf(v))
	}
	return math.Max(0, cdf(v)-cdf(u))
}

// compose returns the t-fold composition of p, computed by one FFT of the
// one-round distribution on a circular grid, t-th powers of its
// coefficients and one inverse FFT. The grid [A, B] is chosen by Chernoff
// bounds on the composed sub-distribution, sum_i pmf[i] exp(lambda*l_i) to
// the power t times exp(-lambda*B), so that the mass outside it is at most
// tail on each side. Mass outside the grid wraps around (aliasing) and only
// adds non-negative terms to the hockey-stick divergence; the mass beyond
// the grid itself, which the circular result misses, is bounded by the
// Chernoff bounds and added to the mass at +Inf, so the result stays
// pessimistic.
func (p *pld) compose(t int, tail float64) (*pld, error) {
	if t == 1 {
		return p, nil
	}
	ft := float64(t)
	logTail := math.Log(tail)
	// logMGF returns log sum_i pmf[i] exp(lam*l_i).
	logMGF := func(lam float64) float64 {
		m := math.Inf(-1)
		for i, v := range p.pmf {
			if v > 0 {
				m = math.Max(m, math.Log(v)+lam*float64(p.offset+i)*p.h)
			}
		}
		s := 0.0
		for i, v := range p.pmf {
			if v > 0 {
				s += math.Exp(math.Log(v) + lam*float64(p.offset+i)*p.h - m)
			}
		}
		return m + math.Log(s)
	}
	hiLoss := math.Inf(1)
	loLoss := math.Inf(-1)
	for lam := 1e-3; lam <= 1e4; lam *= 1.25 {
		hiLoss = math.Min(hiLoss, (ft*logMGF(lam)-logTail)/lam)
		loLoss = math.Max(loLoss, -(ft*logMGF(-lam)-logTail)/lam)
	}
	// The composed losses also lie within t times the one-round range.
	hiLoss = math.Min(hiLoss, ft*float64(p.offset+len(p.pmf)-1)*p.h)
	loLoss = math.Max(loLoss, ft*float64(p.offset)*p.h)
	jA := int(math.Floor(loLoss / p.h))
	jB := int(math.Ceil(hiLoss / p.h))
	if jB-jA+1 > maxPLDBins || jB < jA {
		return nil, errorf("PLD: composition needs %d bins, more than %d; use a larger interval", jB-jA+1, maxPLDBins)
	}
	n := fftSize(jB - jA + 1)
	a := make([]float64, n)
	for i, v := range p.pmf {
		a[i%n] += v
	}
	fft := fourier.NewFFT(n)
	c := fft.Coefficients(nil, a)
	for k, z := range c {
		c[k] = cpow(z, t)
	}
	out := fft.Sequence(a, c)
	// Position k of out holds the composed loss indices j with
	// j - t*offset = k (mod n); unwrap into [jA, jA+n).
	r := &pld{h: p.h, offset: jA, pmf: make([]float64, n)}
	base := t * p.offset
	scale := 1 / float64(n)
	for k, v := range out {
		j := base + k
		j = jA + ((j-jA)%n+n)%n
		// Rounding in the FFT leaves values of order 1e-16 where the
		// true mass is smaller, possibly negative.
		r.pmf[j-jA] = math.Max(0, v*scale)
	}
	// Mass at +Inf of t rounds, plus the Chernoff bounds on the mass
	// beyond both ends of the grid.
	r.inf = -math.Expm1(ft*math.Log1p(-p.inf)) + 2*tail
	return r, nil
}

// cpow returns z^t by repeated squaring.
func cpow(z complex128, t int) complex128 {
	r := complex(1, 0)
	for ; t > 0; t >>= 1 {
		if t&1 == 1 {
			r *= z
		}
		z *= z
	}
	return r
}

// fftSize returns the smallest power of 2 >= n.
func fftSize(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// delta returns the hockey-stick divergence of p at epsilon:
// inf + sum_i pmf[i]*max(0, 1-exp(eps-l_i)).
func (p *pld) delta(eps float64) float64 {
	d := p.inf
	for i := len(p.pmf) - 1; i >= 0; i-- {
		l := float64(p.offset+i) * p.h
		if l <= eps {
			break
		}
		d += p.pmf[i] * -math.Expm1(eps-l)
	}
	return d
}

// epsilon returns the smallest epsilon >= 0 at which the hockey-stick
// divergence of p is at most delta, or +Inf when the mass at +Inf exceeds
// delta.
func (p *pld) epsilon(delta float64) float64 {
	if p.inf > delta {
		return math.Inf(1)
	}
	// On the cell [l_{k-1}, l_k] the divergence is
	// inf + A_k - exp(eps - l_{k-1}) C_k with A_k = sum_{i>=k} pmf[i] and
	// C_k = sum_{i>=k} pmf[i] exp(l_{k-1} - l_i), both accumulated from
	// the top without overflow.
	eh := math.Exp(-p.h)
	a, c := 0.0, 0.0
	for k := len(p.pmf) - 1; k >= 0; k-- {
		a += p.pmf[k]
		c = eh * (c + p.pmf[k])
		lPrev := float64(p.offset+k-1) * p.h
		if p.inf+a-c > delta || k == 0 {
			// The divergence at l_{k-1} exceeds delta (or k is the
			// lowest bin, below which the formula continues to hold):
			// solve within the cell.
			if p.inf+a <= delta {
				return 0
			}
			if c <= 0 {
				return math.Max(0, lPrev+p.h)
			}
			eps := lPrev + math.Log((p.inf+a-delta)/c)
			return math.Max(0, math.Min(eps, lPrev+p.h))
		}
	}
	return 0
}
