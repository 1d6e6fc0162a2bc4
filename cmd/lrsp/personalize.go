package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
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
			ds, err := readData(c.Context(), c, data, cols.options(true))
			if err != nil {
				return err
			}
			if err := eval.CheckFeatures(m, ds); err != nil {
				return fmt.Errorf("%s: %w", data, err)
			}
			var users []model.User
			if m.Network != nil {
				users, err = personalizeNeural(c, m, ds, opt)
			} else if m.Loss == model.LossLogistic {
				users, err = personalizeLogistic(c, m, ds, opt.Ridge, opt.Workers)
			} else if c.Flags().Changed("ridge") || c.Flags().Changed("pursuit") {
				// Explicit per-user options override the model's (low-rank +
				// sparse methods only).
				users, err = amht.Personalize(c.Context(), m, ds, opt)
			} else {
				// Every method, with the per-user ridge and pursuit the model
				// was trained with.
				users, err = baseline.Personalize(c.Context(), m, ds)
			}
			if err != nil {
				return err
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
