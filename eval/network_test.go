package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// TestPredictNetwork checks that a model with a network predicts
// <phi(x), theta_i>, written out independently, and checks the data's
// features against the network's inputs.
func TestPredictNetwork(t *testing.T) {
	m := &model.Model{Method: model.MethodNeuralLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"h1", "h2"},
		U: []float64{0.6, 0.8}, Users: []model.User{{ID: "u", W: []float64{2}, Index: []int32{0}, Value: []float64{-1}}},
		Network: &model.Network{Inputs: []string{"a", "b"}, Sizes: []int{2, 2}, Activation: model.ActivationTanh,
			Layers: [][]float64{{1, -1, 0.5, 2, 0.1, 0}}}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	ds := &dataset.Dataset{Features: []string{"a", "b"}, HasTarget: true, Users: []dataset.User{
		{ID: "u", X: []float64{1, 2, -0.5, 0.25}, Y: []float64{0, 0}, Rows: []int{1, 0}},
	}}
	pred, err := Predict(m, ds, UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	theta := []float64{0.6*2 - 1, 0.8 * 2}
	for s, row := range ds.Users[0].Rows {
		x := ds.Users[0].X[2*s : 2*s+2]
		h := []float64{math.Tanh(x[0] - x[1] + 0.1), math.Tanh(0.5*x[0] + 2*x[1])}
		want := h[0]*theta[0] + h[1]*theta[1]
		if math.Abs(pred[row]-want) > 1e-14 {
			t.Errorf("row %d: prediction %v, want %v", row, pred[row], want)
		}
	}
	// The hidden feature names are not the data's.
	ds.Features = []string{"h1", "h2"}
	if _, err := Predict(m, ds, UnknownError); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("data with the hidden feature names: %v, want a feature mismatch", err)
	}
}
