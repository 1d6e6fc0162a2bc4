package amhtbeam

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// Pass is one pass over the users, as the driver hands it to an Engine.
type Pass struct {
	// Round numbers the pass (0 for the statistics pass).
	Round int
	// Config is the static configuration of the per-user step.
	Config StepConfig
	// State is the broadcast state (U); empty for the statistics pass.
	State State
}

// Engine runs passes over the users of one data set.
type Engine interface {
	// Run runs the per-user step of pass over every user and returns the
	// sum of the users' contribution vectors and, when
	// pass.Config.WriteFit is set, every user's fit (in any order). For a
	// private pass (pass.Config.Private) the sum must hold the pass's noise,
	// added with AddNoise where the sum is formed, before it is stored or
	// sent anywhere.
	Run(ctx context.Context, pass Pass) (sum []float64, fits []Fit, err error)
	// Name names the engine in the model's Config.
	Name() string
}

// Result is a trained model with the statistics of its passes.
type Result struct {
	Model  *model.Model
	Rounds []RoundStats
	// Stopped says why training ended: fit.StopRounds, fit.StopTolerance
	// or fit.StopExact.
	Stopped fit.StopReason

	grid int // the exponent of the discrete noise's grid
}

// Train runs AMHT-LRS on the users described by info (dimension, feature
// names, number of users) with engine doing the per-user passes.
func Train(ctx context.Context, engine Engine, info DataInfo, opt Options) (*Result, error) {
	d := info.Dim
	if info.Users == 0 {
		return nil, errors.New("train: no users")
	}
	if err := opt.validate(d); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if p := opt.Privacy; p != nil && !p.Noiseless {
		if err := dp.CheckDelta(p.Delta, info.Users, p.AllowLargeDelta); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	opt = opt.withDefaults()
	r, k := opt.Rank, opt.Sparsity
	base := StepConfig{D: d, R: r, K: k, Pursuit: int(opt.Pursuit), Ridge: opt.Ridge}
	res := &Result{Stopped: fit.StopRounds}
	run := func(round int, cfg StepConfig, u []float64) ([]float64, []Fit, error) {
		start := time.Now()
		sum, fits, err := engine.Run(ctx, Pass{Round: round, Config: cfg, State: State{U: u}})
		if err != nil {
			return nil, nil, fmt.Errorf("train: pass %d: %w", round, err)
		}
		if len(sum) != cfg.size() {
			return nil, nil, fmt.Errorf("train: pass %d: combined vector has %d entries, want %d", round, len(sum), cfg.size())
		}
		if sum[len(sum)-1] != float64(info.Users) {
			return nil, nil, fmt.Errorf("train: pass %d: %v users contributed, want %d", round, sum[len(sum)-1], info.Users)
		}
		n := info.Users
		if cfg.WriteFit && len(fits) != info.Users {
			return nil, nil, fmt.Errorf("train: pass %d: %d user fits written, want %d", round, len(fits), info.Users)
		}
		st := RoundStats{Round: round, TrainLoss: math.NaN(), Users: n, Seconds: time.Since(start).Seconds()}
		if cfg.Kind == passRound && !cfg.Private {
			st.TrainLoss = sum[d*r+r*r] / float64(n)
		}
		res.Rounds = append(res.Rounds, st)
		if opt.Progress != nil {
			opt.Progress(st)
		}
		return sum, fits, nil
	}

	var u, colVar []float64
	scale := 0.0
	if opt.Privacy == nil {
		cfg := base
		cfg.Kind, cfg.Moments = passStats, opt.Init == InitMoments
		sum, _, err := run(0, cfg, nil)
		if err != nil {
			return nil, err
		}
		t := float64(info.Users)
		off := 0
		if cfg.Moments {
			if u, err = topEigenvectors(d, r, sum[:d*d]); err != nil {
				return nil, fmt.Errorf("train: init: %w", err)
			}
			off = d * d
		}
		colVar = make([]float64, d)
		mean := 0.0
		for j := range colVar {
			colVar[j] = sum[off+j] / t
			mean += colVar[j] / float64(d)
		}
		for j, v := range colVar {
			if v < 1e-6*mean || v == 0 {
				colVar[j] = math.Max(1e-6*mean, 1e-300)
			}
		}
		scale = sum[off+d] / t
	}
	if u == nil {
		u = randomBasis(d, r, opt.Seed)
	}

	var fits []Fit
	cfg := base
	cfg.Kind = passRound
	if p := opt.Privacy; p != nil {
		// The engine adds the noise where it forms the sum (see Engine.Run
		// and AddNoise): the driver only ever sees the noisy sum.
		cfg.Private, cfg.Clip, cfg.NoiseSeed = true, p.Clip, p.NoiseSeed
		cfg.NoiseSD = p.NoiseMultiplier * p.Clip
		if p.Noiseless {
			cfg.NoiseSD = 0
		}
		if !p.Noiseless && p.Noise == dp.NoiseDiscrete {
			// The grid's sampler is not used here: the engine adds the
			// noise (AddNoise), from its own secret stream.
			grid, err := dp.NewGrid(p.NoiseMultiplier, p.Clip, d*r, info.Users, rand.New(rand.NewPCG(0, 0)))
			if err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
			e := grid.Exponent()
			sens := math.Ldexp(p.Clip, -e)
			// The engine adds the users' grid values in float64: exact,
			// in any order, while every partial sum stays below 2^53 steps.
			if float64(info.Users)*(sens+1) >= 1<<52 {
				return nil, fmt.Errorf("train: %d users of %g grid steps each overflow the exact sum of the discrete noise", info.Users, sens)
			}
			cfg.Discrete, cfg.Grid, cfg.GridSens, cfg.Clip = true, e, sens, grid.Clip()
			cfg.Sigma, cfg.NoiseClip = p.NoiseMultiplier, p.Clip
			res.grid = e
		}
		for round := 1; round <= opt.Rounds; round++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			sum, _, err := run(round, cfg, u)
			if err != nil {
				return nil, err
			}
			step := opt.StepSize / float64(info.Users)
			for j := range u {
				u[j] += step * sum[j]
			}
			if _, ok := linalg.ThinQR(d, r, u); !ok {
				return nil, fmt.Errorf("train: round %d: the U update lost rank", round)
			}
		}
		// The last pass only writes the users: its sum is not used, and it
		// is noised like the others all the same.
		cfg.WriteFit = true
		var err error
		_, fits, err = run(opt.Rounds+1, cfg, u)
		if err != nil {
			return nil, err
		}
	} else {
		prev := math.Inf(1)
		for round := 1; round <= opt.Rounds; round++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cfg.WriteFit = round == opt.Rounds
			sum, f, err := run(round, cfg, u)
			if err != nil {
				return nil, err
			}
			fits = f
			loss := res.Rounds[len(res.Rounds)-1].TrainLoss
			switch {
			case loss <= 1e-28*scale:
				res.Stopped = fit.StopExact
			case opt.Tolerance > 0 && prev-loss < opt.Tolerance*prev:
				res.Stopped = fit.StopTolerance
			}
			prev = loss
			if res.Stopped != fit.StopRounds || round == opt.Rounds {
				break
			}
			updateU(d, r, u, sum[:d*r], sum[d*r:d*r+r*r], colVar, opt.StepSize)
			if _, ok := linalg.ThinQR(d, r, u); !ok {
				return nil, fmt.Errorf("train: round %d: the U update lost rank: the data do not determine a rank-%d subspace", round, r)
			}
		}
		if fits == nil {
			// Stopped early: one more pass, with the same U, writes the users.
			cfg.WriteFit = true
			var err error
			if _, fits, err = run(res.Rounds[len(res.Rounds)-1].Round+1, cfg, u); err != nil {
				return nil, err
			}
		}
	}
	return finish(res, engine, info, opt, u, fits)
}

// finish builds the model from U and the users' fits.
func finish(res *Result, engine Engine, info DataInfo, opt Options, u []float64, fits []Fit) (*Result, error) {
	name := model.MethodLRS
	if opt.Sparsity == 0 {
		name = model.MethodLowRank
	}
	m := &model.Model{Method: name, Dim: info.Dim, Rank: opt.Rank, Sparsity: opt.Sparsity, Features: info.Features,
		U: u, Users: make([]model.User, len(fits))}
	slices.SortFunc(fits, func(a, b Fit) int { return cmpString(a.ID, b.ID) })
	for i, f := range fits {
		if i > 0 && fits[i-1].ID == f.ID {
			return nil, fmt.Errorf("train: user %q was written twice", f.ID)
		}
		m.Users[i] = model.User{ID: f.ID, W: f.W, Index: f.Index, Value: f.Value}
	}
	m.Config = Config(opt)
	m.Config.Engine, m.Config.Stopped = engine.Name(), res.Stopped.String()
	// A fixed noise seed voids the guarantee: no ledger (Config says why).
	if p := opt.Privacy; p != nil && !p.Noiseless && p.NoiseSeed == 0 {
		g, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: p.NoiseMultiplier, Rounds: opt.Rounds, Delta: p.Delta})
		if err != nil {
			return nil, fmt.Errorf("train: accounting: %w", err)
		}
		mech := dp.Mechanism
		if p.Noise == dp.NoiseDiscrete {
			mech = dp.MechanismDiscrete(res.grid)
		}
		m.Privacy = &model.Ledger{Mechanism: mech, Clip: p.Clip, NoiseMultiplier: p.NoiseMultiplier,
			Rounds: opt.Rounds, SampleRate: 1, Epsilon: g.Epsilon, Delta: g.Delta, Accountant: g.Accountant,
			Init: "random (data-independent, no privacy cost)"}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := method.Validate(m.Config, m.Dim); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	res.Model = m
	return res, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DataInfo describes the training data to the driver.
type DataInfo struct {
	// Dim is the number of features d.
	Dim int
	// Features names the d features.
	Features []string
	// Users is the number of users.
	Users int
}

// Info returns the DataInfo of a source.
func Info(src dataset.Source) DataInfo {
	return DataInfo{Dim: src.Dim(), Features: src.FeatureNames(), Users: src.NumUsers()}
}

// updateU sets u += step * D^{-1} G W^{-1}, with D = diag(colVar) and W
// (r x r, row-major) plus a small jitter; when W is numerically singular
// the identity replaces it.
func updateU(d, r int, u, g, w, colVar []float64, step float64) {
	L := linalg.JitteredCholesky(r, append([]float64(nil), w...), 1e-10)
	z := make([]float64, d*r)
	for j := 0; j < d; j++ {
		for c := 0; c < r; c++ {
			z[j*r+c] = g[j*r+c] / colVar[j]
		}
	}
	Z := blas64.General{Rows: d, Cols: r, Stride: r, Data: z}
	blas64.Trsm(blas.Right, blas.NoTrans, 1, L, Z)
	blas64.Trsm(blas.Right, blas.Trans, 1, L, Z)
	for j := range u {
		u[j] += step * z[j]
	}
}

// topEigenvectors returns the top-r eigenvectors (d x r, row-major) of the
// symmetric matrix whose upper triangle is a (d x d, row-major), and an
// error when the matrix has fewer than r positive eigenvalues.
func topEigenvectors(d, r int, a []float64) ([]float64, error) {
	u, vals, err := linalg.TopEigenvectors(d, r, a)
	if err != nil {
		return nil, fmt.Errorf("the moment matrix: %w", err)
	}
	for c, v := range vals {
		if !(v > 0) {
			return nil, fmt.Errorf("the moment matrix has rank %d < %d", c, r)
		}
	}
	return u, nil
}

// randomBasis returns a random orthonormal d x r basis drawn from seed.
func randomBasis(d, r int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x6c727370))
	u := make([]float64, d*r)
	for j := range u {
		u[j] = rng.NormFloat64()
	}
	linalg.ThinQR(d, r, u)
	return u
}

// AddNoise adds the noise of a private pass to sum, the combined
// contribution vector of pass, independently to each of the D*R entries of
// the U-update and nothing to the user count (public: every user takes
// part in every pass): with Config.Discrete the discrete Gaussian of noise
// multiplier Sigma on the grid 2^Grid (package dp; the entries must be on
// the grid, as the per-user step leaves them), else N(0, NoiseSD^2) from
// floating point. It does nothing for a pass that is not private or has
// NoiseSD 0 (Noiseless), or when sum is empty (no users: the driver rejects
// the count). A sum it cannot noise gets a NaN count, which the driver
// rejects.
//
// With Config.NoiseSeed 0 (the private case) the noise comes from a ChaCha8
// stream keyed by 32 bytes of crypto/rand drawn here, in the process that
// formed the sum, and never stored. A fixed NoiseSeed (not private) keys it
// with the seed and the pass's Round, so that every engine adds the same
// noise to the same pass.
func AddNoise(sum []float64, pass Pass) {
	cfg := pass.Config
	n := cfg.D * cfg.R
	if !cfg.Private || cfg.NoiseSD == 0 || len(sum) < n {
		return
	}
	var key [32]byte
	if cfg.NoiseSeed == 0 {
		_, _ = crand.Read(key[:]) // crashes the program rather than fail
	} else {
		binary.LittleEndian.PutUint64(key[:], cfg.NoiseSeed)
		binary.LittleEndian.PutUint64(key[8:], uint64(pass.Round))
		copy(key[16:], "lrsp-beam noise")
	}
	rng := rand.New(rand.NewChaCha8(key))
	if !cfg.Discrete {
		for j := range sum[:n] {
			sum[j] += cfg.NoiseSD * rng.NormFloat64()
		}
		return
	}
	g, err := dp.NewGrid(cfg.Sigma, cfg.NoiseClip, n, 0, rng)
	if err == nil {
		err = noisyGridSum(g, sum[:n])
	}
	if err != nil {
		sum[len(sum)-1] = math.NaN()
	}
}

// noisyGridSum replaces sum, the sum of the users' contributions rounded
// to g's grid (an exact multiple of the grid step in every entry), by its
// noisy release: converted to integers, noised with the discrete Gaussian
// and scaled back.
func noisyGridSum(g *dp.Grid, sum []float64) error {
	isum := make([]int64, len(sum))
	for j, v := range sum {
		k := math.Ldexp(v, -g.Exponent())
		if k != math.Trunc(k) || !(math.Abs(k) < 1<<53) {
			return fmt.Errorf("the sum of grid values %v is not on the grid 2^%d", v, g.Exponent())
		}
		isum[j] = int64(k)
	}
	copy(sum, g.Noisy(isum))
	return nil
}
