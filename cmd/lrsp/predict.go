package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/mixed"
	"github.com/lrsp/lrsp/model"
)

func unknownPolicy(s string) (eval.Unknown, error) {
	i, err := oneOf("unknown", s, "error", "global")
	return eval.Unknown(i), err
}

// checkUnknown refuses --unknown global for a model trained with
// differential privacy (see eval.CheckUnknown).
func checkUnknown(m *model.Model, policy eval.Unknown) error {
	if err := eval.CheckUnknown(m, policy); err != nil {
		return fmt.Errorf("--unknown global: %w", err)
	}
	return nil
}

// predictIntervals reads the data at path and returns the columns
// prediction, lower and upper of m's predictive intervals at level (see
// mixed.Intervals).
func predictIntervals(c *cobra.Command, path string, opt dataset.CSVOptions, m *model.Model, level float64) (*dataset.Dataset, []datafile.Column, error) {
	if !(level > 0 && level < 1) {
		return nil, nil, fmt.Errorf("--interval %v must be in (0, 1)", level)
	}
	ds, err := readData(c.Context(), c, path, opt)
	if err != nil {
		return nil, nil, err
	}
	pred, lo, hi, err := mixed.Intervals(m, ds, level)
	if err != nil {
		return nil, nil, fmt.Errorf("--interval: %s: %w", path, err)
	}
	return ds, []datafile.Column{{Name: "prediction", Values: pred}, {Name: "lower", Values: lo}, {Name: "upper", Values: hi}}, nil
}

func newPredictCmd() *cobra.Command {
	var data, in, out, unknown string
	var interval float64
	var cols dataFlags
	c := &cobra.Command{
		Use:   "predict",
		Short: "Predict every row of a data file",
		Long: `predict writes one row per input row, in input order, with columns user,prediction
and y when the input has the target. A user the model does not know is an error unless
--unknown global is given, which predicts with theta_0 + U * mean(w_i), the average user.
--unknown global is refused for a model trained with --dp-*: the mean of the users' w is
an un-noised average of private data that the privacy ledger does not cover.`,
		Example: "  lrsp predict --model model.lrsp --data test.csv --out predictions.csv",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			policy, err := unknownPolicy(unknown)
			if err != nil {
				return err
			}
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			if err := checkUnknown(m, policy); err != nil {
				return err
			}
			var write func(w io.Writer) error
			if interval != 0 {
				ds, out, err := predictIntervals(c, data, cols.options(false), m, interval)
				if err != nil {
					return err
				}
				write = func(w io.Writer) error { return datafile.WriteColumns(w, ds, out) }
			} else {
				ds, pred, err := predictData(c.Context(), c, data, cols.options(false), m, policy)
				if err != nil {
					return err
				}
				write = func(w io.Writer) error { return datafile.WritePredictions(w, ds, pred) }
			}
			if out == "" || out == "-" {
				return write(c.OutOrStdout())
			}
			return atomicfile.WriteContext(c.Context(), out, write)
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().StringVar(&data, "data", "", "data to predict: CSV, Parquet or .lrspd (required)")
	c.Flags().StringVar(&out, "out", "-", "predictions CSV to write (- for standard output)")
	c.Flags().StringVar(&unknown, "unknown", "error", "unknown users: error, or global (the average user; refused for a model trained with --dp-*)")
	c.Flags().Float64Var(&interval, "interval", 0, "mixed models: add columns lower,upper, the central predictive interval at this level (e.g. 0.9) for a new target of the user")
	cols.register(c)
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("data")
	return c
}
