package logistic

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/model"
)

// CheckTargets reports an error naming the user and input line of the
// first target that is not 0 or 1. Lines assume a CSV with one header
// line: data row n (0-based) is line n+2.
func CheckTargets(ds *dataset.Dataset) error {
	if err := checkTargets(ds); err != nil {
		return fmt.Errorf("logistic: %w", err)
	}
	return nil
}

// checkTargets is CheckTargets with errors that do not name the package.
func checkTargets(ds *dataset.Dataset) error {
	if !ds.HasTarget {
		return errors.New("the data have no target column")
	}
	for i := range ds.Users {
		u := &ds.Users[i]
		if len(u.Y) != u.Len() || len(u.X) != u.Len()*ds.Dim() {
			return fmt.Errorf("user %q: %d targets and %d feature values for %d samples", u.ID, len(u.Y), len(u.X), u.Len())
		}
		for s, y := range u.Y {
			if y != 0 && y != 1 {
				return fmt.Errorf("line %d (user %q): target %v is not 0 or 1, as the logistic loss needs", u.Rows[s]+2, u.ID, y)
			}
		}
	}
	return nil
}

// trainer holds the state of one training run.
type trainer struct {
	opt     Options
	ds      *dataset.Dataset
	d, r, k int
	t       int
	u       []float64 // d x r
	ut      []float64 // r x d
	w       []float64 // t x r
	idx     []int32   // t x k
	val     []float64 // t x k
	nnz     []int     // t
	loss    []float64 // t: mean logistic loss of each user
	off     []int     // t+1: offset of each user's samples in score, resid, wt, delta
	score   []float64 // N: scores at the last per-user fit
	resid   []float64 // N: sigmoid(score) - y
	wt      []float64 // N: sigmoid'(score)
	delta   []float64 // N: change of score along the U direction
	colVar  []float64 // d: weighted column variances, for preconditioning
	offset  []float64 // N: scores <x, theta_0> of the fixed offset, or nil
	work    []*worker
	slots   []*accum // per-block partial sums (see forUsers)
	total   accum    // the sum over blocks of the last forUsers
}

// worker holds one goroutine's scratch.
type worker struct {
	s    *solver
	out  userFit
	a    *accum    // the partial sum of the block being processed
	vecD []float64 // d
	vecM []float64 // maxM
	rows []float64 // maxM x d, allocated by the initialisation
}

// accum is a partial sum over the users of one block, or the total over
// all blocks: a matrix (d x r, or d x d during initialisation) and a
// scalar.
type accum struct {
	acc []float64
	sum float64
}

// resize sets the length of the accumulated matrices (d x r for the U
// gradient, d x d for the moment matrix of the initialisation).
func (tr *trainer) resize(n int) {
	for _, a := range append(tr.slots, &tr.total) {
		if cap(a.acc) < n || cap(a.acc) > 2*n {
			a.acc = make([]float64, n)
		}
		a.acc = a.acc[:n]
	}
}

func newTrainer(ds *dataset.Dataset, opt Options) *trainer {
	d, t := ds.Dim(), len(ds.Users)
	r, k := opt.Rank, opt.Sparsity
	maxM := 0
	tr := &trainer{opt: opt, ds: ds, d: d, r: r, k: k, t: t,
		w: make([]float64, t*r), idx: make([]int32, t*k), val: make([]float64, t*k), nnz: make([]int, t),
		loss: make([]float64, t), off: make([]int, t+1)}
	for i := range ds.Users {
		m := ds.Users[i].Len()
		maxM = max(maxM, m)
		tr.off[i+1] = tr.off[i] + m
	}
	n := tr.off[t]
	tr.score, tr.resid, tr.wt, tr.delta = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	if opt.Offset != nil {
		tr.offset = make([]float64, n)
		for i := range ds.Users {
			u := &ds.Users[i]
			if m := u.Len(); m > 0 {
				blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: m, Cols: d, Stride: d, Data: u.X},
					blas64.Vector{N: d, Inc: 1, Data: opt.Offset}, 0, blas64.Vector{N: m, Inc: 1, Data: tr.offset[tr.off[i]:tr.off[i+1]]})
			}
		}
	}
	blocks := (t + blockUsers - 1) / blockUsers
	tr.work = make([]*worker, fit.Workers(opt.Workers, blocks))
	for i := range tr.work {
		tr.work[i] = &worker{s: newSolver(d, r, k, maxM, opt.Ridge, opt.NewtonSteps),
			vecD: make([]float64, d), vecM: make([]float64, maxM)}
	}
	tr.slots = make([]*accum, fit.Slots(opt.Workers, blocks))
	for i := range tr.slots {
		tr.slots[i] = &accum{}
	}
	tr.resize(d * r)
	return tr
}

// blockUsers is the number of consecutive users handed to a worker at a
// time. The blocks depend on the user list alone.
const blockUsers = 32

// forUsers runs f for every user in parallel over the workers, handing out
// blocks of blockUsers consecutive users, and sums the blocks'
// accumulators (w.a during f) into tr.total in block order. One worker
// runs a block's users in order, so every sum, and so the model, is
// bit-identical for any number of workers.
func (tr *trainer) forUsers(f func(w *worker, i int)) {
	tr.total.reset()
	blocks := (tr.t + blockUsers - 1) / blockUsers
	// The error is always nil: no call returns one and the context is never
	// done.
	_ = fit.ForEachOrdered(context.Background(), blocks, len(tr.work), func(k, slot, b int) error {
		w, a := tr.work[k], tr.slots[slot]
		a.reset()
		w.a = a
		for i := b * blockUsers; i < min((b+1)*blockUsers, tr.t); i++ {
			f(w, i)
		}
		return nil
	}, func(slot, _ int) {
		tr.total.add(tr.slots[slot])
	})
}

func (a *accum) reset() {
	clear(a.acc)
	a.sum = 0
}

func (a *accum) add(b *accum) {
	for j, v := range b.acc {
		a.acc[j] += v
	}
	a.sum += b.sum
}

// solveUsers fits every user for the current U and returns the mean
// per-user logistic loss. It leaves in tr.total.acc the gradient
// of the objective (1/t) sum_i (1/m_i) sum_j loss_ij in U.
func (tr *trainer) solveUsers() float64 {
	d, r, k := tr.d, tr.r, tr.k
	tr.ut = linalg.TransposeInto(tr.ut, d, r, tr.u)
	invT := 1 / float64(tr.t)
	tr.forUsers(func(w *worker, i int) {
		u := &tr.ds.Users[i]
		m := u.Len()
		if m == 0 {
			return
		}
		w.out = userFit{w: tr.w[i*r : (i+1)*r], idx: tr.idx[i*k : (i+1)*k], val: tr.val[i*k : (i+1)*k], nnz: tr.nnz[i]}
		w.s.solve(u.X, u.Y, tr.ut, tr.userOffset(i), &w.out)
		tr.nnz[i] = w.out.nnz
		tr.loss[i] = w.out.loss
		w.a.sum += w.out.loss
		o := tr.off[i]
		copy(tr.score[o:o+m], w.s.score[:m])
		copy(tr.resid[o:o+m], w.out.resid)
		copy(tr.wt[o:o+m], w.out.wt)
		if r == 0 {
			return
		}
		// acc += (1/(t m)) X^T resid w^T.
		X := blas64.General{Rows: m, Cols: d, Stride: d, Data: u.X}
		g := blas64.Vector{N: d, Inc: 1, Data: w.vecD}
		blas64.Gemv(blas.Trans, invT/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: w.out.resid}, 0, g)
		blas64.Ger(1, g, blas64.Vector{N: r, Inc: 1, Data: w.out.w}, blas64.General{Rows: d, Cols: r, Stride: r, Data: w.a.acc})
	})
	return tr.total.sum * invT
}

// userOffset returns user i's offset scores, or nil without an offset.
func (tr *trainer) userOffset(i int) []float64 {
	if tr.offset == nil {
		return nil
	}
	return tr.offset[tr.off[i]:tr.off[i+1]]
}

// applyH sets out to the Hessian of the objective in U applied to v:
// (1/t) sum_i (1/m_i) X_i^T diag(wt_i) X_i V w_i w_i^T.
func (tr *trainer) applyH(v, out []float64) {
	d, r := tr.d, tr.r
	V := blas64.General{Rows: d, Cols: r, Stride: r, Data: v}
	invT := 1 / float64(tr.t)
	tr.forUsers(func(w *worker, i int) {
		u := &tr.ds.Users[i]
		m := u.Len()
		if m == 0 {
			return
		}
		wi := blas64.Vector{N: r, Inc: 1, Data: tr.w[i*r : (i+1)*r]}
		vw := blas64.Vector{N: d, Inc: 1, Data: w.vecD}
		blas64.Gemv(blas.NoTrans, 1, V, wi, 0, vw)
		X := blas64.General{Rows: m, Cols: d, Stride: d, Data: u.X}
		xm := w.vecM[:m]
		blas64.Gemv(blas.NoTrans, 1, X, vw, 0, blas64.Vector{N: m, Inc: 1, Data: xm})
		o := tr.off[i]
		for j := range xm {
			xm[j] *= tr.wt[o+j]
		}
		blas64.Gemv(blas.Trans, invT/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: xm}, 0, vw)
		blas64.Ger(1, vw, wi, blas64.General{Rows: d, Cols: r, Stride: r, Data: w.a.acc})
	})
	copy(out, tr.total.acc)
}

// columnVariances sets tr.colVar to the mean over users of the weighted
// column variances (1/m_i) sum_j wt_ij x_ij^2, floored.
func (tr *trainer) columnVariances() {
	d := tr.d
	if tr.colVar == nil {
		tr.colVar = make([]float64, d)
	}
	clear(tr.colVar)
	for i := range tr.ds.Users {
		u := &tr.ds.Users[i]
		m := u.Len()
		o := tr.off[i]
		for s := 0; s < m; s++ {
			f := tr.wt[o+s] / float64(m*tr.t)
			for j, v := range u.X[s*d : (s+1)*d] {
				tr.colVar[j] += f * v * v
			}
		}
	}
	mean := 0.0
	for _, v := range tr.colVar {
		mean += v / float64(d)
	}
	for j, v := range tr.colVar {
		tr.colVar[j] = math.Max(v, math.Max(1e-6*mean, 1e-300))
	}
}

// precondition sets z = D^{-1} g W^{-1}, with D the weighted column
// variances and W = sum_i w_i w_i^T, given W's upper Cholesky factor.
func (tr *trainer) precondition(g, z []float64, wchol blas64.Triangular) {
	d, r := tr.d, tr.r
	for j := 0; j < d; j++ {
		for c := 0; c < r; c++ {
			z[j*r+c] = g[j*r+c] / tr.colVar[j]
		}
	}
	Z := blas64.General{Rows: d, Cols: r, Stride: r, Data: z}
	blas64.Trsm(blas.Right, blas.NoTrans, 1, wchol, Z)
	blas64.Trsm(blas.Right, blas.Trans, 1, wchol, Z)
}

// gramW returns the upper Cholesky factor of (1/t) sum_i w_i w_i^T plus a
// jitter, or the identity when that is singular.
func (tr *trainer) gramW() blas64.Triangular {
	r := tr.r
	W := blas64.Symmetric{N: r, Stride: r, Data: make([]float64, r*r), Uplo: blas.Upper}
	blas64.Syrk(blas.Trans, 1/float64(tr.t), blas64.General{Rows: tr.t, Cols: r, Stride: r, Data: tr.w}, 0, W)
	return linalg.JitteredCholesky(r, W.Data, 1e-8)
}

// updateU takes one damped Newton step in U from the gradient grad: the
// direction solves H dir = -grad by preconditioned conjugate gradient, and
// a backtracking line search on the exact objective picks the step, cheap
// because every score is linear in U. It reports whether U moved.
func (tr *trainer) updateU(grad []float64, obj float64) bool {
	d, r := tr.d, tr.r
	n := d * r
	tr.columnVariances()
	wchol := tr.gramW()
	dir := make([]float64, n)
	res := make([]float64, n)
	for j := range res {
		res[j] = -grad[j]
	}
	z := make([]float64, n)
	tr.precondition(res, z, wchol)
	p := append([]float64(nil), z...)
	hp := make([]float64, n)
	rz := dot(res, z)
	r0 := math.Sqrt(dot(res, res))
	for it := 0; it < tr.opt.CGIterations && rz > 0; it++ {
		tr.applyH(p, hp)
		php := dot(p, hp)
		if !(php > 0) {
			break
		}
		alpha := rz / php
		for j := range dir {
			dir[j] += alpha * p[j]
			res[j] -= alpha * hp[j]
		}
		if math.Sqrt(dot(res, res)) <= 1e-12*r0 {
			break
		}
		tr.precondition(res, z, wchol)
		rzNew := dot(res, z)
		beta := rzNew / rz
		rz = rzNew
		for j := range p {
			p[j] = z[j] + beta*p[j]
		}
	}
	slope := dot(grad, dir)
	if !(slope < 0) {
		return false
	}
	// delta_ij = <x_ij, dir w_i>: the change of each score per unit step.
	tr.forUsers(func(w *worker, i int) {
		u := &tr.ds.Users[i]
		m := u.Len()
		if m == 0 {
			return
		}
		vw := blas64.Vector{N: d, Inc: 1, Data: w.vecD}
		blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: d, Cols: r, Stride: r, Data: dir},
			blas64.Vector{N: r, Inc: 1, Data: tr.w[i*r : (i+1)*r]}, 0, vw)
		o := tr.off[i]
		blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: m, Cols: d, Stride: d, Data: u.X}, vw, 0,
			blas64.Vector{N: m, Inc: 1, Data: tr.delta[o : o+m]})
	})
	step := 1.0
	for ls := 0; ls < 30; ls++ {
		if tr.objectiveAt(step) <= obj+0.25*step*slope {
			for j := range tr.u {
				tr.u[j] += step * dir[j]
			}
			return true
		}
		step /= 2
	}
	return false
}

// objectiveAt returns the mean per-user logistic loss with every score
// moved by step times its delta.
func (tr *trainer) objectiveAt(step float64) float64 {
	total := 0.0
	for i := range tr.ds.Users {
		u := &tr.ds.Users[i]
		m := u.Len()
		if m == 0 {
			continue
		}
		o := tr.off[i]
		l := 0.0
		for j := 0; j < m; j++ {
			l += loss(tr.score[o+j]+step*tr.delta[o+j], u.Y[j])
		}
		total += l / float64(m)
	}
	return total / float64(tr.t)
}

// orthonormalize replaces U by Q from U = Q R and every w_i by R w_i, so
// that every U w_i is unchanged.
func (tr *trainer) orthonormalize() error {
	r := tr.r
	rr, ok := linalg.ThinQR(tr.d, r, tr.u)
	if !ok {
		return errors.New("the U update lost rank")
	}
	linalg.FoldR(r, rr, tr.w)
	return nil
}

// initialize returns the initial U (d x r, orthonormal).
func (tr *trainer) initialize(ctx context.Context) ([]float64, error) {
	d, r := tr.d, tr.r
	if r == 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewPCG(tr.opt.Seed, 0x6c6f6769))
	if tr.opt.Init == InitRandom || d > MaxMomentDim {
		return linalg.RandomBasis(d, r, rng), nil
	}
	// M = (1/t) sum_i 1/(m(m-1)) (g g^T - sum_j a_j^2 x_j x_j^T),
	// g = sum_j a_j x_j, a_j = 2 (y_j - sigmoid(<x_j, theta_0>)): 2 y_j - 1
	// without an offset, the score of the logistic loss at theta_0 with one.
	tr.resize(d * d)
	defer tr.resize(d * r)
	tr.forUsers(func(w *worker, i int) {
		u := &tr.ds.Users[i]
		m := u.Len()
		if m < 2 {
			return
		}
		f := 1 / (float64(m) * float64(m-1) * float64(tr.t))
		g := w.vecD
		clear(g)
		if len(w.rows) < m*d {
			w.rows = make([]float64, m*d)
		}
		off := tr.userOffset(i)
		for s := 0; s < m; s++ {
			a := 2*u.Y[s] - 1
			if off != nil {
				a = 2 * (u.Y[s] - Sigmoid(off[s]))
			}
			row := w.rows[s*d : (s+1)*d]
			for j, v := range u.X[s*d : (s+1)*d] {
				g[j] += a * v
				row[j] = a * v
			}
		}
		S := blas64.Symmetric{N: d, Stride: d, Data: w.a.acc, Uplo: blas.Upper}
		blas64.Syr(f, blas64.Vector{N: d, Inc: 1, Data: g}, S)
		blas64.Syrk(blas.Trans, -f, blas64.General{Rows: m, Cols: d, Stride: d, Data: w.rows[:m*d]}, 1, S)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, _, err := linalg.TopEigenvectors(d, r, tr.total.acc)
	if err != nil {
		return nil, fmt.Errorf("moment initialisation: %w", err)
	}
	return u, nil
}

// Result is a trained model with the per-round statistics of its training.
type Result struct {
	Model  *model.Model
	Rounds []RoundStats
	// Stopped says why training ended (fit.StopStalled: the U step found
	// no decrease).
	Stopped fit.StopReason
}

// Train runs logistic AMHT-LRS on ds, whose targets must all be 0 or 1.
// When validation is not nil, its users (matched by ID) are scored every
// round by log loss, and training keeps the U with the best validation
// loss. Cancelling ctx stops training with ctx's error.
func Train(ctx context.Context, ds *dataset.Dataset, validation *dataset.Dataset, opt Options) (*Result, error) {
	res, err := train(ctx, ds, validation, opt)
	if err != nil && err != ctx.Err() {
		return nil, fmt.Errorf("logistic: train: %w", err)
	}
	return res, err
}

// train is Train with errors that do not name the package (ctx's error is
// returned as it is).
func train(ctx context.Context, ds *dataset.Dataset, validation *dataset.Dataset, opt Options) (*Result, error) {
	if err := checkTargets(ds); err != nil {
		return nil, err
	}
	if len(ds.Users) == 0 {
		return nil, errors.New("no users")
	}
	if err := opt.validate(ds.Dim()); err != nil {
		return nil, err
	}
	if validation != nil {
		if err := checkTargets(validation); err != nil {
			return nil, fmt.Errorf("validation: %w", err)
		}
	}
	opt = opt.withDefaults()
	if opt.Center {
		opt.SharedRidge = opt.sharedRidge(len(ds.Users))
	}
	if opt.Center && opt.Offset == nil {
		theta0, err := sharedFit(ctx, ds, nil, opt.SharedRidge, opt.NewtonSteps)
		if err != nil {
			return nil, fmt.Errorf("theta_0: %w", err)
		}
		opt.Offset = theta0
	}
	tr := newTrainer(ds, opt)
	var err error
	if tr.u, err = tr.initialize(ctx); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	res := &Result{Stopped: fit.StopRounds}
	mon := fit.Schedule{Rounds: opt.Rounds, Tolerance: opt.Tolerance, Patience: opt.Patience}.Monitor(validation != nil)
	var bestU []float64
	for round := 1; round <= opt.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		lossNow := tr.solveUsers()
		st := RoundStats{Round: round, TrainLoss: lossNow, InlierLoss: lossNow}
		track := lossNow
		if validation != nil {
			v := logLoss(tr.model(), validation)
			st.ValidationLoss = &v
			track = v
		}
		best, stop, why := mon.Observe(round, track, false)
		if best {
			bestU = append(bestU[:0], tr.u...)
		}
		if !stop && round < opt.Rounds && tr.r > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			grad := append([]float64(nil), tr.total.acc...)
			if !tr.updateU(grad, lossNow) {
				stop, why = true, fit.StopStalled
			} else if err := tr.orthonormalize(); err != nil {
				return nil, fmt.Errorf("round %d: %w", round, err)
			}
		}
		res.Rounds = fit.Record(res.Rounds, st, start, opt.Progress)
		if stop {
			res.Stopped = why
			break
		}
		if tr.r == 0 {
			break
		}
	}
	if tr.r > 0 {
		// Refit every user from scratch for the final U (the best one by
		// validation, if any), so that the model's users are exactly what
		// Personalize gives for them. Without U, round 1's fits are
		// already that.
		if bestU != nil {
			copy(tr.u, bestU)
		}
		clear(tr.w)
		clear(tr.nnz)
		tr.solveUsers()
	}
	res.Model = tr.model()
	res.Model.Config = opt.config()
	return res, nil
}

// model builds a model.Model from the trainer's state.
func (tr *trainer) model() *model.Model {
	method := model.MethodLRS
	switch {
	case tr.k == 0:
		method = model.MethodLowRank
	case tr.r == 0 && tr.k == tr.d && tr.opt.Offset != nil:
		method = model.MethodFinetune
	case tr.r == 0 && tr.k == tr.d:
		method = model.MethodLocal
	case tr.r == 0 && tr.opt.Offset != nil:
		method = model.MethodGlobalSparse
	}
	m := &model.Model{Method: method, Dim: tr.d, Rank: tr.r, Sparsity: tr.k, Features: tr.ds.Features,
		U: append([]float64(nil), tr.u...), Users: make([]model.User, tr.t), Loss: model.LossLogistic}
	if tr.opt.Offset != nil {
		m.Theta0 = append([]float64(nil), tr.opt.Offset...)
	}
	if m.U == nil {
		m.U = []float64{}
	}
	for i := range tr.ds.Users {
		k := tr.k
		m.Users[i] = model.User{ID: tr.ds.Users[i].ID, W: append([]float64{}, tr.w[i*tr.r:(i+1)*tr.r]...),
			Index: append([]int32{}, tr.idx[i*k:i*k+tr.nnz[i]]...), Value: append([]float64{}, tr.val[i*k:i*k+tr.nnz[i]]...)}
	}
	return m
}

func (o *Options) config() model.Config {
	c := model.Config{Version: model.ConfigVersion, Loss: model.LossLogistic, Method: model.MethodLRS,
		Rank: o.Rank, Sparsity: o.Sparsity, Rounds: o.Rounds, Tolerance: o.Tolerance, Ridge: o.Ridge,
		Init: [...]string{"moments", "random"}[o.Init], NewtonSteps: o.NewtonSteps, CGIterations: o.CGIterations,
		Seed: o.Seed, Center: o.Center}
	if o.Sparsity == 0 {
		c.Method = model.MethodLowRank
	}
	if o.Center {
		c.Theta0Ridge = o.SharedRidge
	}
	return c
}

// logLoss returns the mean over the users of ds known to m of their mean
// logistic loss under m, or NaN when there are none.
func logLoss(m *model.Model, ds *dataset.Dataset) float64 {
	idx := m.Index()
	theta := make([]float64, m.Dim)
	d := m.Dim
	total, n := 0.0, 0
	for i := range ds.Users {
		u := &ds.Users[i]
		p, ok := idx[u.ID]
		if !ok || u.Len() == 0 {
			continue
		}
		m.Theta(&m.Users[p], theta)
		l := 0.0
		for s := 0; s < u.Len(); s++ {
			l += loss(dot(u.X[s*d:(s+1)*d], theta), u.Y[s])
		}
		total += l / float64(u.Len())
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return total / float64(n)
}
