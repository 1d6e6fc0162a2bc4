package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// lrsp runs the command line with args and returns what it printed.
func lrsp(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// mustRun runs args and fails the test on an error.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := lrsp(t, args...)
	if err != nil {
		t.Fatalf("lrsp %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// wantErr runs args and checks that they fail with an error containing
// every one of want.
func wantErr(t *testing.T, args []string, want ...string) {
	t.Helper()
	out, _, err := lrsp(t, args...)
	if err == nil {
		t.Errorf("lrsp %s succeeded, want an error\n%s", strings.Join(args, " "), out)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("lrsp %s: error %q does not contain %q", strings.Join(args, " "), err, w)
		}
	}
}

// paramsJSON is the layout shared by truth.json and lrsp inspect --json.
type paramsJSON struct {
	D     int         `json:"d"`
	R     int         `json:"r"`
	K     int         `json:"k"`
	U     [][]float64 `json:"U"`
	Users map[string]struct {
		W []float64          `json:"w"`
		B map[string]float64 `json:"b"`
	} `json:"users"`
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	const users, samples, d, r, k, newUsers, testSamples = 200, 40, 30, 3, 3, 20, 4

	out := mustRun(t, "synth", "--users", "200", "--samples", "40", "--dim", "30", "--rank", "3", "--sparsity", "3",
		"--noise", "0", "--new-users", "20", "--test-samples", "4", "--seed", "3", "--out", p("data.csv"), "--truth", p("truth.json"))
	for _, w := range []string{"wrote 200 users x 40 samples", p("data.csv"), "wrote 20 new users to " + p("data-new.csv"), p("data-test.csv"),
		"wrote 4 test samples per new user to " + p("data-new-test.csv")} {
		if !strings.Contains(out, w) {
			t.Errorf("synth output %q does not mention %q", out, w)
		}
	}
	train := readCSV(t, p("data.csv"))
	if len(train) != 1+users*samples || len(train[0]) != 2+d || train[0][0] != "user" || train[0][d+1] != "y" {
		t.Fatalf("data.csv: %d records, header %q", len(train), train[0])
	}

	// truth.json has the documented layout.
	var truth paramsJSON
	raw, err := os.ReadFile(p("truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, "truth.json", &truth, d, r, k, users+newUsers)

	out = mustRun(t, "train", "--data", p("data.csv"), "--rank", "3", "--sparsity", "3", "--out", p("model.lrsp"),
		"--metrics-out", p("metrics.json"))
	if !strings.Contains(out, "on 200 users, 8000 samples (d=30, r=3, k=3)") || !strings.Contains(out, "wrote "+p("model.lrsp")) {
		t.Errorf("train output: %s", out)
	}
	var metrics struct {
		Rounds []struct {
			Round     int      `json:"round"`
			TrainLoss *float64 `json:"train_loss"`
			Seconds   *float64 `json:"seconds"`
		} `json:"rounds"`
	}
	if raw, err = os.ReadFile(p("metrics.json")); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &metrics); err != nil || len(metrics.Rounds) == 0 {
		t.Fatalf("metrics.json: %v\n%s", err, raw)
	}
	for i, rd := range metrics.Rounds {
		if rd.Round != i+1 || rd.TrainLoss == nil || rd.Seconds == nil || *rd.Seconds < 0 {
			t.Errorf("metrics round %d: %+v", i, rd)
		}
	}

	// Exact recovery of every training user.
	rec := evalJSON(t, "--model", p("model.lrsp"), "--truth", p("truth.json"))
	if rec.Recovery == nil || rec.Recovery.Users != users || rec.Recovery.ParamError >= 1e-6 ||
		rec.Recovery.SupportRecovered != 1 || rec.Recovery.SubspaceDistance >= 1e-6 {
		t.Fatalf("training users not recovered: %+v", rec.Recovery)
	}
	// The test file holds the training users only; the new users' test
	// rows are in data-new-test.csv, unknown to this model.
	if e := evalJSON(t, "--model", p("model.lrsp"), "--data", p("data-test.csv")).Errors; e == nil || e.Users != users || e.Samples != users*testSamples || e.RMSE > 1e-5 {
		t.Errorf("test errors of the training users: %+v", e)
	}
	wantErr(t, []string{"eval", "--model", p("model.lrsp"), "--data", p("data-new-test.csv")}, p("data-new-test.csv"), `user "n0"`, "not in the model")

	// Personalize the new users; the training users stay bit for bit.
	out = mustRun(t, "personalize", "--model", p("model.lrsp"), "--data", p("data-new.csv"), "--out", p("model2.lrsp"))
	if !strings.Contains(out, "personalized 20 users (20 new, 0 refitted)") {
		t.Errorf("personalize output: %s", out)
	}
	m1, err := model.Load(p("model.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := model.Load(p("model2.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Users) != users+newUsers || !slices.Equal(m1.U, m2.U) {
		t.Fatalf("model2: %d users, U changed: %v", len(m2.Users), !slices.Equal(m1.U, m2.U))
	}
	for i := range m1.Users {
		a, b := m1.Users[i], m2.Users[i]
		if a.ID != b.ID || !slices.Equal(a.W, b.W) || !slices.Equal(a.Index, b.Index) || !slices.Equal(a.Value, b.Value) {
			t.Fatalf("personalize changed training user %q", a.ID)
		}
	}
	rec = evalJSON(t, "--model", p("model2.lrsp"), "--truth", p("truth.json"), "--data", p("data-new-test.csv"))
	if rec.Recovery.Users != users+newUsers || rec.Recovery.ParamError >= 1e-6 || rec.Recovery.SupportRecovered != 1 {
		t.Errorf("after personalization: %+v", rec.Recovery)
	}
	if e := rec.Errors; e == nil || e.Samples != newUsers*testSamples || e.Users != newUsers || e.RMSE > 1e-5 || e.R2 < 1-1e-9 {
		t.Errorf("test errors after personalization: %+v", rec.Errors)
	}
	text := mustRun(t, "eval", "--model", p("model2.lrsp"), "--truth", p("truth.json"))
	if !strings.Contains(text, "exact support recovered 1 (220 of 220 users)") {
		t.Errorf("eval text output:\n%s", text)
	}

	checkPredict(t, p, m1)
	checkInspect(t, p, &truth)
}

func evalJSON(t *testing.T, args ...string) evalReport {
	t.Helper()
	out := mustRun(t, append([]string{"eval", "--json"}, args...)...)
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json printed invalid JSON: %v\n%s", err, out)
	}
	return rep
}

// checkLayout checks d, r, k, U as d rows of r numbers, and users with w of
// r numbers and b mapping at most k decimal indices below d to values.
func checkLayout(t *testing.T, name string, p *paramsJSON, d, r, k, users int) {
	t.Helper()
	if p.D != d || p.R != r || p.K != k || len(p.U) != d || len(p.Users) != users {
		t.Fatalf("%s: d=%d r=%d k=%d, %d rows of U, %d users", name, p.D, p.R, p.K, len(p.U), len(p.Users))
	}
	for j, row := range p.U {
		if len(row) != r {
			t.Fatalf("%s: row %d of U has %d entries", name, j, len(row))
		}
	}
	for id, u := range p.Users {
		if len(u.W) != r || len(u.B) > k {
			t.Fatalf("%s: user %s: %d w, %d b", name, id, len(u.W), len(u.B))
		}
		for s := range u.B {
			if j, err := strconv.Atoi(s); err != nil || j < 0 || j >= d {
				t.Fatalf("%s: user %s: b index %q", name, id, s)
			}
		}
	}
}

// checkPredict checks lrsp predict on the test file: one row per input row
// in input order, the targets copied, predictions equal to the noiseless
// targets, and the unknown-user policy.
func checkPredict(t *testing.T, p func(string) string, m1 *model.Model) {
	test := readCSV(t, p("data-new-test.csv"))
	out := mustRun(t, "predict", "--model", p("model2.lrsp"), "--data", p("data-new-test.csv"), "--out", p("pred.csv"))
	if out != "" {
		t.Errorf("predict --out printed %q", out)
	}
	pred := readCSV(t, p("pred.csv"))
	if len(pred) != len(test) || !slices.Equal(pred[0], []string{"user", "prediction", "y"}) {
		t.Fatalf("pred.csv: %d records for %d input records, header %q", len(pred), len(test), pred[0])
	}
	yCol := len(test[0]) - 1
	for i := 1; i < len(test); i++ {
		if pred[i][0] != test[i][0] || pred[i][2] != test[i][yCol] {
			t.Fatalf("pred.csv row %d = %q, input row is user %q y %q", i, pred[i], test[i][0], test[i][yCol])
		}
		v, err1 := strconv.ParseFloat(pred[i][1], 64)
		y, err2 := strconv.ParseFloat(pred[i][2], 64)
		if err1 != nil || err2 != nil || math.Abs(v-y) > 1e-6*math.Max(1, math.Abs(y)) {
			t.Fatalf("pred.csv row %d: prediction %q for target %q", i, pred[i][1], pred[i][2])
		}
	}
	// Standard output by default, and the same bytes.
	stdout := mustRun(t, "predict", "--model", p("model2.lrsp"), "--data", p("data-new-test.csv"))
	if file, _ := os.ReadFile(p("pred.csv")); stdout != string(file) {
		t.Error("predict to standard output differs from predict --out")
	}

	// Unknown users: an error by default, the average user with --unknown global.
	wantErr(t, []string{"predict", "--model", p("model.lrsp"), "--data", p("data-new-test.csv")}, p("data-new-test.csv"), `user "n0"`)
	stdout = mustRun(t, "predict", "--model", p("model.lrsp"), "--data", p("data-new-test.csv"), "--unknown", "global")
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != len(test) {
		t.Fatalf("predict --unknown global: %d records, %v", len(recs), err)
	}
	ds, err := dataset.ReadCSVFile(context.Background(), p("data-new-test.csv"), dataset.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The fallback is U times the mean w of the model's users.
	d, r := m1.Dim, m1.Rank
	w := make([]float64, r)
	for _, u := range m1.Users {
		for c := range w {
			w[c] += u.W[c] / float64(len(m1.Users))
		}
	}
	checked := 0
	for _, u := range ds.Users {
		if !strings.HasPrefix(u.ID, "n") {
			continue
		}
		for s, row := range u.Rows {
			want := 0.0
			for j := 0; j < d; j++ {
				for c := 0; c < r; c++ {
					want += u.X[s*d+j] * m1.U[j*r+c] * w[c]
				}
			}
			got, _ := strconv.ParseFloat(recs[row+1][1], 64)
			if recs[row+1][0] != u.ID || math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("fallback prediction for %s row %d: %q, want %v", u.ID, row, recs[row+1], want)
			}
			checked++
		}
	}
	if checked != 20*4 {
		t.Errorf("checked %d fallback predictions, want 80", checked)
	}
}

// checkInspect checks the text summary and that inspect --json has the
// layout of truth.json, so that it can itself serve as a truth file.
func checkInspect(t *testing.T, p func(string) string, truth *paramsJSON) {
	text := mustRun(t, "inspect", "--model", p("model2.lrsp"))
	for _, re := range []string{`(?m)^file +` + regexp.QuoteMeta(p("model2.lrsp")) + ` \(\d+ bytes, format version 2\)$`,
		`(?m)^method +lrs$`, `(?m)^d, r, k +30, 3, 3$`, `(?m)^users +220$`, `(?m)^bytes/user +\d+\.\d`, `(?m)^features +\[x0 x1 `,
		`(?m)^config +\S+ = `, `(?m)^privacy +none`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("inspect output does not match %s:\n%s", re, text)
		}
	}
	out := mustRun(t, "inspect", "--model", p("model2.lrsp"), "--json")
	var dump paramsJSON
	if err := json.Unmarshal([]byte(out), &dump); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, "inspect --json", &dump, 30, 3, 3, 220)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"d", "r", "k", "U", "users"} {
		if _, ok := keys[key]; !ok {
			t.Errorf("inspect --json has no %q", key)
		}
	}
	// Recovered exactly: the same supports as the truth, values within 1e-6.
	for id, u := range truth.Users {
		got, ok := dump.Users[id]
		if !ok {
			t.Fatalf("inspect --json has no user %s", id)
		}
		if len(got.B) != len(u.B) {
			t.Fatalf("user %s: b %v, truth %v", id, got.B, u.B)
		}
		for s, v := range u.B {
			if g, ok := got.B[s]; !ok || math.Abs(g-v) > 1e-6 {
				t.Fatalf("user %s: b %v, truth %v", id, got.B, u.B)
			}
		}
	}
	// The dump is a valid truth file: the model compared with itself.
	if err := os.WriteFile(p("self.json"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := evalJSON(t, "--model", p("model2.lrsp"), "--truth", p("self.json"))
	if rec.Recovery.ParamError != 0 || rec.Recovery.SupportRecovered != 1 || rec.Recovery.Users != 220 {
		t.Errorf("model against its own dump: %+v", rec.Recovery)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, content string) string {
		if err := os.WriteFile(p(name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	m := &model.Model{Method: model.MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"},
		U: []float64{0.6, 0.8}, Users: []model.User{{ID: "u", W: []float64{1}, Index: []int32{0}, Value: []float64{2}}}}
	if err := model.Save(p("m.lrsp"), m); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(p("m.lrsp"))
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0x10
	corrupt := write("corrupt.lrsp", string(flipped))
	truncated := write("truncated.lrsp", string(good[:len(good)-7]))
	notModel := write("data.lrsp", "user,a,b,y\nu,1,2,3\n")
	data := write("data.csv", "user,a,b,y\nu,1,2,3\nv,0,1,1\n")
	other := write("other.csv", "user,a,c,y\nu,1,2,3\n")
	badCSV := write("bad.csv", "user,a,b,y\nu,1,2,3\nu,1,oops,3\n")
	ragged := write("ragged.csv", "user,a,b,y\nu,1,2\n")

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"train without --data", []string{"train", "--out", p("x.lrsp")}, []string{`required flag(s) "data" not set`}},
		{"predict without --data", []string{"predict", "--model", p("m.lrsp")}, []string{`required flag(s) "data" not set`}},
		{"bad --init", []string{"train", "--out", p("x.lrsp"), "--data", data, "--rank", "1", "--sparsity", "1", "--init", "svd"}, []string{`init "svd": want moments, ridge-svd, random`}},
		{"bad --update", []string{"train", "--out", p("x.lrsp"), "--data", data, "--rank", "1", "--sparsity", "1", "--update", "newton"}, []string{`update "newton": want`}},
		{"bad --threshold", []string{"train", "--out", p("x.lrsp"), "--data", data, "--rank", "1", "--sparsity", "1", "--threshold", "soft"}, []string{`threshold "soft": want`}},
		{"bad --rounds", []string{"train", "--out", p("x.lrsp"), "--data", data, "--rounds", "0"}, []string{"--rounds 0"}},
		{"bad --validation", []string{"train", "--out", p("x.lrsp"), "--data", data, "--validation", "1"}, []string{"--validation 1"}},
		{"bad --unknown", []string{"predict", "--model", p("m.lrsp"), "--data", data, "--unknown", "zero"}, []string{`--unknown "zero"`}},
		{"bad number in data", []string{"train", "--out", p("x.lrsp"), "--data", badCSV}, []string{badCSV + ":3:", `column "b"`, `"oops"`}},
		{"ragged data", []string{"predict", "--model", p("m.lrsp"), "--data", ragged}, []string{ragged + ":2:", "ragged"}},
		{"missing data file", []string{"train", "--out", p("x.lrsp"), "--data", p("none.csv")}, []string{p("none.csv")}},
		{"missing target", []string{"personalize", "--model", p("m.lrsp"), "--data", write("nox.csv", "user,a,b\nu,1,2\n"), "--out", p("o.lrsp")},
			[]string{`missing target column "y"`}},
		{"feature mismatch in predict", []string{"predict", "--model", p("m.lrsp"), "--data", other}, []string{other, "do not match", `missing 1: "b"`, `not wanted 1: "c"`}},
		{"feature mismatch in eval", []string{"eval", "--model", p("m.lrsp"), "--data", other}, []string{other, "do not match"}},
		{"feature mismatch in personalize", []string{"personalize", "--model", p("m.lrsp"), "--data", other, "--out", p("o.lrsp")},
			[]string{other, "do not match"}},
		{"corrupted model", []string{"predict", "--model", corrupt, "--data", data}, []string{corrupt, "checksum"}},
		{"truncated model", []string{"eval", "--model", truncated, "--data", data}, []string{truncated}},
		{"not a model", []string{"inspect", "--model", notModel}, []string{notModel, "not an lrsp model file"}},
		{"missing model", []string{"inspect", "--model", p("none.lrsp")}, []string{p("none.lrsp")}},
		{"model flag required", []string{"inspect"}, []string{`"model" not set`}},
		{"eval needs data or truth", []string{"eval", "--model", p("m.lrsp")}, []string{"--data", "--truth"}},
		{"unknown subcommand", []string{"fit"}, []string{`unknown command "fit"`}},
		{"synth without --out", []string{"synth"}, []string{`required flag(s) "out" not set`}},
		{"synth bad sizes", []string{"synth", "--out", p("s.csv"), "--rank", "200"}, []string{"invalid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.args, tc.want...) })
	}
	// The failed personalize runs wrote nothing.
	if _, err := os.Stat(p("o.lrsp")); !os.IsNotExist(err) {
		t.Errorf("a failed personalize left %s (%v)", p("o.lrsp"), err)
	}
	// The model is still usable after all that.
	mustRun(t, "predict", "--model", p("m.lrsp"), "--data", data, "--unknown", "global")
}

func TestNoArgsPrintsHelp(t *testing.T) {
	out, _, err := lrsp(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Usage:", "Available Commands:", "demo", "synth", "train", "personalize", "predict", "eval", "inspect"} {
		if !strings.Contains(out, w) {
			t.Errorf("help does not mention %q:\n%s", w, out)
		}
	}
}

func TestDemo(t *testing.T) {
	out := mustRun(t, "demo", "--users", "200", "--samples", "40", "--dim", "30", "--rank", "3", "--sparsity", "3", "--new-users", "20")
	support := regexp.MustCompile(`recovered exactly +(\d+) of (\d+)`).FindAllStringSubmatch(out, -1)
	if len(support) != 2 {
		t.Fatalf("demo printed %d support lines, want 2:\n%s", len(support), out)
	}
	for i, want := range []string{"200", "20"} {
		if support[i][1] != want || support[i][2] != want {
			t.Errorf("demo: %q, want %s of %s", support[i][0], want, want)
		}
	}
	errs := regexp.MustCompile(`relative parameter error[^\n]*?([0-9.]+e[-+]\d+)`).FindAllStringSubmatch(out, -1)
	if len(errs) != 2 {
		t.Fatalf("demo printed %d parameter errors, want 2:\n%s", len(errs), out)
	}
	for _, e := range errs {
		if v, err := strconv.ParseFloat(e[1], 64); err != nil || v >= 1e-6 {
			t.Errorf("demo: %q, want an error below 1e-6", e[0])
		}
	}
	if !strings.Contains(out, "200 users x 40 samples, d=30") || !strings.Contains(out, "20 new users") {
		t.Errorf("demo output does not describe the data:\n%s", out)
	}
}
