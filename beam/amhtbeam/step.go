package amhtbeam

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/model"
)

// Record is one user's training data, the element type of the users'
// PCollection.
type Record struct {
	// ID is the user's identifier.
	ID string
	// X holds the user's samples, row-major, len(Y) rows of the model's
	// dimension.
	X []float64
	// Y holds the targets.
	Y []float64
}

// Fit is one user's fitted parameters, the element type of the per-user
// output.
type Fit struct {
	ID    string    `json:"id"`
	W     []float64 `json:"w"`
	Index []int32   `json:"index"`
	Value []float64 `json:"value"`
	// MSE is the user's training mean squared error. It is left out (zero,
	// and omitted from the per-user output) in a private pass: a user's loss
	// is private and is not written to shared storage.
	MSE float64 `json:"mse,omitempty"`
}

// State is the driver's state broadcast to the workers as a side input.
type State struct {
	// U is the d x r basis, row-major.
	U []float64
}

// Pass kinds.
const (
	passStats = iota
	passRound
)

// StepConfig is the static configuration of a pass, serialised with the
// DoFns.
type StepConfig struct {
	Kind     int
	D, R, K  int
	Moments  bool
	Pursuit  int
	Ridge    float64
	Private  bool
	Clip     float64
	WriteFit bool
	// NoiseSD is the standard deviation of the Gaussian noise that a
	// private pass adds to every entry of the combined U-update (0 for
	// none), and NoiseSeed seeds it (see AddNoise): 0, the private case,
	// draws it from crypto/rand where the sum is formed.
	NoiseSD   float64
	NoiseSeed uint64
	// Discrete rounds each private contribution (clipped to Clip) to the
	// grid 2^Grid and checks that it stays within GridSens grid steps in
	// L2 norm (see dp.Grid); AddNoise then adds discrete Gaussian noise of
	// noise multiplier Sigma for the clip norm NoiseClip on that grid.
	Discrete  bool
	Grid      int
	GridSens  float64
	Sigma     float64
	NoiseClip float64
}

// size returns the length of a user's contribution vector.
func (c *StepConfig) size() int {
	d, r := c.D, c.R
	switch {
	case c.Kind == passStats && c.Moments:
		return d*d + d + 2
	case c.Kind == passStats:
		return d + 2
	case c.Private:
		return d*r + 1
	default:
		return d*r + r*r + 2
	}
}

// stepper computes users' contributions. It is not safe for concurrent use.
type stepper struct {
	cfg   StepConfig
	u     []float64
	p     *amht.Personalizer
	pm    *model.Model
	maxM  int
	theta []float64 // d
	g     []float64 // d
	e     []float64 // maxM
}

func newStepper(cfg StepConfig, u []float64) *stepper {
	method := model.MethodLRS
	if cfg.K == 0 {
		method = model.MethodLowRank
	}
	return &stepper{cfg: cfg, u: u, theta: make([]float64, cfg.D), g: make([]float64, cfg.D),
		pm: &model.Model{Method: method, Dim: cfg.D, Rank: cfg.R, Sparsity: cfg.K, U: u}}
}

// check validates one user's record against the configuration.
func (s *stepper) check(rec *Record) error {
	m := len(rec.Y)
	if m == 0 {
		return fmt.Errorf("user %q: no samples", rec.ID)
	}
	if len(rec.X) != m*s.cfg.D {
		return fmt.Errorf("user %q: %d feature values for %d samples of dimension %d", rec.ID, len(rec.X), m, s.cfg.D)
	}
	return nil
}

// stats sets out (length cfg.size()) to the user's statistics
// contribution: [moments (d x d, upper triangle) | column second moments
// (d) | mean squared target | 1].
func (s *stepper) stats(rec *Record, out []float64) error {
	if err := s.check(rec); err != nil {
		return err
	}
	clear(out)
	d, m := s.cfg.D, len(rec.Y)
	inv := 1 / float64(m)
	off := 0
	if s.cfg.Moments {
		A := blas64.Symmetric{N: d, Stride: d, Data: out[:d*d], Uplo: blas.Upper}
		for j := 0; j < m; j++ {
			y := rec.Y[j]
			blas64.Syr(y*y*inv, blas64.Vector{N: d, Inc: 1, Data: rec.X[j*d : (j+1)*d]}, A)
		}
		off = d * d
	}
	col := out[off : off+d]
	for j := 0; j < m; j++ {
		for c, v := range rec.X[j*d : (j+1)*d] {
			col[c] += v * v * inv
		}
	}
	out[off+d] = dot(rec.Y, rec.Y) * inv
	out[off+d+1] = 1
	return nil
}

// round fits the user against s.u and sets out (length cfg.size()) to its
// contribution: [G (d x r) | w w^T (r x r) | MSE | 1], or with privacy
// [clipped G / ||w||^2 (d x r) | 1].
func (s *stepper) round(rec *Record, out []float64) (Fit, error) {
	if err := s.check(rec); err != nil {
		return Fit{}, err
	}
	d, r, m := s.cfg.D, s.cfg.R, len(rec.Y)
	if s.p == nil || m > s.maxM {
		s.maxM = max(m, s.maxM)
		p, err := amht.NewPersonalizer(s.pm, s.maxM, amht.PersonalizeOptions{Pursuit: amht.Pursuit(s.cfg.Pursuit), Ridge: s.cfg.Ridge})
		if err != nil {
			return Fit{}, err
		}
		s.p = p
		s.e = make([]float64, s.maxM)
	}
	u, mse, err := s.p.Fit(rec.ID, rec.X, rec.Y)
	if err != nil {
		return Fit{}, fmt.Errorf("user %q: %w", rec.ID, err)
	}
	// g = (1/m) X^T e with e = y - X (U w + b).
	theta := s.theta
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: d, Cols: r, Stride: r, Data: s.u},
		blas64.Vector{N: r, Inc: 1, Data: u.W}, 0, blas64.Vector{N: d, Inc: 1, Data: theta})
	for q, j := range u.Index {
		theta[j] += u.Value[q]
	}
	e := s.e[:m]
	copy(e, rec.Y)
	X := blas64.General{Rows: m, Cols: d, Stride: d, Data: rec.X}
	blas64.Gemv(blas.NoTrans, -1, X, blas64.Vector{N: d, Inc: 1, Data: theta}, 1, blas64.Vector{N: m, Inc: 1, Data: e})
	g := blas64.Vector{N: d, Inc: 1, Data: s.g}
	blas64.Gemv(blas.Trans, 1/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: e}, 0, g)
	clear(out)
	G := blas64.General{Rows: d, Cols: r, Stride: r, Data: out[:d*r]}
	wv := blas64.Vector{N: r, Inc: 1, Data: u.W}
	if s.cfg.Private {
		clipped(out[:d*r], s.g, u.W, s.cfg.Clip)
		if s.cfg.Discrete {
			if err := dp.RoundToGrid(out[:d*r], s.cfg.Grid, s.cfg.GridSens); err != nil {
				return Fit{}, fmt.Errorf("user %q: %w", rec.ID, err)
			}
		}
		out[d*r] = 1
	} else {
		blas64.Ger(1, g, wv, G)
		blas64.Ger(1, wv, wv, blas64.General{Rows: r, Cols: r, Stride: r, Data: out[d*r : d*r+r*r]})
		out[d*r+r*r] = mse
		out[d*r+r*r+1] = 1
	}
	f := Fit{ID: u.ID, W: u.W, Index: u.Index, Value: u.Value}
	if !s.cfg.Private {
		f.MSE = mse
	}
	return f, nil
}

// clipMargin keeps clipped norms strictly below the clip bound despite
// rounding, as in package dp.
const clipMargin = 1e-12

// clipped sets dst (d x r) to g w^T / ||w||^2 scaled down to Frobenius norm
// at most clip: the rank-one matrix is formed from the unit vectors g/||g||
// and w/||w|| and the clipped norm ||g||/||w||, so it cannot overflow. dst
// is zero when g or w is zero or not finite.
func clipped(dst, g, w []float64, clip float64) {
	clear(dst)
	r := len(w)
	gn := blas64.Nrm2(blas64.Vector{N: len(g), Inc: 1, Data: g})
	wn := blas64.Nrm2(blas64.Vector{N: r, Inc: 1, Data: w})
	if !(gn > 0) || !(wn > 0) || math.IsInf(gn, 0) || math.IsInf(wn, 0) {
		return
	}
	scale := math.Min(gn/wn, clip*(1-clipMargin))
	for j, gj := range g {
		a := scale * (gj / gn)
		for c, wc := range w {
			dst[j*r+c] = a * (wc / wn)
		}
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
