package synth

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/pack"
)

// Files names the files that WriteFiles and WritePacked write generated
// data to. Only Train must be set; see WithDefaults for the others.
type Files struct {
	// Train is the training users' training samples.
	Train string
	// New is the new users' samples, written when there are new users;
	// empty means Train with "-new" before its extension.
	New string
	// Test is the held-out samples, written when there are any; empty
	// means Train with "-test" before its extension. When NewTest is set
	// it holds those of the training users only.
	Test string
	// NewTest, when set, receives the held-out samples of the new users
	// (written only when there are new users), so that they can be scored
	// apart from the training users'. Empty keeps every user's in Test.
	NewTest string
	// Truth is the truth JSON (U* and every user's w and b) to write;
	// empty writes none.
	Truth string
}

// Sibling returns path with suffix inserted before its extension:
// Sibling("data.csv", "-test") is "data-test.csv".
func Sibling(path, suffix string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + suffix + ext
}

// WithDefaults returns f with the default names of New and Test (siblings
// of Train) filled in where they are empty.
func (f Files) WithDefaults() Files {
	if f.New == "" {
		f.New = Sibling(f.Train, "-new")
	}
	if f.Test == "" {
		f.Test = Sibling(f.Train, "-test")
	}
	return f
}

// WriteFiles writes the parts of d as CSV files named by f.WithDefaults():
// the training data always, the new users' data when d.New is not nil, the
// held-out samples when d.Test is not nil (split between Test and NewTest
// when NewTest is set), and the truth when f.Truth is set. Each file is
// written atomically; an error leaves the files written before it.
func WriteFiles(d *Data, f Files) error {
	f = f.WithDefaults()
	if err := writeCSV(f.Train, d.Train); err != nil {
		return err
	}
	if d.New != nil {
		if err := writeCSV(f.New, d.New); err != nil {
			return err
		}
	}
	if d.Test != nil {
		test, newTest := d.Test, (*dataset.Dataset)(nil)
		if f.NewTest != "" {
			test, newTest = dataset.SplitUsers(d.Test, d.Train)
		}
		if err := writeCSV(f.Test, test); err != nil {
			return err
		}
		if newTest != nil && d.New != nil {
			if err := writeCSV(f.NewTest, newTest); err != nil {
				return err
			}
		}
	}
	if f.Truth != "" {
		return writeJSON(f.Truth, d.Truth)
	}
	return nil
}

// writeCSV writes ds to the CSV file at path atomically.
func writeCSV(path string, ds *dataset.Dataset) error {
	return atomicfile.Write(path, func(w io.Writer) error { return dataset.WriteCSV(w, ds) })
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

// WritePacked draws the data of o as Stream does and writes it user by
// user into packed files (see package pack) with features stored at
// precision prec, never holding the samples in memory: f.Train always,
// f.New with new users and f.Test with held-out samples (names defaulted
// by WithDefaults; with f.NewTest set and new users, the new users'
// held-out samples go there instead of f.Test). The truth file, when f.Truth is set, is JSON and holds
// every user. WritePacked stops with ctx's error when ctx is done; an error
// while drawing leaves none of the packed files.
func WritePacked(ctx context.Context, o Options, prec pack.Precision, f Files) error {
	f = f.WithDefaults()
	// The writers of the training, new, test and new users' test data.
	paths := [4]string{f.Train, f.New, f.Test, f.NewTest}
	var ws [4]*pack.Writer
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.Abort()
			}
		}
	}()
	splitTest := f.NewTest != "" && o.NewUsers > 0 && o.TestSamples > 0
	need := [4]bool{true, o.NewUsers > 0, o.TestSamples > 0, splitTest}
	features := FeatureNames(o.Dim)
	for p, path := range paths {
		if !need[p] {
			continue
		}
		w, err := pack.Create(path, features, true, prec)
		if err != nil {
			return err
		}
		ws[p] = w
	}
	rows := [4]int{}
	n := 0
	// Stream emits a user's held-out samples right after its others.
	userPart := PartTrain
	truth, err := Stream(o, f.Truth != "", func(part Part, id string, x, y []float64) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		p := int(part)
		switch {
		case part != PartTest:
			userPart = part
		case splitTest && userPart == PartNew:
			p = 3
		}
		r := make([]int, len(y))
		for s := range r {
			r[s] = rows[p] + s
		}
		rows[p] += len(y)
		return ws[p].Add(id, x, y, r)
	})
	if err != nil {
		return err
	}
	for p, w := range ws {
		if w == nil {
			continue
		}
		ws[p] = nil
		if err := w.Close(); err != nil {
			return err
		}
	}
	if f.Truth != "" {
		return writeJSON(f.Truth, truth)
	}
	return nil
}
