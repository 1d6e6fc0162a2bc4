package amht

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"

	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
)

// solver fits one user's (w, b) with U fixed. It owns every scratch buffer
// that the fit needs, sized for the largest user, so that the per-user hot
// loop does not allocate. A solver is used by one goroutine at a time.
type solver struct {
	d, r, k int
	kEff    int // the support bound for the current user
	pursuit Pursuit
	ridge   float64
	// exactRSS is the residual below which a fit counts as exact.
	exactRSS float64
	// grad says that corr holds X^T resid for the fit that solve returned.
	grad bool
	// searched says that solve searched the support (it was not kept).
	searched bool
	// fresh says that corr holds X^T resid for the fit in z and resid:
	// htp sets it when it ends on the fit it computed corr for, and lsq
	// clears it.
	fresh bool

	a       []float64 // r x m: (X U)^T, column c of X U at a[c*m:(c+1)*m]
	arow    []float64 // r: one row of X U
	design  []float64 // (r+k) x m: [X U | X_S] column-major
	tmpM    []float64 // m scratch
	gram    []float64 // (r+k) x (r+k)
	z       []float64 // r+k coefficients
	resid   []float64 // m
	target  []float64 // m: y minus any fixed offset
	corr    []float64 // d
	step    []float64 // d: htp's gradient step
	pnorm   []float64 // d: squared norm of each column of X after projecting out X U
	ipnorm  []float64 // d: 1/pnorm, 0 for unusable columns
	proj    []float64 // r x d
	moment  []float64 // m x d scratch for the moment initialisation
	supp    []int     // current support
	best    []int
	trial   []int
	starts  []int
	overall []int
	prev    []int  // the kept support while a search runs
	inS     []bool // d

	// The incremental search (deepsearch.go): the factor of the last fit,
	// the supports confirmed as local optima, and the fits counted against
	// budget (no limit when 0), which newUser sets from deepFits
	// (Options.DeepFits). capped records that the budget ended a search;
	// refactor makes every fit form and factor its whole system and turns
	// pruning and the optima off, as before the incremental search (for
	// tests).
	f        factor
	deepFits int
	optBuf   []int
	optN     []int
	key      []int
	fits     int
	budget   int
	capped   bool
	refactor bool
	// The removals of the user's exchange sweeps (see removal): rem[:remN]
	// are kept; remScratch serves refactor mode and a full cache.
	rem        []removed
	remN       int
	remScratch removed
}

func newSolver(d, r, k, maxM int, pursuit Pursuit, ridge float64) *solver {
	n := r + k
	s := &solver{
		d: d, r: r, k: k, pursuit: pursuit, ridge: ridge,
		a: make([]float64, maxM*r), arow: make([]float64, r), tmpM: make([]float64, maxM), design: make([]float64, maxM*n), gram: make([]float64, n*n),
		z: make([]float64, n), resid: make([]float64, maxM), target: make([]float64, maxM),
		corr: make([]float64, d), step: make([]float64, d), pnorm: make([]float64, d), ipnorm: make([]float64, d), proj: make([]float64, r*d),
		supp: make([]int, 0, k), best: make([]int, 0, k), trial: make([]int, 0, k), starts: make([]int, 0, deepStarts), overall: make([]int, 0, k), prev: make([]int, 0, k), inS: make([]bool, d),
		f: newFactor(d, r, k, maxM), optBuf: make([]int, 0, (deepStarts+1)*k), optN: make([]int, 0, deepStarts+1), key: make([]int, 0, k),
	}
	s.rem = newRemoved(removedCache+1, k)
	s.remScratch, s.rem = s.rem[removedCache], s.rem[:removedCache]
	return s
}

// swapCandidates is the number of replacement columns that the exchange
// step tries for each support member, best-correlated first.
const swapCandidates = 3

// deepStarts is the number of first columns from which a deep search
// restarts the greedy pursuit.
const deepStarts = 12

// userFit holds the result of one user's solve.
type userFit struct {
	w    []float64 // r, written in place
	idx  []int32   // up to k, written in place
	val  []float64 // up to k
	nnz  int
	rss  float64 // residual sum of squares
	resd []float64
}

// solve fits user (x, y) with basis U, given transposed as ut (r x d): it minimises ||y - X(U w + b)||^2 +
// ridge*m*||(w, b)||^2 over w and k-sparse b, whose support is searched by
// the solver's pursuit. minAbs > 0 drops entries of b smaller in magnitude
// (the value-thresholding operator). deep asks for a wider support search,
// for users whose last fit was an outlier. The residual is left in
// s.resid[:m].
//
// When keep is not nil it is the user's support from its previous solve:
// solve first refits on it and keeps it, without searching, when it is
// still a fixed point of hard thresholding for the new U (see kept). Only
// when it is not does solve search, and then it still returns the kept
// support if the search finds nothing with a lower residual. After a kept
// support, and after a search that ended in HTP on its own fit, s.grad
// is true and s.corr holds X^T resid.
func (s *solver) solve(x, y, ut []float64, minAbs float64, deep bool, keep []int32, out *userFit) {
	d, r := s.d, s.r
	m := len(y)
	copy(s.target[:m], y)
	s.grad, s.searched, s.fresh = false, false, false
	// A = X U, stored transposed, by rows of X against the rows of U^T:
	// the shapes are too thin for gonum's blocked (and, above a size,
	// parallel and allocating) Gemm.
	for i := 0; i < m; i++ {
		vec.DotRows(s.arow, x[i*d:(i+1)*d], ut[:r*d])
		for c, v := range s.arow {
			s.a[c*m+i] = v
		}
	}
	// A support close to m - r lets the user interpolate its samples; cap
	// it at half the samples left after w, so that every fit keeps as many
	// residual degrees of freedom as it has non-zeros in b.
	s.kEff = min(s.k, max((m-s.r)/2, 0))
	s.newUser()
	s.exactRSS = 1e-24 * dot(s.target[:m], s.target[:m])
	var rss float64
	switch {
	case s.kEff == 0:
		s.supp = s.supp[:0]
		rss = s.lsq(x, m, s.supp)
	case keep != nil && len(keep) <= s.kEff:
		s.supp = s.supp[:0]
		for _, j := range keep {
			s.supp = append(s.supp, int(j))
		}
		rss = s.lsq(x, m, s.supp)
		if s.kept(x, m, rss, minAbs) {
			s.grad = true
			break
		}
		s.prev = append(s.prev[:0], s.supp...)
		keptRSS := rss
		if rss = s.search(x, m, minAbs, deep); keptRSS < rss {
			s.supp = append(s.supp[:0], s.prev...)
			rss = s.lsq(x, m, s.supp)
		}
	default:
		rss = s.search(x, m, minAbs, deep)
	}
	// A search that ended in HTP on its own fit has X^T resid already.
	s.grad = s.grad || s.fresh
	// Write the result from the chosen support.
	copy(out.w, s.z[:r])
	out.nnz = len(s.supp)
	linalg.SortSupport(s.supp, s.z[r:r+len(s.supp)])
	for p, j := range s.supp {
		out.idx[p] = int32(j)
		out.val[p] = s.z[r+p]
	}
	out.rss = rss
	out.resd = s.resid[:m]
}

// search finds the support of b from scratch by the solver's pursuit,
// drops entries below minAbs when it is positive, and returns the residual
// sum of squares of the fit left in s.z and s.resid.
func (s *solver) search(x []float64, m int, minAbs float64, deep bool) float64 {
	s.searched = true
	s.supp = s.supp[:0]
	rss := s.pursue(x, m, s.lsq(x, m, s.supp), deep)
	if minAbs > 0 {
		rss = s.dropSmall(x, m, minAbs, rss)
	}
	return rss
}

// kept reports whether the support just fitted (coefficients in s.z,
// residual in s.resid, residual sum of squares rss) is a fixed point of
// hard thresholding with the Jacobi step: no column j outside it has
// |x_j^T resid| / ||x_j||^2, the coefficient that one step would give it,
// at or above the smallest kept coefficient (or above minAbs when the
// value threshold left the support short). It computes s.corr = X^T resid
// and the squared column norms in s.pnorm in one pass over X: with the
// refit, r + 1 passes in all, against 15 to 30 for a search.
func (s *solver) kept(x []float64, m int, rss, minAbs float64) bool {
	d, r := s.d, s.r
	vec.MulVecTrans(s.corr, x[:m*d], s.resid[:m])
	clear(s.pnorm)
	vec.AddSquares(s.pnorm, x[:m*d])
	if rss <= s.exactRSS {
		return true
	}
	floor := minAbs
	if len(s.supp) == s.kEff {
		floor = math.Inf(1)
		for p := range s.supp {
			floor = min(floor, math.Abs(s.z[r+p]))
		}
	} else if minAbs == 0 {
		return false // a search would grow the support
	}
	for _, j := range s.supp {
		s.inS[j] = true
	}
	ok := true
	for j, c := range s.corr {
		if !s.inS[j] && s.pnorm[j] > 0 && math.Abs(c) >= floor*s.pnorm[j] {
			ok = false
			break
		}
	}
	for _, j := range s.supp {
		s.inS[j] = false
	}
	return ok
}

// pursue searches the support of b, starting from the empty support whose
// fit is in s.z and s.resid, and returns the residual sum of squares.
//
// The default search is orthogonal matching pursuit refined by HTP. With
// deep (and PursuitSwap), it adds support exchanges and restarts the search
// from each of the deepStarts columns that best explain the target, keeping
// the best support found: several times the cost, spent on the users whose
// fit is an outlier.
func (s *solver) pursue(x []float64, m int, rss float64, deep bool) float64 {
	s.projectedNorms(x, m)
	if s.pursuit == PursuitHTP {
		// Plain hard-thresholding pursuit: the support of the k largest
		// gradient entries, then HTP iterations.
		s.correlate(x, m, false)
		s.supp = linalg.TopK(s.corr, s.kEff, s.supp[:0])
		rss = s.lsq(x, m, s.supp)
		return s.htp(x, m, rss)
	}
	deep = deep && s.pursuit == PursuitSwap
	if !deep || rss <= s.exactRSS {
		return s.greedy(x, m, rss, false)
	}
	if !s.refactor {
		// Hundreds of columns are appended to the factor in a deep
		// search: their x_j^T y in one pass.
		vec.MulVecTrans(s.f.xty, x[:m*s.d], s.target[:m])
		s.f.haveXty = true
	}
	s.correlate(x, m, true)
	s.starts = linalg.TopK(s.corr, deepStarts, s.starts[:0])
	empty := rss
	best := math.Inf(1)
	for q, j := range s.starts {
		if q > 0 && s.spent() {
			break
		}
		s.supp = append(s.supp[:0], j)
		v := s.greedy(x, m, s.lsq(x, m, s.supp), true)
		if v < best {
			best = v
			s.overall = append(s.overall[:0], s.supp...)
		}
		if v <= s.exactRSS {
			break
		}
		s.supp = s.supp[:0]
		s.lsq(x, m, s.supp) // back to the empty support's residual
	}
	if math.IsInf(best, 1) {
		return empty
	}
	s.supp = append(s.supp[:0], s.overall...)
	return s.lsq(x, m, s.supp)
}

// greedy grows the current support by orthogonal matching pursuit, with
// columns normalised after projecting out X U, then refines it with HTP
// and, with exchange, by support exchanges.
func (s *solver) greedy(x []float64, m int, rss float64, exchange bool) float64 {
	for len(s.supp) < s.kEff && rss > s.exactRSS {
		j := s.bestColumn(x, m)
		if j < 0 {
			break
		}
		s.supp = append(s.supp, j)
		rss = s.lsq(x, m, s.supp)
	}
	if rss <= s.exactRSS {
		return rss
	}
	rss = s.htp(x, m, rss)
	if exchange && rss > s.exactRSS {
		rss = s.swap(x, m, rss)
	}
	return rss
}

// htp runs hard-thresholding pursuit iterations from the current support,
// keeping the best support seen. When it ends on the support whose fit it
// computed last, it leaves X^T resid in s.corr and sets s.fresh.
func (s *solver) htp(x []float64, m int, rss float64) float64 {
	r := s.r
	s.keepBest()
	best := rss
	for it := 0; it < 10; it++ {
		// Gradient in b: X^T resid; step by the normalised step size.
		s.correlate(x, m, false)
		gg := vec.Dot(s.corr, s.corr)
		xc := s.tmpM[:m]
		vec.MulVec(xc, x[:m*s.d], s.corr)
		xg := vec.Dot(xc, xc)
		if gg == 0 || xg == 0 {
			return s.current(rss)
		}
		mu := gg / xg
		step := s.step[:len(s.corr)]
		for j, c := range s.corr {
			step[j] = c * mu
		}
		for p, j := range s.supp {
			step[j] += s.z[r+p]
		}
		s.trial = linalg.TopK(step, s.kEff, s.trial[:0])
		if linalg.SameSet(s.trial, s.supp) {
			return s.current(rss)
		}
		s.supp = append(s.supp[:0], s.trial...)
		rss = s.lsq(x, m, s.supp)
		if rss >= best {
			break
		}
		best = rss
		s.keepBest()
	}
	return s.restoreBest(x, m)
}

// swap improves the support by exchanging one member at a time for the
// column that best explains the residual without it, accepting exchanges
// that lower the residual, until none does.
func (s *solver) swap(x []float64, m int, rss float64) float64 {
	s.keepBest()
	best := rss
	for sweep := 0; sweep < 2*s.kEff; sweep++ {
		if s.isOptimum(s.best) {
			break // this sweep would find no exchange
		}
		improved := false
		n := len(s.best)
		for p := 0; p < n && !improved; p++ {
			if s.spent() {
				return s.restoreBest(x, m)
			}
			s.supp = s.supp[:0]
			for q, j := range s.best {
				if q != p {
					s.supp = append(s.supp, j)
				}
			}
			e := s.removal(x, m, s.best[p])
			base := len(s.supp)
			thr := best * (1 - 1e-12)
			tried := 0
			for q, j := range e.cand {
				if j == s.best[p] {
					continue
				}
				if tried == swapCandidates {
					break
				}
				tried++
				s.supp = append(s.supp[:base], j)
				v := e.fit[q]
				if math.IsNaN(v) {
					if math.IsNaN(e.gain[q]) {
						e.gain[q] = s.gain(x, m, s.supp)
					}
					if s.cannotBeat(m, e.rss, e.gain[q], thr) {
						s.fits++ // a candidate evaluated, as lsq would count it
						continue
					}
					v = s.lsq(x, m, s.supp)
					e.fit[q] = v
				} else {
					s.fits++
				}
				if v < thr {
					best = v
					s.keepBest()
					improved = true
					break
				}
			}
		}
		if !improved {
			s.addOptimum(s.best)
			break
		}
		if best <= s.exactRSS {
			break
		}
	}
	return s.restoreBest(x, m)
}

// current ends htp on the support in s.supp, which is s.best, whose fit
// (residual sum of squares rss) is in s.z and s.resid and whose X^T resid
// is in s.corr: restoreBest would only compute the same fit again (it is
// still counted as a fit, for the deep search's budget).
func (s *solver) current(rss float64) float64 {
	s.fits++
	s.fresh = true
	return rss
}

func (s *solver) keepBest() {
	s.best = append(s.best[:0], s.supp...)
}

func (s *solver) restoreBest(x []float64, m int) float64 {
	s.supp = append(s.supp[:0], s.best...)
	// Recompute the coefficients and residual of the best support.
	return s.lsq(x, m, s.supp)
}

// dropSmall removes entries of b with magnitude below minAbs and refits.
func (s *solver) dropSmall(x []float64, m int, minAbs, rss float64) float64 {
	r := s.r
	n := 0
	for p, j := range s.supp {
		if math.Abs(s.z[r+p]) >= minAbs {
			s.supp[n] = j
			n++
		}
	}
	if n == len(s.supp) {
		return rss
	}
	s.supp = s.supp[:n]
	return s.lsq(x, m, s.supp)
}

// bestColumn returns the column outside the support that best correlates
// with the residual after normalisation, or -1 if none is usable.
func (s *solver) bestColumn(x []float64, m int) int {
	if !s.refactor {
		return s.bestScore(x, m)
	}
	s.correlate(x, m, true)
	best, bj := 0.0, -1
	for j, c := range s.corr {
		if c > best {
			best, bj = c, j
		}
	}
	return bj
}

// correlate sets s.corr = X^T resid. With normalise, it divides by the
// projected column norms and zeroes the support and unusable columns.
func (s *solver) correlate(x []float64, m int, normalise bool) {
	vec.MulVecTrans(s.corr, x[:m*s.d], s.resid[:m])
	if !normalise {
		return
	}
	if !s.refactor {
		// By the inverse norms, without branches: a multiplication
		// costs a fraction of a division.
		ipn := s.ipnorm[:len(s.corr)]
		for j, c := range s.corr {
			s.corr[j] = c * ipn[j] * c
		}
		for _, j := range s.supp {
			s.corr[j] = 0
		}
		return
	}
	for _, j := range s.supp {
		s.inS[j] = true
	}
	for j, c := range s.corr {
		if s.inS[j] || s.pnorm[j] <= 0 {
			s.corr[j] = 0
			continue
		}
		s.corr[j] = c * c / s.pnorm[j]
	}
	for _, j := range s.supp {
		s.inS[j] = false
	}
}

// projectedNorms sets s.pnorm[j] to ||(I - P_A) x_j||^2, where P_A projects
// onto the columns of A = X U, and marks near-zero columns unusable.
func (s *solver) projectedNorms(x []float64, m int) {
	d, r := s.d, s.r
	clear(s.pnorm)
	vec.AddSquares(s.pnorm, x[:m*d])
	copy(s.f.colsq, s.pnorm)
	s.f.grams = r == 0
	if r > 0 && m > r {
		// G = A^T A (upper triangle) from the columns of A.
		G := blas64.Symmetric{N: r, Stride: r, Data: s.gram[:r*r], Uplo: blas.Upper}
		for c := 0; c < r; c++ {
			vec.DotRows(G.Data[c*r+c:(c+1)*r], s.a[c*m:(c+1)*m], s.a[c*m:r*m])
		}
		ridgeDiag(G, s.ridge, m)
		// P = A^T X, one row X^T a_c per column of A (see solve on why
		// not Gemm).
		for c := 0; c < r; c++ {
			vec.MulVecTrans(s.proj[c*d:(c+1)*d], x[:m*d], s.a[c*m:(c+1)*m])
		}
		copy(s.f.atx, s.proj[:r*d])
		s.f.grams = true
		if linalg.Cholesky(r, G.Data) {
			// P = R^{-T} P with G = R^T R, by forward substitution on
			// the rows of P.
			R := G.Data
			for c := 0; c < r; c++ {
				pc := s.proj[c*d : (c+1)*d]
				for k := 0; k < c; k++ {
					vec.Axpy(-R[k*r+c], s.proj[k*d:(k+1)*d], pc)
				}
				floats.Scale(1/R[c*r+c], pc)
			}
			for c := 0; c < r; c++ {
				vec.SubSquares(s.pnorm, s.proj[c*d:(c+1)*d])
			}
		}
	}
	// Columns with (numerically) nothing left after projection are unusable.
	tot := 0.0
	for _, v := range s.pnorm {
		tot += math.Abs(v)
	}
	vec.InvAbove(s.pnorm, s.ipnorm, 1e-10*tot/float64(d))
}

// lsqFull is lsq by forming and factoring the whole system: what lsq does
// outside a search, for users with fewer samples than unknowns and for
// rank-deficient systems, and the reference that tests compare the
// incremental fit with.
func (s *solver) lsqFull(x []float64, m int, supp []int) float64 {
	d, r := s.d, s.r
	n := r + len(supp)
	y := s.target[:m]
	if n == 0 {
		copy(s.resid[:m], y)
		return dot(y, y)
	}
	// The design [A | X_S], column-major: its columns are contiguous, so
	// that every entry of the normal equations is one dot product.
	D := s.design[:n*m]
	copy(D[:r*m], s.a[:r*m])
	for p, j := range supp {
		col := D[(r+p)*m : (r+p+1)*m]
		for i := range col {
			col[i] = x[i*d+j]
		}
	}
	G := blas64.Symmetric{N: n, Stride: n, Data: s.gram[:n*n], Uplo: blas.Upper}
	vec.NormalEquations(G.Data, s.z[:n], D, y, n)
	lambda := s.ridge
	if lambda == 0 && m < n {
		// Too few samples for an unregularised solve: a small ridge.
		lambda = 1e-3 * trace(G) / float64(n*m)
	}
	ridgeDiag(G, lambda, m)
	ok := linalg.Cholesky(n, G.Data)
	if !ok {
		// Rank-deficient: retry with a jitter proportional to the scale.
		vec.NormalEquations(G.Data, s.z[:n], D, y, n)
		ridgeDiag(G, lambda+1e-10*trace(G)/float64(n*m)+1e-300, m)
		ok = linalg.Cholesky(n, G.Data)
	}
	if ok {
		linalg.CholeskySolve(n, G.Data, s.z[:n])
	} else {
		clear(s.z[:n])
	}
	res := s.resid[:m]
	copy(res, y)
	for a, za := range s.z[:n] {
		vec.Axpy(-za, D[a*m:(a+1)*m], res)
	}
	return vec.Dot(res, res)
}

// ridgeDiag adds lambda*m to the diagonal of G.
func ridgeDiag(G blas64.Symmetric, lambda float64, m int) {
	if lambda == 0 {
		return
	}
	for i := 0; i < G.N; i++ {
		G.Data[i*G.Stride+i] += lambda * float64(m)
	}
}

func trace(G blas64.Symmetric) float64 {
	t := 0.0
	for i := 0; i < G.N; i++ {
		t += G.Data[i*G.Stride+i]
	}
	return t
}

func dot(a, b []float64) float64 {
	return vec.Dot(a, b)
}
