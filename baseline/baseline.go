// Package baseline trains every personalization method that lrsp compares,
// behind one entry point, so that each is trained, stored, personalized and
// scored through the same model file and data path:
//
//   - global: one ridge model theta_0 shared by all users;
//   - local: one dense ridge model per user, fit alone;
//   - lowrank: theta_i = U w_i (AMHT with no sparse part, as AltMinGD/FedRep);
//   - global-sparse: theta_i = theta_0 + b_i with k-sparse b_i, alternating a
//     ridge fit of theta_0 with AMHT's sparse per-user solves;
//   - finetune: theta_i = theta_0 + dense per-user ridge correction toward
//     theta_0 (the storage-heavy per-user fine-tune);
//   - lrs: AMHT-LRS, theta_i = U w_i + b_i.
//
// Ridge penalties follow amht's convention: a user with m samples minimises
// (1/m)||y - X theta||^2 + lambda*||theta - prior||^2, so lambda is in units
// of the mean squared feature value (1 for standardised features).
package baseline

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// Methods lists every method in the order lrsp reports them.
var Methods = []string{model.MethodGlobal, model.MethodLocal, model.MethodFinetune,
	model.MethodGlobalSparse, model.MethodLowRank, model.MethodLRS}

// Options selects and configures a method. The zero value is not usable:
// Method must be set, and Rank and Sparsity for the methods that have them.
type Options struct {
	// Method is one of model.MethodLRS, MethodLowRank, MethodGlobal,
	// MethodLocal, MethodGlobalSparse and MethodFinetune.
	Method string
	// Rank is the number of columns r of U, for lrs and lowrank (at least 1).
	Rank int
	// Sparsity is the number k of non-zeros of each b_i, for lrs (0 makes it
	// lowrank) and global-sparse (at least 1).
	Sparsity int
	// Ridge is the ridge strength lambda of the local and finetune per-user
	// fits and of every fit of the shared theta_0 (global, finetune,
	// global-sparse, and lrs/lowrank with Center). A shared fit over t users
	// and N samples minimises (1/N)||y - X theta_0||^2 + (lambda/t)||theta_0||^2:
	// the penalty of one user spread over all, so that theta_0 (which
	// carries the mean of the targets) is not shrunk by the strength that
	// suits a user with a few samples. 0 means no penalty; a singular system
	// (fewer samples than features) then gets a jitter of 1e-8 times the mean
	// squared feature, which gives nearly the minimum-norm least-squares
	// solution. The per-user ridge of lrs, lowrank and global-sparse is
	// AMHT.Ridge.
	Ridge float64
	// Center, for lrs and lowrank, first fits a shared offset theta_0 by ridge
	// regression over all users and trains the low-rank (+ sparse) part on
	// what it leaves, so that theta_i = theta_0 + U w_i + b_i. It helps when
	// the targets share a large common part (ratings 0..10 with a mean of 5)
	// that would otherwise take up one of the r directions of U. False keeps
	// the paper's model theta_i = U w_i + b_i.
	Center bool
	// AMHT holds the base options (rounds, tolerance, workers, seed, ridge,
	// ...) of the lrs, lowrank and global-sparse training; its Rank,
	// Sparsity and Offset are set from the fields above. Its Workers also
	// bounds the parallelism of the other methods. The model does not
	// depend on Workers (see amht.Options.Workers).
	AMHT amht.Options

	// free marks the constant (bias) columns of the training data, which
	// the ridge fits do not penalise; Train sets it.
	free []bool
}

// globalSparseRounds bounds the alternations between theta_0 and the sparse
// parts of global-sparse.
const globalSparseRounds = 10

func (o *Options) validate(d int) error {
	switch o.Method {
	case model.MethodLRS, model.MethodLowRank:
		if o.Rank < 1 || o.Rank > d {
			return fmt.Errorf("%s: rank %d must be in [1, %d] (the number of features)", o.Method, o.Rank, d)
		}
	case model.MethodGlobalSparse:
		if o.Sparsity < 1 || o.Sparsity > d {
			return fmt.Errorf("%s: sparsity %d must be in [1, %d] (the number of features)", o.Method, o.Sparsity, d)
		}
	case model.MethodGlobal, model.MethodLocal, model.MethodFinetune:
	default:
		return fmt.Errorf("unknown method %q: want one of %v", o.Method, Methods)
	}
	if o.Method == model.MethodLRS && (o.Sparsity < 0 || o.Sparsity > d) {
		return fmt.Errorf("%s: sparsity %d must be in [0, %d] (the number of features)", o.Method, o.Sparsity, d)
	}
	if !(o.Ridge >= 0) || math.IsInf(o.Ridge, 0) {
		return fmt.Errorf("%s: ridge %v must be finite and not negative", o.Method, o.Ridge)
	}
	return nil
}

// Train fits the method opt.Method to ds, whose users must all have
// targets. validation, when not nil, holds held-out samples of ds's users
// (matched by ID) that lrs, lowrank and global-sparse use for early
// stopping; the closed-form methods ignore it. The model records the method
// and its options in Config. Cancelling ctx stops training with ctx's error.
func Train(ctx context.Context, ds, validation *dataset.Dataset, opt Options) (*model.Model, error) {
	if !ds.HasTarget {
		return nil, errors.New("baseline: train: the data have no target column")
	}
	if len(ds.Users) == 0 {
		return nil, errors.New("baseline: train: no users")
	}
	d := ds.Dim()
	if err := opt.validate(d); err != nil {
		return nil, fmt.Errorf("baseline: train: %w", err)
	}
	opt.free = constantColumns(ds)
	var m *model.Model
	var err error
	switch opt.Method {
	case model.MethodGlobal:
		m, err = trainGlobal(ctx, ds, opt)
	case model.MethodLocal:
		m, err = trainLocal(ctx, ds, opt)
	case model.MethodFinetune:
		m, err = trainFinetune(ctx, ds, opt)
	case model.MethodGlobalSparse:
		m, err = trainGlobalSparse(ctx, ds, validation, opt)
	default:
		m, err = trainLowRank(ctx, ds, validation, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("baseline: train %s: %w", opt.Method, err)
	}
	m.Method = opt.Method
	m.Config.Version, m.Config.Method = model.ConfigVersion, opt.Method
	m.Config.Unpenalized = freeColumns(opt.free)
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("baseline: train %s: %w", opt.Method, err)
	}
	return m, nil
}

// fitTheta0 returns the ridge solution over all samples of ds with penalty
// lambda/t (see Options.Ridge), with targets y - X b_i when bs (parallel to
// ds.Users) is not nil.
func fitTheta0(ctx context.Context, ds *dataset.Dataset, lambda float64, free []bool, bs [][]float64) ([]float64, error) {
	s := newRidgeSystem(ds.Dim())
	for i := range ds.Users {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		u := &ds.Users[i]
		var off []float64
		if bs != nil {
			off = bs[i]
		}
		s.add(u.X, u.Y, off)
	}
	theta := make([]float64, ds.Dim())
	if err := s.solve(lambda/float64(len(ds.Users)), free, theta); err != nil {
		return nil, fmt.Errorf("theta_0: %w", err)
	}
	return theta, nil
}

func emptyModel(ds *dataset.Dataset, opt Options) *model.Model {
	return &model.Model{Dim: ds.Dim(), Features: ds.Features, U: []float64{},
		Config: model.Config{Version: model.ConfigVersion, Ridge: opt.Ridge}}
}

func trainGlobal(ctx context.Context, ds *dataset.Dataset, opt Options) (*model.Model, error) {
	theta0, err := fitTheta0(ctx, ds, opt.Ridge, opt.free, nil)
	if err != nil {
		return nil, err
	}
	m := emptyModel(ds, opt)
	m.Theta0 = theta0
	return m, nil
}

// denseUsers fits every user of ds by ridge toward prior (nil: toward 0),
// storing the dense correction as a full-index sparse vector.
func denseUsers(ctx context.Context, ds *dataset.Dataset, prior []float64, lambda float64, free []bool, workers int) ([]model.User, error) {
	d := ds.Dim()
	out := make([]model.User, len(ds.Users))
	systems := make([]*ridgeSystem, fit.Workers(workers, len(ds.Users)))
	err := forEachUser(ctx, ds, workers, func(w, i int) error {
		if systems[w] == nil {
			systems[w] = newRidgeSystem(d)
		}
		s := systems[w]
		s.reset()
		u := &ds.Users[i]
		s.add(u.X, u.Y, prior)
		b := make([]float64, d)
		if err := s.solve(lambda, free, b); err != nil {
			return err
		}
		out[i] = denseUser(u.ID, b)
		return nil
	})
	return out, err
}

func denseUser(id string, b []float64) model.User {
	idx := make([]int32, len(b))
	for j := range idx {
		idx[j] = int32(j)
	}
	return model.User{ID: id, W: []float64{}, Index: idx, Value: b}
}

func trainLocal(ctx context.Context, ds *dataset.Dataset, opt Options) (*model.Model, error) {
	users, err := denseUsers(ctx, ds, nil, opt.Ridge, opt.free, opt.AMHT.Workers)
	if err != nil {
		return nil, err
	}
	m := emptyModel(ds, opt)
	m.Sparsity = ds.Dim()
	m.Users = users
	return m, nil
}

func trainFinetune(ctx context.Context, ds *dataset.Dataset, opt Options) (*model.Model, error) {
	theta0, err := fitTheta0(ctx, ds, opt.Ridge, opt.free, nil)
	if err != nil {
		return nil, err
	}
	users, err := denseUsers(ctx, ds, theta0, opt.Ridge, opt.free, opt.AMHT.Workers)
	if err != nil {
		return nil, err
	}
	m := emptyModel(ds, opt)
	m.Sparsity = ds.Dim()
	m.Theta0 = theta0
	m.Users = users
	return m, nil
}

// trainLowRank trains lrs or lowrank with amht, optionally after fitting a
// shared theta_0.
func trainLowRank(ctx context.Context, ds, validation *dataset.Dataset, opt Options) (*model.Model, error) {
	a := opt.AMHT
	a.Rank, a.Sparsity, a.Offset = opt.Rank, opt.Sparsity, nil
	if opt.Method == model.MethodLowRank {
		a.Sparsity = 0
	}
	if opt.Center {
		theta0, err := fitTheta0(ctx, ds, opt.Ridge, opt.free, nil)
		if err != nil {
			return nil, err
		}
		a.Offset = theta0
	}
	res, err := amht.Train(ctx, ds, validation, a)
	if err != nil {
		return nil, err
	}
	m := res.Model
	m.Config.Center = opt.Center
	if opt.Center {
		m.Config.Theta0Ridge = opt.Ridge
	}
	return m, nil
}

// trainGlobalSparse alternates a ridge fit of theta_0 on y - X b_i over all
// users with AMHT's k-sparse per-user solves given theta_0, until the
// training loss stops improving by 1e-6 of itself or globalSparseRounds
// alternations have run. It keeps the best alternation by training loss.
func trainGlobalSparse(ctx context.Context, ds, validation *dataset.Dataset, opt Options) (*model.Model, error) {
	d := ds.Dim()
	theta0, err := fitTheta0(ctx, ds, opt.Ridge, opt.free, nil)
	if err != nil {
		return nil, err
	}
	var best *model.Model
	bestLoss := math.Inf(1)
	bs := make([][]float64, len(ds.Users))
	for round := 0; round < globalSparseRounds; round++ {
		a := opt.AMHT
		a.Rank, a.Sparsity, a.Offset = 0, opt.Sparsity, theta0
		res, err := amht.Train(ctx, ds, validation, a)
		if err != nil {
			return nil, err
		}
		loss := res.Rounds[len(res.Rounds)-1].TrainLoss
		improved := loss < bestLoss*(1-1e-6)
		if loss < bestLoss {
			best, bestLoss = res.Model, loss
		}
		if !improved && round > 0 {
			break
		}
		for i := range res.Model.Users {
			u := &res.Model.Users[i]
			b := bs[i]
			if b == nil {
				b = make([]float64, d)
				bs[i] = b
			}
			clear(b)
			for p, j := range u.Index {
				b[j] = u.Value[p]
			}
		}
		if theta0, err = fitTheta0(ctx, ds, opt.Ridge, opt.free, bs); err != nil {
			return nil, err
		}
	}
	best.Config.Theta0Ridge = opt.Ridge
	return best, nil
}

// PersonalizeDense fits the users of ds against a local or finetune model
// m with everything shared fixed: a dense ridge fit per user (toward
// theta_0 for finetune) with the model's ridge and unpenalized features.
// It returns the users in the order of ds.Users and does not change m.
// Package method chooses the personalizer of every other method.
func PersonalizeDense(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	if !ds.HasTarget {
		return nil, errors.New("baseline: personalize: the data have no target column")
	}
	if ds.Dim() != m.Dim {
		return nil, fmt.Errorf("baseline: personalize: data have %d features, model has %d", ds.Dim(), m.Dim)
	}
	if err := m.Config.Validate(m.Dim); err != nil {
		return nil, fmt.Errorf("baseline: personalize: %w", err)
	}
	switch {
	case m.Method != model.MethodLocal && m.Method != model.MethodFinetune:
		return nil, fmt.Errorf("baseline: personalize: a %q model has no dense per-user part", m.Method)
	case m.Method == model.MethodFinetune && m.Theta0 == nil:
		return nil, errors.New("baseline: personalize: finetune model has no theta_0")
	}
	users, err := denseUsers(ctx, ds, m.Theta0, m.Config.Ridge, unpenalized(m.Config.Unpenalized, m.Dim), workers)
	if err != nil {
		return nil, fmt.Errorf("baseline: personalize: %w", err)
	}
	return users, nil
}

// freeColumns returns the positions of the true entries of free.
func freeColumns(free []bool) []int {
	var out []int
	for j, f := range free {
		if f {
			out = append(out, j)
		}
	}
	return out
}

// unpenalized returns the mask of d features whose positions cols lists
// (validated by model.Config.Validate), or nil for none.
func unpenalized(cols []int, d int) []bool {
	if len(cols) == 0 {
		return nil
	}
	free := make([]bool, d)
	for _, j := range cols {
		free[j] = true
	}
	return free
}
