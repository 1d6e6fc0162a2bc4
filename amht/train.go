package amht

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
	"github.com/lrsp/lrsp/model"
)

// params holds the per-user parameters of all users during training, in
// flat arrays so that the hot loop writes without allocating.
type params struct {
	r, k int
	w    []float64 // t x r
	idx  []int32   // t x k
	val  []float64 // t x k
	nnz  []int     // t
}

func newParams(t, r, k int) *params {
	return &params{r: r, k: k, w: make([]float64, t*r), idx: make([]int32, t*k), val: make([]float64, t*k), nnz: make([]int, t)}
}

func (p *params) user(i int) (w []float64, idx []int32, val []float64) {
	return p.w[i*p.r : (i+1)*p.r], p.idx[i*p.k : i*p.k+p.nnz[i]], p.val[i*p.k : i*p.k+p.nnz[i]]
}

// trainer holds the state of one training run.
type trainer struct {
	opt    Options
	src    dataset.Source
	t      int       // number of users
	chunks []int     // user boundaries of the chunks handed to workers
	theta0 []float64 // optional shared offset, length d, or nil
	d, r   int
	maxM   int
	u      []float64 // d x r
	ut     []float64 // r x d: U transposed, refreshed before the per-user solves
	p      *params
	colVar []float64 // d: mean over users of (1/m_i) ||X_i[:, j]||^2
	loss   []float64 // t: each user's training MSE after its last solve
	skip   []bool    // t: users left out of this round's U update as outliers
	left   []bool    // t: users whose solve left them out of the U gradient (see cut)
	cut    float64   // the last round's outlier cut on the MSE, +Inf before
	deep   []bool    // t: users that were ever outliers get the deep search from then on
	next   []int32   // t: the round of each user's next full support search
	gap    []uint8   // t: each user's current rounds between full searches
	work   []*worker
	slots  []*accum  // per-chunk partial sums (see forChunks)
	total  accum     // the sum over chunks of the last forChunks
	tmp    []float64 // d x r scratch for untranspose
	step   float64   // the step of UpdateGradient (see Options.StepSize)
	// ctx cancels the passes over the users between chunks.
	ctx context.Context
	// merged, when not nil, is told the users of each chunk as its sums
	// are merged, in order (the final pass's progress).
	merged func(users int)
}

// worker holds one goroutine's scratch.
type worker struct {
	s    *solver
	out  userFit
	a    *accum    // the partial sum of the chunk being processed
	vecD []float64 // d
	vecM []float64 // maxM
	prev []int32   // k: the support before the user's solve
	sc   dataset.Scratch
}

// accum is a partial sum over the users of one chunk, or the total over
// all chunks: a matrix (d x r, or d x d during initialisation), a d-vector
// and a scalar.
type accum struct {
	acc  []float64
	vec  []float64
	sum  float64
	skip bool // the chunk was not read: nothing to add
	// searched and deep count the users whose support the chunk's solves
	// searched, and searched deeply.
	searched, deep int
}

func (a *accum) reset() {
	clear(a.acc)
	clear(a.vec)
	a.sum = 0
	a.skip = false
	a.searched, a.deep = 0, 0
}

func (a *accum) add(b *accum) {
	for j, v := range b.acc {
		a.acc[j] += v
	}
	for j, v := range b.vec {
		a.vec[j] += v
	}
	a.sum += b.sum
	a.searched += b.searched
	a.deep += b.deep
}

// resize sets the length of the accumulated matrices (d x r for the U
// gradient, d x d for the moment matrices of the initialisation).
func (tr *trainer) resize(n int) {
	for _, a := range append(tr.slots, &tr.total) {
		if cap(a.acc) < n || cap(a.acc) > 2*n {
			a.acc = make([]float64, n)
		}
		a.acc = a.acc[:n]
	}
}

// chunkBytes is the feature data handed to a worker at a time: large enough
// for efficient sequential reads from disk, small enough to balance load.
var chunkBytes = 1 << 20

func newTrainer(src dataset.Source, theta0 []float64, opt Options) *trainer {
	d := src.Dim()
	t := src.NumUsers()
	maxM := 0
	tr := &trainer{opt: opt, src: src, t: t, theta0: theta0, d: d, r: opt.Rank, step: opt.StepSize, ctx: context.Background()}
	if tr.step == 0 {
		tr.step = relaxedStep
	}
	tr.chunks = append(tr.chunks, 0)
	size := 0
	for i := 0; i < t; i++ {
		m := src.UserLen(i)
		maxM = max(maxM, m)
		size += 8 * m * (d + 1)
		if size >= chunkBytes || i == t-1 {
			tr.chunks = append(tr.chunks, i+1)
			size = 0
		}
	}
	tr.maxM = maxM
	tr.p = newParams(t, opt.Rank, opt.Sparsity)
	tr.loss = make([]float64, t)
	tr.skip = make([]bool, t)
	tr.left = make([]bool, t)
	tr.cut = math.Inf(1)
	tr.deep = make([]bool, t)
	tr.next = make([]int32, t)
	tr.gap = make([]uint8, t)
	chunks := len(tr.chunks) - 1
	tr.work = make([]*worker, fit.Workers(opt.Workers, chunks))
	for i := range tr.work {
		tr.work[i] = &worker{
			s: newSolver(d, opt.Rank, opt.Sparsity, maxM, opt.Pursuit, opt.Ridge),
			out: userFit{w: make([]float64, opt.Rank), idx: make([]int32, opt.Sparsity),
				val: make([]float64, opt.Sparsity)},
			vecD: make([]float64, d), vecM: make([]float64, maxM), prev: make([]int32, 0, opt.Sparsity),
		}
		tr.work[i].s.deepFits = opt.DeepFits
	}
	tr.slots = make([]*accum, fit.Slots(opt.Workers, chunks))
	for i := range tr.slots {
		tr.slots[i] = &accum{vec: make([]float64, d)}
	}
	tr.total.vec = make([]float64, d)
	tr.resize(d * opt.Rank)
	return tr
}

// forUsers runs f for every user in parallel over the workers, handing out
// chunks of consecutive users, and sums the chunks' accumulators into
// tr.total. x and y are the user's samples, valid during the call.
func (tr *trainer) forUsers(f func(w *worker, i int, x, y []float64)) error {
	return tr.forChunks(nil, f)
}

// forChunks is forUsers over the chunks of users lo..hi-1 for which need
// reports true (every chunk when need is nil): the others are not read.
//
// Each chunk accumulates into its own accum (w.a during f), and the
// chunks' sums are added into tr.total in chunk order. The chunks depend
// on the data alone, and one worker runs a chunk's users in order, so
// every sum, and so the model, is bit-identical for any number of workers.
func (tr *trainer) forChunks(need func(lo, hi int) bool, f func(w *worker, i int, x, y []float64)) error {
	tr.total.reset()
	return fit.ForEachOrdered(tr.ctx, len(tr.chunks)-1, len(tr.work), func(k, slot, c int) error {
		w, a := tr.work[k], tr.slots[slot]
		lo, hi := tr.chunks[c], tr.chunks[c+1]
		if need != nil && !need(lo, hi) {
			a.skip = true
			return nil
		}
		a.reset()
		w.a = a
		return tr.src.Scan(lo, hi, &w.sc, func(i int, x, y []float64) error {
			f(w, i, x, y)
			return nil
		})
	}, func(slot, c int) {
		if a := tr.slots[slot]; !a.skip {
			tr.total.add(a)
		}
		if tr.merged != nil {
			tr.merged(tr.chunks[c+1] - tr.chunks[c])
		}
	})
}

// target returns y minus X theta0 for a user, in the worker's buffer when
// there is an offset.
func (tr *trainer) target(w *worker, x, y []float64) []float64 {
	if tr.theta0 == nil {
		return y
	}
	m := len(y)
	t := w.vecM[:m]
	vec.MulVec(t, x[:m*tr.d], tr.theta0)
	for s, v := range y {
		t[s] = v - t[s]
	}
	return t
}

// solveUsers fits every user's (w, b) for the current U. It returns the
// mean per-user training MSE and leaves in tr.total.acc the
// negative half-gradient of the objective in U,
// sum_i (1/m_i) X_i^T resid_i w_i^T, computed while X_i is in cache
// (except in the final solves, round 0, which leave it zero).
//
// In round 1, and whenever round is 0, every user's support is searched.
// After that a user searches again only when its turn comes (see
// schedule) and otherwise keeps its support while that is still a fixed
// point of hard thresholding (see solver.solve).
func (tr *trainer) solveUsers(minAbs float64, round int) (float64, error) {
	d, r, k := tr.d, tr.r, tr.opt.Sparsity
	tr.ut = linalg.TransposeInto(tr.ut, d, r, tr.u)
	err := tr.forUsers(func(w *worker, i int, x, y []float64) {
		m := len(y)
		if m == 0 {
			return
		}
		old := tr.p.idx[i*k : i*k+tr.p.nnz[i]]
		w.prev = append(w.prev[:0], old...)
		search := round <= 1 || tr.opt.Refresh <= 1 || round >= int(tr.next[i])
		var keep []int32
		if !search {
			keep = w.prev
		}
		w.out.w = tr.p.w[i*r : (i+1)*r]
		w.out.idx = tr.p.idx[i*k : (i+1)*k]
		w.out.val = tr.p.val[i*k : (i+1)*k]
		// The deep search costs tens of ordinary searches. During training
		// it runs for outliers only, in their search rounds but at most
		// once every Refresh rounds: outliers are left out of the U update,
		// so this delays only their own fits. The final solve (round 0)
		// gives it to every user, as Personalize does: with few samples per
		// user it finds far better supports than the greedy search.
		deep := search && (round == 0 || tr.deep[i] && (round == 1 || (round+i)%tr.opt.Refresh == 0))
		w.s.solve(x, tr.target(w, x, y), tr.ut, minAbs, deep, keep, &w.out)
		if w.s.searched {
			w.a.searched++
			if deep {
				w.a.deep++
			}
		}
		if round > 0 && (w.s.searched || !w.s.grad) {
			tr.schedule(i, round, slices.Equal(w.prev, w.out.idx[:w.out.nnz]))
		}
		tr.p.nnz[i] = w.out.nnz
		inv := 1 / float64(m)
		w.a.sum += w.out.rss * inv
		tr.loss[i] = w.out.rss * inv
		if r == 0 || round == 0 {
			return // no U update follows the final solves
		}
		// A user over the last round's outlier cut is left out now and,
		// should it fall under this round's cut, added back by trimOutliers:
		// outliers mostly stay outliers, so that few chunks are read twice.
		tr.left[i] = tr.loss[i] > tr.cut && tr.loss[i] > 0
		if tr.left[i] {
			return
		}
		// acc += (1/m) w (X^T resid)^T, transposed (see addOuter); a kept
		// support, and a search that ended in HTP on its own fit, have
		// X^T resid already.
		g := w.s.corr
		if !w.s.grad {
			g = w.vecD
			vec.MulVecTrans(g, x[:m*d], w.out.resd)
		}
		addOuter(w.a.acc, inv, w.out.w, g)
	})
	tr.untranspose()
	return tr.total.sum / float64(tr.t), err
}

// addOuter adds alpha w g^T to the r x d matrix acc (r = len(w),
// d = len(g)): the accumulation of a user's term alpha g w^T of a d x r
// sum, kept transposed so that it takes r axpys of length d instead of d
// of length r. untranspose turns the total into the d x r layout.
func addOuter(acc []float64, alpha float64, w, g []float64) {
	d := len(g)
	for c, v := range w {
		vec.Axpy(alpha*v, g, acc[c*d:(c+1)*d])
	}
}

// untranspose replaces tr.total.acc, an r x d sum built by addOuter, by
// its d x r transpose.
func (tr *trainer) untranspose() {
	tr.tmp = linalg.TransposeInto(tr.tmp, tr.r, tr.d, tr.total.acc)
	copy(tr.total.acc, tr.tmp)
}

// schedule sets the round of user i's next full support search after a
// search in round. A search that confirmed the user's support doubles the
// gap between its searches, up to Refresh rounds; one that changed it
// brings the user back to searching every round. Users with equal gaps are
// spread over the rounds by their position, so that rounds cost alike.
func (tr *trainer) schedule(i, round int, same bool) {
	g := 1
	if same && tr.gap[i] > 0 {
		g = min(2*int(tr.gap[i]), tr.opt.Refresh)
	}
	tr.gap[i] = uint8(g)
	tr.next[i] = int32(round + g - i%(g/2+1))
}

// trimOutliers marks the users whose training MSE exceeds TrimFactor times
// the median as outliers, to be left out of the U update, and removes their
// contribution from grad. In the realizable model these are the few users
// whose sparse support was not found yet; their residuals would otherwise
// bias U away from the subspace that the rest of the users agree on.
//
// It returns the mean training MSE of the users kept, which is what the
// stopping rules watch (a few users stuck on a wrong support would
// otherwise hide the convergence of everyone else), and the number of
// outliers. solveUsers left out of grad the users over the last round's
// cut; the users whose status differs under this round's cut have their
// contributions recomputed, with the sign that corrects grad, in one
// parallel pass over the chunks that hold them (none, in most rounds).
func (tr *trainer) trimOutliers(grad []float64) (inlier float64, outliers int, err error) {
	d, r := tr.d, tr.r
	if tr.opt.TrimFactor < 0 || r == 0 {
		return mean(tr.loss), 0, nil
	}
	med := median(tr.loss)
	cut := tr.opt.TrimFactor * med
	tr.cut = cut
	kept := 0.0
	flips := false
	for i := 0; i < tr.t; i++ {
		tr.skip[i] = tr.loss[i] > cut && tr.loss[i] > 0
		tr.deep[i] = tr.deep[i] || tr.skip[i]
		flips = flips || tr.skip[i] != tr.left[i]
		if tr.skip[i] {
			outliers++
		} else {
			kept += tr.loss[i]
		}
	}
	inlier = kept / float64(max(tr.t-outliers, 1))
	if !flips {
		return inlier, outliers, nil
	}
	// grad -= (1/m) X^T resid w^T for the new outliers, += for the users
	// left out that are no longer outliers, reading only their chunks.
	flipped := func(i int) bool { return tr.skip[i] != tr.left[i] }
	err = tr.forChunks(func(lo, hi int) bool { return anyIn(lo, hi, flipped) },
		func(w *worker, i int, x, y []float64) {
			m := len(y)
			if !flipped(i) || m == 0 {
				return
			}
			wi, idx, val := tr.p.user(i)
			theta := w.vecD
			for j := 0; j < d; j++ {
				s := 0.0
				if tr.theta0 != nil {
					s = tr.theta0[j]
				}
				theta[j] = s + dot(tr.u[j*r:(j+1)*r], wi)
			}
			for q, j := range idx {
				theta[j] += val[q]
			}
			e := w.vecM[:m]
			vec.MulVec(e, x[:m*d], theta)
			for s, v := range y {
				e[s] = v - e[s]
			}
			// g = X^T e, written over theta, which is no longer needed.
			vec.MulVecTrans(w.vecD, x[:m*d], e)
			sign := 1.0
			if tr.skip[i] {
				sign = -1
			}
			addOuter(w.a.acc, sign/float64(m), wi, w.vecD)
		})
	tr.untranspose()
	if err != nil {
		return 0, 0, err
	}
	for j, v := range tr.total.acc {
		grad[j] += v
	}
	return inlier, outliers, nil
}

// anyIn reports whether f is true for any of lo..hi-1.
func anyIn(lo, hi int, f func(int) bool) bool {
	for i := lo; i < hi; i++ {
		if f(i) {
			return true
		}
	}
	return false
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

func median(v []float64) float64 {
	c := append([]float64(nil), v...)
	slices.Sort(c)
	if len(c) == 0 {
		return 0
	}
	return c[len(c)/2]
}

// applyH sets out = H(v) = sum_i (1/m_i) X_i^T X_i V w_i w_i^T.
func (tr *trainer) applyH(v, out []float64) error {
	d, r := tr.d, tr.r
	V := blas64.General{Rows: d, Cols: r, Stride: r, Data: v}
	err := tr.forUsers(func(w *worker, i int, x, _ []float64) {
		m := tr.src.UserLen(i)
		if m == 0 || tr.skip[i] {
			return
		}
		wi := blas64.Vector{N: r, Inc: 1, Data: tr.p.w[i*r : (i+1)*r]}
		vw := blas64.Vector{N: d, Inc: 1, Data: w.vecD}
		blas64.Gemv(blas.NoTrans, 1, V, wi, 0, vw)
		// acc += (1/m) w (X^T X vw)^T, transposed.
		xm := w.vecM[:m]
		vec.MulVec(xm, x[:m*d], vw.Data)
		vec.MulVecTrans(vw.Data, x[:m*d], xm)
		addOuter(w.a.acc, 1/float64(m), wi.Data, vw.Data)
	})
	tr.untranspose()
	copy(out, tr.total.acc)
	return err
}

// precondition sets z = D^{-1} g W^{-1}, where D is the diagonal of mean
// column variances and W = sum_i w_i w_i^T (with a small jitter); wchol is
// the Cholesky factor of W.
func (tr *trainer) precondition(g, z []float64, wchol blas64.Triangular) {
	d, r := tr.d, tr.r
	for j := 0; j < d; j++ {
		s := 1 / tr.colVar[j]
		for c := 0; c < r; c++ {
			z[j*r+c] = g[j*r+c] * s
		}
	}
	// Z W^{-1} with W = R^T R (R upper triangular): two triangular solves.
	Z := blas64.General{Rows: d, Cols: r, Stride: r, Data: z}
	blas64.Trsm(blas.Right, blas.NoTrans, 1, wchol, Z)
	blas64.Trsm(blas.Right, blas.Trans, 1, wchol, Z)
}

// gramW returns the upper Cholesky factor of sum_i w_i w_i^T plus jitter.
// With inliersOnly, the sum leaves out the users that the U update leaves
// out (tr.skip), as H does.
func (tr *trainer) gramW(inliersOnly bool) blas64.Triangular {
	r := tr.r
	W := blas64.Symmetric{N: r, Stride: r, Data: make([]float64, r*r), Uplo: blas.Upper}
	if !inliersOnly {
		blas64.Syrk(blas.Trans, 1, blas64.General{Rows: tr.t, Cols: r, Stride: r, Data: tr.p.w}, 0, W)
		return linalg.JitteredCholesky(r, W.Data, 1e-10)
	}
	for i := 0; i < tr.t; i++ {
		if tr.skip[i] {
			continue
		}
		w := tr.p.w[i*r : (i+1)*r]
		for a, v := range w {
			vec.Axpy(v, w[a:], W.Data[a*r+a:(a+1)*r])
		}
	}
	return linalg.JitteredCholesky(r, W.Data, 1e-10)
}

// updateU improves U given every user's (w, b), starting from the negative
// half-gradient grad computed by solveUsers.
func (tr *trainer) updateU(grad []float64) error {
	d, r := tr.d, tr.r
	n := d * r
	// The gradient step counts in W only the users in the update; CG,
	// which corrects for its preconditioner, keeps the sum over all users.
	wchol := tr.gramW(tr.opt.Update == UpdateGradient)
	z := make([]float64, n)
	tr.precondition(grad, z, wchol)
	if tr.opt.Update == UpdateGradient {
		for j := range tr.u {
			tr.u[j] += tr.step * z[j]
		}
		return nil
	}
	// Preconditioned conjugate gradient on H(U) = rhs, warm-started at U:
	// the residual rhs - H(U) is grad.
	res := append([]float64(nil), grad...)
	p := append([]float64(nil), z...)
	hp := make([]float64, n)
	rz := dot(res, z)
	r0 := math.Sqrt(dot(res, res))
	for it := 0; it < tr.opt.CGIterations && rz > 0; it++ {
		if err := tr.applyH(p, hp); err != nil {
			return err
		}
		php := dot(p, hp)
		if !(php > 0) {
			break
		}
		alpha := rz / php
		for j := range tr.u {
			tr.u[j] += alpha * p[j]
			res[j] -= alpha * hp[j]
		}
		if math.Sqrt(dot(res, res)) <= 1e-13*r0 {
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
	return nil
}

// orthonormalize replaces U by Q from U = Q R and every w_i by R w_i, so
// that every U w_i is unchanged.
func (tr *trainer) orthonormalize() error {
	r := tr.r
	rr, ok := linalg.ThinQR(tr.d, r, tr.u)
	if !ok {
		return errors.New("the U update lost rank: the data do not determine a rank-r subspace")
	}
	linalg.FoldR(r, rr, tr.p.w)
	return nil
}

// stats sets tr.colVar, the mean over users of (1/m_i) ||X_i[:, j]||^2,
// flooring tiny values so that the preconditioner stays finite for
// constant-zero columns, and returns the mean over users of the mean
// squared target.
func (tr *trainer) stats() (float64, error) {
	d := tr.d
	err := tr.forUsers(func(w *worker, _ int, x, y []float64) {
		m := len(y)
		inv := 1 / float64(m)
		for s := 0; s < m; s++ {
			for j, v := range x[s*d : (s+1)*d] {
				w.a.vec[j] += v * v * inv
			}
		}
		t := tr.target(w, x, y)
		w.a.sum += dot(t, t) * inv
	})
	if err != nil {
		return 0, err
	}
	tr.colVar = append([]float64(nil), tr.total.vec...)
	mean := 0.0
	for j := range tr.colVar {
		tr.colVar[j] /= float64(tr.t)
		mean += tr.colVar[j] / float64(d)
	}
	for j, v := range tr.colVar {
		if v < 1e-6*mean || v == 0 {
			tr.colVar[j] = math.Max(1e-6*mean, 1e-300)
		}
	}
	return tr.total.sum / float64(tr.t), nil
}

// Result is a trained model with the per-round statistics of its training.
type Result struct {
	Model  *model.Model
	Rounds []RoundStats
	// Stopped says why training ended.
	Stopped StopReason
	// TrainLoss is the mean per-user training MSE of the published model,
	// after the final per-user solves (which search deeper than the
	// rounds do, so it is usually below the last round's TrainLoss).
	TrainLoss float64
	// Timing says how long the passes before the first round and the
	// final per-user solves took.
	Timing fit.Timing
}

// Train runs AMHT-LRS on ds, whose users must all have targets. When
// validation is not nil, its users (matched by ID) score every round, and
// training keeps the U with the best validation loss. Cancelling ctx stops
// training at the end of the current round with ctx's error.
func Train(ctx context.Context, ds *dataset.Dataset, validation *dataset.Dataset, opt Options) (*Result, error) {
	return TrainSource(ctx, ds, validation, opt)
}

// TrainSource is Train for data that may be streamed from disk: every round
// reads each user's samples once for the per-user solves (and, with
// UpdateCG, once more per conjugate-gradient iteration; users that crossed
// the outlier cut since the last round are read again), holding only the
// chunks being processed in memory.
func TrainSource(ctx context.Context, src dataset.Source, validation *dataset.Dataset, opt Options) (*Result, error) {
	if !src.HasTargets() {
		return nil, errors.New("amht: train: the data have no target column")
	}
	if src.NumUsers() == 0 {
		return nil, errors.New("amht: train: no users")
	}
	if err := opt.validate(src.Dim()); err != nil {
		return nil, fmt.Errorf("amht: train: %w", err)
	}
	opt = opt.withDefaults()
	setup := time.Now()
	tr := newTrainer(src, opt.Offset, opt)
	tr.ctx = ctx
	scale, err := tr.stats()
	if err != nil {
		return nil, fmt.Errorf("amht: train: %w", err)
	}
	if tr.u, err = tr.initialize(ctx); err != nil {
		return nil, fmt.Errorf("amht: train: init: %w", err)
	}
	var val *validator
	if validation != nil {
		val = newValidator(src, validation)
	}
	res := &Result{Stopped: fit.StopRounds}
	res.Timing.SetupSeconds = time.Since(setup).Seconds()
	minAbs := 0.0
	if opt.Threshold == ThresholdValue {
		minAbs = math.Sqrt(scale)
	}
	mon := fit.Schedule{Rounds: opt.Rounds, Tolerance: opt.Tolerance, Patience: opt.Patience}.Monitor(val != nil)
	var bestU []float64
	prevInlier := 0.0
	for round := 1; round <= opt.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		loss, err := tr.solveUsers(minAbs, round)
		if err != nil {
			return nil, fmt.Errorf("amht: train: round %d: %w", round, err)
		}
		searched, deepSearched := tr.total.searched, tr.total.deep
		grad := append([]float64(nil), tr.total.acc...)
		inlier, outliers, err := tr.trimOutliers(grad)
		if err != nil {
			return nil, fmt.Errorf("amht: train: round %d: %w", round, err)
		}
		if opt.StepSize == 0 && round > 1 && inlier > prevInlier {
			tr.step = 1 // the over-relaxed step overshot: see Options.StepSize
		}
		prevInlier = inlier
		st := RoundStats{Round: round, TrainLoss: loss, InlierLoss: inlier, Outliers: outliers,
			Searched: searched, Deep: deepSearched}
		track := inlier
		if val != nil {
			v := val.loss(tr)
			st.ValidationLoss = &v
			track = v
		}
		best, stop, why := mon.Observe(round, track, inlier <= 1e-28*scale)
		if best {
			bestU = append(bestU[:0], tr.u...)
		}
		if !stop && round < opt.Rounds && tr.r > 0 {
			if err := tr.updateU(grad); err != nil {
				return nil, fmt.Errorf("amht: train: round %d: %w", round, err)
			}
			if err := tr.orthonormalize(); err != nil {
				return nil, fmt.Errorf("amht: train: round %d: %w", round, err)
			}
		}
		minAbs /= 2
		res.Rounds = fit.Record(res.Rounds, st, start, opt.Progress)
		if stop {
			res.Stopped = why
			break
		}
		if tr.r == 0 {
			// Nothing shared to update: one round of per-user solves is final.
			break
		}
	}
	if bestU != nil {
		copy(tr.u, bestU)
	}
	// Final per-user solves for the U that is published.
	final := time.Now()
	if opt.FinalProgress != nil {
		done := 0
		opt.FinalProgress(0, tr.t)
		tr.merged = func(users int) {
			done += users
			opt.FinalProgress(done, tr.t)
		}
	}
	res.TrainLoss, err = tr.solveUsers(minAbs, 0)
	tr.merged = nil
	if err != nil {
		return nil, fmt.Errorf("amht: train: final per-user solves: %w", err)
	}
	res.Timing.FinalSeconds = time.Since(final).Seconds()
	res.Model = tr.model(model.MethodLRS)
	res.Model.Config = opt.config()
	switch {
	case opt.Sparsity == 0:
		res.Model.Method = model.MethodLowRank
	case opt.Rank == 0 && opt.Offset != nil:
		res.Model.Method = model.MethodGlobalSparse
	}
	return res, nil
}

// model builds a model.Model from the trainer's state.
func (tr *trainer) model(method string) *model.Model {
	m := &model.Model{Method: method, Dim: tr.d, Rank: tr.r, Sparsity: tr.opt.Sparsity, Features: tr.src.FeatureNames(),
		U: tr.u, Theta0: tr.theta0, Users: make([]model.User, tr.t)}
	for i := 0; i < tr.t; i++ {
		w, idx, val := tr.p.user(i)
		m.Users[i] = model.User{ID: tr.src.UserID(i), W: append([]float64(nil), w...),
			Index: append([]int32(nil), idx...), Value: append([]float64(nil), val...)}
	}
	return m
}

func (o *Options) config() model.Config {
	method := model.MethodLRS
	if o.Sparsity == 0 {
		method = model.MethodLowRank
	}
	return model.Config{Version: model.ConfigVersion, Method: method, Rank: o.Rank, Sparsity: o.Sparsity,
		Rounds: o.Rounds, Tolerance: o.Tolerance, Init: o.Init.String(), Update: o.Update.String(),
		Threshold: o.Threshold.String(), Pursuit: o.Pursuit, Ridge: o.Ridge, Seed: o.Seed, Refresh: o.Refresh}
}

// validator scores the current parameters on held-out samples.
type validator struct {
	val   *dataset.Dataset
	pos   []int // for each validation user, its training position or -1
	theta []float64
}

func newValidator(train dataset.Source, val *dataset.Dataset) *validator {
	idx := make(map[string]int, train.NumUsers())
	for i := 0; i < train.NumUsers(); i++ {
		idx[train.UserID(i)] = i
	}
	v := &validator{val: val, pos: make([]int, len(val.Users)), theta: make([]float64, train.Dim())}
	for i := range val.Users {
		p, ok := idx[val.Users[i].ID]
		if !ok {
			p = -1
		}
		v.pos[i] = p
	}
	return v
}

func (v *validator) loss(tr *trainer) float64 {
	d, r := tr.d, tr.r
	total, n := 0.0, 0
	for i := range v.val.Users {
		p := v.pos[i]
		u := &v.val.Users[i]
		if p < 0 || u.Len() == 0 {
			continue
		}
		w, idx, val := tr.p.user(p)
		for j := 0; j < d; j++ {
			s := 0.0
			if tr.theta0 != nil {
				s = tr.theta0[j]
			}
			for c := 0; c < r; c++ {
				s += tr.u[j*r+c] * w[c]
			}
			v.theta[j] = s
		}
		for q, j := range idx {
			v.theta[j] += val[q]
		}
		se := 0.0
		for s := 0; s < u.Len(); s++ {
			e := u.Y[s] - dot(u.X[s*d:(s+1)*d], v.theta)
			se += e * e
		}
		total += se / float64(u.Len())
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return total / float64(n)
}
