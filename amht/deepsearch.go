package amht

import (
	"math"
	"slices"

	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
)

// This file holds what makes the support search, and the deep search of
// the final pass and of new users above all, cheap per candidate support:
//
//   - lsq refits a support by updating a Cholesky factor of the normal
//     equations kept from the previous fit of the same user, appending the
//     columns that the new support adds (O(n m + n^2) each, n = r + |S|)
//     instead of forming and factoring the whole system (O(n^2 m + n^3));
//   - swap skips the refit of an exchange candidate whose exact residual
//     decrease, read off the appended row of the factor, cannot bring the
//     residual below the best one (gain, cannotBeat);
//   - the deep search remembers the supports that an exchange sweep has
//     confirmed as local optima, so that a restart reaching one again
//     skips the sweep that would only confirm it again (optima);
//   - it remembers each removal of an exchange sweep (the fit without a
//     member, its best candidates and their fits), so that a sweep of
//     another support with the same other members reuses them instead of
//     refitting and reading X again (removal);
//   - a budget bounds the least-squares fits of one user's deep search
//     (Options.DeepFits); unlike the rest, it can change what the search
//     finds, for the users that reach it.
//
// None of these changes what the search finds, only what it costs: the
// incremental factor is, in exact arithmetic, the factor of the whole
// system; pruning skips only candidates that the search would reject; a
// sweep over a confirmed optimum finds no exchange whatever the order of
// its members; and a removal's fits depend only on the set of members
// left. Only the budget, when it binds, ends a search early.

// factor is the upper Cholesky factor R of the normal equations
// D^T D + lambda m I of lsq's design D = [X U | X_S], with its columns in
// factor order (the r columns of X U, then the support columns in the order
// they were appended), and c = R^{-T} D^T y. By the prefix property of the
// Cholesky factorization, the factor of the first q columns is the leading
// q x q block of R, so a support that keeps a prefix of the factor's
// columns costs only the columns after it.
type factor struct {
	n      int       // columns factored; -1 when the user's X U is not in yet
	cols   []int     // support columns in factor order: column r+q of D is cols[q]
	stride int       // of rr: r + k
	rr     []float64 // stride x stride, upper triangle: R
	c      []float64 // stride: R^{-T} D^T y
	zf     []float64 // stride: coefficients in factor order
	gcol   []float64 // stride: the Gram column of an appended column
	idia   []float64 // stride: 1/R[a][a]
	// With grams, projectedNorms has left for this user A^T X in atx
	// (r x d) and the squared column norms of X in colsq (d): the first r
	// entries and the diagonal of an appended support column's Gram column.
	grams bool
	atx   []float64
	colsq []float64
	yy    float64 // ||y||^2, or -1 until cannotBeat needs it
	// With haveXty, xty (d) holds X^T y, computed once for a deep search.
	haveXty bool
	xty     []float64
	dm      []float64 // stride x maxM: D column-major, column a at dm[a*m:(a+1)*m]
	pos     []int     // d: 1 + a column's position in the support being fitted
}

func newFactor(d, r, k, maxM int) factor {
	n := r + k
	return factor{n: -1, cols: make([]int, 0, k), stride: n, rr: make([]float64, n*n), c: make([]float64, n),
		zf: make([]float64, n), gcol: make([]float64, n), idia: make([]float64, n), dm: make([]float64, n*maxM), pos: make([]int, d),
		atx: make([]float64, r*d), colsq: make([]float64, d), xty: make([]float64, d)}
}

// newUser forgets the state that the search keeps between fits of one
// user: it is called once X U is computed for a new user (or a new U), so
// that no user's fit depends on the users fitted before it by the same
// solver.
func (s *solver) newUser() {
	s.f.n = -1
	s.f.cols = s.f.cols[:0]
	s.f.grams = false
	s.f.haveXty = false
	s.f.yy = -1
	s.optN = s.optN[:0]
	s.remN = 0
	s.fits = 0
	s.capped = false
	switch {
	case s.deepFits < 0:
		s.budget = 0
	case s.deepFits == 0:
		s.budget = defaultDeepFits * max(s.kEff, 1)
	default:
		s.budget = s.deepFits
	}
}

// lsq solves the joint least squares on [X U, X_supp] for target, leaves the
// coefficients in s.z (in the order of supp) and the residual in s.resid,
// and returns the residual sum of squares. It updates the factor kept from
// the user's last fit (see factor) once a search has started (see
// projectedNorms); it forms and factors the whole system (lsqFull) before,
// for users with fewer samples than unknowns,
// which get an automatic ridge scaled by the system's trace, and when an
// appended column makes the system numerically singular, which lsqFull
// regularises.
func (s *solver) lsq(x []float64, m int, supp []int) float64 {
	s.fits++
	s.fresh = false
	n := s.r + len(supp)
	if s.refactor || !s.f.grams || n == 0 || (s.ridge == 0 && m < n) {
		// Outside a search (the refit of a kept support), a fit is one
		// of a few: forming and factoring it costs less than building
		// the factor column by column.
		return s.lsqFull(x, m, supp)
	}
	if !s.extend(x, m, supp) {
		return s.lsqFull(x, m, supp)
	}
	f := &s.f
	r, st := s.r, f.stride
	// R zf = c by back substitution.
	zf := f.zf[:n]
	copy(zf, f.c[:n])
	for a := n - 1; a >= 0; a-- {
		t := zf[a]
		ra := f.rr[a*st : a*st+n]
		for b := a + 1; b < n; b++ {
			t -= ra[b] * zf[b]
		}
		zf[a] = t * f.idia[a]
	}
	// Coefficients in the order of supp.
	copy(s.z[:r], zf[:r])
	for p, j := range supp {
		f.pos[j] = p + 1
	}
	for q, j := range f.cols {
		s.z[r+f.pos[j]-1] = zf[r+q]
	}
	for _, j := range supp {
		f.pos[j] = 0
	}
	y := s.target[:m]
	res := s.resid[:m]
	copy(res, y)
	for a, za := range zf {
		vec.Axpy(-za, f.dm[a*m:(a+1)*m], res)
	}
	return vec.Dot(res, res)
}

// extend brings the factor to the columns of X U and supp: it keeps the
// longest prefix of the factor's support columns that are all in supp and
// appends the other members of supp in their order in supp. It reports
// false, leaving a valid factor of fewer columns, when a pivot is not
// positive.
func (s *solver) extend(x []float64, m int, supp []int) bool {
	f := &s.f
	r := s.r
	if f.n < 0 {
		f.n, f.cols = 0, f.cols[:0]
		copy(f.dm[:r*m], s.a[:r*m])
		for a := 0; a < r; a++ {
			if !s.appendColumn(m, -1) {
				f.n = -1
				return false
			}
		}
	}
	for p, j := range supp {
		f.pos[j] = p + 1
	}
	keep := 0
	for keep < len(f.cols) && f.pos[f.cols[keep]] > 0 {
		f.pos[f.cols[keep]] = -f.pos[f.cols[keep]] // in the factor already
		keep++
	}
	f.cols = f.cols[:keep]
	f.n = r + keep
	ok := true
	for _, j := range supp {
		if !ok || f.pos[j] < 0 {
			continue
		}
		col := f.dm[f.n*m : (f.n+1)*m]
		d := s.d
		for i := range col {
			col[i] = x[i*d+j]
		}
		if ok = s.appendColumn(m, j); ok {
			f.cols = append(f.cols, j)
		}
	}
	for _, j := range supp {
		f.pos[j] = 0
	}
	return ok
}

// appendColumn appends to the factor the design column already written at
// f.dm[f.n*m:(f.n+1)*m], column j of X (j < 0 for a column of X U): one
// row of D^T D (n dot products, r fewer when projectedNorms left A^T X),
// one column of R by forward substitution and one entry of c. The
// arithmetic is that of linalg.Cholesky and linalg.CholeskySolve on the
// whole system, up to rounding. It reports false, leaving the factor as
// it was, when the pivot is not positive.
func (s *solver) appendColumn(m, j int) bool {
	f := &s.f
	n, st := f.n, f.stride
	col := f.dm[n*m : (n+1)*m]
	g := f.gcol[:n]
	var gjj float64
	if r, d := s.r, s.d; j >= 0 && f.grams {
		for a := 0; a < r; a++ {
			g[a] = f.atx[a*d+j]
		}
		vec.DotRows(g[r:], col, f.dm[r*m:n*m])
		gjj = f.colsq[j]
	} else {
		vec.DotRows(g, col, f.dm[:n*m])
		gjj = vec.Dot(col, col)
	}
	if s.ridge != 0 {
		gjj += s.ridge * float64(m)
	}
	// Column n of R: R^T u = g by forward substitution, in place (u[a]
	// needs g[a] and u[:a]).
	u := g
	for a := 0; a < n; a++ {
		t := g[a]
		for b := 0; b < a; b++ {
			t -= f.rr[b*st+a] * u[b]
		}
		u[a] = t * f.idia[a]
	}
	piv := gjj
	for _, v := range u {
		piv -= v * v
	}
	if piv <= 0 || math.IsNaN(piv) {
		return false
	}
	var t float64
	if j >= 0 && f.haveXty {
		t = f.xty[j]
	} else {
		t = vec.Dot(s.target[:m], col)
	}
	for a, v := range u {
		f.rr[a*st+n] = v
		t -= v * f.c[a]
	}
	rho := math.Sqrt(piv)
	f.rr[n*st+n] = rho
	f.idia[n] = 1 / rho
	f.c[n] = t / rho
	f.n++
	return true
}

// gain returns the exact decrease of the residual sum of squares from
// appending the last column j of supp to the fit of supp[:len(supp)-1],
// or NaN where it is not read off the factor (in refactor mode, with a
// ridge, with fewer samples than unknowns, or when the factor cannot take
// j). Without a ridge the decrease is c_n^2, the square of the last entry
// of R^{-T} D^T y: the correlation of x_j with the residual over the norm
// of x_j after projecting out the other columns. It appends j to the
// factor, so that lsq(supp) then costs only its solve.
func (s *solver) gain(x []float64, m int, supp []int) float64 {
	if s.refactor || s.ridge != 0 || m < s.r+len(supp) {
		return math.NaN()
	}
	f := &s.f
	if !s.extend(x, m, supp) || len(f.cols) == 0 || f.cols[len(f.cols)-1] != supp[len(supp)-1] {
		return math.NaN()
	}
	cn := f.c[f.n-1]
	return cn * cn
}

// cannotBeat reports whether a candidate support whose fit lowers base, the
// residual sum of squares without its last column, by gain (NaN: unknown)
// certainly has a residual sum of squares at or above thr. The test leaves
// a margin for the rounding of both gain and the residual that lsq would
// compute, so that it never rejects a candidate that lsq would accept.
func (s *solver) cannotBeat(m int, base, gain, thr float64) bool {
	if math.IsNaN(gain) {
		return false
	}
	f := &s.f
	if f.yy < 0 {
		f.yy = vec.Dot(s.target[:m], s.target[:m])
	}
	margin := 1e-9*base + 1e-10*math.Sqrt(base*f.yy)
	return base-gain >= thr+margin
}

// removed is what an exchange sweep learns from one removal: the fit of a
// support without one of its members, the columns that best explain that
// fit's residual, and what is known of the fits with each of them added.
// A user's deep search keeps them by support (see removal), since its
// restarts often sweep supports that share all but one member.
type removed struct {
	hash uint64
	key  []int     // the support without the member, sorted
	rss  float64   // the residual sum of squares of its fit
	cand []int     // the best swapCandidates+1 columns outside it, best first
	gain []float64 // per candidate: the decrease of adding it (see gain), NaN until known
	fit  []float64 // per candidate: the residual sum of squares with it added, NaN until known
}

// forgetFits marks every candidate's gain and fit unknown.
func (e *removed) forgetFits() {
	for q := range e.gain {
		e.gain[q], e.fit[q] = math.NaN(), math.NaN()
	}
}

// removedCache is the number of removals that a user's deep search keeps.
const removedCache = 128

// newRemoved returns n removals for supports of up to k members, in three
// allocations.
func newRemoved(n, k int) []removed {
	const c = swapCandidates + 1
	rem := make([]removed, n)
	ints := make([]int, n*(k+c))
	floats := make([]float64, 2*n*c)
	for q := range rem {
		e := &rem[q]
		e.key = ints[q*(k+c) : q*(k+c) : q*(k+c)+k]
		e.cand = ints[q*(k+c)+k : q*(k+c)+k : (q+1)*(k+c)]
		e.gain = floats[2*q*c : (2*q+1)*c : (2*q+1)*c]
		e.fit = floats[(2*q+1)*c : (2*q+2)*c : (2*q+2)*c]
	}
	return rem
}

// removal returns the removal of member from the support, s.supp holding
// the support without it: the one this user's search kept, or a new one,
// which costs a fit of s.supp and a pass over X for its candidates. Their
// scores, the fits and their order depend only on the set s.supp, up to
// rounding, so a kept removal stands for a new one. The removed member
// is among its candidates when it scores high enough: the caller skips
// it, and the other swapCandidates are the best columns outside the
// support, as if it had been left out of the scores.
func (s *solver) removal(x []float64, m, member int) *removed {
	if s.refactor {
		e := &s.remScratch
		e.rss = s.lsq(x, m, s.supp)
		e.cand = s.topColumns(x, m, swapCandidates, member, e.cand)
		e.forgetFits()
		return e
	}
	key := s.sortedKey(s.supp)
	h := uint64(14695981039346656037)
	for _, j := range key {
		h = (h ^ uint64(j)) * 1099511628211
	}
	for q := range s.remN {
		if e := &s.rem[q]; e.hash == h && slices.Equal(e.key, key) {
			s.fits++ // the fit of s.supp, as lsq would count it
			return e
		}
	}
	e := &s.remScratch
	if s.remN < len(s.rem) {
		e = &s.rem[s.remN]
		s.remN++
	}
	e.hash, e.key = h, append(e.key[:0], key...)
	e.rss = s.lsq(x, m, s.supp)
	e.cand = s.topColumns(x, m, swapCandidates+1, -1, e.cand)
	e.forgetFits()
	return e
}

// The supports that an exchange sweep confirmed as local optima during one
// user's deep search, each sorted, in s.optBuf[s.optN[i-1]:s.optN[i]]
// (see isOptimum).

// isOptimum reports whether an exchange sweep of this user's deep search
// has already confirmed supp, in any order, as a local optimum: a sweep
// that tried every exchange and found none lowering the residual. Whether
// a sweep finds an exchange does not depend on the order of the support's
// members (each member's removal and its candidates are tried), so a sweep
// from supp would only confirm it again.
func (s *solver) isOptimum(supp []int) bool {
	if s.refactor {
		return false
	}
	key := s.sortedKey(supp)
	lo := 0
	for _, hi := range s.optN {
		if slices.Equal(s.optBuf[lo:hi], key) {
			return true
		}
		lo = hi
	}
	return false
}

// addOptimum records supp as confirmed by a sweep (see isOptimum).
func (s *solver) addOptimum(supp []int) {
	if s.refactor || s.isOptimum(supp) {
		return
	}
	lo := 0
	if len(s.optN) > 0 {
		lo = s.optN[len(s.optN)-1]
	}
	if lo+len(supp) > cap(s.optBuf) || len(s.optN) == cap(s.optN) {
		return // full: a cache, not a record
	}
	s.optBuf = append(s.optBuf[:lo], s.sortedKey(supp)...)
	s.optN = append(s.optN, len(s.optBuf))
}

func (s *solver) sortedKey(supp []int) []int {
	s.key = append(s.key[:0], supp...)
	slices.Sort(s.key)
	return s.key
}

// defaultDeepFits is the default of Options.DeepFits per unit of the
// user's support bound. A fit is a candidate support evaluated, pruned or
// not. The deep search's 99th percentile is 80 to 150 fits per unit, its
// largest 90 to 190, on the populations of TestCountDeepFits (noise 0.1 to
// 0.5, r and k from 3 to 10, the true or a perturbed U); at worst it can
// take deepStarts restarts of 2k exchange sweeps of k removals with
// swapCandidates candidates each: about 500 per unit for k = 5.
const defaultDeepFits = 200

// spent reports whether the user's deep search has used its budget of
// least-squares fits (no limit when s.budget is 0), and records that it
// did in s.capped. The deep search checks it before each restart and
// each removal of an exchange sweep, and returns the best support found
// so far; a restart's greedy growth and HTP refinement (at most kEff + 10
// fits) always finish.
func (s *solver) spent() bool {
	if s.budget > 0 && s.fits >= s.budget {
		s.capped = true
	}
	return s.capped
}

// topColumns returns in dst[:0] the k columns, largest first, that
// linalg.TopK selects from the normalised correlations that
// correlate(x, m, true) leaves in s.corr with s.corr[skip] zeroed (skip < 0
// for none), and leaves those in s.corr: it normalises and selects in one
// loop over the columns.
func (s *solver) topColumns(x []float64, m, k, skip int, dst []int) []int {
	if s.refactor {
		s.correlate(x, m, true)
		if skip >= 0 {
			s.corr[skip] = 0
		}
		return linalg.TopK(s.corr, k, dst[:0])
	}
	dst = dst[:0]
	if k <= 0 {
		return dst
	}
	corr := s.zeroedScores(x, m, skip)
	ipn := s.ipnorm[:len(corr)]
	thr := 0.0 // once dst holds k columns: the score of its last
	for j, c := range corr {
		v := c * ipn[j] * c
		corr[j] = v
		switch {
		case len(dst) < k:
			if v == 0 {
				continue
			}
			dst = append(dst, j)
		case v > thr:
			dst[k-1] = j
		default:
			continue
		}
		// Scores are not negative: order by value, as TopK by magnitude.
		for p := len(dst) - 1; p > 0 && corr[dst[p]] > corr[dst[p-1]]; p-- {
			dst[p], dst[p-1] = dst[p-1], dst[p]
		}
		if len(dst) == k {
			thr = corr[dst[k-1]]
		}
	}
	return dst
}

// bestScore is bestColumn on the incremental search: the column with the
// largest positive normalised correlation (the first of equals), or -1,
// normalised and selected by vec.ScoreMax.
func (s *solver) bestScore(x []float64, m int) int {
	return vec.ScoreMax(s.zeroedScores(x, m, -1), s.ipnorm)
}

// zeroedScores sets s.corr = X^T resid with the entries of the support
// and of skip (if not negative) zeroed, for topColumns and bestScore,
// which turn it into normalised scores. A zero correlation scores zero
// (the inverse norms are finite), so their loops need no test of
// membership.
func (s *solver) zeroedScores(x []float64, m, skip int) []float64 {
	vec.MulVecTrans(s.corr, x[:m*s.d], s.resid[:m])
	for _, j := range s.supp {
		s.corr[j] = 0
	}
	if skip >= 0 {
		s.corr[skip] = 0
	}
	return s.corr
}
