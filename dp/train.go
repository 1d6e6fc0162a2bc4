package dp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/accountant"
	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/model"
)

// Mechanism is the ledger's description of the mechanism used by Train.
const Mechanism = "gaussian, user-level add/remove, billboard (only U published): " +
	"per-user U-update X^T e w^T/(m ||w||^2) clipped in Frobenius norm, noisy sum, step, QR"

// Result is a privately trained model with its per-release statistics.
type Result struct {
	// Model holds the published U and, as each user's local state, every
	// user's (w_i, b_i) fitted against the final U. Model.Privacy is the
	// ledger (nil when Options.Noiseless, or when Options.NoiseSeed is set:
	// Model.Config.NotPrivate then says why).
	Model *model.Model
	// Rounds reports every release in order.
	Rounds []RoundStats
	// Guarantee is the accountant's result for the whole run (zero when
	// Options.Noiseless or Options.NoiseSeed is set: no guarantee).
	Guarantee accountant.Result
	// NonFinite counts the user-rounds whose contribution was left out
	// (treated as zero) because forming it overflowed; it can only happen
	// for data of magnitude near 1e150 or more. It is a local diagnostic
	// computed from private data and is not published.
	NonFinite int
}

// trainer holds the state of one private training run.
type trainer struct {
	opt    Options
	ds     *dataset.Dataset
	d, r   int
	maxM   int
	u      []float64 // d x r, the published basis
	sample *mrand.Rand
	noise  *mrand.Rand
	// With the discrete noise (and not Noiseless), the grids and samplers
	// of the rounds and of the private initialisation.
	roundGrid, initGrid *Grid
}

func newTrainer(ds *dataset.Dataset, opt Options) (*trainer, error) {
	tr := &trainer{opt: opt, ds: ds, d: ds.Dim(), r: opt.Rank}
	for i := range ds.Users {
		tr.maxM = max(tr.maxM, ds.Users[i].Len())
	}
	// The secret seed: from crypto/rand, or from NoiseSeed (not private).
	// It is never stored or published, and Options.Seed plays no part.
	var secret [32]byte
	if opt.NoiseSeed != 0 {
		binary.LittleEndian.PutUint64(secret[:], opt.NoiseSeed)
		copy(secret[8:], "lrsp dp noise seed")
	} else if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("dp: seed the noise: %w", err)
	}
	// One ChaCha8 stream per purpose. The noise keeps the secret itself as
	// its key (so runs with a NoiseSeed add the same noise as before the
	// sampling stream existed); the sampling key is a one-way function of
	// the secret.
	tr.noise = mrand.New(mrand.NewChaCha8(secret))
	tr.sample = mrand.New(mrand.NewChaCha8(streamKey(secret, "sampling")))
	if opt.Noise == NoiseDiscrete && !opt.Noiseless {
		// Both samplers read the noise stream, each its own words.
		sigma, n := opt.NoiseMultiplier*opt.noiseScale, len(ds.Users)
		var err error
		if tr.roundGrid, err = NewGrid(sigma, opt.Clip, tr.d*tr.r, n, tr.noise); err != nil {
			return nil, err
		}
		if opt.Init == InitPrivate {
			if tr.initGrid, err = NewGrid(sigma, 1, tr.d*(tr.d+1)/2, n, tr.noise); err != nil {
				return nil, err
			}
		}
	}
	return tr, nil
}

// streamKey derives the key of the secret stream for purpose from the
// secret seed: SHA-256 of a domain label, purpose and the secret.
func streamKey(secret [32]byte, purpose string) [32]byte {
	h := sha256.New()
	h.Write([]byte("lrsp dp stream\x00" + purpose + "\x00"))
	h.Write(secret[:])
	return [32]byte(h.Sum(nil))
}

// NotPrivateFixedSeed is the reason recorded in the configuration of a
// model trained with a fixed noise seed (see model.Config.NotPrivate).
const NotPrivateFixedSeed = "trained with a fixed noise seed (--dp-noise-seed, NoiseSeed), for reproducible experiments: " +
	"anyone who knows the seed can remove the noise, so there is no (epsilon, delta) guarantee"

// Train trains a low-rank + sparse model on ds with user-level differential
// privacy for the published U (see the package documentation). It runs
// exactly Releases(opt) noisy releases. Cancelling ctx stops training with
// ctx's error; nothing is returned then.
func Train(ctx context.Context, ds *dataset.Dataset, opt Options) (*Result, error) {
	if !ds.HasTarget {
		return nil, errors.New("dp: train: the data have no target column")
	}
	if len(ds.Users) == 0 {
		return nil, errors.New("dp: train: no users")
	}
	if err := opt.validate(ds.Dim()); err != nil {
		return nil, err
	}
	if !opt.Noiseless {
		if err := CheckDelta(opt.Delta, len(ds.Users), opt.AllowLargeDelta); err != nil {
			return nil, err
		}
	}
	opt = opt.withDefaults()
	// A known noise seed voids the guarantee: no epsilon is reported.
	private := !opt.Noiseless && opt.NoiseSeed == 0
	for i := range ds.Users {
		if ds.Users[i].Len() == 0 {
			return nil, fmt.Errorf("dp: train: user %q has no samples", ds.Users[i].ID)
		}
	}
	tr, err := newTrainer(ds, opt)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	release := 0
	report := func(st RoundStats) error {
		release++
		if private {
			g, err := account(opt, release)
			if err != nil {
				return err
			}
			st.Epsilon = &g.Epsilon
		}
		res.Rounds = append(res.Rounds, st)
		if opt.onRelease != nil {
			opt.onRelease(tr.u)
		}
		if opt.Progress != nil {
			opt.Progress(st)
		}
		return nil
	}

	// Initialisation.
	switch opt.Init {
	case InitRandom:
		tr.u = linalg.RandomBasis(tr.d, tr.r, mrand.New(mrand.NewPCG(opt.Seed, 0x64702d696e6974)))
	case InitPrivate:
		norm, err := tr.privateInit(ctx, tr.sampleUsers(), &res.NonFinite)
		if err != nil {
			return nil, fmt.Errorf("dp: train: init: %w", err)
		}
		if err := report(RoundStats{Round: 0, StepNorm: norm}); err != nil {
			return nil, err
		}
	}

	// Rounds.
	step := make([]float64, tr.d*tr.r)
	denom := opt.SampleRate * float64(len(ds.Users)) // public: see the package documentation
	for round := 1; round <= opt.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum, nonFinite, err := tr.noisySum(ctx, tr.sampleUsers())
		if err != nil {
			return nil, fmt.Errorf("dp: train: round %d: %w", round, err)
		}
		res.NonFinite += nonFinite
		for j, v := range sum {
			step[j] = opt.StepSize / denom * v
			tr.u[j] += step[j]
		}
		if !orthonormalize(tr.d, tr.r, tr.u) {
			return nil, fmt.Errorf("dp: train: round %d: the noisy update lost rank; lower the step size", round)
		}
		st := RoundStats{Round: round, StepNorm: blas64.Nrm2(blas64.Vector{N: len(step), Inc: 1, Data: step})}
		if err := report(st); err != nil {
			return nil, err
		}
	}

	// Every user's local fit against the final published U.
	users, err := tr.fitAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("dp: train: final fits: %w", err)
	}
	m := tr.model()
	m.Users = users
	m.Config = opt.config()
	if opt.NoiseSeed != 0 {
		m.Config.SetNotPrivate(NotPrivateFixedSeed)
	}
	if private {
		g, err := account(opt, Releases(opt))
		if err != nil {
			return nil, err
		}
		res.Guarantee = g
		m.Privacy = &model.Ledger{Mechanism: tr.mechanism(), Clip: opt.Clip, NoiseMultiplier: opt.NoiseMultiplier,
			Rounds: Releases(opt), SampleRate: opt.SampleRate, Epsilon: g.Epsilon, Delta: g.Delta,
			Accountant: g.Accountant, Init: tr.initDescription()}
	}
	res.Model = m
	return res, nil
}

// initDescription is the ledger's Init entry without the noise.
func (o *Options) initDescription() string {
	if o.Init == InitPrivate {
		return "private: noisy sum of unit outer products v v^T, v = X^T y/||X^T y|| (sensitivity 1, noise multiplier " +
			"as the rounds, same sampling), counted as 1 of the rounds"
	}
	return "random (data-independent, no privacy cost)"
}

// initDescription is the ledger's Init entry.
func (tr *trainer) initDescription() string {
	s := tr.opt.initDescription()
	if g := tr.initGrid; g != nil {
		s += fmt.Sprintf("; discrete Gaussian noise on the grid 2^%d, v v^T scaled to norm %.17g before rounding", g.e, g.Clip())
	}
	return s
}

// mechanism is the ledger's Mechanism entry.
func (tr *trainer) mechanism() string {
	if g := tr.roundGrid; g != nil {
		return MechanismDiscrete(g.e)
	}
	return Mechanism
}

// MechanismDiscrete describes the mechanism with the discrete noise on the
// grid 2^e (see the package documentation).
func MechanismDiscrete(e int) string {
	return fmt.Sprintf("discrete gaussian (Canonne-Kamath-Steinke 2020, exact integer sampler) on the grid 2^%d, "+
		"contributions clipped to C - sqrt(D) 2^%d/2 and rounded to the grid; ", e, e) + Mechanism
}

func (o *Options) config() model.Config {
	c := model.Config{Version: model.ConfigVersion, Method: model.MethodLRS, Rank: o.Rank, Sparsity: o.Sparsity,
		Rounds: o.Rounds, Ridge: o.Ridge, Seed: o.Seed, Pursuit: o.Pursuit,
		DP: &model.DPConfig{Clip: o.Clip, StepSize: o.StepSize, Init: o.Init.String(), SampleRate: o.SampleRate,
			NoiseMultiplier: o.NoiseMultiplier, Noiseless: o.Noiseless, Delta: o.Delta}}
	if !o.Noiseless {
		c.DP.Noise = o.Noise.String()
	}
	if o.Sparsity == 0 {
		c.Method = model.MethodLowRank
	}
	return c
}

// model returns a model holding the current published state, without
// users.
func (tr *trainer) model() *model.Model {
	method := model.MethodLRS
	if tr.opt.Sparsity == 0 {
		method = model.MethodLowRank
	}
	return &model.Model{Method: method, Dim: tr.d, Rank: tr.r, Sparsity: tr.opt.Sparsity, Features: tr.ds.Features,
		U: append([]float64(nil), tr.u...)}
}

// sampleUsers returns the users taking part in one release: each
// independently with probability SampleRate, drawn from the secret
// sampling stream (never from the public Options.Seed).
func (tr *trainer) sampleUsers() []int {
	n := len(tr.ds.Users)
	out := make([]int, 0, n)
	q := tr.opt.SampleRate
	for i := 0; i < n; i++ {
		if q >= 1 || tr.sample.Float64() < q {
			out = append(out, i)
		}
	}
	return out
}

// addNoise adds independent N(0, (sigma*scale)^2) noise to every entry of
// v, with sigma the noise multiplier (nothing when Noiseless).
func (tr *trainer) addNoise(v []float64, scale float64) {
	if tr.opt.Noiseless {
		return
	}
	sd := tr.opt.NoiseMultiplier * scale * tr.opt.noiseScale
	for j := range v {
		v[j] += sd * tr.noise.NormFloat64()
	}
}

// chunkSize is the number of users per unit of parallel work. Chunks are
// fixed by the user list alone, and their partial sums are added in chunk
// order, so results do not depend on the number of workers or on
// scheduling.
const chunkSize = 128

// parallel splits users into chunks of chunkSize and runs f on every chunk,
// over at most opt.Workers goroutines; f gets the index of its goroutine
// (for per-goroutine state), the chunk index and the chunk. It checks ctx
// before every chunk and returns the first error.
func (tr *trainer) parallel(ctx context.Context, users []int, f func(worker, chunk int, users []int) error) error {
	return fit.ForEach(ctx, chunks(len(users)), tr.opt.Workers, func(k, c int) error {
		return f(k, c, users[c*chunkSize:min((c+1)*chunkSize, len(users))])
	})
}

// chunks returns the number of chunks parallel makes of n users.
func chunks(n int) int { return (n + chunkSize - 1) / chunkSize }

// personalizers returns one lazily created Personalizer per worker for the
// published model pub.
func (tr *trainer) personalizers(pub *model.Model) func(k int) (*amht.Personalizer, *scratch, error) {
	ps := make([]*amht.Personalizer, tr.opt.Workers)
	ss := make([]*scratch, tr.opt.Workers)
	return func(k int) (*amht.Personalizer, *scratch, error) {
		if ps[k] == nil {
			p, err := amht.NewPersonalizer(pub, tr.maxM, amht.PersonalizeOptions{Pursuit: tr.opt.Pursuit, Ridge: tr.opt.Ridge, Workers: 1})
			if err != nil {
				return nil, nil, err
			}
			ps[k], ss[k] = p, newScratch(tr.d, tr.maxM)
		}
		return ps[k], ss[k], nil
	}
}

// noisySum returns the noisy sum over the given users of their clipped
// U-updates for the current U (d x r), and the number of users whose
// update overflowed and was left out. Each user fits its (w, b) against
// the current U first, as it would locally. With the discrete noise, the
// updates are clipped to the grid's reduced norm and rounded to the grid,
// and the sum is exact in integers.
func (tr *trainer) noisySum(ctx context.Context, users []int) ([]float64, int, error) {
	sum, isum, nonFinite, err := tr.sumClipped(ctx, users)
	if err != nil {
		return nil, 0, err
	}
	if isum != nil {
		return tr.roundGrid.Noisy(isum), nonFinite, nil
	}
	tr.addNoise(sum, tr.opt.Clip)
	return sum, nonFinite, nil
}

// sumClipped returns the sum of noisySum before the noise: with the
// discrete noise, also in grid steps (the float sum is then 2^e times the
// integer one, rounded when it exceeds 2^53 steps).
func (tr *trainer) sumClipped(ctx context.Context, users []int) ([]float64, []int64, int, error) {
	d, r := tr.d, tr.r
	pub := tr.model()
	get := tr.personalizers(pub)
	gr := tr.roundGrid
	clip := tr.opt.Clip
	if gr != nil {
		clip = gr.Clip()
	}
	accs := make([][]float64, chunks(len(users)))
	iaccs := make([][]int64, len(accs))
	bad := make([]int, len(accs))
	err := tr.parallel(ctx, users, func(k, c int, chunk []int) error {
		p, s, err := get(k)
		if err != nil {
			return err
		}
		// One accumulator per chunk: integers on the grid, else floats.
		var acc []float64
		var iacc []int64
		if gr != nil {
			iacc = make([]int64, d*r)
		} else {
			acc = make([]float64, d*r)
		}
		g := make([]float64, d*r)
		for _, i := range chunk {
			u := &tr.ds.Users[i]
			fit, _, err := p.Fit(u.ID, u.X, u.Y)
			if err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			if !clippedUpdate(g, u.X, u.Y, pub.U, fit.W, fit.Index, fit.Value, clip, s) {
				bad[c]++
				continue
			}
			if gr != nil {
				if err := gr.Round(iacc, g); err != nil {
					return err
				}
				continue
			}
			for j, v := range g {
				acc[j] += v
			}
		}
		accs[c], iaccs[c] = acc, iacc
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	nonFinite := 0
	for c := range accs {
		nonFinite += bad[c]
	}
	sum := make([]float64, d*r)
	if gr != nil {
		isum := make([]int64, d*r)
		for _, acc := range iaccs {
			for j, v := range acc {
				isum[j] += v
			}
		}
		for j, v := range isum {
			sum[j] = math.Ldexp(float64(v), gr.e)
		}
		return sum, isum, nonFinite, nil
	}
	for _, acc := range accs {
		for j, v := range acc {
			sum[j] += v
		}
	}
	return sum, nil, nonFinite, nil
}

// privateInit sets tr.u from the noisy sum of the given users' unit outer
// products and returns the Frobenius norm of the noisy upper triangle.
func (tr *trainer) privateInit(ctx context.Context, users []int, nonFinite *int) (float64, error) {
	d := tr.d
	gr := tr.initGrid
	accs := make([][]float64, chunks(len(users)))
	iaccs := make([][]int64, len(accs))
	bad := make([]int, len(accs))
	ss := make([]*scratch, tr.opt.Workers)
	err := tr.parallel(ctx, users, func(k, c int, chunk []int) error {
		if ss[k] == nil {
			ss[k] = newScratch(d, tr.maxM)
		}
		if gr != nil {
			// Discrete noise: each user's upper triangle, scaled to norm
			// at most the grid's reduced clip norm, rounded to the grid.
			iacc := make([]int64, d*(d+1)/2)
			tri := make([]float64, len(iacc))
			for _, i := range chunk {
				u := &tr.ds.Users[i]
				if !initUpper(tri, u.X, u.Y, gr.Clip()*(1-clipMargin), ss[k]) {
					bad[c]++
					continue
				}
				if err := gr.Round(iacc, tri); err != nil {
					return err
				}
			}
			iaccs[c] = iacc
			return nil
		}
		acc := make([]float64, d*d)
		for _, i := range chunk {
			u := &tr.ds.Users[i]
			if !initContribution(acc, u.X, u.Y, ss[k]) {
				bad[c]++
			}
		}
		accs[c] = acc
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, b := range bad {
		*nonFinite += b
	}
	// The released vector is the upper triangle (diagonal included) of the
	// sum: one user changes its L2 norm by at most ||v v^T||_F = 1.
	var upper []float64
	if gr != nil {
		isum := make([]int64, d*(d+1)/2)
		for _, acc := range iaccs {
			for j, v := range acc {
				isum[j] += v
			}
		}
		upper = gr.Noisy(isum)
	} else {
		upper = make([]float64, 0, d*(d+1)/2)
		for a := 0; a < d; a++ {
			for c := a; c < d; c++ {
				s := 0.0
				for _, acc := range accs {
					s += acc[a*d+c]
				}
				upper = append(upper, s)
			}
		}
		tr.addNoise(upper, 1)
	}
	sym := mat.NewSymDense(d, nil)
	p := 0
	for a := 0; a < d; a++ {
		for c := a; c < d; c++ {
			sym.SetSym(a, c, upper[p])
			p++
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return 0, errors.New("eigendecomposition of the noisy moments failed")
	}
	var vec mat.Dense
	eig.VectorsTo(&vec)
	tr.u = make([]float64, d*tr.r)
	for j := 0; j < d; j++ {
		for c := 0; c < tr.r; c++ {
			tr.u[j*tr.r+c] = vec.At(j, d-1-c) // eigenvalues ascend
		}
	}
	return blas64.Nrm2(blas64.Vector{N: len(upper), Inc: 1, Data: upper}), nil
}

// fitAll fits every user's (w, b) against the current U.
func (tr *trainer) fitAll(ctx context.Context) ([]model.User, error) {
	pub := tr.model()
	all := make([]int, len(tr.ds.Users))
	for i := range all {
		all[i] = i
	}
	out := make([]model.User, len(all))
	get := tr.personalizers(pub)
	err := tr.parallel(ctx, all, func(k, _ int, chunk []int) error {
		p, _, err := get(k)
		if err != nil {
			return err
		}
		for _, i := range chunk {
			u := &tr.ds.Users[i]
			if out[i], _, err = p.Fit(u.ID, u.X, u.Y); err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
		}
		return nil
	})
	return out, err
}

// orthonormalize replaces the d x r row-major matrix u by the Q factor of
// its thin QR factorisation, discarding R. It reports false when u does
// not have full column rank or is not finite.
func orthonormalize(d, r int, u []float64) bool {
	_, ok := linalg.ThinQR(d, r, u)
	return ok
}
