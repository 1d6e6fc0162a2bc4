package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// bruteAUC counts, over all positive-negative pairs, those ranked
// correctly, ties counting one half.
func bruteAUC(p, y []float64) float64 {
	var num, den float64
	for i := range p {
		for j := range p {
			if y[i] != 1 || y[j] == 1 {
				continue
			}
			den++
			switch {
			case p[i] > p[j]:
				num++
			case p[i] == p[j]:
				num += 0.5
			}
		}
	}
	return num / den
}

func TestROCAUC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		p, y []float64
		want float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []float64{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5}, []float64{0, 1, 1}, 0.5},
		{"one class", []float64{0.1, 0.2}, []float64{1, 1}, math.NaN()},
	} {
		got := ROCAUC(tc.p, tc.y)
		if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%s: AUC %v, want %v", tc.name, got, tc.want)
		}
	}
	// Random scores with many ties against the pairwise count.
	for trial := 0; trial < 20; trial++ {
		n := 5 + rng.IntN(60)
		p, y := make([]float64, n), make([]float64, n)
		for i := range p {
			p[i] = float64(rng.IntN(7)) / 7
			if rng.Float64() < 0.3 {
				y[i] = 1
			}
		}
		y[0], y[1] = 0, 1
		if got, want := ROCAUC(p, y), bruteAUC(p, y); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUC %v, pairwise count %v", trial, got, want)
		}
	}
}

func TestClassifyAndLogisticPredict(t *testing.T) {
	// One user, one feature, theta = 2: probabilities sigmoid(2x).
	m := &model.Model{Method: model.MethodLocal, Dim: 1, Sparsity: 1, Features: []string{"x"}, U: []float64{},
		Loss: model.LossLogistic, Users: []model.User{{ID: "a", W: []float64{}, Index: []int32{0}, Value: []float64{2}}}}
	b := dataset.NewBuilder([]string{"x"}, true)
	xs, ys := []float64{-1, 0, 0.5, 2}, []float64{0, 1, 0, 1}
	for i := range xs {
		b.Add("a", []float64{xs[i]}, ys[i], i)
	}
	ds := b.Dataset()
	pred, err := Predict(m, ds, UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	ll := 0.0
	for i, x := range xs {
		p := 1 / (1 + math.Exp(-2*x))
		if math.Abs(pred[i]-p) > 1e-15 {
			t.Fatalf("row %d: prediction %v, want sigmoid %v", i, pred[i], p)
		}
		if ys[i] == 1 {
			ll -= math.Log(p)
		} else {
			ll -= math.Log(1 - p)
		}
	}
	c, err := Classify(ds, pred)
	if err != nil {
		t.Fatal(err)
	}
	// Predictions 0.12, 0.5, 0.73, 0.98 for labels 0, 1, 0, 1: correct at
	// 0.12 and 0.98, and 0.5 counts as predicting 1.
	if math.Abs(c.LogLoss-ll/4) > 1e-12 || c.Accuracy != 0.75 || math.Abs(c.AUC-0.75) > 1e-12 || c.MeanUserAUC != c.AUC || c.AUCUsers != 1 {
		t.Fatalf("classification %+v, want log loss %v, accuracy 0.75, AUC 0.75", c, ll/4)
	}
	pred[0] = 1.5
	if _, err := Classify(ds, pred); err == nil {
		t.Fatal("Classify accepted a probability of 1.5")
	}
}
