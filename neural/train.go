package neural

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// Result is the outcome of Train.
type Result struct {
	// Model is the trained model: method model.MethodNeuralLRS,
	// model.MethodGlobal for the global network or model.MethodNeuralDense
	// for the dense head, with its Network set.
	Model *model.Model
	// Rounds reports every round.
	Rounds []RoundStats
	// Stopped says why training stopped (fit.StopRounds or fit.StopEarly).
	Stopped fit.StopReason
}

// user is one training user's data (standardized inputs) and parameters.
type user struct {
	id    string
	x, y  []float64
	m     int
	w     []float64 // r
	idx   []int32
	val   []float64
	theta []float64 // h: U w + b, theta_0, or the dense head
	mse   float64
	// Validation samples, standardized, or nil.
	vx, vy []float64
}

// trainer holds one training run's state.
type trainer struct {
	opt      Options
	d, h, r  int
	users    []user
	maxM     int
	net      *net
	mean, sd []float64
	tapes    []*tape
	grad     []float64   // the batch gradient (see batchGradient)
	grads    [][]float64 // per-slot gradients of one user each
}

// Train fits neural LRS (or the global network, with opt.Global, or the
// per-user dense head, with opt.Dense) to ds,
// which must have targets. validation, when not nil, holds held-out
// samples of ds's users (as dataset.Split makes them): training then stops
// after opt.Patience rounds without improvement of the validation loss and
// returns the best round's parameters. Train stops with ctx's error when
// ctx is cancelled.
func Train(ctx context.Context, ds, validation *dataset.Dataset, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("neural: %w", err)
	}
	if !ds.HasTarget {
		return nil, errors.New("neural: the training data have no target column")
	}
	if len(ds.Users) == 0 || ds.Dim() == 0 {
		return nil, errors.New("neural: the training data have no users or no features")
	}
	tr, err := newTrainer(ds, validation, opt)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6e657572))
	tr.net.init(rng)
	if tr.r > 0 {
		g := mat.NewDense(tr.h, tr.r, nil)
		for a := range tr.h {
			for c := range tr.r {
				g.Set(a, c, rng.NormFloat64())
			}
		}
		tr.setOrthonormal(g)
	}
	ad := newAdam(len(tr.net.params), opt.LearningRate)
	res := &Result{Stopped: fit.StopRounds}
	var best *snapshot
	bestLoss, stale := math.Inf(1), 0
	order := make([]int, len(tr.users))
	for i := range order {
		order[i] = i
	}
	for round := 1; round <= opt.Rounds; round++ {
		start := time.Now()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := tr.solveUsers(ctx); err != nil {
			return nil, err
		}
		st := RoundStats{Round: round, TrainLoss: tr.trainLoss()}
		st.InlierLoss = st.TrainLoss
		if validation != nil {
			v := tr.validationLoss()
			st.ValidationLoss = &v
			if v < bestLoss {
				bestLoss, stale, best = v, 0, tr.snapshot()
			} else {
				stale++
			}
		}
		last := round == opt.Rounds || (validation != nil && stale >= opt.Patience)
		if !last {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			if err := tr.adamPass(ctx, ad, order); err != nil {
				return nil, err
			}
			if tr.r > 0 {
				tr.setOrthonormal(mat.NewDense(tr.h, tr.r, slices.Clone(tr.net.head)))
			}
		}
		st.Seconds = time.Since(start).Seconds()
		res.Rounds = append(res.Rounds, st)
		if opt.Progress != nil {
			opt.Progress(st)
		}
		if validation != nil && stale >= opt.Patience {
			res.Stopped = fit.StopEarly
			break
		}
	}
	if best != nil {
		tr.restore(best)
	}
	res.Model = tr.model(ds.Features)
	if err := res.Model.Validate(); err != nil {
		return nil, fmt.Errorf("neural: trained model: %w", err)
	}
	return res, nil
}

func newTrainer(ds, validation *dataset.Dataset, opt Options) (*trainer, error) {
	d := ds.Dim()
	sizes := append([]int{d}, opt.Hidden...)
	tr := &trainer{opt: opt, d: d, h: opt.Hidden[len(opt.Hidden)-1], r: opt.Rank, net: newNet(sizes, opt.Rank)}
	if opt.Dense {
		tr.net.dropHead()
	}
	// Input standardization from the training samples.
	tr.mean, tr.sd = make([]float64, d), make([]float64, d)
	n := 0
	for i := range ds.Users {
		u := &ds.Users[i]
		if len(u.X) != u.Len()*d || len(u.Y) != u.Len() {
			return nil, fmt.Errorf("neural: user %q: %d feature values and %d targets for %d samples", u.ID, len(u.X), len(u.Y), u.Len())
		}
		for s := range u.Len() {
			for q, v := range u.X[s*d : (s+1)*d] {
				tr.mean[q] += v
				tr.sd[q] += v * v
			}
		}
		n += u.Len()
	}
	for q := range d {
		tr.mean[q] /= float64(n)
		v := tr.sd[q]/float64(n) - tr.mean[q]*tr.mean[q]
		if tr.sd[q] = math.Sqrt(max(v, 0)); !(tr.sd[q] > 1e-12*(1+math.Abs(tr.mean[q]))) {
			tr.sd[q] = 1
		}
	}
	std := func(x []float64) []float64 {
		out := make([]float64, len(x))
		for k, v := range x {
			q := k % d
			out[k] = (v - tr.mean[q]) / tr.sd[q]
		}
		return out
	}
	tr.users = make([]user, len(ds.Users))
	for i := range ds.Users {
		u := &ds.Users[i]
		tr.users[i] = user{id: u.ID, x: std(u.X), y: u.Y, m: u.Len(), w: make([]float64, tr.r), theta: make([]float64, tr.h)}
		tr.maxM = max(tr.maxM, u.Len())
	}
	if validation != nil {
		if !slices.Equal(validation.Features, ds.Features) {
			return nil, errors.New("neural: the validation data have other features than the training data")
		}
		if !validation.HasTarget {
			return nil, errors.New("neural: the validation data have no target column")
		}
		idx := ds.Index()
		for i := range validation.Users {
			v := &validation.Users[i]
			p, ok := idx[v.ID]
			if !ok {
				return nil, fmt.Errorf("neural: validation user %q is not a training user", v.ID)
			}
			tr.users[p].vx, tr.users[p].vy = std(v.X), v.Y
			tr.maxM = max(tr.maxM, v.Len())
		}
	}
	tr.tapes = make([]*tape, fit.Workers(opt.Workers, len(tr.users)))
	for k := range tr.tapes {
		tr.tapes[k] = newTape(sizes, tr.maxM)
	}
	tr.grad = make([]float64, len(tr.net.params))
	tr.grads = make([][]float64, fit.Slots(len(tr.tapes), min(opt.Batch, len(tr.users))))
	for k := range tr.grads {
		tr.grads[k] = make([]float64, len(tr.net.params))
	}
	return tr, nil
}

// parallel runs f(worker, i) for i in 0..n-1 over the workers and returns
// the first error; it stops early when ctx is cancelled.
func (tr *trainer) parallel(ctx context.Context, n int, f func(k, i int) error) error {
	return fit.ForEach(ctx, n, len(tr.tapes), f)
}

// sumBlock is the number of consecutive users whose contributions to a sum
// over users one worker accumulates together (see parallelSum). It depends
// on nothing but the user list.
const sumBlock = 16

// parallelSum is parallel for sums over the n users: f(k, slot, i) adds
// user i's contribution into the buffers of slot, which hold the partial
// sum of a block of sumBlock consecutive users, and merge(slot) adds them
// to the total, block after block in user order. reset(slot) clears the
// slot's buffers before each block. The sum is thus bit-identical for any
// number of workers; there are fit.Slots(len(tr.tapes), blocks(n)) slots.
func (tr *trainer) parallelSum(ctx context.Context, n int, reset func(slot int), f func(k, slot, i int) error, merge func(slot int)) error {
	return fit.ForEachOrdered(ctx, blocks(n), len(tr.tapes), func(k, slot, b int) error {
		reset(slot)
		for i := b * sumBlock; i < min((b+1)*sumBlock, n); i++ {
			if err := f(k, slot, i); err != nil {
				return err
			}
		}
		return nil
	}, func(slot, _ int) { merge(slot) })
}

// blocks returns the number of blocks parallelSum makes of n users.
func blocks(n int) int { return (n + sumBlock - 1) / sumBlock }

// setOrthonormal sets U to the Q factor of g (h x r).
func (tr *trainer) setOrthonormal(g *mat.Dense) {
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	for a := range tr.h {
		for c := range tr.r {
			tr.net.head[a*tr.r+c] = q.At(a, c)
		}
	}
}

// linearModel returns the linear model over the network's features whose
// per-user solve amht performs.
func (tr *trainer) linearModel() *model.Model {
	return &model.Model{Method: model.MethodLRS, Dim: tr.h, Rank: tr.r, Sparsity: tr.opt.Sparsity,
		Features: hiddenNames(tr.h), U: tr.net.head}
}

// solveUsers fits every user's head with the network and U fixed (or
// theta_0 by pooled least squares for the global network, or the dense
// heads), and records each user's training MSE.
func (tr *trainer) solveUsers(ctx context.Context) error {
	if tr.opt.Dense {
		return tr.solveDense(ctx)
	}
	if tr.r == 0 {
		return tr.solveGlobal(ctx)
	}
	lin := tr.linearModel()
	ps := make([]*amht.Personalizer, len(tr.tapes))
	for k := range ps {
		var err error
		if ps[k], err = amht.NewPersonalizer(lin, tr.maxM, amht.PersonalizeOptions{Pursuit: tr.opt.Pursuit, Ridge: tr.opt.Ridge}); err != nil {
			return fmt.Errorf("neural: %w", err)
		}
	}
	return tr.parallel(ctx, len(tr.users), func(k, i int) error {
		u := &tr.users[i]
		phi := tr.net.forward(tr.tapes[k], u.x, u.m)
		fit, mse, err := ps[k].Fit(u.id, phi, u.y)
		if err != nil {
			return fmt.Errorf("neural: user %q: %w", u.id, err)
		}
		u.w, u.idx, u.val, u.mse = fit.W, fit.Index, fit.Value, mse
		lin.Theta(&fit, u.theta)
		return nil
	})
}

// solveGlobal sets theta_0 to the minimizer of
// sum_i (1/m_i) ||y_i - Phi_i theta||^2 + ridge * t * ||theta||^2.
func (tr *trainer) solveGlobal(ctx context.Context) error {
	h := tr.h
	type acc struct{ a, b []float64 }
	accs := make([]acc, fit.Slots(len(tr.tapes), blocks(len(tr.users))))
	for k := range accs {
		accs[k] = acc{make([]float64, h*h), make([]float64, h)}
	}
	A, b := make([]float64, h*h), make([]float64, h)
	err := tr.parallelSum(ctx, len(tr.users), func(slot int) {
		clear(accs[slot].a)
		clear(accs[slot].b)
	}, func(k, slot, i int) error {
		u := &tr.users[i]
		phi := tr.net.forward(tr.tapes[k], u.x, u.m)
		s := 1 / float64(u.m)
		for j := range u.m {
			row := phi[j*h : (j+1)*h]
			for a, va := range row {
				accs[slot].b[a] += s * va * u.y[j]
				ar := accs[slot].a[a*h : (a+1)*h]
				for c, vc := range row {
					ar[c] += s * va * vc
				}
			}
		}
		return nil
	}, func(slot int) {
		for q, v := range accs[slot].a {
			A[q] += v
		}
		for q, v := range accs[slot].b {
			b[q] += v
		}
	})
	if err != nil {
		return err
	}
	tr0 := 0.0
	for a := range h {
		tr0 += A[a*h+a]
	}
	lambda := tr.opt.Ridge*float64(len(tr.users)) + 1e-10*tr0/float64(h)
	for a := range h {
		A[a*h+a] += lambda
	}
	var chol mat.Cholesky
	if !chol.Factorize(mat.NewSymDense(h, A)) {
		return errors.New("neural: the global head's normal equations are not positive definite")
	}
	var th mat.VecDense
	if err := chol.SolveVecTo(&th, mat.NewVecDense(h, b)); err != nil {
		return fmt.Errorf("neural: global head: %w", err)
	}
	copy(tr.net.head, th.RawVector().Data)
	return tr.parallel(ctx, len(tr.users), func(k, i int) error {
		u := &tr.users[i]
		copy(u.theta, tr.net.head)
		phi := tr.net.forward(tr.tapes[k], u.x, u.m)
		u.mse = mse(phi, u.y, u.theta)
		return nil
	})
}

// mse returns the mean squared error of predictions <phi_j, theta>.
func mse(phi, y, theta []float64) float64 {
	h := len(theta)
	s := 0.0
	for j, yj := range y {
		e := dot(phi[j*h:(j+1)*h], theta) - yj
		s += e * e
	}
	return s / float64(len(y))
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func (tr *trainer) trainLoss() float64 {
	s := 0.0
	for i := range tr.users {
		s += tr.users[i].mse
	}
	return s / float64(len(tr.users))
}

// validationLoss returns the mean over users with validation samples of
// their validation MSE under the current parameters.
func (tr *trainer) validationLoss() float64 {
	s, n := 0.0, 0
	t := tr.tapes[0]
	for i := range tr.users {
		u := &tr.users[i]
		if len(u.vy) == 0 {
			continue
		}
		s += mse(tr.net.forward(t, u.vx, len(u.vy)), u.vy, u.theta)
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// adamPass takes one Adam step per mini-batch of users, in the given order,
// on the mean over the batch's users of their training MSE, with every
// user's (w_i, b_i) fixed.
func (tr *trainer) adamPass(ctx context.Context, ad *adam, order []int) error {
	B := tr.opt.Batch
	sum := tr.grad
	for lo := 0; lo < len(order); lo += B {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := order[lo:min(lo+B, len(order))]
		tr.batchGradient(batch)
		ad.step(tr.net.params, sum)
	}
	return nil
}

// batchGradient writes into tr.grad the gradient with respect to the
// network and the head of (1/|batch|) sum_{i in batch} MSE_i. Each user's
// gradient is computed on its own (in one of tr.grads) and added to
// tr.grad in batch order, so the sum does not depend on the number of
// workers.
func (tr *trainer) batchGradient(batch []int) {
	clear(tr.grad)
	nb := float64(len(batch))
	for len(tr.grads) < fit.Slots(len(tr.tapes), len(batch)) {
		tr.grads = append(tr.grads, make([]float64, len(tr.net.params)))
	}
	// The gradient does not depend on ctx; cancellation is checked between
	// batches. The error is always nil.
	_ = fit.ForEachOrdered(context.Background(), len(batch), len(tr.tapes), func(k, slot, q int) error {
		clear(tr.grads[slot])
		u := &tr.users[batch[q]]
		t := tr.tapes[k]
		phi := tr.net.forward(t, u.x, u.m)
		h := tr.h
		s := 2 / (nb * float64(u.m))
		for j := range u.m {
			t.e[j] = s * (dot(phi[j*h:(j+1)*h], u.theta) - u.y[j])
		}
		tr.net.backward(t, u.x, u.m, u.theta, u.w, tr.grads[slot])
		return nil
	}, func(slot, _ int) {
		for q, v := range tr.grads[slot] {
			tr.grad[q] += v
		}
	})
}

// snapshot holds the parameters of one round.
type snapshot struct {
	params []float64
	users  []user
}

func (tr *trainer) snapshot() *snapshot {
	s := &snapshot{params: slices.Clone(tr.net.params), users: slices.Clone(tr.users)}
	for i := range s.users {
		u := &s.users[i]
		u.w, u.idx, u.val, u.theta = slices.Clone(u.w), slices.Clone(u.idx), slices.Clone(u.val), slices.Clone(u.theta)
	}
	return s
}

func (tr *trainer) restore(s *snapshot) {
	copy(tr.net.params, s.params)
	tr.users = s.users
}

// hiddenNames names the h features of the last hidden layer.
func hiddenNames(h int) []string {
	f := make([]string, h)
	for a := range f {
		f[a] = "phi" + strconv.Itoa(a+1)
	}
	return f
}

// model builds the model of the current parameters, folding the input
// standardization into the first layer.
func (tr *trainer) model(inputs []string) *model.Model {
	n := tr.net
	nw := &model.Network{Inputs: slices.Clone(inputs), Sizes: slices.Clone(n.sizes), Activation: model.ActivationTanh}
	for l := range n.layer {
		nw.Layers = append(nw.Layers, slices.Clone(n.layer[l]))
	}
	// W x_std + c = (W / sd) x + (c - W (mean / sd)).
	first := nw.Layers[0]
	rows, d := n.sizes[1], n.sizes[0]
	for a := range rows {
		for q := range d {
			w := first[a*d+q] / tr.sd[q]
			first[a*d+q] = w
			first[rows*d+a] -= w * tr.mean[q]
		}
	}
	m := &model.Model{Dim: tr.h, Features: hiddenNames(tr.h), Network: nw, Config: model.Config{
		Version: model.ConfigVersion, Hidden: slices.Clone(tr.opt.Hidden), Ridge: tr.opt.Ridge, Pursuit: tr.opt.Pursuit,
		Batch: tr.opt.Batch, LearningRate: tr.opt.LearningRate, Seed: tr.opt.Seed, Rounds: tr.opt.Rounds,
		Rank: tr.r, Sparsity: tr.opt.Sparsity}}
	if tr.opt.Dense {
		return tr.denseModel(m)
	}
	if tr.r == 0 {
		m.Method = model.MethodGlobal
		m.Theta0 = slices.Clone(n.head)
		m.Config.Method = model.MethodNeuralGlobal
		for i := range tr.users {
			m.Users = append(m.Users, model.User{ID: tr.users[i].id, W: []float64{}})
		}
		return m
	}
	m.Method, m.Rank, m.Sparsity, m.U = model.MethodNeuralLRS, tr.r, tr.opt.Sparsity, slices.Clone(n.head)
	m.Config.Method = model.MethodNeuralLRS
	for i := range tr.users {
		u := &tr.users[i]
		m.Users = append(m.Users, model.User{ID: u.id, W: slices.Clone(u.w), Index: slices.Clone(u.idx), Value: slices.Clone(u.val)})
	}
	return m
}
