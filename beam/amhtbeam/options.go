package amhtbeam

import (
	"errors"
	"fmt"
	"math"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// Init selects how U is initialised.
type Init int

const (
	// InitMoments takes the top-r eigenvectors of the moment matrix
	// (1/t) sum_i (1/m_i) sum_s y_s^2 x_s x_s^T, summed by a Beam pass. The
	// matrix is d x d, so it is limited to d <= MaxMomentsDim.
	InitMoments Init = iota
	// InitRandom draws a random orthonormal U from Options.Seed. It reads
	// no data.
	InitRandom
)

// MaxMomentsDim is the largest dimension for which InitMoments combines the
// d x d moment matrix (8 d^2 bytes per combined vector).
const MaxMomentsDim = 2048

// Options configures training. Rank must be set; every other zero value is
// documented and usable.
type Options struct {
	// Rank is the number r of columns of U; it must be in [1, d].
	Rank int
	// Sparsity is the largest number k of non-zeros of each b_i; 0 trains
	// the low-rank-only model theta_i = U w_i.
	Sparsity int
	// Rounds is the number of rounds of per-user fits; 0 means 50.
	Rounds int
	// Tolerance stops training when a round lowers the mean training MSE by
	// less than this fraction; 0 runs all rounds (still stopping at an
	// exact fit).
	Tolerance float64
	// Init selects the initialisation; the zero value is InitMoments
	// (InitRandom is always used with Privacy).
	Init Init
	// Pursuit and Ridge configure the per-user fits, as in
	// amht.PersonalizeOptions.
	Pursuit amht.Pursuit
	Ridge   float64
	// StepSize scales the U step; 0 means 1.
	StepSize float64
	// Seed seeds the random initialisation.
	Seed uint64
	// Privacy, when not nil, trains with the differentially private
	// billboard mechanism (see the package documentation).
	Privacy *Privacy
	// Progress, when not nil, is called after every pass.
	Progress func(RoundStats)
}

// Privacy configures differentially private training.
type Privacy struct {
	// Clip is the Frobenius-norm bound C on each user's contribution; 0
	// means 1 (the contribution is dimensionless).
	Clip float64
	// NoiseMultiplier is the standard deviation of the noise in units of
	// Clip; it must be positive unless Noiseless is set.
	NoiseMultiplier float64
	// Noiseless runs the same clipped steps without noise and without a
	// guarantee.
	Noiseless bool
	// Delta is the delta of the reported guarantee, in (0, 1) unless
	// Noiseless.
	Delta float64
	// NoiseSeed, when not 0, seeds the noise, for reproducible experiments
	// only: a known seed voids the guarantee, so the model then has no
	// ledger and its configuration says why (model.Config.NotPrivate). 0
	// draws a seed from crypto/rand.
	NoiseSeed uint64
	// AllowLargeDelta accepts a Delta of 1/users or more, which Train
	// otherwise refuses (see dp.CheckDelta).
	AllowLargeDelta bool
	// Noise selects the noise sampler, as dp.Options.Noise: the zero value
	// is the exact discrete Gaussian on a fine grid (each user rounds its
	// clipped contribution to the grid; the sums of grid values are exact
	// in float64, and the driver adds the noise in integers).
	Noise dp.Noise
}

// RoundStats reports one pass.
type RoundStats struct {
	// Round counts from 1; the statistics pass is round 0 and a final pass
	// after early stopping or private rounds is Rounds+1.
	Round int `json:"round"`
	// TrainLoss is the mean over users of the training MSE after the
	// round's fits, or NaN for the statistics pass and private rounds
	// (private statistics are not released).
	TrainLoss float64 `json:"train_loss"`
	// Users is the number of users that contributed.
	Users int `json:"users"`
	// Seconds is the wall time of the pass, including pipeline start-up.
	Seconds float64 `json:"seconds"`
}

func (o *Options) withDefaults() Options {
	v := *o
	if v.Rounds == 0 {
		v.Rounds = 50
	}
	if v.StepSize == 0 {
		v.StepSize = 1
	}
	if v.Privacy != nil {
		p := *v.Privacy
		if p.Clip == 0 {
			p.Clip = 1
		}
		v.Privacy = &p
		v.Init = InitRandom
	}
	return v
}

func (o *Options) validate(d int) error {
	switch {
	case o.Rank < 1 || o.Rank > d:
		return fmt.Errorf("rank %d must be in [1, %d] (the number of features)", o.Rank, d)
	case o.Sparsity < 0 || o.Sparsity > d:
		return fmt.Errorf("sparsity %d must be in [0, %d] (the number of features)", o.Sparsity, d)
	case o.Rounds < 0:
		return fmt.Errorf("rounds %d must not be negative", o.Rounds)
	case !(o.Tolerance >= 0):
		return fmt.Errorf("tolerance %v must not be negative", o.Tolerance)
	case !(o.Ridge >= 0) || math.IsInf(o.Ridge, 1):
		return fmt.Errorf("ridge %v must be finite and not negative", o.Ridge)
	case !(o.StepSize >= 0) || math.IsInf(o.StepSize, 1):
		return fmt.Errorf("step size %v must be finite and not negative", o.StepSize)
	case o.Init != InitMoments && o.Init != InitRandom:
		return fmt.Errorf("unknown init %d", o.Init)
	case o.Pursuit.Valid() != nil:
		return o.Pursuit.Valid()
	case o.Init == InitMoments && o.Privacy == nil && d > MaxMomentsDim:
		return fmt.Errorf("init moments combines a %d x %d matrix; use init random above d = %d", d, d, MaxMomentsDim)
	}
	if p := o.Privacy; p != nil {
		switch {
		case !(p.Clip >= 0) || math.IsInf(p.Clip, 1):
			return fmt.Errorf("clip %v must be finite and not negative", p.Clip)
		case p.Noise != dp.NoiseDiscrete && p.Noise != dp.NoiseContinuous:
			return fmt.Errorf("unknown noise %d", p.Noise)
		case p.Noiseless:
		case !(p.NoiseMultiplier > 0) || math.IsInf(p.NoiseMultiplier, 1):
			return fmt.Errorf("noise multiplier %v must be positive and finite", p.NoiseMultiplier)
		case !(p.Delta > 0 && p.Delta < 1):
			return errors.New("delta must be in (0, 1)")
		}
	}
	return nil
}

// Config returns the typed configuration of a run with opt, as the model
// file records it (package method validates it for lrs or lowrank).
func Config(opt Options) method.Config {
	c := method.Config{Version: model.ConfigVersion, Method: model.MethodLRS, Rank: opt.Rank, Sparsity: opt.Sparsity,
		Rounds: opt.Rounds, Tolerance: opt.Tolerance, Update: fit.UpdateGradient.String(),
		Init: [...]string{"moments", "random"}[opt.Init], Ridge: opt.Ridge, Pursuit: opt.Pursuit, Seed: opt.Seed}
	if opt.Sparsity == 0 {
		c.Method = model.MethodLowRank
	}
	if p := opt.Privacy; p != nil {
		c.Tolerance, c.Update, c.Init = 0, "", ""
		c.DP = &model.DPConfig{Clip: p.Clip, StepSize: opt.StepSize, SampleRate: 1, NoiseMultiplier: p.NoiseMultiplier,
			Noiseless: p.Noiseless, Delta: p.Delta, Init: "random"}
		if !p.Noiseless {
			c.DP.Noise = p.Noise.String()
		}
		if p.NoiseSeed != 0 {
			c.SetNotPrivate(dp.NotPrivateFixedSeed)
		}
	}
	return c
}

// FromConfig returns the options of a configuration of lrs or lowrank with
// the squared loss, validated by package method for data of dimension d;
// Progress, the privacy noise seed and AllowLargeDelta are left for the
// caller. The Beam
// trainer takes one gradient step per round (update "gradient") and
// initialises U from moments or at random.
func FromConfig(c method.Config, d int) (Options, error) {
	if err := method.Validate(c, d); err != nil {
		return Options{}, err
	}
	switch {
	case c.Update != "" && c.Update != fit.UpdateGradient.String():
		return Options{}, fmt.Errorf("update %q: the Beam trainer takes gradient steps", c.Update)
	case c.Center:
		return Options{}, fmt.Errorf("center: the Beam trainer fits no theta_0")
	case c.Init == fit.InitRidgeSVD.String():
		return Options{}, fmt.Errorf("init %q: the Beam trainer initialises from moments or at random", c.Init)
	}
	o := Options{Rank: c.Rank, Sparsity: c.Sparsity, Rounds: c.Rounds, Tolerance: c.Tolerance, Pursuit: c.Pursuit,
		Ridge: c.Ridge, Seed: c.Seed}
	if c.Init == "random" {
		o.Init = InitRandom
	}
	if p := c.DP; p != nil {
		o.StepSize = p.StepSize
		noise, err := dp.ParseNoise(p.Noise)
		if err != nil {
			return Options{}, err
		}
		o.Privacy = &Privacy{Clip: p.Clip, NoiseMultiplier: p.NoiseMultiplier, Noiseless: p.Noiseless, Delta: p.Delta,
			Noise: noise}
	}
	return o, nil
}
