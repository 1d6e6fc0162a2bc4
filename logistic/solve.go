package logistic

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/lrsp/lrsp/internal/linalg"
)

// solver fits one user's (w, b) with U fixed by penalized logistic
// regression. It owns every scratch buffer the fit needs, sized for the
// largest user, so that the per-user hot loop does not allocate. A solver
// is used by one goroutine at a time.
type solver struct {
	d, r, k int
	ridge   float64
	steps   int

	a      []float64 // m x r: X U
	design []float64 // m x (r+k): [X U | X_S]
	hess   []float64 // (r+k) x (r+k)
	z      []float64 // r+k: coefficients of the current support
	zBest  []float64 // r+k
	grad   []float64 // r+k
	step   []float64 // r+k
	zTry   []float64 // r+k
	score  []float64 // m: current scores <x, theta>
	dscore []float64 // m: scores of the Newton step
	sTry   []float64 // m
	resid  []float64 // m: sigmoid(score) - y
	wt     []float64 // m: sigmoid'(score)
	scaled []float64 // m x (r+k): sqrt(wt) * design
	corr   []float64 // d
	curv   []float64 // d
	dense  []float64 // d
	supp   []int
	best   []int
	trial  []int
	old    []int
	oldZ   []float64
	// off holds the current user's fixed score offsets <x_j, theta_0>
	// (length m), or nil for none; see solve.
	off []float64
}

func newSolver(d, r, k, maxM int, ridge float64, steps int) *solver {
	n := r + k
	return &solver{
		d: d, r: r, k: k, ridge: ridge, steps: steps,
		a: make([]float64, maxM*r), design: make([]float64, maxM*n), hess: make([]float64, n*n),
		z: make([]float64, n), zBest: make([]float64, n), grad: make([]float64, n), step: make([]float64, n),
		zTry: make([]float64, n), score: make([]float64, maxM), dscore: make([]float64, maxM),
		sTry: make([]float64, maxM), resid: make([]float64, maxM), wt: make([]float64, maxM),
		scaled: make([]float64, maxM*n), corr: make([]float64, d), curv: make([]float64, d),
		dense: make([]float64, d), supp: make([]int, 0, k), best: make([]int, 0, k),
		trial: make([]int, 0, k), old: make([]int, 0, k), oldZ: make([]float64, k),
	}
}

// userFit holds the result of one user's solve. w, idx and val are written in
// place; on entry they hold the warm start (the previous round's fit, with
// nnz non-zeros).
type userFit struct {
	w   []float64 // r
	idx []int32   // up to k
	val []float64 // up to k
	nnz int
	// loss is the mean logistic loss without the ridge.
	loss float64
	// resid is sigmoid(score) - y and wt is sigmoid'(score) at the fit, in
	// the solver's buffers (valid until the next solve).
	resid, wt []float64
}

// solve fits user (x, y), y in {0, 1}, with basis U given transposed as ut
// (r x d) and fixed score offsets off (length m, the scores of a shared
// theta_0; nil for none). It minimises
// (1/m) sum_j loss(off_j + <x_j, U w + b>, y_j) + (ridge/2) ||(w, b)||^2
// over w and k-sparse b, warm-started from out.
func (s *solver) solve(x, y, ut, off []float64, out *userFit) {
	d, r := s.d, s.r
	m := len(y)
	s.off = off
	if r > 0 {
		X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
		A := blas64.General{Rows: m, Cols: r, Stride: r, Data: s.a[:m*r]}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, X, blas64.General{Rows: r, Cols: d, Stride: d, Data: ut}, 0, A)
	}
	// Remember the warm start's support and values.
	s.old = s.old[:0]
	for p := 0; p < out.nnz; p++ {
		s.old = append(s.old, int(out.idx[p]))
		s.oldZ[p] = out.val[p]
	}
	copy(s.z[:r], out.w)
	s.supp = s.supp[:0]
	if s.k == d {
		// Dense b: no support to search.
		clear(s.z[r:])
		for p, j := range s.old {
			s.z[r+j] = s.oldZ[p]
		}
		for j := 0; j < d; j++ {
			s.supp = append(s.supp, j)
		}
	}
	obj := s.newton(x, y)
	if s.k == d {
		s.keepBest()
	} else if s.k > 0 && m > 0 {
		obj = s.pursue(x, y, obj)
		if len(s.old) > 0 && !linalg.SameSet(s.old, s.best) {
			// The previous round's support, refitted, competes too.
			s.supp = append(s.supp[:0], s.old...)
			copy(s.z[:r], s.zBest[:r])
			copy(s.z[r:], s.oldZ[:len(s.old)])
			if s.newton(x, y) < obj {
				s.keepBest()
			}
			s.restoreBest()
		}
	} else {
		s.keepBest()
	}
	// Recompute the best fit's scores, residuals and weights.
	s.buildDesign(x, m)
	s.objective(y, s.z, s.score)
	copy(out.w, s.z[:r])
	out.nnz = len(s.supp)
	linalg.SortSupport(s.supp, s.z[r:r+len(s.supp)])
	lsum := 0.0
	for j := 0; j < m; j++ {
		p := Sigmoid(s.score[j])
		s.resid[j] = p - y[j]
		s.wt[j] = p * (1 - p)
		lsum += loss(s.score[j], y[j])
	}
	for p, j := range s.supp {
		out.idx[p] = int32(j)
		out.val[p] = s.z[r+p]
	}
	if m > 0 {
		out.loss = lsum / float64(m)
	}
	out.resid, out.wt = s.resid[:m], s.wt[:m]
}

// pursue searches the support of b from the fit on the empty support (in
// s.z): greedy forward selection by the Newton score, then logistic
// hard-thresholding pursuit. It leaves the best support in s.best and
// s.zBest, restores it as the current one, and returns its objective.
func (s *solver) pursue(x, y []float64, obj float64) float64 {
	m := len(y)
	r := s.r
	for len(s.supp) < s.k {
		j := s.bestColumn(x, m)
		if j < 0 {
			break
		}
		s.supp = append(s.supp, j)
		s.z[r+len(s.supp)-1] = 0
		obj = s.newton(x, y)
	}
	s.keepBest()
	best := obj
	// Hard-thresholded gradient steps on b, each followed by a refit.
	for it := 0; it < 10 && len(s.supp) > 0; it++ {
		s.gradientB(x, m)
		gg, hg := 0.0, 0.0
		for _, g := range s.corr {
			gg += g * g
		}
		for i := 0; i < m; i++ {
			t := dot(x[i*s.d:(i+1)*s.d], s.corr)
			hg += s.wt[i] * t * t
		}
		hg = hg/float64(m) + s.ridge*gg
		if gg == 0 || hg <= 0 {
			break
		}
		mu := gg / hg
		clear(s.dense)
		for p, j := range s.supp {
			s.dense[j] = s.z[r+p]
		}
		for j := range s.dense {
			s.dense[j] -= mu * s.corr[j]
		}
		s.trial = linalg.TopK(s.dense, s.k, s.trial[:0])
		if linalg.SameSet(s.trial, s.supp) {
			break
		}
		for p, j := range s.trial {
			s.z[r+p] = s.dense[j]
		}
		s.supp = append(s.supp[:0], s.trial...)
		o := s.newton(x, y)
		if o >= best {
			break
		}
		best = o
		s.keepBest()
	}
	s.restoreBest()
	return best
}

// gradientB sets s.corr to the gradient of the objective in the full b at
// the current fit, (1/m) X^T (sigmoid(score) - y) + ridge b, and s.wt to
// the weights sigmoid'(score). It expects s.resid and s.wt from the last
// Newton iteration.
func (s *solver) gradientB(x []float64, m int) {
	X := blas64.General{Rows: m, Cols: s.d, Stride: s.d, Data: x}
	blas64.Gemv(blas.Trans, 1/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: s.resid[:m]}, 0,
		blas64.Vector{N: s.d, Inc: 1, Data: s.corr})
	for p, j := range s.supp {
		s.corr[j] += s.ridge * s.z[s.r+p]
	}
}

// bestColumn returns the column outside the support with the largest
// Newton score g_j^2 / H_jj (the loss decrease of a one-coordinate Newton
// step from b_j = 0), or -1 if none improves.
func (s *solver) bestColumn(x []float64, m int) int {
	s.gradientB(x, m)
	d := s.d
	clear(s.curv)
	for i := 0; i < m; i++ {
		wi := s.wt[i]
		for j, v := range x[i*d : (i+1)*d] {
			s.curv[j] += wi * v * v
		}
	}
	best, bj := 0.0, -1
	for j, g := range s.corr {
		if contains(s.supp, j) {
			continue
		}
		h := s.curv[j]/float64(m) + s.ridge
		if sc := g * g / h; sc > best {
			best, bj = sc, j
		}
	}
	if best <= 1e-14 {
		return -1
	}
	return bj
}

func (s *solver) keepBest() {
	s.best = append(s.best[:0], s.supp...)
	copy(s.zBest, s.z[:s.r+len(s.supp)])
}

func (s *solver) restoreBest() {
	s.supp = append(s.supp[:0], s.best...)
	copy(s.z, s.zBest[:s.r+len(s.supp)])
}

// buildDesign fills s.design with [X U, X_supp] for the current support.
func (s *solver) buildDesign(x []float64, m int) int {
	d, r := s.d, s.r
	n := r + len(s.supp)
	D := s.design[:m*n]
	for i := 0; i < m; i++ {
		row := D[i*n : (i+1)*n]
		copy(row[:r], s.a[i*r:(i+1)*r])
		xr := x[i*d : (i+1)*d]
		for p, j := range s.supp {
			row[r+p] = xr[j]
		}
	}
	return n
}

// objective sets score = off + D z for the current design and returns the
// mean logistic loss plus the ridge term.
func (s *solver) objective(y, z, score []float64) float64 {
	m := len(y)
	n := s.r + len(s.supp)
	if n == 0 {
		clear(score[:m])
	} else {
		D := blas64.General{Rows: m, Cols: n, Stride: n, Data: s.design[:m*n]}
		blas64.Gemv(blas.NoTrans, 1, D, blas64.Vector{N: n, Inc: 1, Data: z[:n]}, 0, blas64.Vector{N: m, Inc: 1, Data: score[:m]})
	}
	if s.off != nil {
		for j, o := range s.off[:m] {
			score[j] += o
		}
	}
	l := 0.0
	for j := 0; j < m; j++ {
		l += loss(score[j], y[j])
	}
	if m > 0 {
		l /= float64(m)
	}
	return l + 0.5*s.ridge*dot(z[:n], z[:n])
}

// newton minimises the objective over the coefficients of the current
// support by damped Newton, starting from s.z, and returns the objective.
// It leaves s.resid and s.wt at the final point.
func (s *solver) newton(x, y []float64) float64 {
	m := len(y)
	n := s.buildDesign(x, m)
	obj := s.objective(y, s.z, s.score)
	s.weights(y)
	if n == 0 {
		return obj
	}
	D := blas64.General{Rows: m, Cols: n, Stride: n, Data: s.design[:m*n]}
	inv := 1 / float64(max(m, 1))
	for it := 0; it < s.steps; it++ {
		// Gradient and Hessian.
		g := blas64.Vector{N: n, Inc: 1, Data: s.grad[:n]}
		blas64.Gemv(blas.Trans, inv, D, blas64.Vector{N: m, Inc: 1, Data: s.resid[:m]}, 0, g)
		for c := 0; c < n; c++ {
			s.grad[c] += s.ridge * s.z[c]
		}
		W := s.scaled[:m*n]
		for i := 0; i < m; i++ {
			sw := math.Sqrt(s.wt[i])
			for c := 0; c < n; c++ {
				W[i*n+c] = sw * s.design[i*n+c]
			}
		}
		H := blas64.Symmetric{N: n, Stride: n, Data: s.hess[:n*n], Uplo: blas.Upper}
		blas64.Syrk(blas.Trans, inv, blas64.General{Rows: m, Cols: n, Stride: n, Data: W}, 0, H)
		for c := 0; c < n; c++ {
			H.Data[c*n+c] += s.ridge
		}
		if _, ok := lapack64.Potrf(H); !ok {
			return obj
		}
		for c := 0; c < n; c++ {
			s.step[c] = -s.grad[c]
		}
		lapack64.Potrs(blas64.Triangular{N: n, Stride: n, Data: s.hess[:n*n], Uplo: blas.Upper, Diag: blas.NonUnit},
			blas64.General{Rows: n, Cols: 1, Stride: 1, Data: s.step[:n]})
		slope := dot(s.grad[:n], s.step[:n])
		if -slope < 1e-14*(1+obj) {
			break
		}
		// Backtracking line search along the Newton direction.
		blas64.Gemv(blas.NoTrans, 1, D, blas64.Vector{N: n, Inc: 1, Data: s.step[:n]}, 0, blas64.Vector{N: m, Inc: 1, Data: s.dscore[:m]})
		t := 1.0
		accepted := false
		for ls := 0; ls < 30; ls++ {
			for c := 0; c < n; c++ {
				s.zTry[c] = s.z[c] + t*s.step[c]
			}
			l := 0.0
			for j := 0; j < m; j++ {
				s.sTry[j] = s.score[j] + t*s.dscore[j]
				l += loss(s.sTry[j], y[j])
			}
			o := l*inv + 0.5*s.ridge*dot(s.zTry[:n], s.zTry[:n])
			if o <= obj+0.25*t*slope {
				copy(s.z[:n], s.zTry[:n])
				copy(s.score[:m], s.sTry[:m])
				obj = o
				accepted = true
				break
			}
			t /= 2
		}
		if !accepted {
			break
		}
		s.weights(y)
		if -slope < 1e-10*(1+obj) {
			break
		}
	}
	return obj
}

// weights sets s.resid and s.wt from s.score.
func (s *solver) weights(y []float64) {
	for j := range y {
		p := Sigmoid(s.score[j])
		s.resid[j] = p - y[j]
		s.wt[j] = p * (1 - p)
	}
}

func dot(a, b []float64) float64 {
	return blas64.Dot(blas64.Vector{N: len(a), Inc: 1, Data: a}, blas64.Vector{N: len(b), Inc: 1, Data: b})
}

func contains(s []int, j int) bool {
	for _, v := range s {
		if v == j {
			return true
		}
	}
	return false
}
