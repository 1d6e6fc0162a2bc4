package experiment

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// SparsityMethods lists the methods of the Sparsity experiment in the
// order they are reported.
var SparsityMethods = []string{model.MethodLRS, model.MethodLowRank, model.MethodGlobalSparse, model.MethodLocal}

// SparsityOptions configures the Sparsity experiment.
type SparsityOptions struct {
	// Users, Samples, Dim and Rank are t, m, d and r of the generated
	// data; all must be positive.
	Users, Samples, Dim, Rank int
	// Sparsities lists the numbers k of non-zeros of each user's sparse
	// part; nil means 0, 1, 2, 3, 5, 8, 12, 16.
	Sparsities []int
	// Noise is the standard deviation of the target noise; 0 means
	// noiseless.
	Noise float64
	// NewUsers is the number of further users, drawn from the same U*,
	// who are personalized from Samples samples each with everything
	// shared held fixed (method.Personalize); 0 means none.
	NewUsers int
	// TestSamples is the number of held-out samples per user on which
	// the test RMSE is measured; 0 means 50.
	TestSamples int
	// LocalRidge is the ridge strength of local (in amht's units: per-user
	// mean squared error plus LocalRidge times ||theta||^2); 0 means 0.1.
	// The other methods get no ridge beyond amht's automatic one.
	LocalRidge float64
	// Seed seeds the data (each k draws its own data from a seed derived
	// from Seed and k; the methods share it) and the training.
	Seed uint64
	// Parallel is the number of training runs at a time, each on one
	// core; 0 means GOMAXPROCS.
	Parallel int
	// Progress, when not nil, is called after each training run.
	Progress func(Step)
}

func (o SparsityOptions) withDefaults() (SparsityOptions, error) {
	if o.Sparsities == nil {
		o.Sparsities = []int{0, 1, 2, 3, 5, 8, 12, 16}
	}
	if o.TestSamples == 0 {
		o.TestSamples = 50
	}
	if o.LocalRidge == 0 {
		o.LocalRidge = 0.1
	}
	o.Sparsities = sortedUnique(o.Sparsities)
	switch {
	case o.Users <= 0 || o.Samples <= 0 || o.Dim <= 0 || o.Rank <= 0 || o.Rank > o.Dim:
		return o, fmt.Errorf("sparsity: need positive t, m, d, r with r <= d, got t=%d m=%d d=%d r=%d",
			o.Users, o.Samples, o.Dim, o.Rank)
	case len(o.Sparsities) == 0 || o.Sparsities[0] < 0 || o.Sparsities[len(o.Sparsities)-1] > o.Dim:
		return o, fmt.Errorf("sparsity: sparsities %v must be in [0, %d]", o.Sparsities, o.Dim)
	case !(o.Noise >= 0) || math.IsInf(o.Noise, 0):
		return o, fmt.Errorf("sparsity: noise %v must be finite and non-negative", o.Noise)
	case o.NewUsers < 0 || o.TestSamples < 0:
		return o, fmt.Errorf("sparsity: new users %d and test samples %d must not be negative", o.NewUsers, o.TestSamples)
	case !(o.LocalRidge > 0) || math.IsInf(o.LocalRidge, 0):
		return o, fmt.Errorf("sparsity: local ridge %v must be finite and positive", o.LocalRidge)
	}
	return o, nil
}

// SparsityPoint is the test error of one method at one sparsity.
type SparsityPoint struct {
	// Method is one of SparsityMethods.
	Method string
	// K is the sparsity of the data; ModelK that of the model (K, except
	// 1 for global-sparse at K = 0, which needs a sparse part; 0 for
	// lowrank and local).
	K, ModelK int
	// TrainUsersRMSE is the RMSE on the held-out samples of the training
	// users; NewUsersRMSE that of the new users after personalization
	// (NaN without new users).
	TrainUsersRMSE, NewUsersRMSE float64
	// Seconds is the wall time of training and personalization.
	Seconds float64
}

// SparsityResult holds the points of a Sparsity experiment, ordered by k,
// then method in the order of SparsityMethods.
type SparsityResult struct {
	// Options are the options run, with defaults filled in.
	Options SparsityOptions
	Points  []SparsityPoint
}

// Sparsity trains lrs, lowrank, global-sparse and local (package baseline)
// on data with each sparsity k and measures their test RMSE on held-out
// samples of the training users and of new users. lrs, lowrank and
// global-sparse are given the true r and k.
func Sparsity(ctx context.Context, opt SparsityOptions) (*SparsityResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &SparsityResult{Options: opt, Points: make([]SparsityPoint, len(opt.Sparsities)*len(SparsityMethods))}
	datas := make([]*sparsityData, len(opt.Sparsities))
	for ki, k := range opt.Sparsities {
		data, err := synth.Generate(synth.Options{Users: opt.Users, Samples: opt.Samples, Dim: opt.Dim, Rank: opt.Rank,
			Sparsity: k, Noise: opt.Noise, NewUsers: opt.NewUsers, TestSamples: opt.TestSamples, Seed: mixSeed(opt.Seed, k)})
		if err != nil {
			return nil, fmt.Errorf("sparsity: %w", err)
		}
		datas[ki] = splitTest(data)
	}
	var jobs []job
	for ki, k := range opt.Sparsities {
		for mi, method := range SparsityMethods {
			pos := ki*len(SparsityMethods) + mi
			jobs = append(jobs, func(ctx context.Context) (string, error) {
				pt, err := sparsityPoint(ctx, opt, datas[ki], method, k)
				if err != nil {
					return "", fmt.Errorf("sparsity: %s k=%d: %w", method, k, err)
				}
				res.Points[pos] = pt
				return fmt.Sprintf("%s k=%d: test RMSE %.3g", method, k, pt.TrainUsersRMSE), nil
			})
		}
	}
	if err := runJobs(ctx, opt.Parallel, jobs, opt.Progress); err != nil {
		return nil, err
	}
	return res, nil
}

// sparsityData is the data of one k with the test samples split between
// training and new users.
type sparsityData struct {
	train, newUsers, testTrain, testNew *dataset.Dataset
}

func splitTest(data *synth.Data) *sparsityData {
	sd := &sparsityData{train: data.Train, newUsers: data.New}
	idx := data.Train.Index()
	tt := &dataset.Dataset{Features: data.Test.Features, HasTarget: true}
	tn := &dataset.Dataset{Features: data.Test.Features, HasTarget: true}
	for _, u := range data.Test.Users {
		if _, ok := idx[u.ID]; ok {
			tt.Users = append(tt.Users, u)
		} else {
			tn.Users = append(tn.Users, u)
		}
	}
	sd.testTrain, sd.testNew = tt, tn
	return sd
}

func sparsityPoint(ctx context.Context, opt SparsityOptions, data *sparsityData, name string, k int) (SparsityPoint, error) {
	pt := SparsityPoint{Method: name, K: k, NewUsersRMSE: math.NaN()}
	cfg := method.Config{Method: name, Seed: opt.Seed}
	switch name {
	case model.MethodLRS:
		cfg.Rank, cfg.Sparsity = opt.Rank, k
	case model.MethodLowRank:
		cfg.Rank = opt.Rank
	case model.MethodGlobalSparse:
		cfg.Sparsity = max(k, 1)
	case model.MethodLocal:
		cfg.Ridge = opt.LocalRidge
	}
	pt.ModelK = cfg.Sparsity
	start := time.Now()
	res, err := method.Train(ctx, data.train, cfg, method.Options{Workers: 1})
	if err != nil {
		return pt, err
	}
	m := res.Model
	if pt.TrainUsersRMSE, err = testRMSE(m, data.testTrain); err != nil {
		return pt, err
	}
	if data.newUsers != nil {
		users, err := method.Personalize(ctx, m, data.newUsers, method.PersonalizeOptions{Workers: 1})
		if err != nil {
			return pt, err
		}
		nm := *m
		nm.Users = users
		if pt.NewUsersRMSE, err = testRMSE(&nm, data.testNew); err != nil {
			return pt, err
		}
	}
	pt.Seconds = time.Since(start).Seconds()
	return pt, nil
}

func testRMSE(m *model.Model, test *dataset.Dataset) (float64, error) {
	pred, err := eval.Predict(m, test, eval.UnknownError)
	if err != nil {
		return 0, err
	}
	e, err := eval.Score(test, pred)
	if err != nil {
		return 0, err
	}
	return e.RMSE, nil
}

// Write writes sparsity.csv and sparsity.png (test RMSE of the training
// users against k; with new users also sparsity-new.png) and returns the
// paths written.
//
// The columns of sparsity.csv are: method, k (sparsity of the data),
// model_k (sparsity of the model), users, samples, dim, rank, noise,
// test_rmse (held-out samples of the training users), new_users_rmse
// (held-out samples of the new users after personalization; NaN without new
// users), seconds.
func (r *SparsityResult) Write(dir string) ([]string, error) {
	o := r.Options
	tb := table{header: []string{"method", "k", "model_k", "users", "samples", "dim", "rank", "noise",
		"test_rmse", "new_users_rmse", "seconds"}}
	train := make([]series, len(SparsityMethods))
	newer := make([]series, len(SparsityMethods))
	for _, p := range r.Points {
		tb.add(p.Method, p.K, p.ModelK, o.Users, o.Samples, o.Dim, o.Rank, o.Noise, p.TrainUsersRMSE, p.NewUsersRMSE, p.Seconds)
		mi := slices.Index(SparsityMethods, p.Method)
		train[mi].name, newer[mi].name = p.Method, p.Method
		train[mi].xys = append(train[mi].xys, plotter.XY{X: float64(p.K), Y: math.Max(p.TrainUsersRMSE, errorFloor)})
		newer[mi].xys = append(newer[mi].xys, plotter.XY{X: float64(p.K), Y: math.Max(p.NewUsersRMSE, errorFloor)})
	}
	path, err := tb.writeCSV(dir, "sparsity.csv")
	if err != nil {
		return nil, err
	}
	paths := []string{path}
	plots := []struct {
		file, who string
		ss        []series
	}{{"sparsity.png", "training users", train}}
	if o.NewUsers > 0 {
		plots = append(plots, struct {
			file, who string
			ss        []series
		}{"sparsity-new.png", fmt.Sprintf("%d new users", o.NewUsers), newer})
	}
	for _, pl := range plots {
		title := fmt.Sprintf("Test RMSE, %s (t=%d, m=%d, d=%d, r=%d, noise %g)", pl.who, o.Users, o.Samples, o.Dim, o.Rank, o.Noise)
		p, err := linePlot(title, "sparsity k of each user's b_i", "test RMSE", true, pl.ss)
		if err != nil {
			return paths, err
		}
		p.Legend.Top, p.Legend.Left = false, false
		path, err := savePNG(p, dir, pl.file)
		if err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
