package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/pack"
)

func newPackCmd() *cobra.Command {
	var data, out, precision string
	var cols dataFlags
	c := &cobra.Command{
		Use:   "pack",
		Short: "Write data in the packed per-user binary format that training streams from disk",
		Long: `pack converts CSV or Parquet data into a packed file (.lrspd): samples grouped by user,
features stored as float64 or float32, every user checksummed. Every subcommand reads packed
files; lrsp train streams them from disk, holding only the chunk of users being processed in
memory, so data larger than memory trains with bounded memory.

pack itself holds the input in memory once; lrsp synth --out data.lrspd writes packed data
directly, user by user.`,
		Example: "  lrsp pack --data data.csv --out data.lrspd --precision float32",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			prec, err := parsePrecision(precision)
			if err != nil {
				return err
			}
			if !pack.IsPath(out) {
				return fmt.Errorf("--out %q: packed files end in %s", out, pack.Ext)
			}
			ds, err := readData(c.Context(), c, data, cols.options(false))
			if err != nil {
				return err
			}
			if err := pack.WriteDataset(out, ds, prec); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "packed %d users, %d samples, d=%d (%s) into %s (%d bytes)\n",
				len(ds.Users), ds.Samples(), ds.Dim(), precision, out, st.Size())
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "CSV or Parquet data (required)")
	c.Flags().StringVar(&out, "out", "", "packed file to write (ending in "+pack.Ext+", required)")
	c.Flags().StringVar(&precision, "precision", "float64", "storage of features: float64 or float32")
	cols.register(c)
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("out")
	return c
}

func parsePrecision(s string) (pack.Precision, error) {
	i, err := oneOf("precision", s, "float64", "float32")
	return [...]pack.Precision{pack.Float64, pack.Float32}[i], err
}
