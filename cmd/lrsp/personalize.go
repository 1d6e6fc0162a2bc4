package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

func newPersonalizeCmd() *cobra.Command {
	var data, in, out, pursuit string
	var ridge float64
	var workers int
	var cols dataFlags
	c := &cobra.Command{
		Use:   "personalize",
		Short: "Fit new users (or refit known ones) with the shared U fixed",
		Long: `personalize fits the users of --data against a trained model with everything shared fixed (U,
theta_0, the network), by the model's method and with the per-user options it was trained with;
--ridge and --pursuit override those for this run (the written model keeps its recorded ones).`,
		Example: "  lrsp personalize --model model.lrsp --data new.csv --out model2.lrsp",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			// fitWith is m with the overrides: the method reads the
			// per-user options from the model's configuration.
			fitWith := *m
			fitWith.Config = m.Config.Clone()
			if c.Flags().Changed("ridge") {
				fitWith.Config.Ridge = ridge
			}
			if c.Flags().Changed("pursuit") {
				if s, err := method.ForModel(m); err == nil && !slices.Contains(s.Params(), "pursuit") {
					return fmt.Errorf("--pursuit does not apply to a %s model with the %s loss", s.Name, s.Loss)
				}
				if err := fitWith.Config.Pursuit.UnmarshalText([]byte(pursuit)); err != nil {
					return fmt.Errorf("--pursuit: %w", err)
				}
			}
			if err := fitWith.Validate(); err != nil {
				return err
			}
			fit := func(ds *dataset.Dataset) ([]model.User, error) {
				if err := datafile.MatchFeatures(data, ds, m); err != nil {
					return nil, err
				}
				users, err := method.Personalize(c.Context(), &fitWith, ds, method.PersonalizeOptions{Workers: workers})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", data, err)
				}
				return users, nil
			}
			var users []model.User
			if pack.IsPath(data) {
				// Packed files may be larger than memory: stream them.
				p, err := datafile.OpenPacked(data, cols.options(true))
				if err != nil {
					return err
				}
				defer p.Close()
				progress, done := usersProgress(c, "personalize "+data)
				err = datafile.ForEachChunk(c.Context(), p, datafile.DefaultChunkBytes, progress, func(chunk *dataset.Dataset) error {
					u, err := fit(chunk)
					users = append(users, u...)
					return err
				})
				done()
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
			if err := saveModel(c.Context(), out, m); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "personalized %d users (%d new, %d refitted); wrote %s\n", len(users), added, len(users)-added, out)
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().StringVar(&data, "data", "", "the users' samples: CSV, Parquet or .lrspd (required)")
	c.Flags().StringVar(&out, "out", "", "model file to write, may equal --model (required)")
	c.Flags().StringVar(&pursuit, "pursuit", "", "support search for b: "+strings.Join(fit.Pursuits(), ", ")+" (default: the model's)")
	c.Flags().Float64Var(&ridge, "ridge", 0, "per-user ridge penalty (default: the model's)")
	c.Flags().IntVar(&workers, "workers", 0, "parallel workers (0: one per CPU); the users do not depend on it")
	cols.register(c)
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("out")
	return c
}
