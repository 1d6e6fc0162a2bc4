// Command lrsp trains, personalizes and applies low-rank + sparse
// personalized linear models.
//
// Run "lrsp help" for the subcommands, or "lrsp demo" for a self-contained
// run on synthetic data.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "lrsp: interrupted; nothing was written")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "lrsp:", err)
		os.Exit(1)
	}
}

// newRoot builds the command tree writing to stdout and stderr; tests call
// it directly.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lrsp",
		Short: "Low-rank + sparse personalization of linear models",
		Long: `lrsp learns one linear model per user, theta_i = U w_i + b_i, where U (d x r)
is shared by all users, w_i has r numbers and b_i at most k non-zeros, with
AMHT-LRS (alternating minimization with hard thresholding). New users are
personalized from a few samples with U fixed.

Start with "lrsp demo".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Read().String(),
		// Subcommands define no PersistentPreRun of their own.
		PersistentPreRun: func(c *cobra.Command, _ []string) { warnRenamed(c) },
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newSynthCmd(),
		newSynthNeuralCmd(),
		newTrainCmd(),
		newPersonalizeCmd(),
		newPredictCmd(),
		newEvalCmd(),
		newInspectCmd(),
		newDemoCmd(),
		newPackCmd(),
		newExperimentCmd(),
		newStoreCmd(),
		newServeCmd(),
		newLoadtestCmd(),
		newCompareCmd(),
		newPrivacyCmd(),
		newVersionCmd(),
	)
	return root
}

// writeJSON writes v as indented JSON (one space) to the file at path
// atomically.
func writeJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(v)
	})
}
