package modeltest

import (
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

func TestDiff(t *testing.T) {
	base := func() *model.Model {
		return &model.Model{U: []float64{1, 2}, Theta0: []float64{0.5},
			Users:   []model.User{{ID: "a", W: []float64{1}, Index: []int32{0}, Value: []float64{math.NaN()}}},
			Network: &model.Network{Layers: [][]float64{{1, 2}}}}
	}
	tests := []struct {
		name string
		edit func(m *model.Model)
		want string
	}{
		{"same, NaN equal to NaN", func(*model.Model) {}, ""},
		{"U", func(m *model.Model) { m.U[1] = math.Nextafter(2, 3) }, "differ in 1 of 2"},
		{"U length", func(m *model.Model) { m.U = m.U[:1] }, "sizes of U: 2 vs 1"},
		{"negative zero", func(m *model.Model) { m.Theta0[0] = math.Copysign(0, -1) }, "theta_0"},
		{"layer", func(m *model.Model) { m.Network.Layers[0][1] = 3 }, "layer 0 differs at 1"},
		{"no network", func(m *model.Model) { m.Network = nil }, "no network"},
		{"user index", func(m *model.Model) { m.Users[0].Index[0] = 1 }, `user "a"`},
		{"users", func(m *model.Model) { m.Users = nil }, "1 vs 0 users"},
	}
	for _, tc := range tests {
		b := base()
		tc.edit(b)
		err := Diff(base(), b)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDiffRounds(t *testing.T) {
	v, w := 0.5, 0.25
	a := []fit.RoundStats{{Round: 1, TrainLoss: 2, ValidationLoss: &v, Seconds: 1}}
	if err := DiffRounds(a, []fit.RoundStats{{Round: 1, TrainLoss: 2, ValidationLoss: &v, Seconds: 9}}); err != nil {
		t.Errorf("wall times count: %v", err)
	}
	for _, b := range [][]fit.RoundStats{
		{{Round: 1, TrainLoss: 2, ValidationLoss: &w}},
		{{Round: 1, TrainLoss: 2}},
		{{Round: 1, TrainLoss: 2, ValidationLoss: &v, Outliers: 1}},
		{},
	} {
		if DiffRounds(a, b) == nil {
			t.Errorf("%+v: no difference found", b)
		}
	}
}
