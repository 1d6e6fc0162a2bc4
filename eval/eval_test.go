package eval_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/synth"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// rowsData returns a dataset over features a, b whose input rows are, in
// order: (id, x, y) for each row.
func rowsData(target bool, rows ...row) *dataset.Dataset {
	b := dataset.NewBuilder([]string{"a", "b"}, target)
	for i, r := range rows {
		b.Add(r.id, r.x[:], r.y, i)
	}
	return b.Dataset()
}

type row struct {
	id string
	x  [2]float64
	y  float64
}

func TestScore(t *testing.T) {
	// Rows interleave users; residuals y - pred are -0.5, 0, 1, 2, -1.
	ds := rowsData(true,
		row{"u1", [2]float64{}, 1},
		row{"u2", [2]float64{}, 4},
		row{"u1", [2]float64{}, 2},
		row{"u1", [2]float64{}, 3},
		row{"u3", [2]float64{}, 0},
	)
	pred := []float64{1.5, 2, 2, 2, 1}
	e, err := eval.Score(ds, pred)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: SSE = 0.25 + 4 + 0 + 1 + 1 = 6.25 over 5 samples;
	// |r| sums to 4.5; mean y = 2, SST = 1 + 4 + 0 + 1 + 4 = 10.
	// Per-user RMSE: u1 sqrt(1.25/3), u2 2, u3 1.
	want := eval.Errors{Samples: 5, Users: 3, RMSE: math.Sqrt(6.25 / 5), MAE: 4.5 / 5, R2: 1 - 6.25/10}
	if e.Samples != want.Samples || e.Users != want.Users || !near(e.RMSE, want.RMSE, 1e-15) ||
		!near(e.MAE, want.MAE, 1e-15) || !near(e.R2, want.R2, 1e-15) {
		t.Errorf("Score = %+v, want %+v", e, want)
	}
	q := e.UserRMSE
	if !near(q.Min, math.Sqrt(1.25/3), 1e-15) || q.Max != 2 {
		t.Errorf("per-user RMSE min %v max %v, want %v and 2", q.Min, q.Max, math.Sqrt(1.25/3))
	}
	if !(q.Min <= q.P10 && q.P10 <= q.Median && q.Median <= q.P90 && q.P90 <= q.Max) {
		t.Errorf("per-user RMSE quantiles out of order: %+v", q)
	}

	// A perfect prediction has zero error and R^2 = 1.
	e, err = eval.Score(ds, []float64{1, 4, 2, 3, 0})
	if err != nil || e.RMSE != 0 || e.MAE != 0 || e.R2 != 1 || e.UserRMSE.Max != 0 {
		t.Errorf("perfect prediction: %+v, %v", e, err)
	}
	// Constant targets leave R^2 undefined.
	flat := rowsData(true, row{"u", [2]float64{}, 3}, row{"u", [2]float64{}, 3})
	if e, err = eval.Score(flat, []float64{3, 4}); err != nil || !math.IsNaN(e.R2) || !near(e.RMSE, math.Sqrt(0.5), 1e-15) {
		t.Errorf("constant targets: %+v, %v; want R2 NaN and RMSE sqrt(1/2)", e, err)
	}
	if _, err := eval.Score(rowsData(false, row{"u", [2]float64{}, 0}), []float64{0}); err == nil {
		t.Error("Score of data without targets gave no error")
	}
}

func testModel() *model.Model {
	// d = 2, r = 1, U = (0.6, 0.8), theta_0 = (1, -1).
	return &model.Model{
		Method: model.MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"},
		U: []float64{0.6, 0.8}, Theta0: []float64{1, -1},
		Users: []model.User{
			{ID: "p", W: []float64{5}, Index: []int32{1}, Value: []float64{2}}, // theta = (4, 5)
			{ID: "q", W: []float64{-5}, Index: []int32{}, Value: []float64{}},  // theta = (-2, -5)
		},
	}
}

func TestPredict(t *testing.T) {
	m := testModel()
	ds := rowsData(true,
		row{"q", [2]float64{1, 0}, 0},
		row{"p", [2]float64{1, 1}, 0},
		row{"new", [2]float64{2, 3}, 0},
		row{"q", [2]float64{0.5, -2}, 0},
	)
	pred, err := eval.Predict(m, ds, eval.UnknownError)
	if err == nil {
		t.Fatalf("unknown user gave predictions %v, want an error", pred)
	}
	if !strings.Contains(err.Error(), `"new"`) || !strings.Contains(err.Error(), "row 3") {
		t.Errorf("error %q does not name the user and its row", err)
	}
	pred, err = eval.Predict(m, ds, eval.UnknownGlobal)
	if err != nil {
		t.Fatal(err)
	}
	// The fallback is theta_0 + U * mean(w) = (1, -1) + 0 = (1, -1).
	want := []float64{-2, 9, 2*1 + 3*-1, 0.5*-2 + -2*-5}
	if len(pred) != len(want) {
		t.Fatalf("%d predictions, want %d", len(pred), len(want))
	}
	for i := range want {
		if !near(pred[i], want[i], 1e-15) {
			t.Errorf("row %d: prediction %v, want %v", i, pred[i], want[i])
		}
	}

	// A global model predicts theta_0 for everyone, known or not.
	g := &model.Model{Method: model.MethodGlobal, Dim: 2, Features: []string{"a", "b"}, Theta0: []float64{3, 1}}
	pred, err = eval.Predict(g, ds, eval.UnknownError)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{3, 4, 9, -0.5} {
		if pred[i] != w {
			t.Errorf("global model, row %d: %v, want %v", i, pred[i], w)
		}
	}
}

func TestCheckFeatures(t *testing.T) {
	m := testModel()
	for _, tc := range []struct {
		features []string
		ok       bool
	}{
		{[]string{"a", "b"}, true},
		{[]string{"b", "a"}, false},
		{[]string{"a"}, false},
		{[]string{"a", "b", "c"}, false},
		{[]string{"a", "B"}, false},
	} {
		ds := dataset.NewBuilder(tc.features, true)
		ds.Add("p", make([]float64, len(tc.features)), 0, 0)
		err := eval.CheckFeatures(m, ds.Dataset())
		if (err == nil) != tc.ok {
			t.Errorf("features %q: err %v, want ok=%v", tc.features, err, tc.ok)
			continue
		}
		if err != nil && !(strings.Contains(err.Error(), "[a b]") && strings.Contains(err.Error(), "do not match")) {
			t.Errorf("features %q: error %q does not show both feature lists", tc.features, err)
		}
		if err != nil {
			if _, perr := eval.Predict(m, ds.Dataset(), eval.UnknownGlobal); perr == nil {
				t.Errorf("features %q: Predict accepted mismatched features", tc.features)
			}
		}
	}
}

// handTruth is d = 3, r = 1, U* = e_1 with users a: theta* = (2, 0, 3) and
// b: theta* = (-1, 4, 0).
func handTruth() *synth.Truth {
	return &synth.Truth{D: 3, R: 1, K: 1, U: [][]float64{{1}, {0}, {0}}, Users: map[string]synth.UserTruth{
		"a": {W: []float64{2}, B: map[string]float64{"2": 3}},
		"b": {W: []float64{-1}, B: map[string]float64{"1": 4}},
		"c": {W: []float64{7}, B: map[string]float64{"0": 1}}, // not in the model
	}}
}

// rotated returns the model of handTruth's users a and b with U* turned by
// angle alpha towards e_2 and the true w and b.
func rotated(alpha float64) *model.Model {
	return &model.Model{
		Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 2, Features: []string{"x0", "x1", "x2"},
		U: []float64{math.Cos(alpha), math.Sin(alpha), 0},
		Users: []model.User{
			{ID: "a", W: []float64{2}, Index: []int32{2}, Value: []float64{3}},
			{ID: "b", W: []float64{-1}, Index: []int32{1}, Value: []float64{4}},
		},
	}
}

func TestCompareTruthByHand(t *testing.T) {
	truth := handTruth()
	rec, err := eval.CompareTruth(rotated(0), truth)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Users != 2 || rec.ParamError != 0 || rec.SubspaceDistance != 0 || rec.SupportRecovered != 1 || rec.UserParamError.Max != 0 {
		t.Errorf("exact model: %+v, want 2 users, zero errors and support 1", rec)
	}

	// Turning U by alpha moves theta_a by 2 (cos a - 1, sin a, 0) and theta_b
	// by -(cos a - 1, sin a, 0): squared errors 8 (1 - cos a) and 2 (1 - cos a)
	// against ||theta*||^2 = 13 and 17; the subspace distance is sin a.
	const alpha = 0.3
	rec, err = eval.CompareTruth(rotated(alpha), truth)
	if err != nil {
		t.Fatal(err)
	}
	c := 1 - math.Cos(alpha)
	if !near(rec.ParamError, math.Sqrt(10*c/30), 1e-13) {
		t.Errorf("parameter error %v, want %v", rec.ParamError, math.Sqrt(10*c/30))
	}
	if !near(rec.SubspaceDistance, math.Sin(alpha), 1e-13) {
		t.Errorf("subspace distance %v, want %v", rec.SubspaceDistance, math.Sin(alpha))
	}
	if !near(rec.UserParamError.Min, math.Sqrt(2*c/17), 1e-13) || !near(rec.UserParamError.Max, math.Sqrt(8*c/13), 1e-13) {
		t.Errorf("per-user errors %+v, want min %v max %v", rec.UserParamError, math.Sqrt(2*c/17), math.Sqrt(8*c/13))
	}
	if rec.SupportRecovered != 1 {
		t.Errorf("support %v, want 1", rec.SupportRecovered)
	}

	// Support: a wrong index, an extra index and an explicit zero.
	for _, tc := range []struct {
		name  string
		index []int32
		value []float64
		want  float64
	}{
		{"wrong index", []int32{0}, []float64{4}, 0.5},
		{"extra index", []int32{0, 1}, []float64{1e-9, 4}, 0.5},
		{"missing index", []int32{}, []float64{}, 0.5},
		{"explicit zero is not support", []int32{0, 1}, []float64{0, 4}, 1},
	} {
		m := rotated(0)
		m.Users[1].Index, m.Users[1].Value = tc.index, tc.value
		rec, err := eval.CompareTruth(m, truth)
		if err != nil || rec.SupportRecovered != tc.want {
			t.Errorf("%s: support %v (%v), want %v", tc.name, rec.SupportRecovered, err, tc.want)
		}
	}

	// A model user missing from the truth, or another dimension, is an error.
	m := rotated(0)
	m.Users = append(m.Users, model.User{ID: "stranger", W: []float64{1}})
	if _, err := eval.CompareTruth(m, truth); err == nil || !strings.Contains(err.Error(), "stranger") {
		t.Errorf("unknown model user: %v", err)
	}
	other := &synth.Truth{D: 4, R: 1, U: [][]float64{{1}, {0}, {0}, {0}}}
	if _, err := eval.CompareTruth(rotated(0), other); err == nil {
		t.Error("dimension mismatch gave no error")
	}
	empty := rotated(0)
	empty.Users = nil
	if _, err := eval.CompareTruth(empty, truth); err == nil {
		t.Error("a model with no users gave no error")
	}
}

// modelFromTruth builds the model that equals the truth of a synthetic run.
func modelFromTruth(t *testing.T, data *synth.Data, ids []string) *model.Model {
	t.Helper()
	tr := data.Truth
	m := &model.Model{Method: model.MethodLRS, Dim: tr.D, Rank: tr.R, Sparsity: tr.K, Features: data.Train.Features}
	for j := 0; j < tr.D; j++ {
		m.U = append(m.U, tr.U[j]...)
	}
	for _, id := range ids {
		u := tr.Users[id]
		mu := model.User{ID: id, W: u.W}
		for j := 0; j < tr.D; j++ {
			if v, ok := u.B[strconv.Itoa(j)]; ok {
				mu.Index = append(mu.Index, int32(j))
				mu.Value = append(mu.Value, v)
			}
		}
		m.Users = append(m.Users, mu)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompareTruthSynthetic(t *testing.T) {
	data, err := synth.Generate(synth.Options{Users: 50, Samples: 5, Dim: 20, Rank: 3, Sparsity: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(data.Train.Users))
	for _, u := range data.Train.Users {
		ids = append(ids, u.ID)
	}
	m := modelFromTruth(t, data, ids)
	rec, err := eval.CompareTruth(m, data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Users != 50 || rec.ParamError != 0 || rec.SupportRecovered != 1 || rec.SubspaceDistance > 1e-7 {
		t.Errorf("model equal to the truth: %+v", rec)
	}

	// Perturb one non-zero of b of user u7 by delta: the error is
	// delta / sqrt(sum_i ||theta*_i||^2), and its support is unchanged.
	const delta = 0.125
	m.Users[7].Value[0] += delta
	den := 0.0
	for _, id := range ids {
		th, err := data.Truth.Theta(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range th {
			den += v * v
		}
	}
	rec, err = eval.CompareTruth(m, data.Truth)
	if err != nil {
		t.Fatal(err)
	}
	if want := delta / math.Sqrt(den); !near(rec.ParamError, want, 1e-12) {
		t.Errorf("perturbed model: parameter error %v, want %v", rec.ParamError, want)
	}
	if rec.SupportRecovered != 1 {
		t.Errorf("perturbed values: support %v, want 1", rec.SupportRecovered)
	}

	// Dropping a non-zero of two users loses exactly their support.
	for _, i := range []int{3, 11} {
		m.Users[i].Index, m.Users[i].Value = m.Users[i].Index[1:], m.Users[i].Value[1:]
	}
	if rec, _ = eval.CompareTruth(m, data.Truth); rec.SupportRecovered != 48.0/50 {
		t.Errorf("two users lost a non-zero: support %v, want 0.96", rec.SupportRecovered)
	}
}

// TestPrivateFallbackRefused checks that UnknownGlobal is refused for a
// model with a privacy ledger or a DP configuration, even when every user
// is known, and that UnknownError still predicts.
func TestPrivateFallbackRefused(t *testing.T) {
	ds := rowsData(true, row{"q", [2]float64{1, 0}, 0}, row{"p", [2]float64{1, 1}, 0})
	ledger, cfg := testModel(), testModel()
	ledger.Privacy = &model.Ledger{Epsilon: 1, Delta: 1e-6}
	cfg.Config.DP = &model.DPConfig{Noiseless: true}
	for _, m := range []*model.Model{ledger, cfg} {
		if err := eval.CheckUnknown(m, eval.UnknownGlobal); !errors.Is(err, model.ErrPrivateFallback) {
			t.Errorf("CheckUnknown: %v, want model.ErrPrivateFallback", err)
		}
		if _, err := eval.Predict(m, ds, eval.UnknownGlobal); !errors.Is(err, model.ErrPrivateFallback) || !strings.HasPrefix(err.Error(), "eval: ") {
			t.Errorf("Predict with UnknownGlobal: %v, want an eval error wrapping model.ErrPrivateFallback", err)
		}
		if _, err := eval.Predict(m, ds, eval.UnknownError); err != nil {
			t.Errorf("Predict with UnknownError: %v", err)
		}
	}
	if err := eval.CheckUnknown(testModel(), eval.UnknownGlobal); err != nil {
		t.Errorf("CheckUnknown on a non-private model: %v", err)
	}
}
