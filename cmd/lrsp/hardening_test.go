package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lrsp/lrsp/model"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// smallModel saves a two-feature model with users u and v to path.
func smallModel(t *testing.T, path string) *model.Model {
	t.Helper()
	m := &model.Model{Method: model.MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"},
		U: []float64{0.6, 0.8}, Users: []model.User{
			{ID: "u", W: []float64{1}, Index: []int32{0}, Value: []float64{2}},
			{ID: "v", W: []float64{-1}, Index: []int32{1}, Value: []float64{0.5}},
		}}
	if err := model.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTrainRequiresOut guards against lrsp train silently replacing
// ./model.lrsp when --out is not given.
func TestTrainRequiresOut(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	data := writeFile(t, dir, "d.csv", "user,a,b,y\nu,1,2,3\nu,0,1,1\nv,1,1,1\nv,2,0,1\n")
	old := []byte("an existing model file")
	writeFile(t, dir, "model.lrsp", string(old))
	wantErr(t, []string{"train", "--data", data, "--rank", "1", "--sparsity", "0"}, `"out" not set`)
	if got, _ := os.ReadFile(filepath.Join(dir, "model.lrsp")); !slices.Equal(got, old) {
		t.Error("train without --out replaced ./model.lrsp")
	}
	help := mustRun(t, "train", "--help")
	if !regexp.MustCompile(`--out string +model file to write \(required`).MatchString(help) {
		t.Errorf("train --help does not mark --out required:\n%s", help)
	}
}

// TestTrainLabelsRoundAndFinalLoss guards against the per-round and final
// training losses being reported under the same name: the rounds' loss is
// that of the round's fits, the final one the published model's refit.
func TestTrainLabelsRoundAndFinalLoss(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "40", "--samples", "20", "--dim", "8", "--rank", "2", "--sparsity", "1", "--seed", "2",
		"--out", p("d.csv"))
	out, stderr, err := lrsp(t, "train", "--data", p("d.csv"), "--rank", "2", "--sparsity", "1", "--rounds", "4",
		"--tolerance", "0", "--out", p("m.lrsp"), "--metrics-out", p("metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "published model (users refitted to the final U): train MSE ") {
		t.Errorf("summary does not say which loss it reports:\n%s", out)
	}
	if !strings.Contains(stderr+out, "round 4/4: fits with this round's U: train loss ") {
		t.Errorf("round lines do not say which loss they report:\n%s%s", stderr, out)
	}
	raw, err := os.ReadFile(p("metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var metrics map[string]json.RawMessage
	if err := json.Unmarshal(raw, &metrics); err != nil {
		t.Fatal(err)
	}
	if _, ok := metrics["train_loss"]; ok {
		t.Error(`metrics.json has an unqualified top-level "train_loss" beside the rounds' own`)
	}
	var final float64
	var defs map[string]string
	if err := json.Unmarshal(metrics["final_train_loss"], &final); err != nil || !(final >= 0) {
		t.Errorf("final_train_loss %s: %v", metrics["final_train_loss"], err)
	}
	if err := json.Unmarshal(metrics["definitions"], &defs); err != nil ||
		!strings.Contains(defs["final_train_loss"], "published model") || !strings.Contains(defs["rounds[].train_loss"], "round's U") {
		t.Errorf("definitions %s: %v", metrics["definitions"], err)
	}
	// Where the time went: the passes before the rounds and the final
	// per-user pass, which shows its progress.
	for _, key := range []string{"setup_seconds", "final_seconds"} {
		var v float64
		if err := json.Unmarshal(metrics[key], &v); err != nil || !(v > 0) {
			t.Errorf("metrics %s = %s: %v", key, metrics[key], err)
		}
	}
	if !strings.Contains(out, ", final per-user pass ") {
		t.Errorf("summary does not give the final pass's time:\n%s", out)
	}
	if !strings.Contains(stderr+out, "final per-user pass: 40 of 40 users refitted to the final U") {
		t.Errorf("no progress line for the final pass:\n%s%s", stderr, out)
	}
}

// TestEvalTruthNotJSON guards against a raw JSON decoder error when a CSV
// file is given as --truth.
func TestEvalTruthNotJSON(t *testing.T) {
	dir := t.TempDir()
	smallModel(t, filepath.Join(dir, "m.lrsp"))
	data := writeFile(t, dir, "data.csv", "user,a,b,y\nu,1,2,3\n")
	empty := writeFile(t, dir, "empty.json", "{}")
	wantErr(t, []string{"eval", "--model", filepath.Join(dir, "m.lrsp"), "--truth", data},
		data, "not a JSON object", `"user,a,b,y"`, "lrsp synth --truth")
	wantErr(t, []string{"eval", "--model", filepath.Join(dir, "m.lrsp"), "--truth", empty},
		empty, "bad sizes", "lrsp synth --truth")
}

// TestFeaturesMatchedByName guards against refusing data whose feature
// columns come in another order than the model's: predict, eval and
// personalize match them by name, and still refuse missing or extra ones.
func TestFeaturesMatchedByName(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	smallModel(t, p("m.lrsp"))
	inOrder := writeFile(t, dir, "in.csv", "user,a,b,y\nu,1,2,3\nv,0.5,-1,1\n")
	swapped := writeFile(t, dir, "swapped.csv", "b,y,user,a\n2,3,u,1\n-1,1,v,0.5\n")
	want := mustRun(t, "predict", "--model", p("m.lrsp"), "--data", inOrder)
	if got := mustRun(t, "predict", "--model", p("m.lrsp"), "--data", swapped); got != want {
		t.Errorf("predictions with swapped columns:\n%s\nwant\n%s", got, want)
	}
	// u: theta = 0.6*1 + 2 = 2.6 on a, 0.8 on b: 1*2.6 + 2*0.8 = 4.2.
	if first := strings.Split(want, "\n")[1]; first != "u,4.2,3" {
		t.Errorf("first prediction %q, want u,4.2,3", first)
	}
	if a, b := mustRun(t, "eval", "--model", p("m.lrsp"), "--data", inOrder), mustRun(t, "eval", "--model", p("m.lrsp"), "--data", swapped); a != b {
		t.Errorf("eval differs with swapped columns:\n%s\n%s", a, b)
	}
	mustRun(t, "personalize", "--model", p("m.lrsp"), "--data", inOrder, "--out", p("m1.lrsp"))
	mustRun(t, "personalize", "--model", p("m.lrsp"), "--data", swapped, "--out", p("m2.lrsp"))
	m1, _ := os.ReadFile(p("m1.lrsp"))
	m2, _ := os.ReadFile(p("m2.lrsp"))
	if !slices.Equal(m1, m2) {
		t.Error("personalize with swapped columns wrote another model")
	}
	missing := writeFile(t, dir, "missing.csv", "user,b,y\nu,1,2\n")
	extra := writeFile(t, dir, "extra.csv", "user,b,z,a,y\nu,1,2,3,4\n")
	for _, cmd := range [][]string{{"predict"}, {"eval"}, {"personalize", "--out", p("x.lrsp")}} {
		wantErr(t, append(slices.Clone(cmd), "--model", p("m.lrsp"), "--data", missing), missing, "do not match", `missing 1: "a"`)
		wantErr(t, append(slices.Clone(cmd), "--model", p("m.lrsp"), "--data", extra), extra, "do not match", `not wanted 1: "z"`)
	}
	// --ignore drops the extra column.
	mustRun(t, "predict", "--model", p("m.lrsp"), "--data", extra, "--ignore", "z")
}

// TestDataNAAndDelimiterFlags checks --na, --delimiter and --max-line-bytes
// on the command line.
func TestDataNAAndDelimiterFlags(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	smallModel(t, p("m.lrsp"))
	semi := writeFile(t, dir, "semi.csv", "user;a;b;y\nu;1;2;3\n")
	tab := writeFile(t, dir, "tab.tsv", "user\ta\tb\ty\nu\t1\t2\t3\n")
	for _, args := range [][]string{{"--data", semi, "--delimiter", ";"}, {"--data", tab, "--delimiter", "tab"}} {
		if got := mustRun(t, append([]string{"predict", "--model", p("m.lrsp")}, args...)...); got != "user,prediction,y\nu,4.2,3\n" {
			t.Errorf("%v: %q", args, got)
		}
	}
	na := writeFile(t, dir, "na.csv", "user,a,b,y\nu,1,2,3\nv,NA,1,2\n")
	wantErr(t, []string{"predict", "--model", p("m.lrsp"), "--data", na, "--na", "NA"}, na+":3:", `column "a"`, `missing value "NA"`)
	wantErr(t, []string{"predict", "--model", p("m.lrsp"), "--data", na}, na+":3:", `bad number "NA"`)
	wantErr(t, []string{"predict", "--model", p("m.lrsp"), "--data", semi, "--delimiter", "ab"}, `--delimiter`, "one character")
	long := writeFile(t, dir, "long.csv", "user,a,b,y\nu,1,2,3\nv,1,"+strings.Repeat("2", 500)+",3\n")
	wantErr(t, []string{"predict", "--model", p("m.lrsp"), "--data", long, "--max-line-bytes", "100"}, long+":3:", "more than 100 bytes")
}

// TestPredictOutFollowsSymlink guards against --out replacing a symbolic
// link (or a device: /dev/stdout) with a regular file.
func TestPredictOutFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	smallModel(t, p("m.lrsp"))
	data := writeFile(t, dir, "in.csv", "user,a,b,y\nu,1,2,3\n")
	writeFile(t, dir, "real.csv", "old\n")
	if err := os.Symlink("real.csv", p("link.csv")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "predict", "--model", p("m.lrsp"), "--data", data, "--out", p("link.csv"))
	if fi, err := os.Lstat(p("link.csv")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(p("real.csv")); string(got) != "user,prediction,y\nu,4.2,3\n" {
		t.Errorf("link target holds %q", got)
	}
	// A character device is written through: a null device made in the
	// test's directory stands for /dev/stdout (a test must never write to
	// the system's devices, which buggy code run as root would replace).
	if runtime.GOOS != "linux" {
		return
	}
	if err := syscall.Mknod(p("null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("mknod: %v", err)
	}
	mustRun(t, "predict", "--model", p("m.lrsp"), "--data", data, "--out", p("null"))
	if fi, err := os.Stat(p("null")); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("--out replaced the device by a %v", fi.Mode())
	}
}

// TestREADMECommands guards the README's command sequence: it runs the
// commands of the README's Commands section as written, with the data
// sizes made small, in a fresh directory. synth's test file used to hold
// the new users, on which eval of the trained model failed.
func TestREADMECommands(t *testing.T) {
	cmds := readmeCommands(t, "../../README.md", "## Commands")
	if len(cmds) < 6 {
		t.Fatalf("found %d commands in the README's Commands section", len(cmds))
	}
	small := map[string]string{"--users": "60", "--samples": "30", "--dim": "12", "--rank": "2", "--sparsity": "2",
		"--new-users": "10", "--test-samples": "5"}
	t.Chdir(t.TempDir())
	var ran []string
	for _, args := range cmds {
		for i := 0; i+1 < len(args); i++ {
			if v, ok := small[args[i]]; ok {
				args[i+1] = v
			}
		}
		mustRun(t, args...)
		ran = append(ran, args[0])
	}
	for _, c := range []string{"synth", "train", "eval", "personalize", "predict"} {
		if !slices.Contains(ran, c) {
			t.Errorf("the README's Commands section has no lrsp %s (ran %v)", c, ran)
		}
	}
	// The sequence recovered the users: the predictions of the new users'
	// held-out rows equal their noiseless targets.
	recs := readCSV(t, "predictions.csv")
	if len(recs) != 1+10*5 {
		t.Fatalf("predictions.csv has %d records", len(recs))
	}
	for _, r := range recs[1:] {
		got, _ := strconv.ParseFloat(r[1], 64)
		want, _ := strconv.ParseFloat(r[2], 64)
		if !strings.HasPrefix(r[0], "n") || math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("prediction %q", r)
		}
	}
}

// readmeCommands returns the lrsp commands of the first indented code
// block after the line heading in the file at path, as argument lists
// without "lrsp": continuation lines joined, comments and optional
// "[...]" arguments dropped.
func readmeCommands(t *testing.T, path, heading string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds [][]string
	in, block, pending := false, false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == heading:
			in = true
			continue
		case !in:
			continue
		case strings.HasPrefix(line, "    "):
			block = true
		case block:
			return cmds
		default:
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if cont := strings.HasSuffix(line, `\`); cont {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line = pending + line
		pending = ""
		line = regexp.MustCompile(`\[[^]]*\]`).ReplaceAllString(line, "")
		fields := strings.Fields(line)
		if len(fields) > 1 && fields[0] == "lrsp" {
			cmds = append(cmds, fields[1:])
		}
	}
	return cmds
}
