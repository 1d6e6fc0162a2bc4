package main

import (
	"context"
	"fmt"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/datafile"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// usersProgress returns a progress callback for users streamed from a
// packed file (see datafile.ForEachChunk): a bar described by what on a
// terminal; done ends the bar.
func usersProgress(c *cobra.Command, what string) (progress func(done, total int), done func()) {
	p := newProgress(c, progressbar.OptionSetDescription(what), progressbar.OptionShowCount())
	return func(n, total int) { p.step(int64(n), int64(total), "", "") }, p.finish
}

// predictData reads the data at path and predicts every sample with m (see
// datafile.Predict: a packed file is streamed), showing progress on a
// terminal.
func predictData(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions, m *model.Model,
	policy eval.Unknown) (*dataset.Dataset, []float64, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("--data is required")
	}
	o := datafile.PredictOptions{Unknown: policy}
	var readDone, usersDone func()
	o.Options, readDone = readOptions(c, path, opt)
	defer readDone()
	o.Users, usersDone = usersProgress(c, "predict "+path)
	defer usersDone()
	return datafile.Predict(ctx, path, m, o)
}
