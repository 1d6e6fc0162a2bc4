package mixed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"

	"github.com/lrsp/lrsp/dataset"
)

// Criterion selects the likelihood that FitLMM maximises.
type Criterion int

const (
	// REML is restricted (residual) maximum likelihood: the likelihood of
	// the residuals after the fixed effects, whose variance estimates
	// account for the degrees of freedom spent on beta. It is the zero
	// value and the usual choice.
	REML Criterion = iota
	// ML is full maximum likelihood. Its variance estimates are biased
	// downwards, but its log-likelihoods compare models with different
	// fixed effects.
	ML
)

// String returns "REML" or "ML".
func (c Criterion) String() string {
	switch c {
	case REML:
		return "REML"
	case ML:
		return "ML"
	}
	return fmt.Sprintf("Criterion(%d)", int(c))
}

// Defaults of LMMOptions.
const (
	// DefaultLMMMaxIter is the iteration bound used when LMMOptions.MaxIter
	// is 0.
	DefaultLMMMaxIter = 500
	// DefaultLMMTol is the gradient tolerance used when LMMOptions.Tol is
	// 0.
	DefaultLMMTol = 1e-10
)

// maxLMMStats bounds the number of float64 values of the per-user
// sufficient statistics (8 GiB would be 1<<30 values).
const maxLMMStats = 1 << 28

// aliasTol is the relative tolerance of the aliasing test: a fixed-effect
// column is aliased when the fraction of its sum of squares not explained by
// the columns kept before it is below aliasTol (1 - R^2 < aliasTol).
const aliasTol = 1e-10

// LMMOptions configures FitLMM. The zero value fits a REML model without
// random effects (ordinary least squares); set Random to get a mixed model.
type LMMOptions struct {
	// Criterion selects REML (the zero value) or ML.
	Criterion Criterion
	// Random lists the feature columns, as indices into the dataset's
	// features, that carry a random effect, in the order of the random
	// effect vector u. The index of a constant column gives a random
	// intercept; other columns give random slopes. Indices must be in
	// range and distinct. Every feature, including those in Random, is
	// also a fixed effect.
	Random []int
	// MaxIter bounds the optimiser's iterations (BFGS iterations plus
	// Newton steps); 0 means DefaultLMMMaxIter.
	MaxIter int
	// Tol is the convergence tolerance: the fit has converged when every
	// component of the gradient of the log-likelihood divided by the number
	// of rows, with respect to the entries of the relative covariance
	// factor (see LMM), is at most Tol in absolute value. 0 means
	// DefaultLMMTol.
	Tol float64
}

// LMM is a fitted linear mixed model. Its parameters are in the units of
// the data: for a user with feature rows x (m x d) and random effects u,
// the predicted targets are x Beta + z u, where z holds the columns Random
// of x. Equivalently the user's coefficient vector is Beta plus u scattered
// into the positions Random (see Coef).
type LMM struct {
	// Criterion is the criterion the model was fitted by.
	Criterion Criterion
	// Beta holds the d fixed effects, one per feature; aliased columns
	// have 0.
	Beta []float64
	// Random lists the feature columns with a random effect (a copy of
	// LMMOptions.Random); q = len(Random).
	Random []int
	// Sigma is the q x q covariance of the random effects, row-major, in
	// the units of the targets. It is positive semidefinite; a variance
	// component may be 0 (a singular fit).
	Sigma []float64
	// S2 is the residual variance.
	S2 float64
	// LogLik is the maximised log-likelihood, as statsmodels' MixedLM
	// reports it (llf). For ML it is the Gaussian log-likelihood of the
	// targets. For REML it is the restricted log-likelihood
	//
	//	-(n-p)/2 (1 + log(2 pi r/(n-p))) - 1/2 sum_i log|I + Z_i Psi Z_i'| - 1/2 log|X'V^-1 X|,
	//
	// with Psi = Sigma/S2, V = I + Z Psi Z' (block diagonal over users),
	// r the generalised residual sum of squares (so S2 = r/(n-p)) and p
	// the number of fixed effects kept (not aliased); lme4's REML
	// criterion is -2 times it. The last term changes with the basis of
	// the fixed effects (rescaling a column shifts it by a constant), so
	// compare REML log-likelihoods only between fits with the same
	// fixed-effect columns.
	LogLik float64
	// Rows and Users count the data the model was fitted to (users with no
	// rows are not counted).
	Rows, Users int
	// Iterations is the number of optimiser iterations (BFGS iterations
	// plus Newton steps).
	Iterations int
	// Converged reports whether the gradient tolerance was met. A fit that
	// did not converge is still returned, with the best parameters found.
	Converged bool
	// Aliased lists, in increasing order, the fixed-effect columns dropped
	// because they are linear combinations of earlier columns (for
	// example one dummy of a one-hot group when a constant column is also
	// present). Their Beta is 0; predictions do not depend on which of a
	// set of dependent columns is dropped.
	Aliased []int
}

// lmmProblem holds the sufficient statistics of a profiled (RE)ML problem
// and the scratch space of its evaluations. Fixed effects are the kept
// (non-aliased) columns, p of them; random effects are q columns.
type lmmProblem struct {
	n, p, q, t int
	reml       bool

	xtx []float64 // p x p, pooled X'X
	xty []float64 // p, pooled X'y
	yty float64   // pooled y'y
	xtz []float64 // t blocks of p x q: X_i'Z_i
	ztz []float64 // t blocks of q x q: Z_i'Z_i
	zty []float64 // t blocks of q: Z_i'y_i

	// Scratch, reused by eval.
	l, m, w, kk []float64 // q x q; kk holds t blocks of K_i = L M_i^-1 L'
	a, b        []float64 // p x p, p
	chol        mat.Cholesky
	beta        []float64 // p
	xzk         []float64 // p x q
	g, ze, v    []float64 // q
	gm, hq      []float64 // q x q
	h           []float64 // p x q
	ainv        []float64 // p x p, A^-1 (REML gradient)

	// state is the theta of the last successful eval, whose K_i, beta,
	// Cholesky factor of A and rw = nu/(2r) are in the scratch space; it
	// is nil when the scratch holds no valid state.
	state []float64
	rw    float64
}

// lmmEval is the result of one evaluation of the profiled log-likelihood.
type lmmEval struct {
	logLik float64
	s2     float64
}

// newLMMProblem allocates the statistics of a problem.
func newLMMProblem(n, p, q, t int, reml bool) *lmmProblem {
	return &lmmProblem{
		n: n, p: p, q: q, t: t, reml: reml,
		xtx: make([]float64, p*p), xty: make([]float64, p),
		xtz: make([]float64, t*p*q), ztz: make([]float64, t*q*q), zty: make([]float64, t*q),
		l: make([]float64, q*q), m: make([]float64, q*q), w: make([]float64, q*q),
		kk: make([]float64, t*q*q),
		a:  make([]float64, p*p), b: make([]float64, p), beta: make([]float64, p),
		xzk: make([]float64, p*q), g: make([]float64, q), ze: make([]float64, q), v: make([]float64, q),
		gm: make([]float64, q*q), hq: make([]float64, q*q), h: make([]float64, p*q),
		ainv: make([]float64, p*p), state: make([]float64, 0, q*(q+1)/2),
	}
}

// nTheta returns the number of free parameters: the lower triangle of L.
func (pr *lmmProblem) nTheta() int { return pr.q * (pr.q + 1) / 2 }

// setL unpacks theta, the lower triangle of L row by row, into pr.l.
func (pr *lmmProblem) setL(theta []float64) {
	q := pr.q
	clear(pr.l)
	k := 0
	for i := range q {
		for j := 0; j <= i; j++ {
			pr.l[i*q+j] = theta[k]
			k++
		}
	}
}

// eval evaluates the profiled log-likelihood at the relative covariance
// factor theta (Sigma/s2 = L L'), and its gradient with respect to theta
// into grad when grad is not nil. It leaves the GLS estimate of the fixed
// effects in pr.beta. ok is false when the likelihood is not defined there
// (numerically singular matrices or a zero residual).
func (pr *lmmProblem) eval(theta, grad []float64) (ev lmmEval, ok bool) {
	pr.state = pr.state[:0]
	ev, ok = pr.evalLogLik(theta)
	if !ok {
		return ev, false
	}
	pr.state = append(pr.state, theta...)
	if grad != nil && !pr.gradient(grad) {
		pr.state = pr.state[:0]
		return ev, false
	}
	return ev, true
}

// evalLogLik is eval without the gradient.
func (pr *lmmProblem) evalLogLik(theta []float64) (ev lmmEval, ok bool) {
	p, q := pr.p, pr.q
	pr.setL(theta)
	l := pr.l
	copy(pr.a, pr.xtx)
	copy(pr.b, pr.xty)
	c := pr.yty
	logDetV := 0.0
	for gi := range pr.t {
		ztz := pr.ztz[gi*q*q : (gi+1)*q*q]
		xtz := pr.xtz[gi*p*q : (gi+1)*p*q]
		zty := pr.zty[gi*q : (gi+1)*q]
		kk := pr.kk[gi*q*q : (gi+1)*q*q]
		// M = I + L' ZtZ L; w = ZtZ L first.
		for i := range q {
			for j := range q {
				s := 0.0
				for k := j; k < q; k++ { // L is lower triangular: L[k][j] = 0 for k < j
					s += ztz[i*q+k] * l[k*q+j]
				}
				pr.w[i*q+j] = s
			}
		}
		for i := range q {
			for j := 0; j <= i; j++ {
				s := 0.0
				for k := i; k < q; k++ {
					s += l[k*q+i] * pr.w[k*q+j]
				}
				if i == j {
					s++
				}
				pr.m[i*q+j] = s
				pr.m[j*q+i] = s
			}
		}
		// M = R R' (R lower, in place); log|V_i| = log|M|.
		if !cholLower(pr.m, q) {
			return ev, false
		}
		for i := range q {
			logDetV += 2 * math.Log(pr.m[i*q+i])
		}
		// W = R^-1 L' (q x q), then K = W'W = L M^-1 L'.
		for j := range q {
			for i := range q {
				pr.w[i*q+j] = l[j*q+i]
			}
		}
		for j := range q { // forward substitution on each column of W
			for i := range q {
				s := pr.w[i*q+j]
				for k := range i {
					s -= pr.m[i*q+k] * pr.w[k*q+j]
				}
				pr.w[i*q+j] = s / pr.m[i*q+i]
			}
		}
		for i := range q {
			for j := 0; j <= i; j++ {
				s := 0.0
				for k := range q {
					s += pr.w[k*q+i] * pr.w[k*q+j]
				}
				kk[i*q+j] = s
				kk[j*q+i] = s
			}
		}
		// XZK = X'Z K; A -= XZK Z'X; b -= XZK Z'y; c -= y'Z K Z'y.
		for i := range p {
			for j := range q {
				s := 0.0
				for k := range q {
					s += xtz[i*q+k] * kk[k*q+j]
				}
				pr.xzk[i*q+j] = s
			}
		}
		for i := range p {
			xzki := pr.xzk[i*q : (i+1)*q]
			for j := 0; j <= i; j++ {
				xtzj := xtz[j*q : (j+1)*q]
				s := 0.0
				for k := range q {
					s += xzki[k] * xtzj[k]
				}
				pr.a[i*p+j] -= s
			}
			s := 0.0
			for k := range q {
				s += xzki[k] * zty[k]
			}
			pr.b[i] -= s
		}
		for i := range q {
			s := 0.0
			for j := range q {
				s += kk[i*q+j] * zty[j]
			}
			c -= zty[i] * s
		}
	}
	for i := range p {
		for j := range i {
			pr.a[j*p+i] = pr.a[i*p+j]
		}
	}
	logDetA := 0.0
	if p > 0 {
		if !pr.chol.Factorize(mat.NewSymDense(p, pr.a)) {
			return ev, false
		}
		bv := mat.NewVecDense(p, pr.beta)
		if err := pr.chol.SolveVecTo(bv, mat.NewVecDense(p, pr.b)); err != nil {
			return ev, false
		}
		for i := range p {
			c -= pr.b[i] * pr.beta[i]
		}
		logDetA = pr.chol.LogDet()
	}
	r := c // generalised residual sum of squares, in units of s2
	nu := float64(pr.n)
	if pr.reml {
		nu -= float64(p)
	}
	if !(r > 0) || nu <= 0 || math.IsNaN(logDetV) || math.IsNaN(logDetA) {
		return ev, false
	}
	ev.s2 = r / nu
	ev.logLik = -nu/2*(1+math.Log(2*math.Pi*ev.s2)) - logDetV/2
	if pr.reml {
		ev.logLik -= logDetA / 2
	}
	if math.IsInf(ev.logLik, 0) || math.IsNaN(ev.logLik) {
		return ev, false
	}
	pr.rw = nu / (2 * r)
	return ev, true
}

// gradient writes the gradient of the log-likelihood with respect to theta
// into grad, from the state evalLogLik left (K_i, beta, the Cholesky factor
// of A and rw = nu/(2r)). With Psi = L L', the derivative with respect to Psi is
//
//	G = sum_i [ rw g_i g_i' - 1/2 Z_i'V_i^-1 Z_i + (REML) 1/2 H_i' A^-1 H_i ],
//
// where g_i = Z_i'V_i^-1 e_i, e_i = y_i - X_i beta and H_i = X_i'V_i^-1 Z_i,
// and the derivative with respect to L is 2 G L.
func (pr *lmmProblem) gradient(grad []float64) bool {
	p, q := pr.p, pr.q
	rw := pr.rw
	clear(pr.gm)
	if pr.reml && p > 0 {
		// A^-1 once (O(p^3)) rather than a triangular solve per user. The
		// SymDense holds the upper triangle; mirror it.
		if err := pr.chol.InverseTo(mat.NewSymDense(p, pr.ainv)); err != nil {
			return false
		}
		for i := range p {
			for j := range i {
				pr.ainv[i*p+j] = pr.ainv[j*p+i]
			}
		}
	}
	for gi := range pr.t {
		ztz := pr.ztz[gi*q*q : (gi+1)*q*q]
		xtz := pr.xtz[gi*p*q : (gi+1)*p*q]
		zty := pr.zty[gi*q : (gi+1)*q]
		kk := pr.kk[gi*q*q : (gi+1)*q*q]
		// ze = Z'e = Z'y - Z'X beta.
		for i := range q {
			s := zty[i]
			for k := range p {
				s -= xtz[k*q+i] * pr.beta[k]
			}
			pr.ze[i] = s
		}
		// v = K ze; g = ze - ZtZ v.
		for i := range q {
			s := 0.0
			for k := range q {
				s += kk[i*q+k] * pr.ze[k]
			}
			pr.v[i] = s
		}
		for i := range q {
			s := pr.ze[i]
			for k := range q {
				s -= ztz[i*q+k] * pr.v[k]
			}
			pr.g[i] = s
		}
		// hq = K ZtZ; Z'V^-1 Z = ZtZ - ZtZ hq.
		for i := range q {
			for j := range q {
				s := 0.0
				for k := range q {
					s += kk[i*q+k] * ztz[k*q+j]
				}
				pr.hq[i*q+j] = s
			}
		}
		for i := range q {
			for j := range q {
				s := ztz[i*q+j]
				for k := range q {
					s -= ztz[i*q+k] * pr.hq[k*q+j]
				}
				pr.gm[i*q+j] += rw*pr.g[i]*pr.g[j] - s/2
			}
		}
		if pr.reml && p > 0 {
			// H = X'Z - X'Z hq (p x q); G += 1/2 H' A^-1 H.
			for i := range p {
				for j := range q {
					s := xtz[i*q+j]
					for k := range q {
						s -= xtz[i*q+k] * pr.hq[k*q+j]
					}
					pr.h[i*q+j] = s
				}
			}
			// ah = A^-1 H, reusing xzk as scratch.
			ah := pr.xzk
			for i := range p {
				for j := range q {
					s := 0.0
					for k := range p {
						s += pr.ainv[i*p+k] * pr.h[k*q+j]
					}
					ah[i*q+j] = s
				}
			}
			for i := range q {
				for j := range q {
					s := 0.0
					for k := range p {
						s += pr.h[k*q+i] * ah[k*q+j]
					}
					pr.gm[i*q+j] += s / 2
				}
			}
		}
	}
	// grad = 2 G L, lower triangle row by row.
	k := 0
	for i := range q {
		for j := 0; j <= i; j++ {
			s := 0.0
			for m := j; m < q; m++ {
				s += pr.gm[i*q+m] * pr.l[m*q+j]
			}
			grad[k] = 2 * s
			k++
		}
	}
	return true
}

// cholLower factorises the symmetric positive definite n x n matrix a
// (row-major, lower triangle read) in place as R R', R lower triangular,
// zeroing the strict upper triangle. It reports false if a is not
// numerically positive definite.
func cholLower(a []float64, n int) bool {
	for j := range n {
		s := a[j*n+j]
		for k := range j {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return false
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
		for i := range j {
			a[i*n+j] = 0
		}
	}
	return true
}

// FitLMM fits the linear mixed model y_i = X_i beta + Z_i u_i + e_i with
// u_i ~ N(0, Sigma) unstructured and e_i ~ N(0, s2 I) to ds, where user i
// of ds is group i, X_i holds all its features and Z_i the columns
// opt.Random. It maximises the REML or ML log-likelihood profiled over beta
// and s2 (which have closed forms given Sigma/s2) with respect to the
// lower-triangular factor L of Sigma/s2 = L L', by BFGS with an analytic
// gradient followed by Newton steps (see minimizeLMM). L is unconstrained,
// so a singular Sigma (a variance component at 0) is reachable. Per-user
// sufficient statistics are computed in two passes over the rows (the
// second of the residuals of a least-squares pre-fit, for accuracy); each
// evaluation then costs O(t (q^3 + p^2 q) + p^3) for t users, p fixed and
// q random effects, and never touches the rows.
//
// Fixed-effect columns that are linear combinations of earlier columns are
// dropped (see LMM.Aliased). FitLMM returns an error for a nil or empty
// dataset, one without targets, fewer rows than features, no residual
// degrees of freedom, non-finite values, bad options, targets that the
// fixed effects fit exactly, or a cancelled ctx (errors.Is finds
// ctx.Err()). A fit that stops before the tolerance is met is returned
// with Converged false and no error.
func FitLMM(ctx context.Context, ds *dataset.Dataset, opt LMMOptions) (*LMM, error) {
	m, err := fitLMM(ctx, ds, opt)
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	return m, nil
}

func fitLMM(ctx context.Context, ds *dataset.Dataset, opt LMMOptions) (*LMM, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opt.Criterion != REML && opt.Criterion != ML {
		return nil, fmt.Errorf("unknown criterion %v", opt.Criterion)
	}
	if opt.MaxIter < 0 {
		return nil, fmt.Errorf("option MaxIter = %d is negative", opt.MaxIter)
	}
	if !(opt.Tol >= 0) || math.IsInf(opt.Tol, 0) {
		return nil, fmt.Errorf("option Tol = %v must be finite and >= 0", opt.Tol)
	}
	maxIter, tol := opt.MaxIter, opt.Tol
	if maxIter == 0 {
		maxIter = DefaultLMMMaxIter
	}
	if tol == 0 {
		tol = DefaultLMMTol
	}
	if ds == nil || len(ds.Users) == 0 {
		return nil, errors.New("no users")
	}
	if !ds.HasTarget {
		return nil, errors.New("the dataset has no targets")
	}
	d := ds.Dim()
	if d == 0 {
		return nil, errors.New("no features")
	}
	if float64(d)*float64(d) > maxLMMStats {
		return nil, fmt.Errorf("%d features: the %d x %d cross-product matrix is too large", d, d, d)
	}
	q := len(opt.Random)
	seen := make(map[int]bool, q)
	for k, j := range opt.Random {
		if j < 0 || j >= d {
			return nil, fmt.Errorf("option Random[%d] = %d is not a feature index in [0, %d)", k, j, d)
		}
		if seen[j] {
			return nil, fmt.Errorf("option Random[%d] = %d (feature %q) is listed twice", k, j, ds.Features[j])
		}
		seen[j] = true
	}
	n, t := 0, 0
	for i := range ds.Users {
		u := &ds.Users[i]
		m := len(u.Y)
		if len(u.X) != m*d {
			return nil, fmt.Errorf("user %q: %d feature values for %d targets of dimension %d", u.ID, len(u.X), m, d)
		}
		if m > 0 {
			t++
		}
		n += m
	}
	if n < d {
		return nil, fmt.Errorf("%d rows for %d features: need at least as many rows as features", n, d)
	}
	if float64(t)*float64(q)*float64(d+q+1) > maxLMMStats {
		return nil, fmt.Errorf("%d users with %d random and %d fixed effects: sufficient statistics too large", t, q, d)
	}

	// Pass 1: pooled X'X and X'y over all d columns; check the values.
	xtx := make([]float64, d*d)
	xty := make([]float64, d)
	yty := 0.0
	for i := range ds.Users {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		u := &ds.Users[i]
		for r, y := range u.Y {
			x := u.X[r*d : (r+1)*d]
			if math.IsNaN(y) || math.IsInf(y, 0) {
				return nil, fmt.Errorf("user %q row %d: target %v is not finite", u.ID, r, y)
			}
			for j, v := range x {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("user %q row %d: feature %q = %v is not finite", u.ID, r, ds.Features[j], v)
				}
			}
			yty += y * y
			for j, v := range x {
				if v == 0 {
					continue
				}
				row := xtx[j*d : j*d+j+1]
				for k := range row {
					row[k] += v * x[k]
				}
				xty[j] += v * y
			}
		}
	}
	for j := range d {
		for k := range j {
			xtx[k*d+j] = xtx[j*d+k]
		}
	}
	if math.IsInf(yty, 0) || anyInf(xtx) || anyInf(xty) {
		return nil, errors.New("sums of squares overflow: rescale the data")
	}
	keep, aliased := keptColumns(xtx, d)
	p := len(keep)
	if n <= p {
		return nil, fmt.Errorf("%d rows for %d linearly independent features: no residual degrees of freedom", n, p)
	}

	// The likelihood is invariant under y -> y - X gamma, beta -> beta -
	// gamma. With gamma the least-squares fit, the statistics of pass 2 are
	// of the residuals, which avoids the cancellation in y'y - b'A^-1 b
	// when the targets are large compared with their residuals.
	pr := newLMMProblem(n, p, q, t, opt.Criterion == REML)
	for a, j := range keep {
		for b, k := range keep {
			pr.xtx[a*p+b] = xtx[j*d+k]
		}
	}
	gamma := make([]float64, p)
	if p > 0 {
		var ch mat.Cholesky
		rhs := make([]float64, p)
		for a, j := range keep {
			rhs[a] = xty[j]
		}
		if ch.Factorize(mat.NewSymDense(p, slices.Clone(pr.xtx))) {
			if err := ch.SolveVecTo(mat.NewVecDense(p, gamma), mat.NewVecDense(p, rhs)); err != nil {
				clear(gamma)
			}
		}
	}

	// Pass 2: with e = y - X gamma, pooled X'e and e'e, per-user X'Z, Z'Z
	// and Z'e, X restricted to the kept columns.
	xk := make([]float64, p)
	gi := 0
	for i := range ds.Users {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		u := &ds.Users[i]
		if len(u.Y) == 0 {
			continue
		}
		xtz := pr.xtz[gi*p*q : (gi+1)*p*q]
		ztz := pr.ztz[gi*q*q : (gi+1)*q*q]
		zy := pr.zty[gi*q : (gi+1)*q]
		for r, y := range u.Y {
			x := u.X[r*d : (r+1)*d]
			e := y
			for a, j := range keep {
				xk[a] = x[j]
				e -= x[j] * gamma[a]
			}
			pr.yty += e * e
			for a, v := range xk {
				if v == 0 {
					continue
				}
				pr.xty[a] += v * e
				for k, c := range opt.Random {
					xtz[a*q+k] += v * x[c]
				}
			}
			for k, c := range opt.Random {
				zc := x[c]
				zy[k] += zc * e
				for l, c2 := range opt.Random {
					ztz[k*q+l] += zc * x[c2]
				}
			}
		}
		gi++
	}
	if !(pr.yty > 1e-24*yty) {
		return nil, errors.New("the fixed effects fit the targets exactly (a perfect fit): the variances are not identifiable")
	}

	theta := startTheta(pr)
	iters, converged := 0, true
	if q > 0 {
		res, err := minimizeLMM(ctx, pr, theta, maxIter, tol)
		if err != nil {
			return nil, err
		}
		theta, iters, converged = res.theta, res.iters, res.converged
	}
	ev, ok := pr.eval(theta, nil)
	if !ok {
		return nil, errors.New("the likelihood is not defined at the optimum (a perfect fit or a numerically singular design)")
	}

	model := &LMM{
		Criterion:  opt.Criterion,
		Beta:       make([]float64, d),
		Random:     append([]int(nil), opt.Random...),
		Sigma:      make([]float64, q*q),
		S2:         ev.s2,
		LogLik:     ev.logLik,
		Rows:       n,
		Users:      t,
		Iterations: iters,
		Converged:  converged,
		Aliased:    aliased,
	}
	for a, j := range keep {
		model.Beta[j] = pr.beta[a] + gamma[a]
	}
	pr.setL(theta)
	for i := range q {
		for j := range q {
			s := 0.0
			for k := range q {
				s += pr.l[i*q+k] * pr.l[j*q+k]
			}
			model.Sigma[i*q+j] = ev.s2 * s
		}
	}
	return model, nil
}

func anyInf(a []float64) bool {
	for _, v := range a {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return true
		}
	}
	return false
}

// keptColumns runs a Cholesky factorisation of the d x d Gram matrix xtx in
// column order, after scaling it to unit diagonal, and keeps a column when
// the part of it not explained by the kept earlier columns has a relative
// sum of squares of at least aliasTol. It returns the kept and the aliased
// columns in increasing order. An all-zero column is aliased.
func keptColumns(xtx []float64, d int) (keep, aliased []int) {
	scale := make([]float64, d)
	for j := range d {
		if xtx[j*d+j] > 0 {
			scale[j] = 1 / math.Sqrt(xtx[j*d+j])
		}
	}
	// r holds the rows of the factor for the kept columns, in kept order.
	r := make([][]float64, 0, d)
	for j := range d {
		if scale[j] == 0 {
			aliased = append(aliased, j)
			continue
		}
		// Solve R_kk' c = a_kj for the kept columns, then the residual
		// diagonal is 1 - |c|^2.
		c := make([]float64, len(keep))
		for a, k := range keep {
			s := xtx[k*d+j] * scale[k] * scale[j]
			for b := range a {
				s -= r[a][b] * c[b]
			}
			c[a] = s / r[a][a]
		}
		res := 1.0
		for _, v := range c {
			res -= v * v
		}
		if res < aliasTol {
			aliased = append(aliased, j)
			continue
		}
		row := append(c, math.Sqrt(res))
		r = append(r, row)
		keep = append(keep, j)
	}
	return keep, aliased
}

// startTheta returns the starting relative factor: diagonal, with each
// random effect's variance equal to the residual variance divided by the
// mean square of its column (so that each random effect would explain as
// much variance as the noise).
func startTheta(pr *lmmProblem) []float64 {
	q := pr.q
	theta := make([]float64, pr.nTheta())
	k := 0
	for i := range q {
		ss := 0.0
		for g := range pr.t {
			ss += pr.ztz[g*q*q+i*q+i]
		}
		v := 1.0
		if ss > 0 {
			v = 1 / math.Sqrt(ss/float64(pr.n))
		}
		theta[k+i] = v
		k += i + 1
	}
	return theta
}

// lmmResult is the outcome of minimizeLMM.
type lmmResult struct {
	theta     []float64
	iters     int
	converged bool
}

// ctxRecorder stops gonum's optimiser when ctx is done.
type ctxRecorder struct{ ctx context.Context }

func (r ctxRecorder) Init() error { return r.ctx.Err() }

func (r ctxRecorder) Record(*optimize.Location, optimize.Operation, *optimize.Stats) error {
	return r.ctx.Err()
}

// maxLMMNewton bounds the Newton steps that polish the BFGS optimum.
const maxLMMNewton = 10

// gradNorm returns the infinity norm of the gradient of -logLik/n at
// theta, using grad as scratch.
func (pr *lmmProblem) gradNorm(theta, grad []float64) (float64, bool) {
	if _, ok := pr.eval(theta, grad); !ok {
		return 0, false
	}
	g := 0.0
	for _, v := range grad {
		g = max(g, math.Abs(v))
	}
	return g / float64(pr.n), true
}

// newtonStep returns theta - H^-1 g for the log-likelihood's gradient g at
// theta and its Hessian H from central differences of the analytic
// gradient. It reports false if H is not negative definite (for example
// near a boundary where the likelihood is flat in some direction).
func (pr *lmmProblem) newtonStep(theta []float64) ([]float64, bool) {
	k := len(theta)
	g0 := make([]float64, k)
	if _, ok := pr.eval(theta, g0); !ok {
		return nil, false
	}
	h := mat.NewSymDense(k, nil)
	gp := make([]float64, k)
	tp := slices.Clone(theta)
	cols := make([][]float64, k)
	for j := range k {
		step := 1e-5 * max(1, math.Abs(theta[j]))
		tp[j] = theta[j] + step
		if _, ok := pr.eval(tp, gp); !ok {
			return nil, false
		}
		col := slices.Clone(gp)
		tp[j] = theta[j] - step
		if _, ok := pr.eval(tp, gp); !ok {
			return nil, false
		}
		tp[j] = theta[j]
		for i := range k {
			col[i] = -(col[i] - gp[i]) / (2 * step) // Hessian of -logLik
		}
		cols[j] = col
	}
	for i := range k {
		for j := i; j < k; j++ {
			h.SetSym(i, j, (cols[i][j]+cols[j][i])/2)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(h) {
		return nil, false
	}
	var step mat.VecDense
	if err := ch.SolveVecTo(&step, mat.NewVecDense(k, g0)); err != nil {
		return nil, false
	}
	next := make([]float64, k)
	for i := range k {
		next[i] = theta[i] + step.AtVec(i) // -H^-1 (-g) for the Hessian of -logLik
	}
	return next, true
}

// bfgsLMMTol is the gradient tolerance at which the BFGS stage hands over
// to Newton steps (when the requested tolerance is tighter).
const bfgsLMMTol = 1e-6

// minimizeLMM minimises -logLik/n over theta from theta0 and reports
// whether the gradient's infinity norm reached tol. BFGS gets near the
// optimum; there its line search stalls, because steps change -logLik/n by
// less than its rounding error once the gradient is about 1e-9. Newton
// steps on the gradient, with the Hessian from central differences of the
// analytic gradient, then converge quadratically; a step is kept only if
// it shrinks the gradient without raising the objective beyond rounding.
// If the Newton steps fail (an indefinite Hessian, as near a boundary),
// BFGS runs again to the full tolerance, followed by Newton steps again.
func minimizeLMM(ctx context.Context, pr *lmmProblem, theta0 []float64, maxIter int, tol float64) (lmmResult, error) {
	scale := 1 / float64(pr.n)
	grad := make([]float64, len(theta0))
	f := func(theta []float64) float64 {
		ev, ok := pr.eval(theta, nil)
		if !ok {
			return math.Inf(1)
		}
		return -ev.logLik * scale
	}
	g := func(dst, theta []float64) {
		// The line search usually asks for the gradient where it has just
		// evaluated the function: reuse that evaluation's state.
		ok := slices.Equal(theta, pr.state) && pr.gradient(dst)
		if !ok {
			_, ok = pr.eval(theta, dst)
		}
		if !ok {
			for i := range dst {
				dst[i] = math.NaN()
			}
			return
		}
		for i := range dst {
			dst[i] *= -scale
		}
	}
	out := lmmResult{theta: slices.Clone(theta0)}
	for round := range 2 {
		thr := tol
		if round == 0 {
			thr = max(tol, bfgsLMMTol)
		}
		if out.iters >= maxIter {
			break
		}
		settings := &optimize.Settings{
			GradientThreshold: thr,
			MajorIterations:   maxIter - out.iters,
			Converger:         optimize.NeverTerminate{},
			Recorder:          ctxRecorder{ctx},
		}
		res, err := optimize.Minimize(optimize.Problem{Func: f, Grad: g}, out.theta, settings,
			&optimize.BFGS{GradStopThreshold: math.NaN()})
		if cerr := ctx.Err(); cerr != nil {
			return lmmResult{}, cerr
		}
		if res == nil {
			return lmmResult{}, fmt.Errorf("optimiser: %w", err)
		}
		if res.F <= f(out.theta) {
			out.theta = slices.Clone(res.X)
		}
		out.iters += res.MajorIterations
		gmax, ok := pr.gradNorm(out.theta, grad)
		if !ok {
			return out, nil
		}
		f0 := f(out.theta)
		for range maxLMMNewton {
			if gmax <= tol || out.iters >= maxIter {
				break
			}
			if err := ctx.Err(); err != nil {
				return lmmResult{}, err
			}
			next, ok := pr.newtonStep(out.theta)
			if !ok {
				break
			}
			fn := f(next)
			gn, ok := pr.gradNorm(next, grad)
			if !ok || gn >= gmax || fn > f0+1e-13*math.Abs(f0) {
				break
			}
			out.theta, gmax, f0 = next, gn, fn
			out.iters++
		}
		if gmax <= tol {
			out.converged = true
			break
		}
	}
	return out, nil
}

// Coef returns a user's coefficient vector Beta + E u, where E scatters the
// q random effects u into the feature positions Random. The prediction for
// a feature row x is then x . Coef(u).
func (m *LMM) Coef(u []float64) ([]float64, error) {
	if len(u) != len(m.Random) {
		return nil, fmt.Errorf("mixed: %d random effects, want %d", len(u), len(m.Random))
	}
	c := append([]float64(nil), m.Beta...)
	for k, j := range m.Random {
		if j < 0 || j >= len(c) {
			return nil, fmt.Errorf("mixed: Random[%d] = %d out of range [0, %d)", k, j, len(c))
		}
		c[j] += u[k]
	}
	return c, nil
}

// Predict returns the predictions x Beta + z u for the feature rows x (m x
// d, row-major) of a user with random effects u (for example the posterior
// mean from Posterior; nil means u = 0, the population prediction).
func (m *LMM) Predict(x, u []float64) ([]float64, error) {
	if u == nil {
		u = make([]float64, len(m.Random))
	}
	c, err := m.Coef(u)
	if err != nil {
		return nil, err
	}
	d := len(c)
	if d == 0 || len(x)%d != 0 {
		return nil, fmt.Errorf("mixed: %d feature values are not rows of dimension %d", len(x), d)
	}
	out := make([]float64, len(x)/d)
	for r := range out {
		s := 0.0
		for j, v := range x[r*d : (r+1)*d] {
			s += v * c[j]
		}
		out[r] = s
	}
	return out, nil
}

// PredictVar returns, for each feature row of x (m x d, row-major), the
// predictive variance of a new target of a user whose random effects have
// posterior covariance cov (q x q, from Posterior): z cov z' + S2, where z
// holds the columns Random of the row. The uncertainty of Beta, Sigma and
// S2 is left out; it is small when there are many users.
func (m *LMM) PredictVar(x, cov []float64) ([]float64, error) {
	d, q := len(m.Beta), len(m.Random)
	if d == 0 || len(x)%d != 0 {
		return nil, fmt.Errorf("mixed: %d feature values are not rows of dimension %d", len(x), d)
	}
	if len(cov) != q*q {
		return nil, fmt.Errorf("mixed: covariance has %d values, want %d", len(cov), q*q)
	}
	for k, j := range m.Random {
		if j < 0 || j >= d {
			return nil, fmt.Errorf("mixed: Random[%d] = %d out of range [0, %d)", k, j, d)
		}
	}
	out := make([]float64, len(x)/d)
	for r := range out {
		row := x[r*d : (r+1)*d]
		v := m.S2
		for a, ja := range m.Random {
			for b, jb := range m.Random {
				v += row[ja] * cov[a*q+b] * row[jb]
			}
		}
		out[r] = v
	}
	return out, nil
}

// Posterior returns the posterior mean (the BLUP) and covariance of the
// random effects u of one user, given its feature rows x (m x d,
// row-major) and targets y (m), with the model's parameters fixed:
//
//	cov  = (Z'Z/S2 + Sigma^-1)^-1,   mean = cov Z'(y - x Beta)/S2,
//
// where Z holds the columns Random of x. It is computed as
// cov = C (I + C'Z'Z C/S2)^-1 C' with Sigma = C C', which needs no inverse
// of Sigma, so a singular Sigma (a variance component at 0) is fine: the
// posterior is then exactly 0 in that direction. With no rows (m = 0) the
// posterior is the prior, mean 0 and covariance Sigma. cov is q x q
// row-major.
func (m *LMM) Posterior(x, y []float64) (mean, cov []float64, err error) {
	mean, cov, err = m.posterior(x, y)
	if err != nil {
		return nil, nil, fmt.Errorf("mixed: posterior: %w", err)
	}
	return mean, cov, nil
}

func (m *LMM) posterior(x, y []float64) (mean, cov []float64, err error) {
	d, q := len(m.Beta), len(m.Random)
	if d == 0 {
		return nil, nil, errors.New("model has no fixed effects")
	}
	if len(m.Sigma) != q*q {
		return nil, nil, fmt.Errorf("model Sigma has %d values, want %d", len(m.Sigma), q*q)
	}
	if !(m.S2 > 0) || math.IsInf(m.S2, 0) {
		return nil, nil, fmt.Errorf("residual variance %v must be positive and finite", m.S2)
	}
	if len(x) != len(y)*d {
		return nil, nil, fmt.Errorf("%d feature values for %d targets of dimension %d", len(x), len(y), d)
	}
	for k, j := range m.Random {
		if j < 0 || j >= d {
			return nil, nil, fmt.Errorf("model Random[%d] = %d out of range [0, %d)", k, j, d)
		}
	}
	for _, v := range m.Sigma {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, errors.New("model Sigma is not finite")
		}
	}
	ztz := make([]float64, q*q)
	ztr := make([]float64, q)
	for r, yr := range y {
		row := x[r*d : (r+1)*d]
		res := yr
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("row %d: feature %d = %v is not finite", r, j, v)
			}
			res -= v * m.Beta[j]
		}
		if math.IsNaN(res) || math.IsInf(res, 0) {
			return nil, nil, fmt.Errorf("row %d: target %v is not finite", r, yr)
		}
		for a, ja := range m.Random {
			ztr[a] += row[ja] * res
			for b, jb := range m.Random {
				ztz[a*q+b] += row[ja] * row[jb]
			}
		}
	}
	mean = make([]float64, q)
	cov = make([]float64, q*q)
	if q == 0 {
		return mean, cov, nil
	}
	// Sigma = C C' with C = V diag(sqrt(max(lambda, 0))).
	var eig mat.EigenSym
	sym := mat.NewSymDense(q, nil)
	for i := range q {
		for j := i; j < q; j++ {
			sym.SetSym(i, j, (m.Sigma[i*q+j]+m.Sigma[j*q+i])/2)
		}
	}
	if !eig.Factorize(sym, true) {
		return nil, nil, errors.New("eigendecomposition of Sigma failed")
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	vals := eig.Values(nil)
	c := mat.NewDense(q, q, nil)
	for j, lam := range vals {
		if lam < 0 {
			if lam < -1e-12*math.Abs(vals[len(vals)-1]) {
				return nil, nil, fmt.Errorf("model Sigma is not positive semidefinite (eigenvalue %g)", lam)
			}
			lam = 0
		}
		s := math.Sqrt(lam)
		for i := range q {
			c.Set(i, j, vecs.At(i, j)*s)
		}
	}
	// B = I + C'Z'Z C/S2 (positive definite); cov = C B^-1 C'.
	var zc, bm mat.Dense
	zc.Mul(mat.NewDense(q, q, ztz), c)
	bm.Mul(c.T(), &zc)
	bs := mat.NewSymDense(q, nil)
	for i := range q {
		for j := i; j < q; j++ {
			v := (bm.At(i, j) + bm.At(j, i)) / (2 * m.S2)
			if i == j {
				v++
			}
			bs.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(bs) {
		return nil, nil, errors.New("posterior precision is not positive definite")
	}
	var bict mat.Dense
	if err := ch.SolveTo(&bict, c.T()); err != nil {
		return nil, nil, err
	}
	cv := mat.NewDense(q, q, cov)
	cv.Mul(c, &bict)
	for i := range q { // symmetrise
		for j := range i {
			v := (cov[i*q+j] + cov[j*q+i]) / 2
			cov[i*q+j], cov[j*q+i] = v, v
		}
	}
	for i := range q {
		s := 0.0
		for j := range q {
			s += cov[i*q+j] * ztr[j]
		}
		mean[i] = s / m.S2
	}
	return mean, cov, nil
}
