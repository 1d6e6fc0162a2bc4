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

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
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

// readData reads the data at path, showing a progress bar on a terminal.
// The format follows the path: a ".parquet" file or a directory of them is
// Parquet, anything else CSV.
func readData(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions) (*dataset.Dataset, error) {
	if path == "" {
		return nil, fmt.Errorf("--data is required")
	}
	switch {
	case dataset.IsParquetPath(path):
		return readParquetData(ctx, c, path, opt)
	case pack.IsPath(path):
		return readPacked(ctx, path, opt)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if st, err := f.Stat(); err == nil && isTerminal(c.ErrOrStderr()) && st.Size() > 4<<20 {
		bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(c.ErrOrStderr()),
			progressbar.OptionSetDescription("read "+path), progressbar.OptionShowBytes(true),
			progressbar.OptionClearOnFinish())
		defer bar.Finish()
		pr := progressbar.NewReader(f, bar)
		r = &pr
	}
	ds, err := dataset.ReadCSV(ctx, r, path, opt)
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// readParquetData reads a Parquet file or directory, showing rows read on
// a terminal.
func readParquetData(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions) (*dataset.Dataset, error) {
	files, err := dataset.ParquetFiles(path)
	if err != nil {
		return nil, err
	}
	popt := dataset.ParquetOptions{Columns: opt}
	if isTerminal(c.ErrOrStderr()) {
		var bar *progressbar.ProgressBar
		popt.Progress = func(done, total int64) {
			if bar == nil {
				if total < 1<<20 {
					return
				}
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(c.ErrOrStderr()),
					progressbar.OptionSetDescription("read "+path), progressbar.OptionSetItsString("rows"),
					progressbar.OptionShowIts(), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			bar.Set64(done)
		}
		defer func() {
			if bar != nil {
				bar.Finish()
			}
		}()
	}
	return dataset.ReadParquet(ctx, files, popt)
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
