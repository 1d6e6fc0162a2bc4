package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
)

// This file adds the network methods (package neural) to lrsp compare:
// neural-lrs, neural-dense (per-user dense head) and neural-global. They
// are not tuned by the linear methods' grid, which would cost a network
// training per candidate: they use the --neural-* values given, with early
// stopping on held-out samples of the training users.

// compareNeuralFlags are the flags of lrsp compare for the network methods.
type compareNeuralFlags struct {
	hidden     []int
	rank       int
	sparsity   int
	ridge      float64
	rounds     int
	batch      int
	rate       float64
	patience   int
	validation float64
}

func (n *compareNeuralFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.IntSliceVar(&n.hidden, "hidden", []int{64, 32}, "network methods: hidden layer widths (the last is the dimension of theta_i)")
	fl.IntVar(&n.rank, "neural-rank", 3, "neural-lrs: rank r of U over the last hidden layer (not tuned)")
	fl.IntVar(&n.sparsity, "neural-sparsity", 1, "neural-lrs: non-zeros k of each b_i (0: low rank only; not tuned)")
	fl.Float64Var(&n.ridge, "neural-ridge", 0, "network methods: per-user ridge (0: none for neural-lrs, leave-one-out per user for neural-dense)")
	fl.IntVar(&n.rounds, "neural-rounds", 200, "network methods: maximum rounds (one Adam pass over the users each)")
	fl.IntVar(&n.batch, "batch", 16, "network methods: users per Adam mini-batch")
	fl.Float64Var(&n.rate, "learning-rate", 0.003, "network methods: Adam step size")
	fl.IntVar(&n.patience, "neural-patience", 10, "network methods: rounds without validation improvement before stopping")
	fl.Float64Var(&n.validation, "neural-validation", 0.2, "network methods: fraction of each training user's samples held out for early stopping (0: none)")
}

// compareMethodNames lists the methods lrsp compare accepts: the linear
// ones of package baseline and the network methods.
func compareMethodNames(linear []string) []string {
	return append(slices.Clone(linear), methodNeuralLRS, methodNeuralDense, methodNeuralGlobal)
}

// options checks the flags and returns the neural options of method.
func (n *compareNeuralFlags) options(method string, workers int, seed uint64) (neural.Options, error) {
	o := neural.Options{Hidden: n.hidden, Rank: n.rank, Sparsity: n.sparsity, Global: method == methodNeuralGlobal,
		Dense: method == methodNeuralDense, Rounds: n.rounds, Batch: n.batch, LearningRate: n.rate, Ridge: n.ridge,
		Patience: n.patience, Workers: workers, Seed: seed}
	switch {
	case len(n.hidden) == 0:
		return o, fmt.Errorf("--hidden must list at least one width")
	case n.rounds < 1:
		return o, fmt.Errorf("--neural-rounds %d must be at least 1", n.rounds)
	case n.batch < 1:
		return o, fmt.Errorf("--batch %d must be at least 1", n.batch)
	case !(n.rate > 0) || math.IsInf(n.rate, 0):
		return o, fmt.Errorf("--learning-rate %v must be positive and finite", n.rate)
	case !(n.ridge >= 0) || math.IsInf(n.ridge, 0):
		return o, fmt.Errorf("--neural-ridge %v must be finite and not negative", n.ridge)
	case n.patience < 1:
		return o, fmt.Errorf("--neural-patience %d must be at least 1", n.patience)
	case !(n.validation >= 0 && n.validation < 1):
		return o, fmt.Errorf("--neural-validation %v must be in [0, 1)", n.validation)
	}
	for _, h := range n.hidden {
		if h < 1 || h > neural.MaxWidth {
			return o, fmt.Errorf("--hidden %v: every width must be in [1, %d]", n.hidden, neural.MaxWidth)
		}
	}
	if last := n.hidden[len(n.hidden)-1]; method == methodNeuralLRS && (n.rank < 1 || n.rank > last || n.sparsity < 0 || n.sparsity > last) {
		return o, fmt.Errorf("--neural-rank %d must be in [1, %d] and --neural-sparsity %d in [0, %d] (the last hidden width)", n.rank, last, n.sparsity, last)
	}
	return o, nil
}

// compareNeural trains one network method on the training users (early
// stopping on --neural-validation of their samples, then every user
// refitted on all its samples with the network fixed) and scores it; new
// users are personalized from their training samples with the network and
// U fixed.
func compareNeural(ctx context.Context, c *cobra.Command, f *compareFlags, method string,
	known, fresh, testKnown, testNew *dataset.Dataset) (compareRow, error) {
	row := compareRow{Method: method, Hidden: slices.Clone(f.neural.hidden)}
	opt, err := f.neural.options(method, f.opt.Workers, f.seed)
	if err != nil {
		return row, err
	}
	start := time.Now()
	train, held, err := dataset.SplitValidation(known, f.neural.validation, f.seed)
	if err != nil {
		return row, err
	}
	show, done := roundBar(c, opt.Rounds, method+" MSE")
	defer done()
	if show != nil {
		opt.Progress = func(st neural.RoundStats) { show(st.Round, st.TrainLoss, st.ValidationLoss) }
	}
	res, err := neural.Train(ctx, train, held, opt)
	if err != nil {
		return row, err
	}
	m := res.Model
	po, err := neural.ModelOptions(m)
	if err != nil {
		return row, err
	}
	po.Workers = opt.Workers
	if held != nil {
		users, err := neural.Personalize(ctx, m, known, po)
		if err != nil {
			return row, err
		}
		m.Upsert(users)
	}
	row.TrainSeconds = time.Since(start).Seconds()
	row.Rounds, row.Rank, row.Sparsity, row.Ridge = len(res.Rounds), m.Rank, m.Sparsity, opt.Ridge
	if m.Method != model.MethodNeuralLRS {
		row.Sparsity = 0
	}
	row.BytesPerUser = m.BytesPerUser()
	if row.Test, err = scoreModel(m, testKnown); err != nil {
		return row, err
	}
	if fresh != nil {
		users, err := neural.Personalize(ctx, m, fresh, po)
		if err != nil {
			return row, err
		}
		mn := *m
		mn.Users = users
		e, err := scoreModel(&mn, testNew)
		if err != nil {
			return row, err
		}
		row.New = &e
	}
	return row, nil
}

// label names a row in the table: the method, and the network's hidden
// widths for a network method.
func (r *compareRow) label() string {
	if len(r.Hidden) == 0 {
		return r.Method
	}
	return fmt.Sprintf("%s %v", r.Method, r.Hidden)
}
