package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/model"
)

func newInspectCmd() *cobra.Command {
	var in string
	var asJSON bool
	c := &cobra.Command{
		Use:     "inspect",
		Short:   "Summarise a model file, or dump it as JSON",
		Example: "  lrsp inspect --model model.lrsp\n  lrsp inspect --model model.lrsp --json > params.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				return enc.Encode(m.Dump())
			}
			st, err := os.Stat(in)
			if err != nil {
				return err
			}
			version, err := model.FileVersion(in)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "file        %s (%d bytes, format version %d)\n", in, st.Size(), version)
			fmt.Fprintf(w, "method      %s\n", m.Method)
			fmt.Fprintf(w, "d, r, k     %d, %d, %d\n", m.Dim, m.Rank, m.Sparsity)
			fmt.Fprintf(w, "users       %d\n", len(m.Users))
			fmt.Fprintf(w, "bytes/user  %.1f (r + k numbers and k indices; a dense theta_i would be %d)\n", m.BytesPerUser(), 8*m.Dim)
			fmt.Fprintf(w, "features    %s\n", datafile.Short(m.Features))
			if !m.Config.IsZero() {
				cfg, err := m.Config.Fields()
				if err != nil {
					return err
				}
				for _, k := range slices.Sorted(maps.Keys(cfg)) {
					fmt.Fprintf(w, "config      %s = %s\n", k, cfg[k])
				}
			}
			if p := m.Privacy; p != nil {
				fmt.Fprintf(w, "privacy     (%.4g, %.3g)-DP, user level: %s, clip %g, noise multiplier %.4g, %s, sample rate %g, accountant %s, init %s\n",
					p.Epsilon, p.Delta, p.Mechanism, p.Clip, p.NoiseMultiplier, count(p.Rounds, "round"), p.SampleRate, p.Accountant, p.Init)
			} else if why := m.Config.NotPrivate(); why != "" {
				fmt.Fprintf(w, "privacy     none: NOT PRIVATE, no (epsilon, delta) guarantee: %s\n", why)
			} else if m.Config.DP != nil && m.Config.DP.Noiseless {
				fmt.Fprintf(w, "privacy     none: NOT PRIVATE, no (epsilon, delta) guarantee: a noiseless run of the private algorithm\n")
			} else {
				fmt.Fprintf(w, "privacy     none (not trained with differential privacy)\n")
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "dump U and every user's w and b as JSON, in the layout of truth.json")
	c.MarkFlagRequired("model")
	return c
}
