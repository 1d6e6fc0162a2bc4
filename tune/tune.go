// Package tune chooses the rank, sparsity, ridge strength and centring of a
// personalization method by held-out per-user validation, and retrains the
// winner on all the data.
//
// Selection holds out a fraction of every user's samples (dataset.Split),
// trains each candidate on the rest and scores it by the root mean squared
// error over all held-out samples, the same measure lrsp reports on test
// data. Candidates come from a small grid (DefaultGrid) searched one
// coordinate at a time rather than exhaustively, so that the number of fits
// grows with the sum, not the product, of the grid sizes:
//
//  1. ridge (and, for lrs and lowrank, centring) at the starting rank and
//     sparsity;
//  2. rank, in increasing order, stopping after two values that do not
//     improve on the best;
//  3. sparsity, likewise;
//  4. ridge again at the chosen rank and sparsity;
//  5. rank again at the chosen sparsity and ridge;
//
// then steps 2-5 again until a pass changes nothing (at most four passes;
// fits already made are reused). The candidate with the lowest validation
// RMSE wins (see Options.Tolerance for a preference for smaller models).
//
// With Options.Base.Loss = model.LossLogistic (0/1 targets), every
// candidate is trained with the logistic loss and scored by the validation log loss: the
// mean negative log-likelihood of the held-out samples, pooled over users
// and splits, probabilities clipped to [1e-15, 1 - 1e-15]. Log loss rather
// than AUC, because it is a proper scoring rule defined for every held-out
// sample, while a user's AUC needs both classes among its few held-out
// samples (on the landmine data, 6% positive, most users hold out no
// positive at all at 20 samples per user), ignores calibration (so it
// cannot tell ridge strengths that only rescale the scores apart) and is a
// step function of the parameters, which makes a noisy criterion noisier.
//
// Only the dimensions marked automatic move; the others stay at the values
// of Options.Base. Every candidate is trained by method.Train.
package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
)

// Grid holds the candidate values of each tuned dimension.
type Grid struct {
	// Ranks are the candidate ranks r, increasing.
	Ranks []int
	// Sparsities are the candidate sparsities k, increasing.
	Sparsities []int
	// Ridges are candidate ridge strengths relative to the mean squared
	// feature value of the data (so 1 means lambda = mean x_j^2), increasing.
	Ridges []float64
}

// DefaultGrid returns the grid used when Options.Grid is empty, for d
// features:
//
//   - ranks 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64 up to d: every
//     small rank (where real data and the paper's theory live), then roughly
//     geometric steps, since the error changes slowly with r once r is
//     large;
//   - sparsities 0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32 up to d, for
//     the same reason (0 only where the method allows it);
//   - relative ridges 0, 0.01, 0.1, 0.3, 1, 3, 10: from none (exact data)
//     to a prior as strong as ten samples' worth of data, in steps of about
//     3x, which is finer than the validation noise can resolve at a few
//     samples per user.
func DefaultGrid(d int) Grid {
	var g Grid
	for _, r := range []int{1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64} {
		if r <= d {
			g.Ranks = append(g.Ranks, r)
		}
	}
	for _, k := range []int{0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32} {
		if k <= d {
			g.Sparsities = append(g.Sparsities, k)
		}
	}
	g.Ridges = []float64{0, 0.01, 0.1, 0.3, 1, 3, 10}
	return g
}

// LogisticRidges are the candidate relative ridges of DefaultGrid for the
// logistic loss: a logistic fit's curvature is at most a quarter of the
// squared loss's and its ridge penalises (Ridge/2)||theta||^2 of the mean
// loss, so useful strengths are about ten times smaller; 0 (no penalty)
// is left out, because a user whose samples are separable has no finite
// unpenalized fit.
var LogisticRidges = []float64{0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1}

// Options configures a selection.
type Options struct {
	// Base is the method to tune (Base.Method, and Base.Loss: the squared
	// loss, scored by RMSE, or model.LossLogistic, scored by log loss; see
	// the package comment) and the values of the dimensions that are not
	// tuned; its other fields configure every fit. For the logistic loss an
	// empty Grid.Ridges means LogisticRidges.
	Base method.Config
	// Workers and Patience configure every fit, as in method.Options.
	Workers, Patience int
	// Rank, Sparsity, Ridge and Center mark the dimensions to tune. Each is
	// ignored for a method that does not have it: rank for lrs and lowrank,
	// sparsity for lrs and global-sparse, centring for lrs and lowrank, the
	// ridge for every method.
	Rank, Sparsity, Ridge, Center bool
	// Grid holds the candidates; an empty slice means DefaultGrid's.
	Grid Grid
	// Holdout is the fraction of every user's samples held out for
	// validation; 0 means 0.2. Users keep at least one training sample.
	Holdout float64
	// Repeats is the number of independent random hold-out splits whose
	// squared errors are pooled, to lower the variance of the score at a
	// few samples per user; 0 means 1.
	Repeats int
	// Tolerance, when positive, makes the selection return the candidate
	// with the fewest personal numbers (r + k) among those whose validation
	// RMSE is within this fraction of the best, preferring the larger ridge
	// among equals: the simpler, cheaper model when the data cannot tell
	// them apart. 0 returns the best score alone. (On the computer survey
	// at 8 shots a 1% tolerance traded lrs's k = 1 for k = 0 and lost 8% of
	// test RMSE, so it is off by default.)
	Tolerance float64
	// Seed seeds the hold-out splits.
	Seed uint64
	// Progress, when not nil, is called after every candidate is scored.
	Progress func(Score)
}

// Score is the validation score of one candidate.
type Score struct {
	// Config is the candidate's configuration.
	Config method.Config `json:"-"`
	// Method names the candidate's method (Auto compares several).
	Method string `json:"method,omitempty"`
	// Rank, Sparsity, Ridge and Center repeat the tuned values for output.
	Rank     int     `json:"rank"`
	Sparsity int     `json:"sparsity"`
	Ridge    float64 `json:"ridge"`
	Center   bool    `json:"center"`
	// RMSE is the validation root mean squared error, +Inf when training
	// failed or diverged. For the logistic loss it is that of the
	// predicted probabilities (the square root of the Brier score).
	RMSE float64 `json:"rmse"`
	// LogLoss is the validation log loss for the logistic loss (the
	// selection criterion there, +Inf when training failed), 0 otherwise.
	LogLoss float64 `json:"log_loss,omitempty"`
	// Err is the training error, if any.
	Err string `json:"error,omitempty"`
	// Seconds is the time taken to train and score the candidate.
	Seconds float64 `json:"seconds"`
	// BIC, when not 0, is the Bayesian information criterion of the
	// candidate fitted to all the data: on large data Auto ranks the
	// mixed-model LRS's ranks and sparsities by it and cross-validates only
	// the one it chooses. Such a score has no RMSE (0) and never wins by
	// itself (its Criterion is +Inf).
	BIC float64 `json:"bic,omitempty"`

	logistic bool
	// sqErr holds Auto's squared error of every held-out row, summed over
	// repeats, for its one-standard-error rule.
	sqErr []float64
}

// Criterion returns the score that selection minimises: LogLoss for the
// logistic loss, RMSE otherwise.
func (s Score) Criterion() float64 {
	if s.BIC != 0 {
		return math.Inf(1)
	}
	if s.logistic {
		return s.LogLoss
	}
	return s.RMSE
}

// Result is the outcome of a selection.
type Result struct {
	// Best holds the configuration of the winning candidate.
	Best method.Config
	// BestScore is its validation score.
	BestScore Score
	// BestIndex is the position of BestScore in Scores.
	BestIndex int
	// Scores lists every candidate scored, in order.
	Scores []Score
	// RidgeScale is the mean squared feature value that relative ridges
	// were multiplied by.
	RidgeScale float64
	// Criterion names what Score.Criterion measures: "RMSE" or "log loss".
	Criterion string
}

func hasRank(method string) bool {
	return method == model.MethodLRS || method == model.MethodLowRank
}

func hasSparsity(method string) bool {
	return method == model.MethodLRS || method == model.MethodGlobalSparse
}

// candidate is a point of the search.
type candidate struct {
	rank, sparsity int
	ridge          float64 // relative
	center         bool
}

// Select scores candidates of opt.Base.Method on held-out samples of ds and
// returns the best. Cancelling ctx stops it with ctx's error.
func Select(ctx context.Context, ds *dataset.Dataset, opt Options) (*Result, error) {
	if !ds.HasTarget {
		return nil, errors.New("tune: the data have no target column")
	}
	if len(ds.Users) == 0 {
		return nil, errors.New("tune: no users")
	}
	holdout := opt.Holdout
	if holdout == 0 {
		holdout = 0.2
	}
	if !(holdout > 0 && holdout < 1) {
		return nil, fmt.Errorf("tune: holdout %v must be in (0, 1)", holdout)
	}
	repeats := max(opt.Repeats, 1)
	d := ds.Dim()
	g := opt.Grid
	def := DefaultGrid(d)
	spec, err := method.Lookup(opt.Base.Method, opt.Base.Loss)
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	opt.Base = spec.Restrict(opt.Base)
	logit := opt.Base.Loss == model.LossLogistic
	if logit {
		def.Ridges = LogisticRidges
		if err := logistic.CheckTargets(ds); err != nil {
			return nil, fmt.Errorf("tune: %w", err)
		}
	}
	if len(g.Ranks) == 0 {
		g.Ranks = def.Ranks
	}
	if len(g.Sparsities) == 0 {
		g.Sparsities = def.Sparsities
	}
	if len(g.Ridges) == 0 {
		g.Ridges = def.Ridges
	}
	if err := checkGrid(g, d); err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	name := opt.Base.Method
	tuneRank := opt.Rank && hasRank(name)
	tuneSparsity := opt.Sparsity && hasSparsity(name)
	tuneCenter := opt.Center && hasRank(name)
	ranks := g.Ranks
	sparsities := g.Sparsities
	if name == model.MethodGlobalSparse {
		sparsities = slices.DeleteFunc(slices.Clone(sparsities), func(k int) bool { return k == 0 })
	}
	if tuneSparsity && len(sparsities) == 0 {
		return nil, errors.New("tune: no positive sparsity in the grid for global-sparse")
	}

	splits := make([][2]*dataset.Dataset, repeats)
	for s := range splits {
		tr, held, err := dataset.Split(ds, holdout, opt.Seed+uint64(s))
		if err != nil {
			return nil, fmt.Errorf("tune: %w", err)
		}
		if held.Samples() == 0 {
			return nil, errors.New("tune: no user has two samples, so none can be held out for validation")
		}
		splits[s] = [2]*dataset.Dataset{tr, held}
	}
	res := &Result{RidgeScale: meanSquare(ds), Criterion: "RMSE"}
	if logit {
		res.Criterion = "log loss"
	}

	// The starting point: the fixed values, or small defaults.
	cur := candidate{rank: opt.Base.Rank, sparsity: opt.Base.Sparsity, center: opt.Base.Center}
	if res.RidgeScale > 0 {
		cur.ridge = opt.Base.Ridge / res.RidgeScale
	}
	if tuneRank {
		cur.rank = min(2, d)
	}
	if tuneSparsity {
		cur.sparsity = sparsities[min(1, len(sparsities)-1)]
		if name == model.MethodGlobalSparse {
			cur.sparsity = sparsities[0]
		}
	}
	if opt.Ridge {
		cur.ridge = g.Ridges[len(g.Ridges)/2]
	}
	if tuneCenter {
		cur.center = true
	}

	seen := map[candidate]float64{}
	best, bestScore := cur, math.Inf(1)
	score := func(c candidate) (float64, error) {
		if v, ok := seen[c]; ok {
			return v, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		o := opt.Base.Clone()
		o.Rank, o.Sparsity, o.Center = c.rank, c.sparsity, c.center && hasRank(name)
		if name == model.MethodLowRank {
			o.Sparsity = 0
		}
		if opt.Ridge {
			o.Ridge = c.ridge * res.RidgeScale
		}
		start := time.Now()
		rmse, logLoss, err := validate(ctx, splits, o, method.Options{Workers: opt.Workers, Patience: opt.Patience}, nil)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		sc := Score{Config: o, Rank: o.Rank, Sparsity: o.Sparsity, Ridge: o.Ridge, Center: o.Center, RMSE: rmse,
			LogLoss: logLoss, Seconds: time.Since(start).Seconds(), logistic: logit}
		if !hasRank(name) {
			sc.Rank, sc.Center = 0, false
		}
		if !hasSparsity(name) {
			sc.Sparsity = 0
		}
		if err != nil {
			sc.Err = err.Error()
		}
		res.Scores = append(res.Scores, sc)
		if opt.Progress != nil {
			opt.Progress(sc)
		}
		v := sc.Criterion()
		seen[c] = v
		if v < bestScore {
			best, bestScore = c, v
			res.Best, res.BestScore, res.BestIndex = o, sc, len(res.Scores)-1
		}
		return v, nil
	}
	// sweep moves one coordinate over values (set writes value i into a
	// candidate, after reports whether a candidate lies beyond the best in
	// the sweep's order), starting from the current best; with patience > 0
	// it stops after that many values beyond the best that do not improve
	// on it.
	sweep := func(values int, set func(c *candidate, i int), after func(c, best candidate) bool, patience int) error {
		miss := 0
		for i := 0; i < values; i++ {
			c := best
			set(&c, i)
			if c == best {
				continue
			}
			before := bestScore
			if _, err := score(c); err != nil {
				return err
			}
			if bestScore < before {
				miss = 0
			} else if after(c, best) {
				if miss++; patience > 0 && miss >= patience {
					break
				}
			}
		}
		return nil
	}
	if _, err := score(cur); err != nil {
		return nil, err
	}
	setRank := func(c *candidate, i int) { c.rank = ranks[i] }
	setSparsity := func(c *candidate, i int) { c.sparsity = sparsities[i] }
	setRidge := func(c *candidate, i int) { c.ridge = g.Ridges[i] }
	rankAfter := func(c, b candidate) bool { return c.rank > b.rank }
	sparsityAfter := func(c, b candidate) bool { return c.sparsity > b.sparsity }
	ridgeAfter := func(c, b candidate) bool { return c.ridge > b.ridge }
	steps := []struct {
		on       bool
		n        int
		set      func(*candidate, int)
		after    func(c, b candidate) bool
		patience int
	}{
		{opt.Ridge, len(g.Ridges), setRidge, ridgeAfter, 0},
		{tuneRank, len(ranks), setRank, rankAfter, 2},
		{tuneSparsity, len(sparsities), setSparsity, sparsityAfter, 2},
		{opt.Ridge && (tuneRank || tuneSparsity), len(g.Ridges), setRidge, ridgeAfter, 0},
		{tuneRank && (tuneSparsity || opt.Ridge), len(ranks), setRank, rankAfter, 2},
	}
	// Step 1 once, then steps 2-5 until a pass changes nothing (at most
	// maxPasses passes; fits already made are reused).
	const maxPasses = 4
	for pass := 0; pass < maxPasses; pass++ {
		start := best
		for i, st := range steps {
			if i == 0 && pass > 0 {
				continue
			}
			if i == 0 && tuneCenter {
				// Centring is decided jointly with the first ridge sweep.
				for _, center := range []bool{true, false} {
					for r := range g.Ridges {
						c := best
						c.center = center
						if opt.Ridge {
							c.ridge = g.Ridges[r]
						} else if r > 0 {
							break
						}
						if _, err := score(c); err != nil {
							return nil, err
						}
					}
				}
				continue
			}
			if !st.on {
				continue
			}
			if err := sweep(st.n, st.set, st.after, st.patience); err != nil {
				return nil, err
			}
		}
		if best == start {
			break
		}
	}
	// Prefer the smallest model whose score is within Tolerance of the
	// best: fewer numbers per user (r + k), then the larger ridge.
	pick := res.BestIndex
	for i, s := range res.Scores {
		if opt.Tolerance <= 0 || s.Err != "" || !(s.Criterion() <= bestScore*(1+opt.Tolerance)) {
			continue
		}
		p := res.Scores[pick]
		if size(s) < size(p) || (size(s) == size(p) && s.Ridge > p.Ridge) {
			pick = i
		}
	}
	res.Best, res.BestScore, res.BestIndex = res.Scores[pick].Config, res.Scores[pick], pick
	if math.IsInf(bestScore, 1) {
		return res, fmt.Errorf("tune: every candidate failed; the first error: %s", res.Scores[0].Err)
	}
	return res, nil
}

func checkGrid(g Grid, d int) error {
	for i, r := range g.Ranks {
		if r < 1 || r > d || (i > 0 && r <= g.Ranks[i-1]) {
			return fmt.Errorf("rank grid %v must increase within [1, %d]", g.Ranks, d)
		}
	}
	for i, k := range g.Sparsities {
		if k < 0 || k > d || (i > 0 && k <= g.Sparsities[i-1]) {
			return fmt.Errorf("sparsity grid %v must increase within [0, %d]", g.Sparsities, d)
		}
	}
	for i, l := range g.Ridges {
		if !(l >= 0) || math.IsInf(l, 0) || (i > 0 && l <= g.Ridges[i-1]) {
			return fmt.Errorf("ridge grid %v must increase and be finite and not negative", g.Ridges)
		}
	}
	return nil
}

// meanSquare returns the mean of x_j^2 over every sample and feature of ds.
func meanSquare(ds *dataset.Dataset) float64 {
	s, n := 0.0, 0
	for i := range ds.Users {
		for _, v := range ds.Users[i].X {
			s += v * v
		}
		n += len(ds.Users[i].X)
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// validate trains o on every split's training part and returns the RMSE
// over all held-out samples and, for the logistic loss, their log loss;
// both +Inf with the error when training fails, and +Inf when a prediction
// is not finite.
//
// When sq is not nil, every held-out sample's squared error is added to
// sq[row], row being the sample's row number.
func validate(ctx context.Context, splits [][2]*dataset.Dataset, c method.Config, o method.Options, sq []float64) (rmse, logLoss float64, err error) {
	sse, sll, n := 0.0, 0.0, 0
	const eps = 1e-15
	for _, sp := range splits {
		res, err := method.Train(ctx, sp[0], c, o)
		if err != nil {
			return math.Inf(1), math.Inf(1), err
		}
		pred, err := method.Predict(res.Model, sp[1], eval.UnknownError)
		if err != nil {
			return math.Inf(1), math.Inf(1), err
		}
		for i := range sp[1].Users {
			u := &sp[1].Users[i]
			for s, row := range u.Rows {
				p := pred[row]
				e := u.Y[s] - p
				sse += e * e
				if sq != nil {
					sq[row] += e * e
				}
				if c.Loss == model.LossLogistic {
					p = math.Min(math.Max(p, eps), 1-eps)
					sll -= u.Y[s]*math.Log(p) + (1-u.Y[s])*math.Log1p(-p)
				}
			}
			n += u.Len()
		}
	}
	rmse = math.Sqrt(sse / float64(n))
	logLoss = sll / float64(n)
	if math.IsNaN(rmse) || math.IsInf(rmse, 0) || math.IsNaN(logLoss) || math.IsInf(logLoss, 0) {
		return math.Inf(1), math.Inf(1), errors.New("predictions are not finite")
	}
	return rmse, logLoss, nil
}

// Train selects the configuration of opt.Base.Method by Select and
// retrains the winner on all of ds with method.Train. It returns the model
// and the selection.
func Train(ctx context.Context, ds *dataset.Dataset, opt Options) (*model.Model, *Result, error) {
	res, err := Select(ctx, ds, opt)
	if err != nil {
		return nil, res, err
	}
	tr, err := method.Train(ctx, ds, res.Best, method.Options{Workers: opt.Workers, Patience: opt.Patience})
	if err != nil {
		return nil, res, fmt.Errorf("tune: retrain the winner on all data: %w", err)
	}
	return tr.Model, res, nil
}

// size returns the number of personal parameters of a scored candidate.
func size(s Score) int { return s.Rank + s.Sparsity }
