package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

func newSynthCmd() *cobra.Command {
	var o synth.Options
	var out, truth, newOut, testOut string
	var logisticScale float64
	var precision string
	c := &cobra.Command{
		Use:   "synth",
		Short: "Write synthetic data from the low-rank + sparse model",
		Long: `synth draws x ~ N(0, I_d) and y = <x, U* w_i* + b_i*> + N(0, noise^2) for every user,
with U* a random orthonormal d x r basis, w_i* ~ N(0, I_r) and b_i* with k non-zeros ~ N(0, 1).`,
		Example: "  lrsp synth --users 1000 --samples 60 --dim 100 --rank 5 --sparsity 5 --out data.csv --truth truth.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if newOut == "" {
				newOut = sibling(out, "-new")
			}
			if testOut == "" {
				testOut = sibling(out, "-test")
			}
			if pack.IsPath(out) {
				if logisticScale != 0 {
					return fmt.Errorf("--logistic-scale writes CSV only; give --out a .csv name")
				}
				prec, err := parsePrecision(precision)
				if err != nil {
					return err
				}
				if err := synthPacked(c, o, prec, [3]string{out, newOut, testOut}, truth); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "wrote %d users x %d samples (d=%d, r=%d, k=%d, noise=%g) to %s\n",
					o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, o.Noise, out)
				return nil
			}
			generate := synth.Generate
			if logisticScale != 0 {
				generate = func(o synth.Options) (*synth.Data, error) { return logistic.Generate(o, logisticScale) }
			}
			data, err := generate(o)
			if err != nil {
				return err
			}
			if err := writeCSV(out, data.Train); err != nil {
				return err
			}
			if data.New != nil {
				if err := writeCSV(newOut, data.New); err != nil {
					return err
				}
			}
			if data.Test != nil {
				if err := writeCSV(testOut, data.Test); err != nil {
					return err
				}
			}
			if truth != "" {
				if err := writeJSON(truth, data.Truth); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d users x %d samples (d=%d, r=%d, k=%d, noise=%g) to %s\n",
				o.Users, o.Samples, o.Dim, o.Rank, o.Sparsity, o.Noise, out)
			if data.New != nil {
				fmt.Fprintf(c.OutOrStdout(), "wrote %d new users to %s\n", o.NewUsers, newOut)
			}
			if data.Test != nil {
				fmt.Fprintf(c.OutOrStdout(), "wrote %d test samples per user to %s\n", o.TestSamples, testOut)
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Users, "users", 1000, "number of training users t")
	f.IntVar(&o.Samples, "samples", 60, "samples per user m")
	f.IntVar(&o.Dim, "dim", 100, "number of features d")
	f.IntVar(&o.Rank, "rank", 5, "rank r of U*")
	f.IntVar(&o.Sparsity, "sparsity", 5, "non-zeros k of each b_i*")
	f.Float64Var(&o.Noise, "noise", 0, "standard deviation of the target noise")
	f.Float64Var(&logisticScale, "logistic-scale", 0, "draw 0/1 targets y ~ Bernoulli(sigmoid(scale <x, theta_i>)) instead (truth scaled too)")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.IntVar(&o.NewUsers, "new-users", 0, "also write this many new users from the same U*")
	f.IntVar(&o.TestSamples, "test-samples", 0, "also write this many held-out samples per user (training and new)")
	f.StringVar(&out, "out", "", "training data to write: CSV, or packed when the name ends in .lrspd (written user by user)")
	f.StringVar(&precision, "precision", "float64", "feature storage of packed output: float64 or float32")
	f.StringVar(&truth, "truth", "", "truth JSON to write (U*, every user's w and b)")
	f.StringVar(&newOut, "new-out", "", "new users' CSV (default: --out with -new before the extension)")
	f.StringVar(&testOut, "test-out", "", "test CSV (default: --out with -test before the extension)")
	return c
}

// sibling returns path with suffix inserted before its extension.
func sibling(path, suffix string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + suffix + ext
}

func writeCSV(path string, ds *dataset.Dataset) error {
	return atomicfile.Write(path, func(w io.Writer) error { return dataset.WriteCSV(w, ds) })
}

func writeJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(v)
	})
}

// synthPacked streams generated users into packed files (train, new, test),
// never holding the samples in memory. The truth file holds every user only
// when asked for.
func synthPacked(c *cobra.Command, o synth.Options, prec pack.Precision, paths [3]string, truthPath string) error {
	features := synth.FeatureNames(o.Dim)
	var ws [3]*pack.Writer
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.Abort()
			}
		}
	}()
	need := [3]bool{true, o.NewUsers > 0, o.TestSamples > 0}
	for p, path := range paths {
		if !need[p] {
			continue
		}
		w, err := pack.Create(path, features, true, prec)
		if err != nil {
			return err
		}
		ws[p] = w
	}
	rows := [3]int{}
	ctx := c.Context()
	n := 0
	truth, err := synth.Stream(o, truthPath != "", func(part synth.Part, id string, x, y []float64) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		p := [...]int{0, 1, 2}[part]
		r := make([]int, len(y))
		for s := range r {
			r[s] = rows[p] + s
		}
		rows[p] += len(y)
		return ws[p].Add(id, x, y, r)
	})
	if err != nil {
		return err
	}
	for p, w := range ws {
		if w == nil {
			continue
		}
		ws[p] = nil
		if err := w.Close(); err != nil {
			return err
		}
	}
	if truthPath != "" {
		return writeJSON(truthPath, truth)
	}
	return nil
}
