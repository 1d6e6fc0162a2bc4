package tune

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/mixed"
	"github.com/lrsp/lrsp/model"
	"gonum.org/v1/gonum/mat"
)

// AutoMethods are the methods that Auto chooses among by default, all with
// the squared loss: the mixed-model LRS, the classic random-intercept mixed
// model (when the data have a constant feature), and the ridge baselines
// (one shared model, one model per user, and a shared model with per-user
// corrections).
var AutoMethods = []string{model.MethodMixedLRS, model.MethodMixed, model.MethodGlobal, model.MethodLocal,
	model.MethodFinetune}

// AutoOptions configures Auto. The zero value chooses among AutoMethods by
// 5-fold per-user cross-validation repeated twice, with seed 0.
type AutoOptions struct {
	// Methods lists the candidate methods; empty means AutoMethods. Each
	// must be a squared-loss method of package method that Auto knows how
	// to search (those of AutoMethods, and lrs).
	Methods []string
	// Folds is the number k of per-user cross-validation folds; 0 means
	// the median number of samples per user when it is at most 10 (at
	// least 5: about one held-out sample per user and fold), else 5, and 3
	// for data of more than 20,000 samples.
	Folds int
	// Repeats is the number of independent fold assignments whose squared
	// errors are pooled; 0 means 2 when the median user has at most 10
	// samples and there are fewer than 8 folds, else 1.
	Repeats int
	// MaxRank bounds the ranks tried; 0 means 8. Ranks never exceed the
	// number of features.
	MaxRank int
	// BICSamples is the number of samples above which the mixed-model
	// LRS's rank and sparsity are chosen by BIC rather than
	// cross-validation (see Auto); 0 means 20,000 and a negative value
	// never.
	BICSamples int
	// Seed seeds the folds and every fit.
	Seed uint64
	// Workers configures every fit, as in method.Options.
	Workers int
	// Progress, when not nil, is called after every candidate is scored.
	Progress func(Score)
}

// Auto chooses the method and its hyperparameters for ds by per-user
// k-fold cross-validation: every candidate is trained on each fold's
// training part and scored by the RMSE over every held-out sample of every
// fold and repeat (each sample is held out once per repeat, so the score
// uses all the data rather than a 20% hold-out of a few samples). The
// candidates are, per method:
//
//   - mixed-lrs: ranks 1, 2, 3, 4, 6, 8 (up to MaxRank and d) with
//     sparsity 0, in increasing order, stopping after two ranks that do
//     not improve on the best; then, at the best rank, sparsities 1, 2, 3,
//     4, 5, 6, 8, 10 (those for which the median user has at least
//     2(r + k) + 2 samples) likewise, and when a sparsity won, the ranks
//     again at it. Its shrinkage (Sigma, the variance of b, the noise) is
//     estimated by EM inside each fit, not searched. On data of more than
//     20,000 samples (AutoOptions.BICSamples) the rank and sparsity are
//     chosen instead by the Bayesian information criterion of fits to all
//     the data (every rank up to 8, see bicSearch), and only the chosen
//     one is cross-validated;
//   - mixed: the random intercept (only when the data have a constant
//     feature, see method.RandomEffectColumns), then random slopes by
//     forward selection among the six features whose per-user ridge slopes
//     vary most: each slope added in turn, keeping the best if it improves
//     the score, at most two;
//   - global, local and finetune: relative ridges 0.01, 0.1, 1, 10 (see
//     Grid.Ridges), then 100 and 1000 while the largest wins;
//   - lrs: ranks as mixed-lrs, each with relative ridges 0.1 and 1 and
//     centring, sparsity 0.
//
// The winner is the candidate with the fewest free parameters per user
// (see complexity) among those whose mean squared error is within one
// standard error of the lowest (the one-standard-error rule, with the
// error of the paired difference clustered by user; see oneSE):
// cross-validation on a few samples per user cannot tell a small gain from
// noise, and a per-user fit that wins by noise loses on new data.
// Result.Scores lists every candidate in the order scored.
func Auto(ctx context.Context, ds *dataset.Dataset, opt AutoOptions) (*Result, error) {
	if !ds.HasTarget {
		return nil, errors.New("tune: the data have no target column")
	}
	if len(ds.Users) == 0 {
		return nil, errors.New("tune: the data have no users")
	}
	methods := opt.Methods
	if len(methods) == 0 {
		methods = AutoMethods
	}
	folds, repeats := opt.Folds, opt.Repeats
	large := ds.Samples() > 20000
	few := medianSamples(ds) <= 10
	switch {
	case folds == 0 && large:
		folds = 3
	case folds == 0 && few:
		// About one held-out sample per user and fold, so that every
		// candidate trains on nearly all of a user's few samples (fewer
		// folds favour smaller models than the data support).
		folds = max(medianSamples(ds), 5)
	case folds == 0:
		folds = 5
	}
	switch {
	case repeats == 0 && (large || !few || folds >= 8):
		repeats = 1
	case repeats == 0:
		repeats = 2
	}
	maxRank := opt.MaxRank
	if maxRank == 0 {
		maxRank = 8
	}
	switch {
	case folds < 2 || folds > 100:
		return nil, fmt.Errorf("tune: folds %d must be in [2, 100]", folds)
	case repeats < 1 || repeats > 100:
		return nil, fmt.Errorf("tune: repeats %d must be in [1, 100]", repeats)
	case maxRank < 1:
		return nil, fmt.Errorf("tune: max rank %d must be positive", maxRank)
	}
	var splits [][2]*dataset.Dataset
	for rep := 0; rep < repeats; rep++ {
		parts, err := dataset.Folds(ds, folds, opt.Seed+uint64(rep)*0x9e3779b97f4a7c15)
		if err != nil {
			return nil, fmt.Errorf("tune: %w", err)
		}
		splits = append(splits, parts...)
	}
	if len(splits) == 0 {
		return nil, errors.New("tune: no user has 2 samples: there is nothing to cross-validate on")
	}
	scale := meanSquare(ds)
	if scale == 0 {
		scale = 1
	}
	rowUser := heldRows(ds, splits)
	res := &Result{RidgeScale: scale, Criterion: "RMSE", BestIndex: -1}
	score := func(c method.Config) (float64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for _, s := range res.Scores {
			if s.BIC == 0 && sameCandidate(s.Config, c) {
				return s.RMSE, nil
			}
		}
		start := time.Now()
		sq := make([]float64, len(rowUser))
		rmse, _, err := validate(ctx, splits, c, method.Options{Workers: opt.Workers}, sq)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		label := c.Method
		if len(c.RandomEffects) > 0 {
			label += "(" + strings.Join(c.RandomEffects, ",") + ")"
		}
		sc := Score{Config: c, Method: label, Rank: c.Rank, Sparsity: c.Sparsity, Ridge: c.Ridge, Center: c.Center,
			RMSE: rmse, Seconds: time.Since(start).Seconds()}
		if err != nil {
			sc.Err = err.Error()
		} else {
			sc.sqErr = sq
		}
		res.Scores = append(res.Scores, sc)
		if res.BestIndex < 0 || rmse < res.Scores[res.BestIndex].RMSE {
			res.BestIndex = len(res.Scores) - 1
		}
		if opt.Progress != nil {
			opt.Progress(sc)
		}
		return rmse, nil
	}
	d := ds.Dim()
	var ranks []int
	for _, r := range []int{1, 2, 3, 4, 6, 8, 12, 16} {
		if r <= min(maxRank, d) {
			ranks = append(ranks, r)
		}
	}
	base := func(name string) method.Config {
		return method.Config{Version: model.ConfigVersion, Method: name, Seed: opt.Seed}
	}
	for _, name := range methods {
		s, err := method.Lookup(name, model.LossSquared)
		if err != nil {
			return nil, fmt.Errorf("tune: %w", err)
		}
		switch name {
		case model.MethodMixedLRS:
			bicAbove := opt.BICSamples
			if bicAbove == 0 {
				bicAbove = 20000
			}
			if bicAbove > 0 && ds.Samples() > bicAbove {
				var all []int
				for r := 1; r <= min(maxRank, d); r++ {
					all = append(all, r)
				}
				c, err := bicSearch(ctx, ds, all, res, opt)
				if err != nil {
					return nil, err
				}
				if _, err := score(c); err != nil {
					return nil, err
				}
				break
			}
			def, _ := method.Defaults(name, "")
			// A looser tolerance than the final fit's: 1e-6 per sample
			// of log-likelihood does not move a cross-validated score.
			def.Tolerance = 1e-6
			best := map[int]float64{}
			bestRank, err := searchRanks(ranks, func(r int) (float64, error) {
				if medianSamples(ds) < r+2 {
					return math.Inf(1), nil
				}
				c := def
				c.Rank, c.Sparsity, c.Seed = r, 0, opt.Seed
				v, err := score(c)
				best[r] = v
				return v, err
			})
			if err != nil {
				return nil, err
			}
			// Sparse parts where users have samples to spare: sparsities in
			// increasing order at the best rank, stopping after two that do
			// not improve, then the ranks again at the best sparsity.
			var ks []int
			for _, k := range []int{1, 2, 3, 4, 5, 6, 8, 10} {
				if k <= d && medianSamples(ds) >= 2*(bestRank+k)+2 {
					ks = append(ks, k)
				}
			}
			if len(ks) == 0 {
				break
			}
			bestK, err := searchRanks(append([]int{0}, ks...), func(k int) (float64, error) {
				if k == 0 {
					return best[bestRank], nil
				}
				c := def
				c.Rank, c.Sparsity, c.Seed = bestRank, k, opt.Seed
				return score(c)
			})
			if err != nil {
				return nil, err
			}
			if bestK > 0 {
				if _, err := searchRanks(ranks, func(r int) (float64, error) {
					c := def
					c.Rank, c.Sparsity, c.Seed = r, bestK, opt.Seed
					return score(c)
				}); err != nil {
					return nil, err
				}
			}
		case model.MethodMixed:
			if _, err := method.RandomEffectColumns(ds, []string{method.Intercept}); err != nil {
				continue
			}
			def, _ := method.Defaults(name, "")
			def.Seed = opt.Seed
			bestV, err := score(def)
			if err != nil {
				return nil, err
			}
			// Random slopes by forward selection among the features whose
			// per-user slopes vary most: the one that improves the score
			// most, at most two.
			effects := def.RandomEffects
			slopes := slopeCandidates(ds, maxSlopeCandidates)
			for range 2 {
				var add string
				for _, f := range slopes {
					if slices.Contains(effects, f) {
						continue
					}
					c := def
					c.RandomEffects = append(slices.Clone(effects), f)
					v, err := score(c)
					if err != nil {
						return nil, err
					}
					if v < bestV {
						bestV, add = v, f
					}
				}
				if add == "" {
					break
				}
				effects = append(effects, add)
			}
		case model.MethodGlobal, model.MethodLocal, model.MethodFinetune:
			// Relative ridges 0.01 to 10, and larger ones while the largest
			// scored wins.
			bestRel, bestV := 0.0, math.Inf(1)
			for _, rel := range []float64{0.01, 0.1, 1, 10, 100, 1000} {
				if rel > 10 && bestRel*10 != rel {
					break
				}
				c := base(name)
				c.Ridge = rel * scale
				v, err := score(s.Restrict(c))
				if err != nil {
					return nil, err
				}
				if v < bestV {
					bestRel, bestV = rel, v
				}
			}
		case model.MethodLRS:
			def, _ := method.Defaults(name, "")
			_, err := searchRanks(ranks, func(r int) (float64, error) {
				v := math.Inf(1)
				for _, rel := range []float64{0.1, 1} {
					c := def
					c.Rank, c.Sparsity, c.Ridge, c.Center, c.Seed = r, 0, rel*scale, true, opt.Seed
					s, err := score(c)
					if err != nil {
						return 0, err
					}
					v = math.Min(v, s)
				}
				return v, nil
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("tune: auto does not search method %s", name)
		}
	}
	if res.BestIndex < 0 || math.IsInf(res.Scores[res.BestIndex].RMSE, 1) {
		return res, errors.New("tune: every candidate failed")
	}
	lowest := res.BestIndex
	res.BestIndex = oneSE(res.Scores, lowest, rowUser, len(ds.Users), d)
	res.BestScore = res.Scores[res.BestIndex]
	res.Best = res.BestScore.Config
	res.Best.SelectedBy = fmt.Sprintf("auto: %d-fold per-user cross-validation x %d repeats, RMSE %.6g over %d candidates",
		folds, repeats, res.BestScore.RMSE, len(res.Scores))
	if res.BestIndex != lowest {
		res.Best.SelectedBy += fmt.Sprintf(" (the simplest within one standard error of the lowest, %s's %.6g)",
			res.Scores[lowest].Method, res.Scores[lowest].RMSE)
	}
	return res, nil
}

// heldRows returns, for every row number of ds, the index in ds.Users of
// the user whose sample it is when some split holds it out, and -1 for
// rows that no split holds out (and row numbers that ds does not use).
func heldRows(ds *dataset.Dataset, splits [][2]*dataset.Dataset) []int32 {
	n := 0
	for _, u := range ds.Users {
		for _, row := range u.Rows {
			n = max(n, row+1)
		}
	}
	idx := ds.Index()
	rowUser := make([]int32, n)
	for i := range rowUser {
		rowUser[i] = -1
	}
	for _, sp := range splits {
		for _, u := range sp[1].Users {
			for _, row := range u.Rows {
				rowUser[row] = int32(idx[u.ID])
			}
		}
	}
	return rowUser
}

// complexity returns the number of free parameters a candidate fits per
// user: none for the global model and for the mixed models (their per-user
// parts are random effects whose spread is estimated by likelihood, so they
// shrink as far as the data ask without a cross-validated penalty), r + k
// for lrs, whose w_i and b_i are free up to a ridge, and d for per-user
// ridges.
func complexity(c method.Config, d int) int {
	switch c.Method {
	case model.MethodGlobal, model.MethodMixed, model.MethodMixedLRS:
		return 0
	case model.MethodLocal, model.MethodFinetune:
		return d
	}
	return c.Rank + c.Sparsity
}

// oneSE applies the one-standard-error rule to the scores: of the
// candidates whose mean squared error exceeds the lowest one's (that of
// scores[lowest]) by at most one standard error of the difference, it
// returns the one with the fewest parameters per user (see complexity),
// the lower error breaking ties. The difference is paired (both candidates
// predict the same held-out samples) and its standard error is clustered by
// user (a user's samples share that user's errors), so that with few users
// only a clear gain justifies a larger model, the gain that cross-validation
// on few samples cannot tell from noise being what a larger model loses
// on new data.
func oneSE(scores []Score, lowest int, rowUser []int32, users, d int) int {
	best := scores[lowest].sqErr
	if best == nil || users < 2 {
		return lowest
	}
	pick := lowest
	sum := make([]float64, users)
	count := make([]float64, users)
	for i, s := range scores {
		if s.sqErr == nil || s.Err != "" || i == lowest {
			continue
		}
		ci, cp := complexity(s.Config, d), complexity(scores[pick].Config, d)
		if ci > cp || (ci == cp && s.RMSE >= scores[pick].RMSE) {
			continue
		}
		clear(sum)
		clear(count)
		total, n := 0.0, 0.0
		for row, u := range rowUser {
			if u < 0 {
				continue
			}
			diff := s.sqErr[row] - best[row]
			sum[u] += diff
			count[u]++
			total += diff
			n++
		}
		mean := total / n
		v, k := 0.0, 0
		for u := range sum {
			if count[u] > 0 {
				e := sum[u] - count[u]*mean
				v += e * e
				k++
			}
		}
		if k < 2 {
			continue
		}
		se := math.Sqrt(v*float64(k)/float64(k-1)) / n
		if mean <= se {
			pick = i
		}
	}
	return pick
}

// bicSearch chooses the mixed-model LRS's rank (among ranks) and sparsity
// for ds by the Bayesian information criterion of fits to all of ds, by
// coordinate descent from sparsity 0, appending a Score for every fit to
// res. The criterion is -2 log L + p log n, with L the marginal
// likelihood given the supports of b (see mixed.LRSResult), n the number
// of samples and p the shared parameters (theta_0: d; U Sigma U^T, a rank-r
// covariance: d r - r(r-1)/2; sigma^2; the variance of b when k > 0) plus
// 2 log d for every non-zero of b, the price the support selection itself
// charges. One fit per candidate instead of one per fold is what makes the
// search affordable on large data, where the criterion is also most
// trustworthy.
func bicSearch(ctx context.Context, ds *dataset.Dataset, ranks []int, res *Result, opt AutoOptions) (method.Config, error) {
	d, n := ds.Dim(), float64(ds.Samples())
	def, _ := method.Defaults(model.MethodMixedLRS, "")
	def.Tolerance, def.Seed = 1e-6, opt.Seed
	crit := map[[2]int]float64{}
	bic := func(r, k int) (float64, error) {
		if v, ok := crit[[2]int{r, k}]; ok {
			return v, nil
		}
		if medianSamples(ds) < r+k+2 {
			return math.Inf(1), nil
		}
		start := time.Now()
		f, err := mixed.FitLRS(ctx, ds, mixed.LRSOptions{Rank: r, Sparsity: k, Tolerance: def.Tolerance,
			Seed: opt.Seed, Workers: opt.Workers})
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("tune: mixed-lrs rank %d sparsity %d: %w", r, k, err)
		}
		entries := 0
		for _, u := range f.Model.Users {
			entries += len(u.Index)
		}
		p := float64(d + d*r - r*(r-1)/2 + 1)
		if k > 0 {
			p++
		}
		v := -2*f.LogLik + p*math.Log(n) + 2*math.Log(float64(d))*float64(entries)
		crit[[2]int{r, k}] = v
		c := def
		c.Rank, c.Sparsity = r, k
		sc := Score{Config: c, Method: model.MethodMixedLRS, Rank: r, Sparsity: k, BIC: v,
			Seconds: time.Since(start).Seconds()}
		res.Scores = append(res.Scores, sc)
		if opt.Progress != nil {
			opt.Progress(sc)
		}
		return v, nil
	}
	var ks []int
	for _, k := range []int{0, 1, 2, 3, 4, 5, 6, 8, 10} {
		if k <= d {
			ks = append(ks, k)
		}
	}
	// Coordinate descent from sparsity 0: ranks at the current sparsity,
	// sparsities at the best rank, until neither moves (a sparse part
	// fitted as extra rank at k = 0 moves back once the sparsity is found).
	r, k := 0, 0
	for range 5 {
		r2, err := searchRanks(ranks, func(r int) (float64, error) { return bic(r, k) })
		if err != nil {
			return def, err
		}
		k2, err := searchRanks(ks, func(k int) (float64, error) { return bic(r2, k) })
		if err != nil {
			return def, err
		}
		if r2 == r && k2 == k {
			break
		}
		r, k = r2, k2
	}
	c := def
	c.Rank, c.Sparsity = r, k
	return c, nil
}

// searchRanks scores ranks in increasing order, stopping after two ranks in
// a row that do not improve on the best, and returns the best rank.
func searchRanks(ranks []int, score func(int) (float64, error)) (int, error) {
	best, bestV, worse := 0, math.Inf(1), 0
	for _, r := range ranks {
		v, err := score(r)
		if err != nil {
			return 0, err
		}
		if v < bestV {
			best, bestV, worse = r, v, 0
			continue
		}
		if worse++; worse == 2 {
			break
		}
	}
	if best == 0 && len(ranks) > 0 {
		best = ranks[0]
	}
	return best, nil
}

// maxSlopeCandidates bounds the features whose random slopes Auto scores.
const maxSlopeCandidates = 6

// slopeCandidates returns at most n features of ds, not constant, whose
// slopes vary most between users: the variance over users of each
// coefficient of a per-user ridge fit (ridge 1 on features standardised to
// unit root mean square, so that the ranking does not depend on units),
// largest first.
func slopeCandidates(ds *dataset.Dataset, n int) []string {
	d := ds.Dim()
	scale := mixed.Scales(ds)
	sum, sq := make([]float64, d), make([]float64, d)
	g := mat.NewSymDense(d, nil)
	rhs := mat.NewVecDense(d, nil)
	var beta mat.VecDense
	var chol mat.Cholesky
	for _, u := range ds.Users {
		g.Zero()
		rhs.Zero()
		for s := 0; s < u.Len(); s++ {
			x := u.X[s*d : (s+1)*d]
			for a := 0; a < d; a++ {
				xa := x[a] / scale[a]
				rhs.SetVec(a, rhs.AtVec(a)+xa*u.Y[s])
				for b := a; b < d; b++ {
					g.SetSym(a, b, g.At(a, b)+xa*x[b]/scale[b])
				}
			}
		}
		for a := 0; a < d; a++ {
			g.SetSym(a, a, g.At(a, a)+1)
		}
		if !chol.Factorize(g) || chol.SolveVecTo(&beta, rhs) != nil {
			continue
		}
		for a := 0; a < d; a++ {
			sum[a] += beta.AtVec(a)
			sq[a] += beta.AtVec(a) * beta.AtVec(a)
		}
	}
	t := float64(len(ds.Users))
	type cand struct {
		name string
		v    float64
	}
	var cs []cand
	lo, hi := columnRange(ds)
	for j, f := range ds.Features {
		if lo[j] == hi[j] {
			continue // constant: its slope would duplicate the intercept
		}
		cs = append(cs, cand{f, sq[j]/t - (sum[j]/t)*(sum[j]/t)})
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return cmp.Compare(b.v, a.v) })
	var names []string
	for _, c := range cs[:min(n, len(cs))] {
		names = append(names, c.name)
	}
	return names
}

// columnRange returns the smallest and largest value of every feature.
func columnRange(ds *dataset.Dataset) (lo, hi []float64) {
	d := ds.Dim()
	lo, hi = make([]float64, d), make([]float64, d)
	for j := range lo {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
	}
	for _, u := range ds.Users {
		for p, v := range u.X {
			lo[p%d], hi[p%d] = math.Min(lo[p%d], v), math.Max(hi[p%d], v)
		}
	}
	return lo, hi
}

// medianSamples returns the median number of samples per user.
func medianSamples(ds *dataset.Dataset) int {
	n := make([]int, len(ds.Users))
	for i := range ds.Users {
		n[i] = ds.Users[i].Len()
	}
	slices.Sort(n)
	return n[len(n)/2]
}

// sameCandidate reports whether a and b configure the same fit.
func sameCandidate(a, b method.Config) bool {
	return a.Method == b.Method && a.Rank == b.Rank && a.Sparsity == b.Sparsity && a.Ridge == b.Ridge &&
		a.Center == b.Center && slices.Equal(a.RandomEffects, b.RandomEffects)
}

// TrainAuto chooses a configuration by Auto and retrains it on all of ds.
func TrainAuto(ctx context.Context, ds *dataset.Dataset, opt AutoOptions) (*method.Result, *Result, error) {
	sel, err := Auto(ctx, ds, opt)
	if err != nil {
		return nil, sel, err
	}
	tr, err := method.Train(ctx, ds, sel.Best, method.Options{Workers: opt.Workers})
	if err != nil {
		return nil, sel, fmt.Errorf("tune: retrain the winner on all data: %w", err)
	}
	tr.Model.Config.SelectedBy = sel.Best.SelectedBy
	return tr, sel, nil
}
