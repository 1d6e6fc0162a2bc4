package accountant

import (
	"errors"
	"fmt"
	"math"
)

// Params describes a user-level training run with the Gaussian mechanism.
type Params struct {
	// NoiseMultiplier is the standard deviation of the Gaussian noise in
	// units of the per-user L2 clipping norm. It must be positive and
	// finite.
	NoiseMultiplier float64

	// SampleRate is the probability with which each user independently
	// participates in each round (Poisson sampling). It must be in [0, 1].
	// The zero value, like 1, means that every user participates in every
	// round; the exact Gaussian accountant is then used.
	SampleRate float64

	// Rounds is the number of rounds (noisy aggregations). It must be at
	// least 1.
	Rounds int

	// Delta is the target delta. It must be in (0, 1).
	Delta float64

	// Orders are the Renyi orders over which the RDP accountant optimises
	// when SampleRate is in (0, 1). Nil or empty means [DefaultOrders]().
	// Orders are ignored without sampling and by the PLD accountant.
	Orders []float64

	// Accountant selects the accountant used with sampling: "pld" (or
	// empty, the default) for the privacy loss distribution accountant
	// [PLDEpsilon], "rdp" for the Renyi-DP accountant. See [Epsilon].
	Accountant string
}

// Result is a privacy guarantee computed by [Epsilon]: the training run is
// (Epsilon, Delta)-differentially private with respect to adding or
// removing one user.
type Result struct {
	// Epsilon is the privacy loss bound.
	Epsilon float64

	// Delta is the target delta that Epsilon was computed for.
	Delta float64

	// NoiseMultiplier is the noise multiplier of the run.
	NoiseMultiplier float64

	// Rounds is the number of rounds of the run.
	Rounds int

	// SampleRate is the effective sampling rate: 1 when the run does not
	// use sampling, even if Params.SampleRate was 0.
	SampleRate float64

	// Order is the Renyi order at which the RDP accountant attained
	// Epsilon, or 0 when the exact Gaussian accountant was used.
	Order float64

	// Accountant names the method that produced Epsilon, with references,
	// for inclusion in reports.
	Accountant string

	// Warning is empty unless the bound may be needlessly loose; the RDP
	// accountant sets it when the best order is at the edge of the order
	// grid.
	Warning string
}

// Accountant names reported in Result.Accountant.
const (
	methodGaussianExact = "gaussian-exact (Balle-Wang 2018)"
	methodRDPSampled    = "rdp-sampled-gaussian (Mironov-Talwar-Zhang 2019), conversion Balle et al. 2020"
)

// Accountant names accepted by Params.Accountant.
const (
	// AccountantPLD selects the privacy loss distribution accountant
	// ([PLDEpsilon]); it is the default.
	AccountantPLD = "pld"
	// AccountantRDP selects the Renyi-DP accountant ([RDPSampledGaussian]
	// and [RDPToEpsilon]).
	AccountantRDP = "rdp"
)

// Accountants returns the accepted values of Params.Accountant, default
// first.
func Accountants() []string { return []string{AccountantPLD, AccountantRDP} }

// CheckAccountant returns an error unless name is "" or one of
// [Accountants].
func CheckAccountant(name string) error {
	switch name {
	case "", AccountantPLD, AccountantRDP:
		return nil
	}
	return errorf("unknown accountant %q (want %s or %s)", name, AccountantPLD, AccountantRDP)
}

// Epsilon returns the (epsilon, delta) guarantee of the training run
// described by p.
//
// Without sampling (SampleRate 0 or 1) it returns the exact epsilon of the
// composed Gaussian mechanism (see [ZCDPEpsilon]), whatever p.Accountant
// says. With sampling it uses the accountant named by p.Accountant: the
// privacy loss distribution accountant [PLDEpsilon] with default options
// ("pld" or "", the default), or the Renyi-DP accountant ("rdp"), which
// composes [RDPSampledGaussian] over p.Rounds at every order and converts
// with [RDPToEpsilon]. Because ignoring the sampling is also valid, with
// sampling it returns the smaller of that bound and the exact bound without
// sampling; the latter only wins when the sampling rate is close to 1.
// Result.Accountant records which method was used; Result.Warning is set
// when the RDP optimum lies at the edge of the order grid.
func Epsilon(p Params) (Result, error) {
	if err := checkParams(p); err != nil {
		return Result{}, err
	}
	exact := gaussianEpsilon(gaussianMu(p.NoiseMultiplier, p.Rounds), p.Delta)
	res := Result{
		Epsilon:         exact,
		Delta:           p.Delta,
		NoiseMultiplier: p.NoiseMultiplier,
		Rounds:          p.Rounds,
		SampleRate:      1,
		Accountant:      methodGaussianExact,
	}
	if p.SampleRate == 0 || p.SampleRate == 1 {
		return res, nil
	}
	var (
		sub Result
		err error
	)
	if p.Accountant == AccountantRDP {
		sub, err = rdpEpsilon(p)
	} else {
		sub, err = PLDEpsilon(p, PLDOptions{})
	}
	if err != nil {
		return Result{}, err
	}
	if sub.Epsilon <= exact {
		return sub, nil
	}
	res.SampleRate = p.SampleRate
	res.Accountant = methodGaussianExact + ", sampling ignored (tighter than " + p.accountantName() + " here)"
	return res, nil
}

// accountantName returns the accountant p selects.
func (p Params) accountantName() string {
	if p.Accountant == "" {
		return AccountantPLD
	}
	return p.Accountant
}

// checkParams validates p for Epsilon and PLDEpsilon.
func checkParams(p Params) error {
	if err := checkSigma(p.NoiseMultiplier); err != nil {
		return err
	}
	if err := checkRounds(p.Rounds); err != nil {
		return err
	}
	if err := checkDelta(p.Delta); err != nil {
		return err
	}
	if p.SampleRate != 0 {
		if err := checkSampleRate(p.SampleRate); err != nil {
			return err
		}
	}
	return CheckAccountant(p.Accountant)
}

// rdpEpsilon returns the RDP bound for p (sampling rate in (0, 1]; 0 means
// 1), with a warning when the best order is at the edge of the grid.
func rdpEpsilon(p Params) (Result, error) {
	q := p.SampleRate
	if q == 0 {
		q = 1
	}
	orders := p.Orders
	if len(orders) == 0 {
		orders = DefaultOrders()
	}
	rdp := make([]float64, len(orders))
	for k, a := range orders {
		r, err := RDPSampledGaussian(q, p.NoiseMultiplier, a)
		if err != nil {
			return Result{}, err
		}
		rdp[k] = float64(p.Rounds) * r
	}
	eps, order, err := RDPToEpsilon(orders, rdp, p.Delta)
	if err != nil {
		return Result{}, err
	}
	res := Result{
		Epsilon:         eps,
		Delta:           p.Delta,
		NoiseMultiplier: p.NoiseMultiplier,
		Rounds:          p.Rounds,
		SampleRate:      q,
		Order:           order,
		Accountant:      fmt.Sprintf("%s, order %g", methodRDPSampled, order),
	}
	lo, hi := orders[0], orders[0]
	for _, a := range orders {
		lo, hi = math.Min(lo, a), math.Max(hi, a)
	}
	if eps > 0 && (order == lo || order == hi) {
		res.Warning = fmt.Sprintf("accountant: best Renyi order %g is at the edge of the order grid [%g, %g]; the RDP epsilon may be loose", order, lo, hi)
	}
	return res, nil
}

// NoiseMultiplier returns the smallest noise multiplier for which rounds
// rounds of the Gaussian mechanism, with users sampled at rate sampleRate,
// are (epsilon, delta)-differentially private according to [Epsilon] with
// the default accountant and options. Use sampleRate 1 for no sampling. See
// [NoiseMultiplierFor].
func NoiseMultiplier(epsilon, delta float64, rounds int, sampleRate float64) (float64, error) {
	return NoiseMultiplierFor(epsilon, Params{Delta: delta, Rounds: rounds, SampleRate: sampleRate})
}

// NoiseMultiplierFor returns the smallest noise multiplier for which the
// run described by p (its SampleRate, which must be in (0, 1], Rounds,
// Delta, Orders and Accountant; p.NoiseMultiplier is ignored) is (epsilon,
// p.Delta)-differentially private according to [Epsilon].
//
// Epsilon is decreasing in the noise multiplier, so NoiseMultiplierFor
// brackets the solution and bisects to a relative precision of 1e-6 (1e-4
// with the PLD accountant, whose evaluations are slower and whose epsilon
// is only accurate to about 0.3%). It
// returns the upper end of the final bracket, so the returned noise
// multiplier always meets the target: Epsilon reports at most epsilon for
// it.
func NoiseMultiplierFor(epsilon float64, p Params) (float64, error) {
	delta, rounds, sampleRate := p.Delta, p.Rounds, p.SampleRate
	if !(epsilon > 0) || math.IsInf(epsilon, 1) {
		return 0, errorf("epsilon must be positive and finite, got %v", epsilon)
	}
	if err := checkDelta(delta); err != nil {
		return 0, err
	}
	if err := checkRounds(rounds); err != nil {
		return 0, err
	}
	if err := checkSampleRate(sampleRate); err != nil {
		return 0, err
	}
	if err := CheckAccountant(p.Accountant); err != nil {
		return 0, err
	}
	// meets reports whether noise multiplier sigma achieves the target.
	meets := func(sigma float64) (bool, error) {
		p.NoiseMultiplier = sigma
		r, err := Epsilon(p)
		if err != nil {
			return false, err
		}
		return r.Epsilon <= epsilon, nil
	}
	const (
		sigmaMin = 1e-6
		sigmaMax = 1e12
	)
	lo, hi := 1.0, 1.0
	if sampleRate < 1 && p.accountantName() == AccountantPLD {
		// Start from the RDP calibration, which is cheap and usually
		// within 20% of the PLD one.
		rp := p
		rp.Accountant = AccountantRDP
		if s, err := NoiseMultiplierFor(epsilon, rp); err == nil {
			lo, hi = s, s
		}
	}
	ok, err := meets(hi)
	if err != nil {
		return 0, err
	}
	if ok {
		// Shrink until the target is missed.
		for {
			lo = hi * 0.8
			if lo < sigmaMin {
				return 0, errorf("epsilon %v is reachable with noise multiplier below %v; no meaningful minimum", epsilon, sigmaMin)
			}
			if ok, err = meets(lo); err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			hi = lo
		}
	} else {
		// Grow until the target is met.
		for !ok {
			lo = hi
			hi *= 2
			if hi > sigmaMax {
				return 0, errorf("epsilon %v with delta %v is not reachable with noise multiplier up to %v", epsilon, delta, sigmaMax)
			}
			if ok, err = meets(hi); err != nil {
				return 0, err
			}
		}
	}
	// Invariant: lo misses the target, hi meets it.
	tol := 1e-6
	if sampleRate < 1 && p.accountantName() == AccountantPLD {
		tol = 1e-4
	}
	for hi-lo > tol*hi {
		mid := lo + (hi-lo)/2
		if ok, err = meets(mid); err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// errorf returns an error whose message starts with "accountant: ".
func errorf(format string, args ...any) error {
	return errors.New("accountant: " + fmt.Sprintf(format, args...))
}

func checkSigma(sigma float64) error {
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		return errorf("noise multiplier sigma must be positive and finite, got %v", sigma)
	}
	return nil
}

func checkRounds(rounds int) error {
	if rounds < 1 {
		return errorf("rounds must be at least 1, got %d", rounds)
	}
	return nil
}

func checkDelta(delta float64) error {
	if !(delta > 0 && delta < 1) {
		return errorf("delta must be in (0, 1), got %v", delta)
	}
	return nil
}

func checkSampleRate(q float64) error {
	if !(q > 0 && q <= 1) {
		return errorf("sample rate must be in (0, 1], got %v", q)
	}
	return nil
}

func checkOrder(alpha float64) error {
	if !(alpha > 1) || math.IsInf(alpha, 1) {
		return errorf("order alpha must be finite and greater than 1, got %v", alpha)
	}
	return nil
}

func checkRho(rho float64) error {
	if !(rho >= 0) || math.IsInf(rho, 1) {
		return errorf("rho must be non-negative and finite, got %v", rho)
	}
	return nil
}
