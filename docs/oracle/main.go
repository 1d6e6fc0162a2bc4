// Command oracle measures how far a learned basis U is from the best that
// any basis could do on synthetic data: it fits every user of a data set
// (CSV, Parquet or packed) with U fixed, by the same per-user solver as
// "lrsp personalize", once with the true U* from the generator's truth file
// and, with -model, once with the U of a trained model, and writes both
// fits as model files that "lrsp eval --truth" can score.
//
// Usage:
//
//	go run ./docs/oracle --data o10k.lrspd --truth t10k.json --model m1m.lrsp --out /tmp/oracle
//
// With few samples per user the per-user support search cannot recover
// every user even with U*; the oracle's training MSE and parameter error
// are then the noise floor that training can reach, not sigma^2.
//
// Every user of --data must be in --truth. The true U* and a trained U are
// compared on the same users, so --data may be a prefix of the training
// data (lrsp synth draws U* first and users in order, so a run with fewer
// --users and the same --seed writes the first users of a larger one).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

func main() {
	data := flag.String("data", "", "users to fit: CSV or packed .lrspd (required)")
	truthPath := flag.String("truth", "", "truth JSON written by lrsp synth --truth (required)")
	trained := flag.String("model", "", "a trained model whose U to compare with U* (optional)")
	out := flag.String("out", ".", "directory for oracle.lrsp (and learned.lrsp with -model)")
	flag.Parse()
	if err := run(*data, *truthPath, *trained, *out); err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		os.Exit(1)
	}
}

func run(data, truthPath, trained, out string) error {
	if data == "" || truthPath == "" {
		return fmt.Errorf("--data and --truth are required")
	}
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		return err
	}
	ds, err := load(data)
	if err != nil {
		return err
	}
	if ds.Dim() != truth.D {
		return fmt.Errorf("%s has %d features, the truth %d", data, ds.Dim(), truth.D)
	}
	d, r := truth.D, truth.R
	ustar := make([]float64, d*r)
	for j := 0; j < d; j++ {
		copy(ustar[j*r:(j+1)*r], truth.U[j])
	}
	if err := fitWith(ds, truth, ustar, filepath.Join(out, "oracle.lrsp"), "U*"); err != nil {
		return err
	}
	if trained == "" {
		return nil
	}
	m, err := model.Load(trained)
	if err != nil {
		return err
	}
	if m.Dim != d || m.Rank != r {
		return fmt.Errorf("%s has d=%d r=%d, the truth d=%d r=%d", trained, m.Dim, m.Rank, d, r)
	}
	return fitWith(ds, truth, m.U, filepath.Join(out, "learned.lrsp"), "trained U")
}

// load reads a packed file whole or a CSV file.
func load(path string) (*dataset.Dataset, error) {
	if pack.IsPath(path) {
		f, err := pack.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.ReadAll(context.Background())
	}
	return dataset.ReadCSVFile(context.Background(), path, dataset.CSVOptions{})
}

// fitWith fits every user of ds with basis u fixed, writes the fits to path
// and prints their training MSE.
func fitWith(ds *dataset.Dataset, truth *synth.Truth, u []float64, path, name string) error {
	m := &model.Model{Method: model.MethodLRS, Dim: truth.D, Rank: truth.R, Sparsity: truth.K,
		Features: ds.Features, U: u}
	users, err := amht.Personalize(context.Background(), m, ds, amht.PersonalizeOptions{})
	if err != nil {
		return err
	}
	m.Users = users
	if err := model.Save(path, m); err != nil {
		return err
	}
	fmt.Printf("%s: wrote %s (%d users); score it with lrsp eval --model %s --truth ... --data ...\n",
		name, path, len(users), path)
	return nil
}
