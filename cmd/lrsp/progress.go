package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lrsp/lrsp/tune"
)

// progress shows the steps of a long operation on a command's stderr: on a
// terminal a bar, made at the first step with the options given and
// cleared when finished; elsewhere (a log file, a batch job) the line of
// each step that has one, so that long runs can be followed with tail -f.
type progress struct {
	w    io.Writer
	term bool
	opts []progressbar.Option
	bar  *progressbar.ProgressBar
}

// newProgress returns the progress display of c with the bar options opts.
func newProgress(c *cobra.Command, opts ...progressbar.Option) *progress {
	w := c.ErrOrStderr()
	return &progress{w: w, term: isTerminal(w),
		opts: append([]progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionClearOnFinish()}, opts...)}
}

// step sets the bar to n of total, described by desc unless it is empty;
// off a terminal it writes line unless it is empty.
func (p *progress) step(n, total int64, desc, line string) {
	if !p.term {
		if line != "" {
			fmt.Fprintln(p.w, line)
		}
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total, p.opts...)
	}
	if desc != "" {
		p.bar.Describe(desc)
	}
	_ = p.bar.Set64(n)
}

// status replaces the status line of a terminal with s ("" clears it);
// off a terminal it does nothing.
func (p *progress) status(s string) {
	if p.term {
		fmt.Fprint(p.w, "\r\033[K"+s)
	}
}

// finish ends the bar, if any.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// isTerminal reports whether w is a terminal, for progress display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// note shows s: on a terminal as the status line ("" clears it), elsewhere
// as a line of its own ("" writes nothing), so that long runs off a
// terminal show each step as it ends.
func (p *progress) note(s string) {
	if p.term {
		p.status(s)
		return
	}
	if s != "" {
		fmt.Fprintln(p.w, s)
	}
}

// candidateLine describes the n-th scored tuning candidate s of a method,
// the line of its row of the model-selection table: the tuned values, the
// validation score (criterion names it) and the time it took.
func candidateLine(what string, n int, s tune.Score, criterion string) string {
	score := fmt.Sprintf("validation %s %.6g", criterion, s.Criterion())
	if s.Err != "" {
		score = "failed: " + s.Err
	}
	return fmt.Sprintf("%s: candidate %d: rank %d, sparsity %d, ridge %.4g, center %v: %s (%.2f s)",
		what, n, s.Rank, s.Sparsity, s.Ridge, s.Center, score, s.Seconds)
}

// count returns n and noun, plural unless n is 1: "1 round", "2 rounds".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
