// Package datafile reads the data files that lrsp takes, whatever their
// format, and predicts or writes predictions for them. The format follows
// the path: a ".parquet" file or a directory of them is Parquet (package
// dataset), a ".lrspd" file is packed (package pack), anything else CSV.
//
// Packed files may be larger than memory: Predict and ForEachChunk stream
// them a chunk of users at a time, where Read loads every format whole.
package datafile

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

// DefaultChunkBytes is the feature data that Predict holds at a time when
// it streams a packed file and PredictOptions.ChunkBytes is 0.
const DefaultChunkBytes = 64 << 20

// Options configure Read. The zero value reads the columns by
// dataset.CSVOptions' defaults and reports no progress.
type Options struct {
	// Columns selects the user, target and feature columns. A packed file
	// fixes its columns: Columns.Features may only restate them, and
	// Columns.RequireTarget requires the file to have targets.
	Columns dataset.CSVOptions
	// Bytes, when not nil, is called as a CSV file is read, with the bytes
	// read so far and the file's size; nil reports nothing.
	Bytes func(done, total int64)
	// Rows, when not nil, is called as Parquet data are read, with the
	// rows read so far and their total (see dataset.ParquetOptions); nil
	// reports nothing.
	Rows func(done, total int64)
}

// Read reads the data at path into memory, in the format its path names
// (see the package comment).
func Read(ctx context.Context, path string, o Options) (*dataset.Dataset, error) {
	switch {
	case dataset.IsParquetPath(path):
		files, err := dataset.ParquetFiles(path)
		if err != nil {
			return nil, err
		}
		return dataset.ReadParquet(ctx, files, dataset.ParquetOptions{Columns: o.Columns, Progress: o.Rows})
	case pack.IsPath(path):
		p, err := OpenPacked(path, o.Columns)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		return p.ReadAll(ctx)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if o.Bytes != nil {
		if st, err := f.Stat(); err == nil {
			r = &countingReader{r: f, total: st.Size(), report: o.Bytes}
		}
	}
	return dataset.ReadCSV(ctx, r, path, o.Columns)
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r           io.Reader
	done, total int64
	report      func(done, total int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.done += int64(n)
	c.report(c.done, c.total)
	return n, err
}

// OpenPacked opens the packed file at path, checking that its columns are
// those cols asks for: cols.Features, when set, must equal the file's
// features, and with cols.RequireTarget the file must have targets.
func OpenPacked(path string, cols dataset.CSVOptions) (*pack.File, error) {
	p, err := pack.Open(path)
	if err != nil {
		return nil, err
	}
	if cols.Features != nil && !slices.Equal(cols.Features, p.FeatureNames()) {
		p.Close()
		return nil, fmt.Errorf("%s: --features cannot select columns of a packed file; it holds %s", path, Short(p.FeatureNames()))
	}
	if cols.RequireTarget && !p.HasTargets() {
		p.Close()
		return nil, fmt.Errorf("%s: the packed data have no targets", path)
	}
	return p, nil
}

// Short formats a list of names for a message: all of them when there are
// at most eight, else the first eight and their number.
func Short(names []string) string {
	if len(names) > 8 {
		return fmt.Sprint(names[:8], " ... (", len(names), ")")
	}
	return fmt.Sprint(names)
}

// ForEachChunk calls fn with the users of the packed file p, a chunk of
// about chunkBytes of features at a time (see pack.File.Chunks for what fn
// may keep), and, when progress is not nil, progress with the users done
// and their total: once before the first chunk and after every chunk. It
// stops at the first error of reading or of fn.
func ForEachChunk(ctx context.Context, p *pack.File, chunkBytes int64, progress func(done, total int),
	fn func(chunk *dataset.Dataset) error) error {
	done := 0
	if progress != nil {
		progress(0, p.NumUsers())
	}
	for chunk, err := range p.Chunks(ctx, chunkBytes) {
		if err != nil {
			return err
		}
		if err := fn(chunk); err != nil {
			return err
		}
		if done += len(chunk.Users); progress != nil {
			progress(done, p.NumUsers())
		}
	}
	return nil
}

// PredictOptions configure Predict. The zero value reads by Options' zero
// value, refuses users the model does not know and streams packed files
// DefaultChunkBytes at a time.
type PredictOptions struct {
	Options
	// Unknown is the policy for users the model does not know.
	Unknown eval.Unknown
	// ChunkBytes bounds the features held at a time when a packed file is
	// streamed; 0 means DefaultChunkBytes.
	ChunkBytes int64
	// Users, when not nil, reports the users predicted so far and their
	// total as a packed file is streamed (see ForEachChunk).
	Users func(done, total int)
}

// Predict reads the data at path and predicts every sample with m,
// returning the data and the predictions indexed by input row (for a
// packed file, the row numbers it records, which pack.Open checks are
// 0..n-1). A packed
// file is streamed a chunk of users at a time, so that a file larger than
// memory can be scored or predicted: Predict then holds every target, row
// index and prediction (24 bytes a sample) but the features of one chunk
// only, and returns the data without features, which is what eval.Score,
// eval.Classify and WritePredictions read. Other formats are read whole.
// The data's features are matched to the model's by name (see
// MatchFeatures). Errors of prediction name path.
func Predict(ctx context.Context, path string, m *model.Model, o PredictOptions) (*dataset.Dataset, []float64, error) {
	if !pack.IsPath(path) {
		ds, err := Read(ctx, path, o.Options)
		if err != nil {
			return nil, nil, err
		}
		if err := MatchFeatures(path, ds, m); err != nil {
			return nil, nil, err
		}
		pred, err := eval.Predict(m, ds, o.Unknown)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return ds, pred, nil
	}
	p, err := OpenPacked(path, o.Columns)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	if err := MatchFeatures(path, &dataset.Dataset{Features: p.FeatureNames()}, m); err != nil {
		return nil, nil, err
	}
	scores := &dataset.Dataset{Features: p.FeatureNames(), HasTarget: p.HasTargets(),
		Users: make([]dataset.User, 0, p.NumUsers())}
	pred := make([]float64, p.Samples())
	pr := eval.NewPredictor(m, o.Unknown)
	chunkBytes := o.ChunkBytes
	if chunkBytes == 0 {
		chunkBytes = DefaultChunkBytes
	}
	err = ForEachChunk(ctx, p, chunkBytes, o.Users, func(chunk *dataset.Dataset) error {
		if err := chunk.Reorder(Inputs(m)); err != nil {
			return err
		}
		cp, err := pr.Predict(chunk)
		if err != nil {
			return err
		}
		for _, u := range chunk.Users {
			// chunk rows -> the input rows the file records
			in := p.InputRows(len(scores.Users))
			for s, r := range u.Rows {
				pred[in[s]] = cp[r]
				u.Rows[s] = in[s]
			}
			scores.Users = append(scores.Users, dataset.User{ID: u.ID, Y: u.Y, Rows: u.Rows})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return scores, pred, nil
}

// Inputs returns the names of the features that m takes: m.Features, or
// the network's inputs for a model with a network.
func Inputs(m *model.Model) []string {
	if m.Network != nil {
		return m.Network.Inputs
	}
	return m.Features
}

// MatchFeatures puts the feature columns of ds, read from path, into the
// order of m's inputs (see Inputs), matching them by name, so that data
// whose columns come in another order are read right. A feature of m
// missing from ds, or a feature of ds that m lacks, is an error naming
// path and the features.
func MatchFeatures(path string, ds *dataset.Dataset, m *model.Model) error {
	if err := ds.Reorder(Inputs(m)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WritePredictions writes the predictions pred of the samples of ds
// (indexed by sample row, as Predict returns them) as CSV, one row per
// sample in row order, with columns user and prediction, and y when ds has
// targets. Numbers are written in the shortest form that reads back
// exactly.
func WritePredictions(w io.Writer, ds *dataset.Dataset, pred []float64) error {
	return WriteColumns(w, ds, []Column{{Name: "prediction", Values: pred}})
}

// Column is a named output column of WriteColumns, indexed by sample row.
type Column struct {
	Name   string
	Values []float64
}

// WriteColumns is WritePredictions with several columns after user (such
// as prediction, lower and upper), each indexed by sample row; y follows
// them when ds has targets.
func WriteColumns(w io.Writer, ds *dataset.Dataset, cols []Column) error {
	type ref struct{ u, j int }
	n := 0
	if len(cols) > 0 {
		n = len(cols[0].Values)
	}
	order := make([]ref, n)
	for i := range ds.Users {
		for j, r := range ds.Users[i].Rows {
			order[r] = ref{i, j}
		}
	}
	cw := csv.NewWriter(w)
	head := []string{"user"}
	for _, c := range cols {
		if len(c.Values) != n {
			return fmt.Errorf("datafile: column %s has %d values, want %d", c.Name, len(c.Values), n)
		}
		head = append(head, c.Name)
	}
	if ds.HasTarget {
		head = append(head, "y")
	}
	cw.Write(head)
	rec := make([]string, len(head))
	for row, o := range order {
		u := &ds.Users[o.u]
		rec[0] = u.ID
		for c := range cols {
			rec[1+c] = strconv.FormatFloat(cols[c].Values[row], 'g', -1, 64)
		}
		if ds.HasTarget {
			rec[len(rec)-1] = strconv.FormatFloat(u.Y[o.j], 'g', -1, 64)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
