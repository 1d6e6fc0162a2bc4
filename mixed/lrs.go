package mixed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
	"github.com/lrsp/lrsp/model"
)

// LRSOptions configures FitLRS. The zero value of each field is documented;
// Rank must be set.
type LRSOptions struct {
	// Rank is the number r >= 1 of columns of U.
	Rank int
	// Sparsity is the largest number k of non-zeros of each b_i; 0 fits
	// theta_0 + U w_i only.
	Sparsity int
	// Columns, when not nil, fixes U to the columns of the identity at these
	// feature indices (Rank must equal their number): the classic model with
	// random effects on those features (a random intercept on a constant
	// feature, random slopes on others), fitted by maximum likelihood.
	Columns []int
	// Rounds bounds the EM iterations; 0 means 300.
	Rounds int
	// Tolerance stops EM when an iteration raises the log-likelihood by less
	// than Tolerance per sample; 0 means 1e-7.
	Tolerance float64
	// CGIterations bounds the conjugate-gradient iterations of each U
	// update; 0 means 10.
	CGIterations int
	// Seed seeds AMHT-LRS's initialisation.
	Seed uint64
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// model does not depend on it.
	Workers int
	// Progress, when not nil, is called after every EM iteration.
	Progress func(fit.RoundStats)
}

// exactS2 is the multiple of sigma^2's floor below which a fit counts as
// exact.
const exactS2 = 1e6

// The defaults of LRSOptions.
const (
	defaultLRSRounds = 300
	defaultLRSTol    = 1e-7
	defaultCG        = 10
)

// LRSResult is a fitted mixed-model LRS.
type LRSResult struct {
	// Model has Method model.MethodMixedLRS, its Prior set, and every
	// user's posterior means as W and Value.
	Model *model.Model
	// LogLik is the log marginal likelihood of the training targets at the
	// fitted parameters, given the supports of b.
	LogLik float64
	// Rounds reports every EM iteration; TrainLoss is the mean per-user
	// MSE of the posterior means.
	Rounds []fit.RoundStats
	// Stopped says why EM ended.
	Stopped fit.StopReason
}

// lrsState is the EM's state, on the standardised features.
type lrsState struct {
	d, r, k, t int
	n          int // total samples
	ids        []string
	x, y       [][]float64
	u          []float64 // d x r
	theta0     []float64
	sigma      []float64 // r x r
	tau2       float64   // prior variance of every non-zero of b (standardised units)
	s2         float64
	s2Floor    float64
	supp       [][]int
	gram       []float64   // Cholesky factor of the pooled X^T X (with its ridge), computed once per fit
	grams      [][]float64 // X_i^T X_i of the users whose Gram the U update applies (see userGrams)
	post       []posterior
	fixedU     bool
	workers    int
}

// FitLRS fits the mixed-model LRS of package doc's model to ds by EM, on
// features standardised to unit root mean square (so that the fit does not
// depend on the features' units; the model is returned in the data's
// units). It starts from AMHT-LRS's fit (U and the supports of b), and
// alternates the per-user posteriors (E-step; each user's support of b is
// chosen again by its penalised marginal likelihood, see selectSupport)
// with closed-form updates of Sigma, the variance of b's entries and sigma^2, a pooled
// least-squares update of theta_0 and a conjugate-gradient update of U on
// the expected sufficient statistics (M-step), until the log-likelihood
// stops rising. With noiseless data sigma^2 goes to 0 and the posterior
// means to AMHT-LRS's exact fit.
func FitLRS(ctx context.Context, ds *dataset.Dataset, opt LRSOptions) (*LRSResult, error) {
	d := ds.Dim()
	switch {
	case len(ds.Users) == 0:
		return nil, errors.New("mixed: no users")
	case !ds.HasTarget:
		return nil, errors.New("mixed: the data have no targets")
	case opt.Rank < 1 || opt.Rank > d:
		return nil, fmt.Errorf("mixed: rank %d must be in [1, %d] (the number of features)", opt.Rank, d)
	case opt.Sparsity < 0 || opt.Sparsity > d:
		return nil, fmt.Errorf("mixed: sparsity %d must be in [0, %d]", opt.Sparsity, d)
	case opt.Columns != nil && len(opt.Columns) != opt.Rank:
		return nil, fmt.Errorf("mixed: %d random-effect columns for rank %d", len(opt.Columns), opt.Rank)
	case opt.Columns != nil && opt.Sparsity != 0:
		return nil, errors.New("mixed: random effects on chosen columns take no sparse part")
	case opt.Rounds < 0 || opt.Rounds > fit.MaxRounds:
		return nil, fmt.Errorf("mixed: rounds %d must be in [0, %d]", opt.Rounds, fit.MaxRounds)
	case !(opt.Tolerance >= 0) || math.IsInf(opt.Tolerance, 0):
		return nil, fmt.Errorf("mixed: tolerance %v must be finite and not negative", opt.Tolerance)
	case opt.CGIterations < 0:
		return nil, fmt.Errorf("mixed: cg iterations %d must not be negative", opt.CGIterations)
	}
	for q, j := range opt.Columns {
		if j < 0 || j >= d || slices.Contains(opt.Columns[:q], j) {
			return nil, fmt.Errorf("mixed: random-effect column %d out of range [0, %d) or repeated", j, d)
		}
	}
	if opt.Rounds == 0 {
		opt.Rounds = defaultLRSRounds
	}
	if opt.Tolerance == 0 {
		opt.Tolerance = defaultLRSTol
	}
	if opt.CGIterations == 0 {
		opt.CGIterations = defaultCG
	}
	scale := Scales(ds)
	st := &lrsState{d: d, r: opt.Rank, k: opt.Sparsity, t: len(ds.Users), workers: opt.Workers, fixedU: opt.Columns != nil}
	sds := scaled(ds, scale)
	for _, u := range sds.Users {
		for _, v := range u.X {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("mixed: user %q has a non-finite feature", u.ID)
			}
		}
		for _, v := range u.Y {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("mixed: user %q has a non-finite target", u.ID)
			}
		}
		st.ids = append(st.ids, u.ID)
		st.x = append(st.x, u.X)
		st.y = append(st.y, u.Y)
		st.n += len(u.Y)
	}
	if opt.Columns == nil {
		st.grams = st.userGrams()
	} else {
		st.grams = make([][]float64, st.t)
	}
	// The pooled Gram's factor, shared by both EM starts (each works on a
	// copy of st).
	g, err := st.pooledGram()
	if err != nil {
		return nil, err
	}
	st.gram = g
	// EM from two starts, keeping the fit of higher likelihood: AMHT-LRS on
	// the targets (as the paper: exact on noiseless data) and AMHT-LRS with
	// a ridge around the pooled least-squares theta_0 (U then spans the
	// users' variation rather than their mean, which real data need).
	var res *LRSResult
	best := st
	for _, centred := range []bool{false, true} {
		if opt.Columns != nil && centred {
			break
		}
		cur := *st
		if err := cur.init(ctx, sds, opt, centred); err != nil {
			return nil, err
		}
		r, err := cur.em(ctx, opt)
		if err != nil {
			return nil, err
		}
		if res == nil || r.LogLik > res.LogLik {
			res, best = r, &cur
		}
		if cur.s2 <= exactS2*cur.s2Floor {
			// The first start fits the data exactly (noiseless data, as
			// the paper's): no start can do better.
			break
		}
	}
	st = best
	m, err := st.model(ds.Features, scale)
	if err != nil {
		return nil, err
	}
	m.Config = model.Config{Version: model.ConfigVersion, Method: model.MethodMixedLRS, Rank: opt.Rank,
		Sparsity: opt.Sparsity, Rounds: opt.Rounds, Tolerance: opt.Tolerance, Seed: opt.Seed, Stopped: res.Stopped.String()}
	res.Model = m
	return res, nil
}

// Scales returns the root mean square of every feature of ds over all its
// samples, or 1 for a feature that is 0 everywhere: the units FitLRS
// standardises by.
func Scales(ds *dataset.Dataset) []float64 {
	d := ds.Dim()
	s := make([]float64, d)
	n := 0
	for _, u := range ds.Users {
		for i := 0; i < u.Len(); i++ {
			for j, v := range u.X[i*d : (i+1)*d] {
				s[j] += v * v
			}
		}
		n += u.Len()
	}
	for j := range s {
		s[j] = math.Sqrt(s[j] / float64(max(n, 1)))
		if !(s[j] > 0) || math.IsInf(s[j], 0) {
			s[j] = 1
		}
	}
	return s
}

// scaled returns a copy of ds with feature j divided by scale[j].
func scaled(ds *dataset.Dataset, scale []float64) *dataset.Dataset {
	d := ds.Dim()
	out := &dataset.Dataset{Features: ds.Features, HasTarget: ds.HasTarget, Users: make([]dataset.User, len(ds.Users))}
	for i, u := range ds.Users {
		x := make([]float64, len(u.X))
		for p, v := range u.X {
			x[p] = v / scale[p%d]
		}
		out.Users[i] = dataset.User{ID: u.ID, X: x, Y: u.Y, Rows: u.Rows}
	}
	return out
}

// em runs EM from st's starting point until the log-likelihood stops
// rising, leaving st at the last E-step's posteriors.
func (st *lrsState) em(ctx context.Context, opt LRSOptions) (*LRSResult, error) {
	res := &LRSResult{Stopped: fit.StopRounds}
	prevLL := math.Inf(-1)
	for round := 1; ; round++ {
		start := time.Now()
		ll, mse, err := st.estep(ctx)
		if err != nil {
			return nil, err
		}
		res.LogLik = ll
		if round > 1 {
			res.Rounds[len(res.Rounds)-1].Seconds += time.Since(start).Seconds()
		}
		if round > opt.Rounds {
			break
		}
		if ll-prevLL < opt.Tolerance*float64(st.n) {
			res.Stopped = fit.StopTolerance
			break
		}
		prevLL = ll
		if err := st.mstep(ctx, opt.CGIterations); err != nil {
			return nil, err
		}
		rs := fit.RoundStats{Round: round, TrainLoss: mse, InlierLoss: mse, Seconds: time.Since(start).Seconds()}
		res.Rounds = append(res.Rounds, rs)
		if opt.Progress != nil {
			opt.Progress(rs)
		}
	}
	return res, nil
}

// init starts EM: U and the supports from AMHT-LRS (or the chosen
// columns; centred: around the pooled least-squares theta_0, with a
// ridge of one sample's worth), theta_0 = 0 or that fit, Sigma the second moment of AMHT-LRS's w_i, the
// variance of b's entries their mean square, and sigma^2 the residual
// variance with the degrees of freedom of the per-user fits removed.
func (st *lrsState) init(ctx context.Context, sds *dataset.Dataset, opt LRSOptions, centred bool) error {
	d, r := st.d, st.r
	st.theta0 = make([]float64, d)
	st.supp = make([][]int, st.t)
	st.post = make([]posterior, st.t)
	yy := 0.0
	for _, y := range st.y {
		for _, v := range y {
			yy += v * v
		}
	}
	st.s2Floor = 1e-24*yy/float64(st.n) + 1e-300
	var ws []float64
	if opt.Columns != nil {
		st.u = make([]float64, d*r)
		for c, j := range opt.Columns {
			st.u[j*r+c] = 1
		}
		st.sigma = make([]float64, r*r)
		for a := 0; a < r; a++ {
			st.sigma[a*r+a] = yy / float64(st.n)
		}
		st.s2 = yy / float64(st.n)
		return nil
	}
	ao := amht.Options{Rank: r, Sparsity: st.k, Seed: opt.Seed, Workers: opt.Workers}
	if centred {
		st.post = make([]posterior, st.t) // z = 0: theta_0 is the pooled fit
		for i := range st.post {
			st.post[i].n = r
			st.post[i].z = make([]float64, r)
		}
		st.u = make([]float64, d*r)
		if err := st.updateTheta0(ctx); err != nil {
			return err
		}
		ao.Offset, ao.Ridge = st.theta0, 1
	}
	a, err := amht.Train(ctx, sds, nil, ao)
	if err != nil {
		return fmt.Errorf("mixed: initialisation: %w", err)
	}
	st.u = a.Model.U
	idx := sds.Index()
	sumB, nB := 0.0, 0
	rss, dof := 0.0, 0
	for _, u := range a.Model.Users {
		i := idx[u.ID]
		ws = append(ws, u.W...)
		for q, j := range u.Index {
			st.supp[i] = append(st.supp[i], int(j))
			sumB += u.Value[q] * u.Value[q]
			nB++
		}
		dof += r + len(u.Index)
	}
	st.sigma = make([]float64, r*r)
	for i := 0; i < st.t; i++ {
		w := ws[i*r : (i+1)*r]
		for p := 0; p < r; p++ {
			for q := 0; q < r; q++ {
				st.sigma[p*r+q] += w[p] * w[q] / float64(st.t)
			}
		}
	}
	st.tau2 = 1
	if nB > 0 && sumB > 0 {
		st.tau2 = sumB / float64(nB)
	}
	theta := make([]float64, d)
	for _, u := range a.Model.Users {
		i := idx[u.ID]
		a.Model.Theta(&u, theta)
		x, y := st.x[i], st.y[i]
		for s := range y {
			e := y[s]
			for j, v := range x[s*d : (s+1)*d] {
				e -= v * theta[j]
			}
			rss += e * e
		}
	}
	st.s2 = math.Max(rss/math.Max(float64(st.n-dof), 0.1*float64(st.n)), st.s2Floor)
	return nil
}

// currentPrior returns the prior of the current parameters.
func (st *lrsState) currentPrior() (*prior, error) {
	var varB []float64
	if st.k > 0 {
		varB = make([]float64, st.d)
		for j := range varB {
			varB[j] = st.tau2
		}
	}
	p, err := newPrior(st.d, st.r, st.sigma, varB, st.s2)
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	return p, nil
}

// target returns user i's targets minus x theta_0 in buf.
func (st *lrsState) target(i int, buf []float64) []float64 {
	d := st.d
	y := st.y[i]
	buf = grow(buf, len(y))
	x := st.x[i]
	for s := range y {
		v := y[s]
		for j, xv := range x[s*d : (s+1)*d] {
			v -= xv * st.theta0[j]
		}
		buf[s] = v
	}
	return buf
}

// estep computes every user's posterior and returns the total log
// likelihood and the mean per-user MSE of the posterior means.
func (st *lrsState) estep(ctx context.Context) (ll, mse float64, err error) {
	p, err := st.currentPrior()
	if err != nil {
		return 0, 0, err
	}
	nw := fit.Workers(st.workers, st.t)
	scr := make([]scratch, nw)
	tgt := make([][]float64, nw)
	err = fit.ForEach(ctx, st.t, nw, func(w, i int) error {
		tgt[w] = st.target(i, tgt[w])
		if st.k > 0 && !st.fixedU {
			st.supp[i] = p.selectSupport(st.x[i], tgt[w], st.u, st.k, st.supp[i], &scr[w], &st.post[i])
			return nil
		}
		p.posterior(st.x[i], tgt[w], st.u, st.supp[i], &scr[w], &st.post[i])
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for i := range st.post {
		ll += st.post[i].logLik
		mse += st.post[i].rss / float64(len(st.y[i]))
	}
	return ll, mse / float64(st.t), nil
}

// mstep updates sigma^2, Sigma, the variance of b, theta_0 and U from the
// posteriors of the last E-step, in that order (each a conditional
// maximisation of the expected complete-data log-likelihood).
func (st *lrsState) mstep(ctx context.Context, cgIter int) error {
	r := st.r
	// sigma^2 = (1/N) sum_i (rss_i + s2 tr(D_i^T D_i G_i^{-1})).
	s := 0.0
	for i := range st.post {
		s += st.post[i].rss + st.s2*st.post[i].trDG
	}
	s2old := st.s2
	// Sigma = (1/t) sum_i (z_w z_w^T + s2 G^{-1}_ww); tau^2 likewise over
	// the supports' entries.
	sig := make([]float64, r*r)
	sumB, nB := 0.0, 0
	for i := range st.post {
		pp := &st.post[i]
		n := pp.n
		for a := 0; a < r; a++ {
			for b := 0; b < r; b++ {
				sig[a*r+b] += pp.z[a]*pp.z[b] + s2old*pp.ginv[a*n+b]
			}
		}
		for q := r; q < n; q++ {
			sumB += pp.z[q]*pp.z[q] + s2old*pp.ginv[q*n+q]
			nB++
		}
	}
	for a := range sig {
		sig[a] /= float64(st.t)
	}
	for a := 0; a < r; a++ {
		for b := 0; b < a; b++ {
			v := (sig[a*r+b] + sig[b*r+a]) / 2
			sig[a*r+b], sig[b*r+a] = v, v
		}
	}
	st.sigma = sig
	if nB > 0 {
		st.tau2 = math.Max(sumB/float64(nB), st.s2Floor)
	}
	st.s2 = math.Max(s/float64(st.n), st.s2Floor)
	if err := st.updateTheta0(ctx); err != nil {
		return err
	}
	if !st.fixedU {
		if err := st.updateU(ctx, cgIter, s2old); err != nil {
			return err
		}
	}
	return nil
}

// updateTheta0 solves (sum_i X_i^T X_i) theta_0 = sum_i X_i^T (y_i - D_i z_i),
// with a ridge of 1e-10 times the mean diagonal so that features that are
// linearly dependent (dummy columns beside an intercept) get the
// minimum-norm-like solution instead of a failure.
func (st *lrsState) updateTheta0(ctx context.Context) error {
	d, r := st.d, st.r
	if err := ctx.Err(); err != nil {
		return err
	}
	rhs := make([]float64, d)
	uz := make([]float64, d)
	for i := range st.y {
		x, y, pp := st.x[i], st.y[i], &st.post[i]
		// uz = U w + b, the user's deviation from theta_0.
		vec.MulVec(uz, st.u, pp.z[:r])
		for q, j := range st.supp[i] {
			uz[j] += pp.z[r+q]
		}
		for s := range y {
			row := x[s*d : (s+1)*d]
			// e = y - D z = y - x_s (U w + b).
			vec.Axpy(y[s]-vec.Dot(row, uz), row, rhs)
		}
	}
	g := st.gram
	lapack64.Potrs(blas64.Triangular{N: d, Stride: d, Data: g, Uplo: blas.Upper, Diag: blas.NonUnit},
		blas64.General{Rows: d, Cols: 1, Stride: 1, Data: rhs})
	copy(st.theta0, rhs)
	return nil
}

// pooledGram returns the upper Cholesky factor of sum_i X_i^T X_i plus
// 1e-10 times its mean diagonal.
func (st *lrsState) pooledGram() ([]float64, error) {
	d := st.d
	g := make([]float64, d*d)
	for i := range st.y {
		x := st.x[i]
		for s := range st.y[i] {
			row := x[s*d : (s+1)*d]
			for a, va := range row {
				if va == 0 {
					continue
				}
				ga := g[a*d : (a+1)*d]
				for b := a; b < d; b++ {
					ga[b] += va * row[b]
				}
			}
		}
	}
	tr := 0.0
	for a := 0; a < d; a++ {
		tr += g[a*d+a]
	}
	for a := 0; a < d; a++ {
		g[a*d+a] += 1e-10*tr/float64(d) + 1e-300
	}
	if _, ok := lapack64.Potrf(blas64.Symmetric{N: d, Stride: d, Data: g, Uplo: blas.Upper}); !ok {
		return nil, errors.New("mixed: the pooled features are degenerate: theta_0 is not determined")
	}
	return g, nil
}

// updateU takes cgIter conjugate-gradient steps, warm-started at U, on the
// expected least squares sum_i E||y_i - X_i theta_0 - X_i U w_i - X_S b_S||^2,
// whose normal equations are sum_i X_i^T X_i U M_i = B with
// M_i = E[w_i w_i^T] and B = sum_i X_i^T (t_i E[w_i]^T - X_S E[b_S w_i^T]);
// then it re-orthonormalises U = Q R and folds R into Sigma.
func (st *lrsState) updateU(ctx context.Context, cgIter int, s2 float64) error {
	d, r := st.d, st.r
	// E[w_i w_i^T] of every user, r x r each, in one allocation.
	ew := make([]float64, st.t*r*r)
	for i := range st.post {
		pp := &st.post[i]
		n := pp.n
		m := ew[i*r*r : (i+1)*r*r]
		for a := 0; a < r; a++ {
			for b := 0; b < r; b++ {
				m[a*r+b] = pp.z[a]*pp.z[b] + s2*pp.ginv[a*n+b]
			}
		}
	}
	// The CG runs on U^T (r x d, row-major), so that every product with a
	// row of X is a contiguous dot or axpy. B, summed per user in user
	// order.
	B, err := st.sumUsers(ctx, func(i int, acc, _ []float64) {
		pp := &st.post[i]
		n := pp.n
		x, y := st.x[i], st.y[i]
		for s := range y {
			row := x[s*d : (s+1)*d]
			t := y[s] - vec.Dot(row, st.theta0) // the target minus x theta_0
			for c := 0; c < r; c++ {
				q := t * pp.z[c]
				for p, j := range st.supp[i] {
					// E[b_p w_c] = z_b z_w + s2 G^{-1}_{bw}.
					q -= row[j] * (pp.z[r+p]*pp.z[c] + s2*pp.ginv[(r+p)*n+c])
				}
				if q != 0 {
					vec.Axpy(q, row, acc[c*d:(c+1)*d])
				}
			}
		}
	})
	if err != nil {
		return err
	}
	apply := func(ut []float64) ([]float64, error) {
		return st.sumUsers(ctx, func(i int, acc, xu []float64) {
			x := st.x[i]
			m := ew[i*r*r : (i+1)*r*r]
			if g := st.grams[i]; g != nil {
				// (G_i U M_i)^T = M_i^T (U^T G_i), with V = U^T G_i.
				v := xu[r : r+r*d]
				for c := 0; c < r; c++ {
					vec.MulVec(v[c*d:(c+1)*d], g, ut[c*d:(c+1)*d])
				}
				for c := 0; c < r; c++ {
					for a := 0; a < r; a++ {
						vec.Axpy(m[a*r+c], v[a*d:(a+1)*d], acc[c*d:(c+1)*d])
					}
				}
				return
			}
			for s := 0; s < len(st.y[i]); s++ {
				row := x[s*d : (s+1)*d]
				vec.DotRows(xu[:r], row, ut)
				for c := 0; c < r; c++ {
					q := 0.0
					for a := 0; a < r; a++ {
						q += xu[a] * m[a*r+c]
					}
					vec.Axpy(q, row, acc[c*d:(c+1)*d])
				}
			}
		})
	}
	u := linalg.TransposeInto(nil, d, r, st.u)
	au, err := apply(u)
	if err != nil {
		return err
	}
	res := make([]float64, d*r)
	for j := range res {
		res[j] = B[j] - au[j]
	}
	dir := append([]float64(nil), res...)
	rr := dotv(res, res)
	bb := dotv(B, B)
	for it := 0; it < cgIter && rr > 1e-30*bb; it++ {
		ad, err := apply(dir)
		if err != nil {
			return err
		}
		dad := dotv(dir, ad)
		if !(dad > 0) {
			break
		}
		alpha := rr / dad
		for j := range u {
			u[j] += alpha * dir[j]
			res[j] -= alpha * ad[j]
		}
		rn := dotv(res, res)
		beta := rn / rr
		rr = rn
		for j := range dir {
			dir[j] = res[j] + beta*dir[j]
		}
	}
	u = linalg.TransposeInto(nil, r, d, u)
	st.u = u
	R, ok := linalg.ThinQR(d, r, u)
	if !ok {
		return errors.New("mixed: the U update lost rank: the data do not determine a rank-r subspace")
	}
	// U_old = Q R, so w = R^{-1}... in the new basis w' = R w and
	// Sigma' = R Sigma R^T.
	st.sigma = congruenceN(r, R, st.sigma, 1)
	return nil
}

// maxGramFloats bounds the memory of userGrams: 2^25 float64s, 256 MiB.
const maxGramFloats = 1 << 25

// userGrams returns X_i^T X_i (d x d, row-major) for every user with more
// than d/2 samples, for whom one product with the Gram costs less than one
// pass over the rows (d^2 against 2 m_i d multiply-adds per column of U),
// and nil for the others; the largest users first while the total stays
// within maxGramFloats. The Grams do not change during EM, and the U
// update's conjugate gradient applies them about ten times per iteration.
func (st *lrsState) userGrams() [][]float64 {
	d := st.d
	grams := make([][]float64, st.t)
	order := make([]int, st.t)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(st.y[b]) - len(st.y[a]) })
	budget := maxGramFloats
	for _, i := range order {
		if 2*len(st.y[i]) <= d || budget < d*d {
			break
		}
		budget -= d * d
		g := make([]float64, d*d)
		x := st.x[i]
		for s := range st.y[i] {
			row := x[s*d : (s+1)*d]
			for a, va := range row {
				if va != 0 {
					vec.Axpy(va, row, g[a*d:(a+1)*d])
				}
			}
		}
		grams[i] = g
	}
	return grams
}

// congruenceN returns c T S T^T for n x n matrices T and S.
func congruenceN(n int, T, S []float64, c float64) []float64 {
	ts := make([]float64, n*n)
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			v := 0.0
			for k := 0; k < n; k++ {
				v += T[a*n+k] * S[k*n+b]
			}
			ts[a*n+b] = v
		}
	}
	out := make([]float64, n*n)
	for a := 0; a < n; a++ {
		for b := 0; b <= a; b++ {
			v := 0.0
			for k := 0; k < n; k++ {
				v += ts[a*n+k] * T[b*n+k]
			}
			out[a*n+b], out[b*n+a] = c*v, c*v
		}
	}
	return out
}

// PackLower returns the lower triangle of the n x n matrix S, row by row.
func PackLower(n int, S []float64) []float64 {
	p := make([]float64, 0, n*(n+1)/2)
	for a := 0; a < n; a++ {
		p = append(p, S[a*n:a*n+a+1]...)
	}
	return p
}

func dotv(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// usersPerChunk is the number of users whose contributions a worker sums
// before they are added, in chunk order, to the total.
const usersPerChunk = 64

// sumUsers returns sum_i f(i) over users, each f adding its d x r
// contribution into acc, with an r-vector of scratch buf that it may
// overwrite; chunks of users are summed in parallel and added in chunk
// order, so the sum does not depend on the number of workers.
func (st *lrsState) sumUsers(ctx context.Context, f func(i int, acc, buf []float64)) ([]float64, error) {
	size := st.d * st.r
	chunks := (st.t + usersPerChunk - 1) / usersPerChunk
	slots := make([][]float64, fit.Slots(st.workers, chunks))
	total := make([]float64, size)
	err := fit.ForEachOrdered(ctx, chunks, st.workers, func(_, slot, c int) error {
		if slots[slot] == nil {
			slots[slot] = make([]float64, 2*size+st.r)
		}
		acc, buf := slots[slot][:size], slots[slot][size:]
		clear(acc)
		for i := c * usersPerChunk; i < min((c+1)*usersPerChunk, st.t); i++ {
			f(i, acc, buf)
		}
		return nil
	}, func(slot, _ int) {
		for j, v := range slots[slot][:size] {
			total[j] += v
		}
	})
	return total, err
}

// model returns the fitted model in the data's units: theta_0 and b
// divided by the scales, U = orth(S^{-1} U_s) = Q R with R folded into
// every w and into Sigma, and the prior variance of b's entry j
// tau^2 / scale_j^2.
func (st *lrsState) model(features []string, scale []float64) (*model.Model, error) {
	d, r := st.d, st.r
	u := make([]float64, d*r)
	for j := 0; j < d; j++ {
		for c := 0; c < r; c++ {
			u[j*r+c] = st.u[j*r+c] / scale[j]
		}
	}
	R, ok := linalg.ThinQR(d, r, u)
	if !ok {
		return nil, errors.New("mixed: the fitted U lost rank")
	}
	m := &model.Model{Method: model.MethodMixedLRS, Dim: d, Rank: r, Sparsity: st.k, Features: features, U: u,
		Theta0: make([]float64, d), Prior: &model.Prior{Sigma: congruenceN(r, R, st.sigma, 1), Noise: st.s2}}
	for j := range m.Theta0 {
		m.Theta0[j] = st.theta0[j] / scale[j]
	}
	if st.k > 0 {
		m.Prior.VarB = make([]float64, d)
		for j := range m.Prior.VarB {
			m.Prior.VarB[j] = st.tau2 / (scale[j] * scale[j])
		}
	}
	ws := make([]float64, 0, st.t*r)
	for i := range st.post {
		ws = append(ws, st.post[i].z[:r]...)
	}
	linalg.FoldR(r, R, ws)
	m.Users = make([]model.User, st.t)
	for i := range st.post {
		pp := &st.post[i]
		u := model.User{ID: st.ids[i], W: ws[i*r : (i+1)*r : (i+1)*r]}
		for q, j := range st.supp[i] {
			u.Index = append(u.Index, int32(j))
			u.Value = append(u.Value, pp.z[r+q]/scale[j])
		}
		// The posterior covariance s2 G^{-1} in the data's units: T C T^T
		// with T = blockdiag(R, 1/scale_S).
		n := pp.n
		T := make([]float64, n*n)
		for a := 0; a < r; a++ {
			copy(T[a*n+a:a*n+r], R[a*r+a:(a+1)*r])
		}
		for q, j := range st.supp[i] {
			T[(r+q)*n+r+q] = 1 / scale[j]
		}
		u.Cov = PackLower(n, congruenceN(n, T, pp.ginv, st.s2))
		m.Users[i] = u
	}
	return m, nil
}
