package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

// evalReport is the JSON output of lrsp eval.
type evalReport struct {
	Errors *eval.Errors `json:"errors,omitempty"`
	// Classification replaces Errors for a model with the logistic loss.
	Classification *eval.Classification `json:"classification,omitempty"`
	Recovery       *eval.Recovery       `json:"recovery,omitempty"`
}

func newEvalCmd() *cobra.Command {
	var data, in, truth, unknown string
	var asJSON bool
	var cols dataFlags
	c := &cobra.Command{
		Use:     "eval",
		Short:   "Score a model on data with targets, and against the truth of synthetic data",
		Example: "  lrsp eval --model model.lrsp --data test.csv --truth truth.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			policy, err := unknownPolicy(unknown)
			if err != nil {
				return err
			}
			if data == "" && truth == "" {
				return fmt.Errorf("give --data, --truth or both")
			}
			m, err := model.Load(in)
			if err != nil {
				return err
			}
			if err := checkUnknown(m, policy); err != nil {
				return err
			}
			var rep evalReport
			if data != "" {
				ds, pred, err := predictData(c.Context(), c, data, cols.options(true), m, policy)
				if err != nil {
					return err
				}
				if m.Loss == model.LossLogistic {
					cl, err := eval.Classify(ds, pred)
					if err != nil {
						return fmt.Errorf("%s: %w", data, err)
					}
					rep.Classification = &cl
				} else {
					e, err := eval.Score(ds, pred)
					if err != nil {
						return err
					}
					rep.Errors = &e
				}
			}
			if truth != "" {
				t, err := synth.ReadTruth(truth)
				if err != nil {
					return err
				}
				r, err := eval.CompareTruth(m, t)
				if err != nil {
					return fmt.Errorf("%s: %w", truth, err)
				}
				rep.Recovery = &r
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printReport(c.OutOrStdout(), &rep)
			return nil
		},
	}
	c.Flags().StringVar(&in, "model", "", "model file (required)")
	c.Flags().StringVar(&data, "data", "", "data with targets to score (CSV, Parquet or .lrspd)")
	c.Flags().StringVar(&truth, "truth", "", "truth JSON of synthetic data")
	c.Flags().StringVar(&unknown, "unknown", "error", "unknown users: error, or global (the average user; refused for a model trained with --dp-*)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cols.register(c)
	c.MarkFlagRequired("model")
	return c
}

func printReport(w io.Writer, rep *evalReport) {
	if e := rep.Errors; e != nil {
		fmt.Fprintf(w, "samples %d, users %d\nRMSE %.6g  MAE %.6g  R^2 %.6g\n", e.Samples, e.Users, e.RMSE, e.MAE, e.R2)
		printQuantiles(w, "per-user RMSE", e.UserRMSE)
	}
	if e := rep.Classification; e != nil {
		printClassification(w, e)
	}
	if r := rep.Recovery; r != nil {
		fmt.Fprintf(w, "users compared with truth %d\nrelative parameter error %.3g\nsubspace distance %.3g\nexact support recovered %.4g (%d of %d users)\n",
			r.Users, r.ParamError, r.SubspaceDistance, r.SupportRecovered, int(r.SupportRecovered*float64(r.Users)+0.5), r.Users)
		printQuantiles(w, "per-user parameter error", r.UserParamError)
	}
}

func printQuantiles(w io.Writer, name string, q eval.Quantiles) {
	fmt.Fprintf(w, "%s: min %.4g  p10 %.4g  median %.4g  p90 %.4g  max %.4g\n", name, q.Min, q.P10, q.Median, q.P90, q.Max)
}
