package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

func newPersonalizeCmd() *cobra.Command {
	var data, in, out, pursuit string
	var opt amht.PersonalizeOptions
	var cols dataFlags
	c := &cobra.Command{
		Use:     "personalize",
		Short:   "Fit new users (or refit known ones) with the shared U fixed",
		Example: "  lrsp personalize --model model.lrsp --data new.csv --out model2.lrsp",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := oneOf("pursuit", pursuit, "swap", "greedy", "htp")
			if err != nil {
				return err
			}
			opt.Pursuit = amht.Pursuit(p)
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			fit := func(ds *dataset.Dataset) ([]model.User, error) {
				if err := eval.CheckFeatures(m, ds); err != nil {
					return nil, fmt.Errorf("%s: %w", data, err)
				}
				switch {
				case m.Network != nil:
					return personalizeNeural(c, m, ds, opt)
				case m.Loss == model.LossLogistic:
					return personalizeLogistic(c, m, ds, opt.Ridge, opt.Workers)
				case c.Flags().Changed("ridge") || c.Flags().Changed("pursuit"):
					// Explicit per-user options override the model's (low-rank
					// + sparse methods only).
					return amht.Personalize(c.Context(), m, ds, opt)
				default:
					// Every method, with the per-user ridge and pursuit the
					// model was trained with.
					return baseline.Personalize(c.Context(), m, ds)
				}
			}
			var users []model.User
			if pack.IsPath(data) {
				// Packed files may be larger than memory: stream them.
				p, err := openPacked(data, cols.options(true))
				if err != nil {
					return err
				}
				defer p.Close()
				err = scanPackedChunks(c.Context(), c, p, "personalize "+data, packedChunkBytes, func(chunk *dataset.Dataset) error {
					u, err := fit(chunk)
					users = append(users, u...)
					return err
				})
				if err != nil {
					return err
				}
			} else {
				ds, err := readData(c.Context(), c, data, cols.options(true))
				if err != nil {
					return err
				}
				if users, err = fit(ds); err != nil {
					return err
				}
			}
			known := m.Index()
			added := 0
			for _, u := range users {
				if _, ok := known[u.ID]; !ok {
					added++
				}
			}
			m.Upsert(users)
			if err := model.Save(out, m); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "personalized %d users (%d new, %d refitted); wrote %s\n", len(users), added, len(users)-added, out)
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().StringVar(&data, "data", "", "the users' samples: CSV, Parquet or .lrspd (required)")
	c.Flags().StringVar(&out, "out", "", "model file to write (may equal --model)")
	c.Flags().StringVar(&pursuit, "pursuit", "swap", "support search for b: swap, greedy or htp (default: the model's)")
	c.Flags().Float64Var(&opt.Ridge, "ridge", 0, "per-user ridge penalty on (w, b) (default: the model's)")
	c.Flags().IntVar(&opt.Workers, "workers", 0, "parallel workers (0: one per CPU)")
	cols.register(c)
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("out")
	return c
}
