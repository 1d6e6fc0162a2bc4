package main

import (
	"context"
	"fmt"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

// packedChunkBytes is the feature data that eval, predict and personalize
// hold at a time when they stream a packed file.
const packedChunkBytes = 64 << 20

// scanPackedChunks calls fn with the users of the packed file p, a chunk of
// about chunkBytes of features at a time (see pack.File.Chunks for what fn
// may keep). On a terminal it shows the users done, described by what.
func scanPackedChunks(ctx context.Context, c *cobra.Command, p *pack.File, what string, chunkBytes int,
	fn func(chunk *dataset.Dataset) error) error {
	var bar *progressbar.ProgressBar
	if isTerminal(c.ErrOrStderr()) {
		bar = progressbar.NewOptions(p.NumUsers(), progressbar.OptionSetWriter(c.ErrOrStderr()),
			progressbar.OptionSetDescription(what), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		defer bar.Finish()
	}
	for chunk, err := range p.Chunks(ctx, int64(chunkBytes)) {
		if err != nil {
			return err
		}
		if err := fn(chunk); err != nil {
			return err
		}
		if bar != nil {
			bar.Add(len(chunk.Users))
		}
	}
	return nil
}

// predictData reads the data at path and predicts every sample with m; a
// packed file is streamed (see predictPacked), other formats are read whole.
func predictData(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions, m *model.Model,
	policy eval.Unknown) (*dataset.Dataset, []float64, error) {
	if pack.IsPath(path) {
		return predictPacked(ctx, c, path, opt, m, policy, packedChunkBytes)
	}
	ds, err := readData(ctx, c, path, opt)
	if err != nil {
		return nil, nil, err
	}
	pred, err := eval.Predict(m, ds, policy)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ds, pred, nil
}

// predictPacked predicts every sample of the packed file at path with m, a
// chunk of users at a time, so that a file larger than memory can be scored
// or predicted: it holds every target, row index and prediction (24 bytes
// a sample) but the features of one chunk only. It returns the data without
// features, which is what eval.Score, eval.Classify and writePredictions
// read, and the predictions indexed by sample.
func predictPacked(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions, m *model.Model,
	policy eval.Unknown, chunkBytes int) (*dataset.Dataset, []float64, error) {
	p, err := openPacked(path, opt)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	scores := &dataset.Dataset{Features: p.FeatureNames(), HasTarget: p.HasTargets(),
		Users: make([]dataset.User, 0, p.NumUsers())}
	pred := make([]float64, 0, p.Samples())
	pr := eval.NewPredictor(m, policy)
	err = scanPackedChunks(ctx, c, p, "predict "+path, chunkBytes, func(chunk *dataset.Dataset) error {
		cp, err := pr.Predict(chunk)
		if err != nil {
			return err
		}
		for _, u := range chunk.Users {
			rows := u.Rows // chunk rows -> rows of the whole file
			for s := range rows {
				rows[s] += len(pred)
			}
			scores.Users = append(scores.Users, dataset.User{ID: u.ID, Y: u.Y, Rows: rows})
		}
		pred = append(pred, cp...)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return scores, pred, nil
}
