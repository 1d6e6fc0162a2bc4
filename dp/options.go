package dp

import (
	"errors"
	"fmt"
	"math"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/internal/fit"
)

// Init selects how the private trainer initialises U.
type Init int

const (
	// InitPrivate takes the top-r eigenvectors of a noisy sum of the users'
	// unit outer products v v^T, v = X_i^T y_i / ||X_i^T y_i||. It is one
	// accounted Gaussian release (see the package documentation). It is the
	// default: from a random U the clipped gradient steps need many more
	// rounds (and so more noise per round) to find the subspace.
	InitPrivate Init = iota
	// InitRandom draws U at random from Options.Seed. It reads no user data
	// and costs no privacy.
	InitRandom
)

// String returns the name used by the command line and the ledger.
func (i Init) String() string {
	switch i {
	case InitRandom:
		return "random"
	case InitPrivate:
		return "private"
	}
	return fmt.Sprintf("Init(%d)", int(i))
}

// Defaults of Options fields whose zero value means "default".
const (
	DefaultRounds   = 10
	DefaultClip     = 1.0
	DefaultStepSize = 1.0
)

// Options configures private training. Rank, NoiseMultiplier (or
// Noiseless) and Delta must be set; every other zero value is documented
// and usable.
type Options struct {
	// Rank is the number r of columns of U; it must be in [1, d].
	Rank int
	// Sparsity is the number k of non-zeros of each user's b_i; 0 trains
	// the low-rank-only model theta_i = U w_i.
	Sparsity int
	// Rounds is the number of noisy U updates; 0 means DefaultRounds, at
	// most fit.MaxRounds (1e6).
	// Training always runs exactly this many rounds (stopping early would
	// depend on private data).
	Rounds int
	// Clip is the Frobenius-norm bound C on each user's contribution to a
	// round; 0 means DefaultClip. The contribution is dimensionless (see the
	// package documentation), so the default suits any data scale.
	Clip float64
	// NoiseMultiplier is the standard deviation of the Gaussian noise in
	// units of Clip (sigma). It must be positive unless Noiseless is set.
	// Use Calibrate to derive it from a target epsilon.
	NoiseMultiplier float64
	// Noiseless runs the same algorithm (sampling, clipping, gradient steps)
	// without noise and without a privacy guarantee: the epsilon = infinity
	// point of a utility curve. The model then has no ledger.
	Noiseless bool
	// SampleRate is the probability q with which each user takes part in
	// each release (Poisson sampling). 0 means 1: every user, every round.
	// Otherwise it must be in (0, 1].
	SampleRate float64
	// Accountant selects the privacy accountant used with sampling:
	// accountant.AccountantPLD (empty: the default) or
	// accountant.AccountantRDP; see accountant.Params.
	Accountant string
	// Delta is the delta of the reported guarantee; it must be in (0, 1)
	// unless Noiseless is set.
	Delta float64
	// StepSize scales the U step; 0 means DefaultStepSize.
	StepSize float64
	// Init selects the initialisation; the zero value is InitPrivate.
	Init Init
	// Noise selects the noise sampler; the zero value is NoiseDiscrete,
	// the exact discrete Gaussian on a fine grid (see the package
	// documentation). NoiseContinuous is the floating-point Gaussian, for
	// comparison. Noiseless runs ignore it.
	Noise Noise
	// Pursuit and Ridge configure the users' local fits of (w_i, b_i), as
	// in amht.PersonalizeOptions.
	Pursuit amht.Pursuit
	Ridge   float64
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// model does not depend on Workers: users are handed out in chunks of
	// fixed size, and the chunks' partial sums are added in chunk order, so
	// with fixed seeds any number of workers gives a bit-identical model
	// and statistics.
	Workers int
	// Delta is checked against the number n of users: Train refuses a
	// Delta of 1/n or more (see CheckDelta) unless AllowLargeDelta is set.
	AllowLargeDelta bool
	// Seed seeds the random initialisation (InitRandom) and nothing else.
	// It is public: the model's configuration records it. Nothing that
	// depends on private data, such as which users take part in a release,
	// is drawn from it.
	Seed uint64
	// NoiseSeed, when not 0, seeds the secret randomness, that is the
	// Gaussian noise and the sampling of users, for reproducible
	// experiments only: anyone who knows it can remove the noise and knows
	// every release's participants. Such a run is not private: its model
	// has no ledger and its configuration says why (see
	// model.Config.NotPrivate). 0 draws a fresh secret seed from
	// crypto/rand, which is never stored or published.
	NoiseSeed uint64
	// Progress, when not nil, is called after every release.
	Progress func(RoundStats)

	// noiseScale multiplies the noise actually added (1 when 0); the audit
	// test sets it below 1 to check that the audit detects broken noise.
	noiseScale float64
	// onRelease, when not nil, is called after every release with the
	// published U (d x r, row-major; valid only during the call): the
	// per-round audit's view of the billboard.
	onRelease func(u []float64)
}

// RoundStats reports one release. It holds only public quantities (derived
// from the published U and the accounting), never statistics of private
// data such as training losses, participant counts or timings.
type RoundStats struct {
	// Round is the round number, 1..Options.Rounds, or 0 for the release of
	// the private initialisation.
	Round int `json:"round"`
	// StepNorm is the Frobenius norm of the noisy step added to U before
	// re-orthonormalisation (for the initialisation: of the noisy sum).
	StepNorm float64 `json:"step_norm"`
	// Epsilon is the privacy spent by the releases so far, at
	// Options.Delta, or nil when there is no guarantee (Noiseless, or
	// NoiseSeed set).
	Epsilon *float64 `json:"epsilon"`
	// There is deliberately no wall time: the time of a release grows with
	// the number of sampled users and their samples, which are private.
}

// Releases returns the number of noisy releases a run with opt makes:
// the rounds, plus one for a private initialisation.
func Releases(opt Options) int {
	n := opt.Rounds
	if s, err := opt.schedule(); err == nil {
		n = s.Rounds
	}
	if opt.Init == InitPrivate {
		n++
	}
	return n
}

// Calibrate returns the smallest noise multiplier for which a run with opt
// (its Rounds, Init and SampleRate) is (epsilon, delta)-DP, counting every
// release. opt.NoiseMultiplier is ignored.
func Calibrate(epsilon, delta float64, opt Options) (float64, error) {
	if err := checkEpsilon(epsilon); err != nil {
		return 0, err
	}
	if err := checkDelta(delta); err != nil {
		return 0, err
	}
	if err := checkSampleRate(opt.SampleRate); err != nil {
		return 0, err
	}
	if _, err := opt.schedule(); err != nil {
		return 0, err
	}
	q := opt.SampleRate
	if q == 0 {
		q = 1
	}
	sigma, err := accountant.NoiseMultiplierFor(epsilon, accountant.Params{Delta: delta, Rounds: Releases(opt), SampleRate: q,
		Accountant: opt.Accountant})
	if err != nil {
		return 0, fmt.Errorf("dp: calibrate: %w", err)
	}
	return sigma, nil
}

// Account returns the privacy guarantee of a run with opt.
func Account(opt Options) (accountant.Result, error) {
	if err := opt.validate(1); err != nil {
		return accountant.Result{}, err
	}
	if opt.Noiseless {
		return accountant.Result{}, fmt.Errorf("dp: a noiseless run has no privacy guarantee")
	}
	return account(opt, Releases(opt))
}

func account(opt Options, releases int) (accountant.Result, error) {
	res, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: opt.NoiseMultiplier, SampleRate: opt.SampleRate,
		Rounds: releases, Delta: opt.Delta, Accountant: opt.Accountant})
	if err != nil {
		return res, fmt.Errorf("dp: account: %w", err)
	}
	return res, nil
}

// schedule resolves Rounds with package fit, which also checks it (private
// training never stops early: it has no tolerance or patience).
func (o *Options) schedule() (fit.Schedule, error) {
	s, err := fit.Schedule{Rounds: o.Rounds}.Resolve(DefaultRounds, 0, fit.MaxRounds)
	if err != nil {
		return s, fmt.Errorf("dp: %w", err)
	}
	return s, nil
}

// withDefaults returns o with every zero option at its default; validate
// reports invalid options, which it leaves as they are.
func (o *Options) withDefaults() Options {
	v := *o
	if s, err := v.schedule(); err == nil {
		v.Rounds = s.Rounds
	}
	if v.Clip == 0 {
		v.Clip = DefaultClip
	}
	if v.SampleRate == 0 {
		v.SampleRate = 1
	}
	if v.StepSize == 0 {
		v.StepSize = DefaultStepSize
	}
	v.Workers = fit.Workers(v.Workers, math.MaxInt)
	if v.noiseScale == 0 {
		v.noiseScale = 1
	}
	return v
}

// validate checks the options for data of dimension d.
func (o *Options) validate(d int) error {
	switch {
	case o.Rank < 1 || o.Rank > d:
		return fmt.Errorf("dp: rank %d must be in [1, %d] (the number of features)", o.Rank, d)
	case o.Sparsity < 0 || o.Sparsity > d:
		return fmt.Errorf("dp: sparsity %d must be in [0, %d] (the number of features)", o.Sparsity, d)
	case o.Clip != 0 && !(o.Clip > 0 && !math.IsInf(o.Clip, 1)):
		return fmt.Errorf("dp: clip norm %v must be positive and finite", o.Clip)
	case o.StepSize != 0 && !(o.StepSize > 0 && !math.IsInf(o.StepSize, 1)):
		return fmt.Errorf("dp: step size %v must be positive and finite", o.StepSize)
	case !(o.Ridge >= 0) || math.IsInf(o.Ridge, 1):
		return fmt.Errorf("dp: ridge %v must be non-negative and finite", o.Ridge)
	case o.Init != InitPrivate && o.Init != InitRandom:
		return fmt.Errorf("dp: unknown init %d", o.Init)
	case o.Noise != NoiseDiscrete && o.Noise != NoiseContinuous:
		return fmt.Errorf("dp: unknown noise %d", o.Noise)
	}
	if _, err := o.schedule(); err != nil {
		return err
	}
	if err := o.Pursuit.Valid(); err != nil {
		return fmt.Errorf("dp: %w", err)
	}
	if err := checkSampleRate(o.SampleRate); err != nil {
		return err
	}
	if o.Noiseless {
		if o.NoiseMultiplier != 0 {
			return fmt.Errorf("dp: noise multiplier %v given for a noiseless run", o.NoiseMultiplier)
		}
		return nil
	}
	if !(o.NoiseMultiplier > 0) || math.IsInf(o.NoiseMultiplier, 1) {
		return fmt.Errorf("dp: noise multiplier %v must be positive and finite", o.NoiseMultiplier)
	}
	return checkDelta(o.Delta)
}

func checkEpsilon(eps float64) error {
	if !(eps > 0) || math.IsInf(eps, 1) {
		return fmt.Errorf("dp: epsilon %v must be positive and finite", eps)
	}
	return nil
}

func checkDelta(delta float64) error {
	if !(delta > 0 && delta < 1) {
		return fmt.Errorf("dp: delta %v must be in (0, 1)", delta)
	}
	return nil
}

// ErrLargeDelta is wrapped by the error CheckDelta returns for a delta of
// 1/users or more.
var ErrLargeDelta = errors.New("dp: delta is not below 1/users")

// CheckDelta checks the delta of a guarantee for a run on the given number
// of users. Delta must be in (0, 1). When users is positive, a delta of
// 1/users or more is refused unless allowLarge is set: such a delta admits
// mechanisms that publish some user's data outright. A users of 0 means
// that the number of users is not known, and only the range is checked.
// The error wraps ErrLargeDelta when delta is too large.
func CheckDelta(delta float64, users int, allowLarge bool) error {
	if err := checkDelta(delta); err != nil {
		return err
	}
	switch {
	case users < 0:
		return fmt.Errorf("dp: number of users %d must not be negative", users)
	case users > 0 && !allowLarge && delta >= 1/float64(users):
		return fmt.Errorf("%w: delta %g >= 1/%d = %.3g; such a delta allows publishing some user's data outright "+
			"(choose delta well below 1/users, or override explicitly)", ErrLargeDelta, delta, users, 1/float64(users))
	}
	return nil
}

// checkSampleRate accepts 0 (meaning 1) and (0, 1].
func checkSampleRate(q float64) error {
	if q != 0 && !(q > 0 && q <= 1) {
		return fmt.Errorf("dp: sample rate %v must be in (0, 1]", q)
	}
	return nil
}
