package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
)

// This file wires neural LRS (package neural) into train, personalize and
// synth-neural.

// Methods of lrsp train that train a network. neural-lrs with --sparsity 0
// is the low-rank-only head theta_i = U w_i.
const (
	methodNeuralLRS    = model.MethodNeuralLRS
	methodNeuralGlobal = "neural-global"
	methodNeuralDense  = model.MethodNeuralDense
)

// neuralFlags are the flags of lrsp train that only the network methods
// use.
type neuralFlags struct {
	hidden []int
	batch  int
	rate   float64
}

func (n *neuralFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.IntSliceVar(&n.hidden, "hidden", []int{64, 32}, "neural-lrs, neural-dense, neural-global: hidden layer widths (the last is the dimension of theta_i)")
	fl.IntVar(&n.batch, "batch", 16, "neural-lrs, neural-dense, neural-global: users per Adam mini-batch")
	fl.Float64Var(&n.rate, "learning-rate", 0.003, "neural-lrs, neural-dense, neural-global: Adam step size")
}

// isNeural reports whether --method selects a network method.
func isNeural(method string) bool {
	return method == methodNeuralLRS || method == methodNeuralGlobal || method == methodNeuralDense
}

// neuralOptions maps the train flags onto neural.Options, rejecting the
// flags that only the linear methods understand.
func (f *trainFlags) neuralOptions(c *cobra.Command) (neural.Options, error) {
	n := &f.neural
	o := neural.Options{Hidden: n.hidden, Rank: f.opt.Rank, Sparsity: f.opt.Sparsity, Global: f.method.method == methodNeuralGlobal,
		Dense: f.method.method == methodNeuralDense, Rounds: f.opt.Rounds, Batch: n.batch, LearningRate: n.rate,
		Ridge: f.opt.Ridge, Workers: f.opt.Workers, Seed: f.opt.Seed}
	if c.Flags().Changed("patience") {
		o.Patience = f.opt.Patience
	}
	for _, name := range []string{"init", "update", "threshold", "cg-iterations", "tolerance"} {
		if c.Flags().Changed(name) {
			return o, fmt.Errorf("--%s does not apply to --method %s", name, f.method.method)
		}
	}
	if f.method.anyAuto() || f.method.center != "false" {
		return o, fmt.Errorf("--method %s does not support auto values or --center", f.method.method)
	}
	p, err := oneOf("pursuit", f.pursuit, "swap", "greedy", "htp")
	if err != nil {
		return o, err
	}
	o.Pursuit = amht.Pursuit(p)
	switch {
	case o.Rounds < 1:
		return o, fmt.Errorf("--rounds %d must be at least 1", o.Rounds)
	case n.batch < 1:
		return o, fmt.Errorf("--batch %d must be at least 1", n.batch)
	case !(n.rate > 0):
		return o, fmt.Errorf("--learning-rate %v must be positive", n.rate)
	case len(n.hidden) == 0:
		return o, fmt.Errorf("--hidden must list at least one width")
	case !(f.validation >= 0 && f.validation < 1):
		return o, fmt.Errorf("--validation %v must be in [0, 1)", f.validation)
	}
	for _, h := range n.hidden {
		if h < 1 || h > neural.MaxWidth {
			return o, fmt.Errorf("--hidden %v: every width must be in [1, %d]", n.hidden, neural.MaxWidth)
		}
	}
	if last := n.hidden[len(n.hidden)-1]; !o.Global && !o.Dense && (o.Rank < 1 || o.Rank > last || o.Sparsity > last) {
		return o, fmt.Errorf("--rank %d must be in [1, %d] and --sparsity %d at most %d (the last hidden width)", o.Rank, last, o.Sparsity, last)
	}
	return o, nil
}

// trainNeural is lrsp train for --method neural-lrs, neural-dense and
// neural-global (--ridge 0, the default, gives neural-dense a per-user
// ridge chosen by leave-one-out; see neural.Options.Dense).
// With --validation, training stops at the best validation round, and the
// users are then refitted on all their samples with the network and U
// fixed.
func trainNeural(c *cobra.Command, f *trainFlags) error {
	opt, err := f.neuralOptions(c)
	if err != nil {
		return err
	}
	ds, err := readData(c.Context(), c, f.data, f.cols.options(true))
	if err != nil {
		return err
	}
	start := time.Now()
	train, held, err := dataset.SplitValidation(ds, f.validation, opt.Seed)
	if err != nil {
		return err
	}
	show, done := roundBar(c, opt.Rounds, "MSE")
	defer done()
	if show != nil {
		opt.Progress = func(st neural.RoundStats) { show(st.Round, st.TrainLoss, st.ValidationLoss) }
	}
	res, err := neural.Train(c.Context(), train, held, opt)
	if err != nil {
		return err
	}
	m := res.Model
	if held != nil {
		po, err := neural.ModelOptions(m)
		if err != nil {
			return err
		}
		po.Workers = opt.Workers
		users, err := neural.Personalize(c.Context(), m, ds, po)
		if err != nil {
			return err
		}
		m.Upsert(users)
	}
	if f.metricsOut != "" {
		if err := writeJSON(f.metricsOut, map[string]any{"rounds": res.Rounds}); err != nil {
			return err
		}
	}
	if err := model.Save(f.out, m); err != nil {
		return err
	}
	last := res.Rounds[len(res.Rounds)-1]
	fmt.Fprintf(c.OutOrStdout(), "trained %s (network %v) on %d users, %d samples (d=%d, r=%d, k=%d): %d rounds (stopped: %s), train MSE %.6g, %.1fs\n",
		f.method.method, m.Network.Sizes, len(ds.Users), ds.Samples(), ds.Dim(), m.Rank, m.Sparsity, len(res.Rounds), res.Stopped, last.TrainLoss, time.Since(start).Seconds())
	fmt.Fprintf(c.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}

// personalizeNeural is lrsp personalize for a model with a network: the
// model's per-user options, overridden by --ridge and --pursuit when given.
func personalizeNeural(c *cobra.Command, m *model.Model, ds *dataset.Dataset, opt amht.PersonalizeOptions) ([]model.User, error) {
	po, err := neural.ModelOptions(m)
	if err != nil {
		return nil, err
	}
	if c.Flags().Changed("ridge") {
		po.Ridge = opt.Ridge
	}
	if c.Flags().Changed("pursuit") {
		po.Pursuit = opt.Pursuit
	}
	po.Workers = opt.Workers
	return neural.Personalize(c.Context(), m, ds, po)
}

func newSynthNeuralCmd() *cobra.Command {
	var o neural.SynthOptions
	var out, newOut, testOut, newTestOut string
	c := &cobra.Command{
		Use:   "synth-neural",
		Short: "Write synthetic data whose per-user functions are non-linear in x",
		Long: `synth-neural draws x ~ N(0, I_d) and y = <tanh(A x), U* w_i + b_i> + N(0, noise^2), with A a fixed
random p x d projection (entries N(0, scale^2/d)), U* a random orthonormal p x r basis, w_i ~ N(0, I_r)
and b_i with k non-zeros ~ N(0, 1): every user's function is non-linear in x, and all share the same p
features and r-dimensional subspace (the model of lrsp train --method neural-lrs).`,
		Example: "  lrsp synth-neural --users 300 --samples 40 --new-users 100 --new-samples 20 --test-samples 50 --out nl.csv",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			data, err := neural.Generate(o)
			if err != nil {
				return err
			}
			if err := writeCSV(out, data.Train); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d users x %d samples (d=%d, p=%d, r=%d, k=%d, scale=%g, noise=%g) to %s\n",
				o.Users, o.Samples, o.Dim, o.Latent, o.Rank, o.Sparsity, o.Scale, o.Noise, out)
			if data.New != nil {
				if newOut == "" {
					newOut = sibling(out, "-new")
				}
				if err := writeCSV(newOut, data.New); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "wrote %d new users to %s\n", o.NewUsers, newOut)
			}
			if data.Test != nil {
				// The held-out samples of training users and of new users go
				// to separate files, to be scored separately.
				if testOut == "" {
					testOut = sibling(out, "-test")
				}
				if newTestOut == "" {
					newTestOut = sibling(out, "-new-test")
				}
				train, fresh := splitUsers(data.Test, data.Train)
				if err := writeCSV(testOut, train); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "wrote %d test samples per training user to %s\n", o.TestSamples, testOut)
				if data.New != nil {
					if err := writeCSV(newTestOut, fresh); err != nil {
						return err
					}
					fmt.Fprintf(c.OutOrStdout(), "wrote %d test samples per new user to %s\n", o.TestSamples, newTestOut)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Users, "users", 300, "number of training users t")
	f.IntVar(&o.Samples, "samples", 40, "samples per training user m")
	f.IntVar(&o.Dim, "dim", 10, "number of input features d")
	f.IntVar(&o.Latent, "latent", 8, "number p of shared non-linear features tanh(A x)")
	f.IntVar(&o.Rank, "rank", 3, "rank r of U*")
	f.IntVar(&o.Sparsity, "sparsity", 1, "non-zeros k of each b_i (over the p latent features)")
	f.Float64Var(&o.Scale, "scale", 2, "standard deviation of each pre-activation a_l^T x (larger: less linear)")
	f.Float64Var(&o.Noise, "noise", 0.1, "standard deviation of the target noise")
	f.IntVar(&o.NewUsers, "new-users", 0, "also write this many new users")
	f.IntVar(&o.NewSamples, "new-samples", 0, "samples per new user (0: --samples)")
	f.IntVar(&o.TestSamples, "test-samples", 0, "also write this many held-out samples per user (training and new)")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&out, "out", "", "training data CSV to write")
	f.StringVar(&newOut, "new-out", "", "new users' CSV (default: --out with -new before the extension)")
	f.StringVar(&testOut, "test-out", "", "training users' test CSV (default: --out with -test before the extension)")
	f.StringVar(&newTestOut, "new-test-out", "", "new users' test CSV (default: --out with -new-test before the extension)")
	return c
}

// splitUsers returns the users of ds that are in known and the others,
// sharing their samples with ds.
func splitUsers(ds, known *dataset.Dataset) (in, out *dataset.Dataset) {
	idx := known.Index()
	in = &dataset.Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	out = &dataset.Dataset{Features: ds.Features, HasTarget: ds.HasTarget}
	for _, u := range ds.Users {
		if _, ok := idx[u.ID]; ok {
			in.Users = append(in.Users, u)
		} else {
			out.Users = append(out.Users, u)
		}
	}
	return in, out
}
