package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
)

func newStoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Convert between model files and user stores; compact a store",
		Long: `A user store is a single bbolt file holding a model's shared parts (U, theta_0,
metadata, privacy ledger, and the network of neural-lrs models) and every
user's (w_i, b_i), read by "lrsp serve". Stores of models with a network use
store format 2, which lrsp releases before it refuse to open.
It opens instantly whatever its size, and each user is written in its own
transaction.`,
	}
	c.AddCommand(newStoreImportCmd(), newStoreExportCmd(), newStoreCompactCmd(), newRandomModelCmd())
	return c
}

func newStoreImportCmd() *cobra.Command {
	var in, path string
	var batch int
	c := &cobra.Command{
		Use:   "import",
		Short: "Write a model file into a new user store",
		Long: `import writes every user of the model into a new store file, replacing any file
at --store only once the import is complete (a failed or interrupted import
leaves it as it was).`,
		Example: "  lrsp store import --model model.lrsp --store users.db",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if batch <= 0 {
				return fmt.Errorf("--batch %d: must be positive", batch)
			}
			start := time.Now()
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			loaded := time.Since(start)
			opt := store.ImportOptions{BatchSize: batch}
			if isTerminal(c.ErrOrStderr()) {
				bar := progressbar.NewOptions(len(m.Users), progressbar.OptionSetWriter(c.ErrOrStderr()),
					progressbar.OptionSetDescription("import users"), progressbar.OptionShowCount(),
					progressbar.OptionClearOnFinish())
				defer bar.Finish()
				opt.Progress = func(done, _ int) { bar.Set(done) }
			}
			if err := store.Import(c.Context(), path, m, opt); err != nil {
				return err
			}
			bad := 0
			for i := range m.Users {
				if serve.CheckUserID(m.Users[i].ID) != nil {
					bad++
				}
			}
			extra := ""
			if m.Loss == model.LossLogistic {
				extra += ", logistic loss"
			}
			if n := m.Network; n != nil {
				extra += fmt.Sprintf(", network %v", n.Sizes)
			}
			fmt.Fprintf(c.OutOrStdout(), "imported %d users (d=%d r=%d k=%d, method %s%s) into %s: read %.1fs, write %.1fs\n",
				len(m.Users), m.Dim, m.Rank, m.Sparsity, m.Method, extra, path, loaded.Seconds(), (time.Since(start) - loaded).Seconds())
			if bad > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "warning: %d user IDs are not valid in the HTTP API (%s) and cannot be addressed by lrsp serve\n",
					bad, serve.UserIDRule)
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file to import (required)")
	c.Flags().StringVar(&path, "store", "", "store file to create (required)")
	c.Flags().IntVar(&batch, "batch", 20000, "users per transaction")
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("store")
	return c
}

func newStoreExportCmd() *cobra.Command {
	var path, out string
	c := &cobra.Command{
		Use:     "export",
		Short:   "Write a user store back to a model file",
		Example: "  lrsp store export --store users.db --out model.lrsp",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := store.Open(path, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer s.Close()
			m, err := s.Export(c.Context())
			if err != nil {
				return err
			}
			if err := model.Save(out, m); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "exported %d users to %s\n", len(m.Users), out)
			return nil
		},
	}
	c.Flags().StringVar(&path, "store", "", "store file to read (required)")
	c.Flags().StringVar(&out, "out", "", "model file to write (required)")
	c.MarkFlagRequired("store")
	c.MarkFlagRequired("out")
	return c
}

func newStoreCompactCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "compact",
		Short: "Rewrite a user store without free pages (purges deleted users' bytes)",
		Long: `compact copies the live contents of the store into a new file and renames it over
the old one. Deleting a user removes its key at once, but bbolt only marks the
pages free for reuse: it neither zeroes nor returns them, so a deleted user's
numbers can stay in the file until compaction. The store must not be in use
(stop the server first); compaction is atomic but not interruptible.`,
		Example: "  lrsp store compact --store users.db",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			before, after, err := store.Compact(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "compacted %s: %d -> %d bytes\n", path, before, after)
			return nil
		},
	}
	c.Flags().StringVar(&path, "store", "", "store file to compact (required)")
	c.MarkFlagRequired("store")
	return c
}

// newRandomModelCmd writes a model with random parameters, for load and
// import measurements only.
func newRandomModelCmd() *cobra.Command {
	var out, loss string
	var users, d, r, k, inputs int
	var seed uint64
	c := &cobra.Command{
		Use:   "random-model",
		Short: "Write a model with random parameters (for benchmarks)",
		Long: `random-model writes an lrs model with random parameters. --loss logistic marks
it as trained with the logistic loss; --inputs N puts a random one-layer tanh
network from N inputs to the d features in front of it (method neural-lrs).`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if users < 0 || d <= 0 || r < 0 || r > d || k < 0 || k > d || inputs < 0 || inputs > 1<<14 {
				return fmt.Errorf("bad sizes users=%d d=%d r=%d k=%d inputs=%d", users, d, r, k, inputs)
			}
			l, err := oneOf("loss", loss, model.LossSquared, model.LossLogistic)
			if err != nil {
				return err
			}
			m, err := randomModel(c, users, d, r, k, seed)
			if err != nil {
				return err
			}
			if l == 1 {
				m.Loss = model.LossLogistic
			}
			if inputs > 0 {
				addRandomNetwork(m, inputs, seed)
			}
			return model.Save(out, m)
		},
	}
	c.Flags().StringVar(&out, "out", "", "model file to write (required)")
	c.Flags().IntVar(&users, "users", 1000000, "number of users")
	c.Flags().IntVar(&d, "dim", 100, "d")
	c.Flags().IntVar(&r, "rank", 10, "r")
	c.Flags().IntVar(&k, "sparsity", 10, "k")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	c.Flags().StringVar(&loss, "loss", model.LossSquared, "training loss recorded in the model: squared or logistic")
	c.Flags().IntVar(&inputs, "inputs", 0, "inputs of a random tanh network layer in front of the d features (0: none)")
	c.MarkFlagRequired("out")
	return c
}

// addRandomNetwork puts a random inputs -> m.Dim tanh layer in front of m's
// features (weights N(0, 1/inputs), biases N(0, 0.01)) and makes it a
// neural-lrs model.
func addRandomNetwork(m *model.Model, inputs int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := &model.Network{Inputs: make([]string, inputs), Sizes: []int{inputs, m.Dim}, Activation: model.ActivationTanh}
	for q := range n.Inputs {
		n.Inputs[q] = "in" + strconv.Itoa(q)
	}
	layer := make([]float64, n.LayerLen(1))
	for i := range layer {
		scale := 1 / math.Sqrt(float64(inputs))
		if i >= m.Dim*inputs {
			scale = 0.1
		}
		layer[i] = scale * rng.NormFloat64()
	}
	n.Layers = [][]float64{layer}
	m.Network, m.Method = n, model.MethodNeuralLRS
	for j := range m.Features {
		m.Features[j] = "h" + strconv.Itoa(j)
	}
}

// randomModel draws an orthonormal U (QR of a Gaussian matrix), Gaussian w
// and k-sparse Gaussian b for every user, IDs u0, u1, ...
func randomModel(c *cobra.Command, users, d, r, k int, seed uint64) (*model.Model, error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := &model.Model{Method: model.MethodLRS, Dim: d, Rank: r, Sparsity: k, Features: make([]string, d),
		U: make([]float64, d*r), Config: model.Config{Version: model.ConfigVersion, Method: model.MethodLRS, Seed: seed,
			Extra: map[string]string{"generator": "random-model"}}}
	for j := range m.Features {
		m.Features[j] = "x" + strconv.Itoa(j)
	}
	if r > 0 {
		g := mat.NewDense(d, r, nil)
		for j := 0; j < d; j++ {
			for a := 0; a < r; a++ {
				g.Set(j, a, rng.NormFloat64())
			}
		}
		var qr mat.QR
		qr.Factorize(g)
		var q mat.Dense
		qr.QTo(&q)
		for j := 0; j < d; j++ {
			for a := 0; a < r; a++ {
				m.U[j*r+a] = q.At(j, a)
			}
		}
	}
	m.Users = make([]model.User, users)
	w := make([]float64, users*r)
	idx := make([]int32, users*k)
	val := make([]float64, users*k)
	mark := make([]bool, d)
	for i := range m.Users {
		if i%65536 == 0 && c.Context().Err() != nil {
			return nil, c.Context().Err()
		}
		u := &m.Users[i]
		u.ID = "u" + strconv.Itoa(i)
		u.W = w[i*r : (i+1)*r : (i+1)*r]
		for a := range u.W {
			u.W[a] = rng.NormFloat64()
		}
		for n := 0; n < k; {
			if j := rng.IntN(d); !mark[j] {
				mark[j] = true
				n++
			}
		}
		u.Index, u.Value = idx[i*k:i*k:(i+1)*k], val[i*k:i*k:(i+1)*k]
		for j := range mark {
			if mark[j] {
				mark[j] = false
				u.Index = append(u.Index, int32(j))
				u.Value = append(u.Value, rng.NormFloat64())
			}
		}
	}
	return m, nil
}
