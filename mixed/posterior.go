package mixed

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// prior is the population distribution of one user's parameters in the
// form the per-user posterior needs: the precisions of w and of each
// entry of b in units of the noise variance.
type prior struct {
	d, r int
	s2   float64   // noise variance sigma^2
	lamW []float64 // r x r: s2 Sigma^{-1}
	// logDetW is log det Sigma (with the same jitter as lamW).
	logDetW float64
	// varB is the prior variance of each entry of b (length d), or nil
	// when the users have no sparse part.
	varB []float64
}

// newPrior returns the prior of Sigma (r x r), the per-feature variances of
// b (nil for none) and the noise variance s2. A Sigma that is singular or
// nearly so (a direction with no variation between users) gets a jitter
// of 1e-10 times its mean diagonal plus 1e-14 s2, which shrinks w to 0
// along it.
func newPrior(d, r int, sigma, varB []float64, s2 float64) (*prior, error) {
	p := &prior{d: d, r: r, s2: s2, varB: varB, lamW: make([]float64, r*r)}
	if r == 0 {
		return p, nil
	}
	c := append([]float64(nil), sigma...)
	tr := 0.0
	for a := 0; a < r; a++ {
		tr += c[a*r+a]
	}
	jit := 1e-10*tr/float64(r) + 1e-14*s2 + 1e-300
	for a := 0; a < r; a++ {
		c[a*r+a] += jit
	}
	C := blas64.Symmetric{N: r, Stride: r, Data: c, Uplo: blas.Upper}
	if _, ok := lapack64.Potrf(C); !ok {
		return nil, errors.New("the random-effect covariance is not positive semidefinite")
	}
	for a := 0; a < r; a++ {
		p.logDetW += 2 * math.Log(c[a*r+a])
	}
	lapack64.Potri(blas64.Triangular{N: r, Stride: r, Data: c, Uplo: blas.Upper, Diag: blas.NonUnit})
	for a := 0; a < r; a++ {
		for b := a; b < r; b++ {
			p.lamW[a*r+b] = s2 * c[a*r+b]
			p.lamW[b*r+a] = s2 * c[a*r+b]
		}
	}
	return p, nil
}

// posterior is one user's Gaussian posterior of z = (w, b_S), S the
// user's support of b.
type posterior struct {
	n      int       // r + |S|
	z      []float64 // n: posterior mean
	ginv   []float64 // n x n: G^{-1}; the posterior covariance is s2 G^{-1}
	rss    float64   // ||t - D z||^2
	trDG   float64   // tr(D^T D G^{-1})
	logLik float64   // log marginal likelihood of the user's targets
}

// scratch holds one worker's buffers for posterior.
type scratch struct {
	design []float64 // m x n
	g      []float64 // n x n
	dt     []float64 // n
	resid  []float64 // m
	// selectSupport's buffers.
	res, corr, norm  []float64 // m, d, d
	try              []int
	best, cur, trial posterior
}

func (s *scratch) grow(m, n int) {
	if cap(s.design) < m*n {
		s.design = make([]float64, m*n)
	}
	if cap(s.g) < n*n {
		s.g = make([]float64, n*n)
	}
	if cap(s.dt) < n {
		s.dt = make([]float64, n)
	}
	if cap(s.resid) < m {
		s.resid = make([]float64, m)
	}
}

// posterior computes the posterior of one user's (w, b_S) given its rows x
// (m x d, row-major), its targets t minus x theta_0, the basis u (d x r)
// and the support supp, into out (whose slices it reallocates as needed).
//
// With D = [X U, X_S] and Lambda = blockdiag(s2 Sigma^{-1}, s2 / varB_S),
// G = D^T D + Lambda, the posterior mean is G^{-1} D^T t and its covariance
// s2 G^{-1}; the log marginal likelihood of t ~ N(0, D P D^T + s2 I), P
// the prior covariance, is computed from the same factor:
// log det V = (m - n) log s2 + log det P + log det G and
// t^T V^{-1} t = (||t - D z||^2 + z^T Lambda z) / s2.
func (p *prior) posterior(x, t, u []float64, supp []int, sc *scratch, out *posterior) {
	d, r := p.d, p.r
	m := len(t)
	n := r + len(supp)
	sc.grow(m, n)
	D := sc.design[:m*n]
	for i := 0; i < m; i++ {
		xr := x[i*d : (i+1)*d]
		row := D[i*n : (i+1)*n]
		for c := 0; c < r; c++ {
			s := 0.0
			for j, v := range xr {
				s += v * u[j*r+c]
			}
			row[c] = s
		}
		for q, j := range supp {
			row[r+q] = xr[j]
		}
	}
	g := sc.g[:n*n]
	dt := sc.dt[:n]
	clear(g)
	clear(dt)
	for i := 0; i < m; i++ {
		row := D[i*n : (i+1)*n]
		for a, va := range row {
			dt[a] += va * t[i]
			ga := g[a*n : (a+1)*n]
			for b := a; b < n; b++ {
				ga[b] += va * row[b]
			}
		}
	}
	// The trace of D^T D, kept for the jitter of a singular G.
	trG := 0.0
	for a := 0; a < n; a++ {
		trG += g[a*n+a]
	}
	for a := 0; a < r; a++ {
		for b := a; b < r; b++ {
			g[a*n+b] += p.lamW[a*r+b]
		}
	}
	logDetP := p.logDetW
	for q, j := range supp {
		v := p.varB[j]
		g[(r+q)*n+r+q] += p.s2 / v
		logDetP += math.Log(v)
	}
	out.n = n
	out.ginv = grow(out.ginv, n*n)
	gs := out.ginv
	copy(gs, g)
	G := blas64.Symmetric{N: n, Stride: n, Data: gs, Uplo: blas.Upper}
	if _, ok := lapack64.Potrf(G); !ok {
		// D^T D is singular and the prior too weak to fix it in floating
		// point (noiseless data, s2 near 0): a jitter at the scale of the
		// data's rounding.
		copy(gs, g)
		for a := 0; a < n; a++ {
			gs[a*n+a] += 1e-12*trG/float64(max(n, 1)) + 1e-300
		}
		lapack64.Potrf(G)
	}
	logDetG := 0.0
	for a := 0; a < n; a++ {
		logDetG += 2 * math.Log(gs[a*n+a])
	}
	out.z = grow(out.z, n)
	copy(out.z, dt)
	T := blas64.Triangular{N: n, Stride: n, Data: gs, Uplo: blas.Upper, Diag: blas.NonUnit}
	lapack64.Potrs(T, blas64.General{Rows: n, Cols: 1, Stride: 1, Data: out.z})
	lapack64.Potri(T)
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			gs[b*n+a] = gs[a*n+b]
		}
	}
	res := sc.resid[:m]
	for i := 0; i < m; i++ {
		s := t[i]
		for a, v := range D[i*n : (i+1)*n] {
			s -= v * out.z[a]
		}
		res[i] = s
	}
	out.rss = 0
	for _, v := range res {
		out.rss += v * v
	}
	// tr(D^T D G^{-1}) = n - tr(Lambda G^{-1}).
	tl := 0.0
	for a := 0; a < r; a++ {
		for b := 0; b < r; b++ {
			tl += p.lamW[a*r+b] * gs[b*n+a]
		}
	}
	for q, j := range supp {
		tl += p.s2 / p.varB[j] * gs[(r+q)*n+r+q]
	}
	out.trDG = float64(n) - tl
	// t^T V^{-1} t = (||t - D z||^2 + z^T Lambda z) / s2, the form without
	// the cancellation of t^T t - z^T D^T t when the fit is nearly exact.
	zlz := 0.0
	for a := 0; a < r; a++ {
		for b := 0; b < r; b++ {
			zlz += out.z[a] * p.lamW[a*r+b] * out.z[b]
		}
	}
	for q, j := range supp {
		zlz += out.z[r+q] * out.z[r+q] * p.s2 / p.varB[j]
	}
	quad := (out.rss + zlz) / p.s2
	out.logLik = -0.5 * (float64(m)*math.Log(2*math.Pi) + float64(m-n)*math.Log(p.s2) + logDetP + logDetG + quad)
}

func grow(v []float64, n int) []float64 {
	if cap(v) < n {
		return make([]float64, n)
	}
	return v[:n]
}

// candidates is the number of best-correlated features that each step of
// selectSupport scores by marginal likelihood.
const candidates = 3

// selectSupport chooses user's support of at most k entries by greedy
// forward selection on the penalised marginal likelihood: from the empty
// support it adds, among the candidates features most correlated with the
// residual of the posterior mean, the one that raises the marginal
// likelihood most, and stops when none raises it by more than log d (the
// risk-inflation penalty for choosing one of d features: without it the
// selection fits noise, because the likelihood does not know the support
// was chosen on the same samples). It returns that support or current,
// whichever has the higher penalised likelihood, with its posterior in out.
func (p *prior) selectSupport(x, t, u []float64, k int, current []int, sc *scratch, out *posterior) []int {
	d := p.d
	m := len(t)
	pen := math.Log(float64(d))
	best, cur, trial := &sc.best, &sc.cur, &sc.trial
	p.posterior(x, t, u, current, sc, best)
	supp := []int{}
	p.posterior(x, t, u, supp, sc, cur)
	sc.res, sc.corr, sc.norm = grow(sc.res, m), grow(sc.corr, d), grow(sc.norm, d)
	res, corr, norm := sc.res, sc.corr, sc.norm
	// The squared norm of every column of x, the same at every step.
	clear(norm)
	for s := 0; s < m; s++ {
		for j, v := range x[s*d : (s+1)*d] {
			norm[j] += v * v
		}
	}
	for len(supp) < k {
		copy(res, sc.resid[:m])
		clear(corr)
		for s, e := range res {
			for j, v := range x[s*d : (s+1)*d] {
				corr[j] += v * e
			}
		}
		for j := range corr {
			if norm[j] > 0 && !slices.Contains(supp, j) {
				corr[j] = corr[j] * corr[j] / norm[j]
			} else {
				corr[j] = 0
			}
		}
		added := -1
		bestLL := cur.logLik + pen
		for range candidates {
			j := -1
			for q, v := range corr {
				if v > 0 && (j < 0 || v > corr[j]) {
					j = q
				}
			}
			if j < 0 {
				break
			}
			corr[j] = 0
			sc.try = append(append(sc.try[:0], supp...), j)
			slices.Sort(sc.try)
			p.posterior(x, t, u, sc.try, sc, trial)
			if trial.logLik > bestLL {
				bestLL, added = trial.logLik, j
			}
		}
		if added < 0 {
			break
		}
		supp = append(supp, added)
		slices.Sort(supp)
		p.posterior(x, t, u, supp, sc, cur)
	}
	if cur.logLik-pen*float64(len(supp)) > best.logLik-pen*float64(len(current)) {
		out.set(cur)
		return supp
	}
	out.set(best)
	return current
}

// set makes p a copy of q.
func (p *posterior) set(q *posterior) {
	p.n, p.rss, p.trDG, p.logLik = q.n, q.rss, q.trDG, q.logLik
	p.z = append(grow(p.z, 0), q.z...)
	p.ginv = append(grow(p.ginv, 0), q.ginv...)
}
