package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
)

// dataFlags are the column options shared by every subcommand that reads data.
type dataFlags struct {
	user, target string
	features     []string
	ignore       []string
}

func (f *dataFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.user, "user-column", "user", "name of the user column")
	c.Flags().StringVar(&f.target, "target-column", "y", "name of the target column")
	c.Flags().StringSliceVar(&f.features, "features", nil, "feature columns in order (default: every other column)")
	c.Flags().StringSliceVar(&f.ignore, "ignore", nil, "columns to leave out when --features is not given")
}

func (f *dataFlags) options(requireTarget bool) dataset.CSVOptions {
	return dataset.CSVOptions{UserColumn: f.user, TargetColumn: f.target, Features: f.features, Ignore: f.ignore, RequireTarget: requireTarget}
}

// readData reads the data at path (see datafile.Read), showing a progress
// bar on a terminal.
func readData(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions) (*dataset.Dataset, error) {
	if path == "" {
		return nil, fmt.Errorf("--data is required")
	}
	o, done := readOptions(c, path, opt)
	defer done()
	return datafile.Read(ctx, path, o)
}

// readOptions returns the options that read path with the columns of opt
// and, on a terminal, a progress bar for a CSV file larger than 4 MB or
// Parquet data of a million rows or more; done ends the bar.
func readOptions(c *cobra.Command, path string, opt dataset.CSVOptions) (o datafile.Options, done func()) {
	o.Columns = opt
	errw := c.ErrOrStderr()
	if !isTerminal(errw) {
		return o, func() {}
	}
	var bar *progressbar.ProgressBar
	o.Bytes = func(n, total int64) {
		if bar == nil && total > 4<<20 {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(errw),
				progressbar.OptionSetDescription("read "+path), progressbar.OptionShowBytes(true),
				progressbar.OptionClearOnFinish())
		}
		if bar != nil {
			bar.Set64(n)
		}
	}
	o.Rows = func(n, total int64) {
		if bar == nil && total >= 1<<20 {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(errw),
				progressbar.OptionSetDescription("read "+path), progressbar.OptionSetItsString("rows"),
				progressbar.OptionShowIts(), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		}
		if bar != nil {
			bar.Set64(n)
		}
	}
	return o, func() {
		if bar != nil {
			bar.Finish()
		}
	}
}

// isTerminal reports whether w is a terminal, for progress display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// oneOf returns the position of v in choices, or an error naming the flag.
func oneOf(flag, v string, choices ...string) (int, error) {
	for i, c := range choices {
		if v == c {
			return i, nil
		}
	}
	return 0, fmt.Errorf("--%s %q: want one of %s", flag, v, strings.Join(choices, ", "))
}
