package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/compare"
)

// This file holds the flags of the network methods (package neural) in
// lrsp compare: neural-lrs, neural-dense (per-user dense head) and
// neural-global. They are not tuned by the linear methods' grid, which
// would cost a network training per candidate: they use the --neural-*
// values given, with early stopping on held-out samples of the training
// users (see package compare).

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
	fl.IntVar(&n.patience, "patience", 10, "network methods: rounds without validation improvement before stopping (as lrsp train's --patience)")
	// --neural-patience was this flag's name; train's is --patience.
	fl.IntVar(&n.patience, "neural-patience", 10, "network methods: rounds without validation improvement before stopping")
	renamed(fl, "neural-patience", "patience")
	fl.Float64Var(&n.validation, "neural-validation", 0.2, "network methods: fraction of each training user's samples held out for early stopping (0: none)")
}

// options checks the flags and returns the options of the network
// methods; lrs says whether neural-lrs, the only one with a rank and a
// sparsity, is compared.
func (n *compareNeuralFlags) options(lrs bool) (compare.NeuralOptions, error) {
	o := compare.NeuralOptions{Hidden: n.hidden, Rank: n.rank, Sparsity: n.sparsity, Ridge: n.ridge, Rounds: n.rounds,
		Batch: n.batch, LearningRate: n.rate, Patience: n.patience, Validation: n.validation}
	if err := checkNetworkFlags(n.hidden, n.batch, n.rate); err != nil {
		return o, err
	}
	switch {
	case n.rounds < 1:
		return o, fmt.Errorf("--neural-rounds %d must be at least 1", n.rounds)
	case !(n.ridge >= 0) || math.IsInf(n.ridge, 0):
		return o, fmt.Errorf("--neural-ridge %v must be finite and not negative", n.ridge)
	case n.patience < 1:
		return o, fmt.Errorf("--patience %d must be at least 1", n.patience)
	case !(n.validation >= 0 && n.validation < 1):
		return o, fmt.Errorf("--neural-validation %v must be in [0, 1)", n.validation)
	}
	if last := n.hidden[len(n.hidden)-1]; lrs && (n.rank < 1 || n.rank > last || n.sparsity < 0 || n.sparsity > last) {
		return o, fmt.Errorf("--neural-rank %d must be in [1, %d] and --neural-sparsity %d in [0, %d] (the last hidden width)", n.rank, last, n.sparsity, last)
	}
	return o, nil
}
