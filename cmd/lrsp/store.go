package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
	"github.com/lrsp/lrsp/synth"
)

func newStoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Convert between model files and user stores; compact a store",
		Long: `A user store is a single bbolt file holding a model's shared parts (U, theta_0,
metadata, privacy ledger, and the network of neural-lrs models) and every
user's (w_i, b_i), read by "lrsp serve". Stores are written in store format 3:
every user record carries a CRC-32C checked on each read ("lrsp store check"
verifies a whole store), and an import marks the store complete only after its
last user. Earlier lrsp releases refuse format 3; stores of their formats 1 and
2 open read-only here (export them and import again to serve them).
A store opens instantly whatever its size, and each user is written in its own
transaction.`,
	}
	c.AddCommand(newStoreImportCmd(), newStoreExportCmd(), newStoreCompactCmd(), newStoreCheckCmd(), newRandomModelCmd())
	return group(c)
}

func newStoreImportCmd() *cobra.Command {
	var in, path string
	var batch int
	c := &cobra.Command{
		Use:   "import",
		Short: "Write a model file into a new user store",
		Long: `import writes every user of the model into a new store file, replacing any file
at --store only once the import is complete (a failed or interrupted import
leaves it as it was, and removes its temporary file; temporary files of an
import killed outright are removed by the next import). It refuses to
replace a store that a running server holds.`,
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
			p := newProgress(c, progressbar.OptionSetDescription("import users"), progressbar.OptionShowCount())
			defer p.finish()
			opt.Progress = func(done, _ int) { p.step(int64(done), int64(len(m.Users)), "", "") }
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
			if err := c.Context().Err(); err != nil {
				return err
			}
			if err := saveModel(c.Context(), out, m); err != nil {
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

func newStoreCheckCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify a whole user store: pages, shared parts and every user record",
		Long: `check reads the store read-only and verifies bbolt's page structure, the shared
parts, the completeness mark of an import, every user record against its
checksum and the model's sizes, the user count and the sums behind the
--unknown global fallback. It prints each problem, naming the user or page,
and exits with status 1 if there is any. A running server holds the store
locked; stop it (or check a copy) first.`,
		Example: "  lrsp store check --store users.db",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := store.Check(c.Context(), path)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			for _, n := range rep.Notes {
				fmt.Fprintf(w, "note: %s\n", n)
			}
			for _, p := range rep.Problems {
				fmt.Fprintf(w, "problem: %s\n", p)
			}
			if len(rep.Problems) > 0 {
				return fmt.Errorf("store check %s: %d problems (format version %d, %d user records read)", path, len(rep.Problems), rep.Version, rep.Users)
			}
			fmt.Fprintf(w, "%s: sound (format version %d, %d users)\n", path, rep.Version, rep.Users)
			return nil
		},
	}
	c.Flags().StringVar(&path, "store", "", "store file to check (required)")
	c.MarkFlagRequired("store")
	return c
}

// newRandomModelCmd writes a model with random parameters, for load and
// import measurements only.
func newRandomModelCmd() *cobra.Command {
	var out string
	var o synth.RandomModelOptions
	c := &cobra.Command{
		Use:   "random-model",
		Short: "Write a model with random parameters (for benchmarks)",
		Long: `random-model writes an lrs model with random parameters. --loss logistic marks
it as trained with the logistic loss; --inputs N puts a random one-layer tanh
network from N inputs to the d features in front of it (method neural-lrs).`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if _, err := oneOf("loss", o.Loss, model.LossSquared, model.LossLogistic); err != nil {
				return err
			}
			m, err := synth.RandomModel(c.Context(), o)
			if err != nil {
				return err
			}
			return saveModel(c.Context(), out, m)
		},
	}
	c.Flags().StringVar(&out, "out", "", "model file to write (required)")
	c.Flags().IntVar(&o.Users, "users", 1000000, "number of users")
	c.Flags().IntVar(&o.Dim, "dim", 100, "d")
	c.Flags().IntVar(&o.Rank, "rank", 10, "r")
	c.Flags().IntVar(&o.Sparsity, "sparsity", 10, "k")
	c.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed")
	c.Flags().StringVar(&o.Loss, "loss", model.LossSquared, "training loss recorded in the model: squared or logistic")
	c.Flags().IntVar(&o.Inputs, "inputs", 0, "inputs of a random tanh network layer in front of the d features (0: none)")
	c.MarkFlagRequired("out")
	return c
}
