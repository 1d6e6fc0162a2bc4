package main

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
)

// dataFlags are the column options shared by every subcommand that reads data.
type dataFlags struct {
	user, target string
	features     []string
	ignore       []string
	na           []string
	delimiter    delimiter
	maxLineBytes int
}

func (f *dataFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.user, "user-column", "user", "name of the user column")
	c.Flags().StringVar(&f.target, "target-column", "y", "name of the target column")
	c.Flags().StringSliceVar(&f.features, "features", nil, "feature columns in order (default: every other column)")
	c.Flags().StringSliceVar(&f.ignore, "ignore", nil, "columns to leave out when --features is not given")
	c.Flags().StringSliceVar(&f.na, "na", nil, "CSV values that mean missing, e.g. NA,? (an empty field always does); a missing value is an error naming file, line and column")
	c.Flags().Var(&f.delimiter, "delimiter", `CSV field delimiter: one character, or "tab" (default ",")`)
	c.Flags().IntVar(&f.maxLineBytes, "max-line-bytes", dataset.DefaultMaxLineBytes, "longest CSV record in bytes; a longer one is an error (-1: no bound)")
}

func (f *dataFlags) options(requireTarget bool) dataset.CSVOptions {
	return dataset.CSVOptions{UserColumn: f.user, TargetColumn: f.target, Features: f.features, Ignore: f.ignore,
		RequireTarget: requireTarget, NA: f.na, Comma: rune(f.delimiter), MaxLineBytes: f.maxLineBytes}
}

// delimiter is the value of --delimiter: one character, or "tab"; 0 means
// the default, a comma.
type delimiter rune

func (d *delimiter) String() string {
	switch *d {
	case 0:
		return ""
	case '\t':
		return "tab"
	}
	return string(rune(*d))
}

func (d *delimiter) Set(s string) error {
	switch r := []rune(s); {
	case s == "tab" || s == `\t`:
		*d = '\t'
	case len(r) == 1 && r[0] != '"' && r[0] != '\r' && r[0] != '\n' && r[0] != utf8.RuneError:
		*d = delimiter(r[0])
	default:
		return fmt.Errorf("want one character other than a quote or a line break, or \"tab\"")
	}
	return nil
}

func (d *delimiter) Type() string { return "char" }

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
	desc := progressbar.OptionSetDescription("read " + path)
	bytes := newProgress(c, desc, progressbar.OptionShowBytes(true))
	rows := newProgress(c, desc, progressbar.OptionSetItsString("rows"), progressbar.OptionShowIts(), progressbar.OptionShowCount())
	o.Columns = opt
	o.Bytes = func(n, total int64) {
		if total > 4<<20 {
			bytes.step(n, total, "", "")
		}
	}
	o.Rows = func(n, total int64) {
		if total >= 1<<20 {
			rows.step(n, total, "", "")
		}
	}
	return o, func() { bytes.finish(); rows.finish() }
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
