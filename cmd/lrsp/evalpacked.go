package main

import (
	"context"
	"fmt"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// evalChunkBytes is the feature data that predictPacked holds at a time
// for lrsp eval and lrsp predict.
const evalChunkBytes = 64 << 20

// predictPacked predicts every sample of the packed file at path with m, a
// chunk of users (about chunkBytes of features) at a time, so that a file
// larger than memory can be scored or predicted: it holds every target, row
// index and prediction (24 bytes a sample) but the features of one chunk
// only. It returns the data without features, which is what eval.Score,
// eval.Classify and writePredictions read, and the predictions indexed by
// sample.
func predictPacked(ctx context.Context, c *cobra.Command, path string, opt dataset.CSVOptions, m *model.Model,
	policy eval.Unknown, chunkBytes int) (*dataset.Dataset, []float64, error) {
	p, err := openPacked(path, opt)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	scores := &dataset.Dataset{Features: p.FeatureNames(), HasTarget: p.HasTargets(),
		Users: make([]dataset.User, 0, p.NumUsers())}
	chunk := &dataset.Dataset{Features: p.FeatureNames(), HasTarget: p.HasTargets()}
	pred := make([]float64, 0, p.Samples())
	pr := eval.NewPredictor(m, policy)
	var bar *progressbar.ProgressBar
	if isTerminal(c.ErrOrStderr()) {
		bar = progressbar.NewOptions(p.NumUsers(), progressbar.OptionSetWriter(c.ErrOrStderr()),
			progressbar.OptionSetDescription("eval "+path), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		defer bar.Finish()
	}
	flush := func() error {
		if len(chunk.Users) == 0 {
			return nil
		}
		cp, err := pr.Predict(chunk)
		if err != nil {
			return err
		}
		pred = append(pred, cp...)
		if bar != nil {
			bar.Add(len(chunk.Users))
		}
		chunk.Users = chunk.Users[:0]
		return nil
	}
	d, local := p.Dim(), 0
	var sc dataset.Scratch
	visit := func(i int, x, y []float64) error {
		n := p.UserLen(i)
		rows, global := make([]int, n), make([]int, n)
		for s := range rows {
			rows[s] = local + s
			global[s] = len(pred) + local + s
		}
		var ys []float64
		if p.HasTargets() {
			ys = append(ys, y...)
		}
		chunk.Users = append(chunk.Users, dataset.User{ID: p.UserID(i), X: append([]float64(nil), x[:n*d]...), Y: ys, Rows: rows})
		scores.Users = append(scores.Users, dataset.User{ID: p.UserID(i), Y: ys, Rows: global})
		local += n
		return nil
	}
	// Scan reads its whole range of users at once: hand it one chunk at a
	// time.
	for lo := 0; lo < p.NumUsers() && err == nil; {
		hi, size := lo, 0
		for hi < p.NumUsers() && (hi == lo || size < chunkBytes) {
			size += 8 * p.UserLen(hi) * d
			hi++
		}
		if err = ctx.Err(); err != nil {
			break
		}
		if err = p.Scan(lo, hi, &sc, visit); err == nil {
			err = flush()
		}
		lo, local = hi, 0
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return scores, pred, nil
}
