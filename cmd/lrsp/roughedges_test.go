package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/version"
	"github.com/lrsp/lrsp/model"
)

// TestVersion checks lrsp version and lrsp --version.
func TestVersion(t *testing.T) {
	want := version.Read().String()
	if !strings.HasPrefix(want, "lrsp ") {
		t.Fatalf("version %q", want)
	}
	out := mustRun(t, "version")
	if first, _, _ := strings.Cut(out, "\n"); first != want || !strings.Contains(out, "go      go1.") {
		t.Errorf("lrsp version printed\n%s\nwant first line %q and the Go version", out, want)
	}
	if out := mustRun(t, "--version"); out != want+"\n" {
		t.Errorf("lrsp --version printed %q, want %q", out, want+"\n")
	}
}

// TestModelRecordsSoftware checks that the model files lrsp writes record
// the version that wrote them, and that inspect shows it.
func TestModelRecordsSoftware(t *testing.T) {
	dir := t.TempDir()
	data, m1, m2 := filepath.Join(dir, "d.csv"), filepath.Join(dir, "m.lrsp"), filepath.Join(dir, "m2.lrsp")
	mustRun(t, "synth", "--users", "20", "--samples", "10", "--dim", "4", "--rank", "1", "--sparsity", "1", "--out", data)
	mustRun(t, "train", "--data", data, "--rank", "1", "--sparsity", "1", "--out", m1)
	mustRun(t, "personalize", "--model", m1, "--data", data, "--out", m2)
	want := version.Read().String()
	for _, path := range []string{m1, m2} {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.Software != want {
			t.Errorf("%s records software %q, want %q", path, m.Config.Software, want)
		}
		if out := mustRun(t, "inspect", "--model", path); !strings.Contains(out, `config      software = "`+want+`"`) {
			t.Errorf("inspect does not show the software:\n%s", out)
		}
	}
}

// TestUnknownSubcommand checks that a mistyped subcommand of a command
// group is an error naming it, not its help with success or a complaint
// about the flags meant for the subcommand.
func TestUnknownSubcommand(t *testing.T) {
	wantErr(t, []string{"experiment", "foo"}, `unknown command "foo" for "lrsp experiment"`, "phase, rounds, sparsity")
	wantErr(t, []string{"store", "imprt", "--model", "m.lrsp", "--store", "s.db"},
		`unknown command "imprt" for "lrsp store"`, `did you mean "import"?`)
	if _, _, err := lrsp(t, "store", "imprt", "--model", "m.lrsp"); err != nil && strings.Contains(err.Error(), "unknown flag") {
		t.Errorf("error %q is about a flag", err)
	}
	// Without a subcommand the group prints its help.
	if out := mustRun(t, "experiment"); !strings.Contains(out, "Available Commands:") {
		t.Errorf("lrsp experiment printed\n%s", out)
	}
}

// TestRequiredFlags checks that the flags a command cannot run without are
// marked required, so that cobra refuses their absence and the help says
// so.
func TestRequiredFlags(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, tc := range []struct{ cmd, flag string }{
		{"personalize", "out"}, {"personalize", "model"}, {"personalize", "data"}, {"synth", "out"},
		{"train", "data"}, {"predict", "data"}, {"predict", "model"}, {"experiment phase", "out"}, {"pack", "data"},
	} {
		c, _, err := root.Find(strings.Fields(tc.cmd))
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().Lookup(tc.flag)
		if f == nil || len(f.Annotations[cobra.BashCompOneRequiredFlag]) == 0 || !strings.Contains(f.Usage, "(required)") {
			t.Errorf("lrsp %s --%s is not marked required (usage %q)", tc.cmd, tc.flag, f.Usage)
		}
	}
	wantErr(t, []string{"personalize", "--model", "m.lrsp", "--data", "d.csv"}, `required flag(s) "out" not set`)
}

// TestHelpTexts checks the help texts the first walk-through found wanting.
func TestHelpTexts(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		want, avoid []string
	}{
		{[]string{"personalize", "--help"}, []string{"support search for b: swap, greedy, htp (default: the model's)\n"},
			[]string{`(default "swap")`}},
		{[]string{"train", "--help"}, []string{"train learns one linear model per user", "--rank, --sparsity, --ridge\nand --center accept auto",
			"Differential privacy (--dp-*)"}, nil},
		{[]string{"experiment", "rounds", "--help"}, []string{"--noise floats", "(default 0,0.1)"}, []string{"float64Slice", "0.000000"}},
		{[]string{"experiment", "sparsity", "--help"}, []string{"--sparsity ints"}, []string{"--k "}},
		{[]string{"compare", "--help"}, []string{"--patience int"}, []string{"--neural-patience"}},
	} {
		out := mustRun(t, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("lrsp %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		for _, a := range tc.avoid {
			if strings.Contains(out, a) {
				t.Errorf("lrsp %s shows %q:\n%s", strings.Join(tc.args, " "), a, out)
			}
		}
	}
}

// TestDeprecatedFlagNames checks that the old names of renamed flags still
// work, with a deprecation notice.
func TestDeprecatedFlagNames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		old, want, notice []string
	}{
		{[]string{"experiment", "sparsity", "--out", dir, "--k", "500"}, []string{"sparsities [500]"},
			[]string{"lrsp: --k is now --sparsity; the old name will be removed\n"}},
		{[]string{"compare", "--data", "d.csv", "--test", "t.csv", "--methods", "neural-global", "--neural-patience", "0"},
			[]string{"--patience 0 must be at least 1"}, []string{"lrsp: --neural-patience is now --patience; the old name will be removed\n"}},
	} {
		stdout, stderr, err := lrsp(t, tc.old...)
		if err == nil || !strings.Contains(err.Error(), tc.want[0]) {
			t.Errorf("lrsp %s: error %v, want %q", strings.Join(tc.old, " "), err, tc.want[0])
		}
		if !strings.Contains(stderr, tc.notice[0]) || stdout != "" {
			t.Errorf("lrsp %s: stderr %q lacks %q (stdout %q)", strings.Join(tc.old, " "), stderr, tc.notice[0], stdout)
		}
	}
}

// TestRoundProgressLines checks the round lines off a terminal: a total
// only when one is known (never "round 3/0").
func TestRoundProgressLines(t *testing.T) {
	for _, tc := range []struct {
		rounds int
		want   string
	}{{50, "round 3/50: fits with this round's U: train loss 0.5 ("}, {0, "round 3: fits with this round's U: train loss 0.5 ("}} {
		var errb bytes.Buffer
		c := &cobra.Command{}
		c.SetErr(&errb)
		show, done := roundProgress(c, tc.rounds, "loss")
		show(fit.RoundStats{Round: 3, TrainLoss: 0.5})
		done()
		if !strings.HasPrefix(errb.String(), tc.want) {
			t.Errorf("rounds %d: %q, want it to start with %q", tc.rounds, errb.String(), tc.want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 rounds", 1: "1 round", 2: "2 rounds"} {
		if got := count(n, "round"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestDemoRounds checks the demo's round lines and its summary's grammar.
func TestDemoRounds(t *testing.T) {
	out, stderr, err := lrsp(t, "demo", "--users", "40", "--dim", "6", "--samples", "20", "--rank", "1", "--sparsity", "1",
		"--new-users", "3", "--rounds", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "trained AMHT-LRS in 1 round, ") || !strings.HasPrefix(stderr, "round 1/1: ") {
		t.Errorf("demo printed\n%s\nstderr\n%s", out, stderr)
	}
}

// TestTuningProgress checks that train --rank auto and compare show each
// fit as it ends when not on a terminal.
func TestTuningProgress(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d.csv")
	mustRun(t, "synth", "--users", "30", "--samples", "10", "--dim", "4", "--rank", "1", "--sparsity", "1",
		"--noise", "0.05", "--test-samples", "3", "--out", data)
	_, stderr, err := lrsp(t, "train", "--data", data, "--rank", "auto", "--sparsity", "1", "--out", filepath.Join(dir, "m.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^tune lrs: candidate 1: rank \d+, sparsity 1, ridge 0, center false: validation RMSE [0-9.e-]+ \([0-9.]+ s\)$`)
	if !line.MatchString(stderr) || !regexp.MustCompile(`(?m)^tune lrs: scored \d+ candidates and retrained the best on all the data in [0-9.]+ s$`).MatchString(stderr) {
		t.Errorf("train --rank auto stderr:\n%s", stderr)
	}
	_, stderr, err = lrsp(t, "compare", "--data", data, "--test", filepath.Join(dir, "d-test.csv"), "--methods", "global,lrs",
		"--rounds", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compare global: started (method 1 of 2)\n", "compare global: done in ",
		"compare lrs: started (method 2 of 2)\n", "compare lrs: candidate 1: rank ", "compare lrs: done in "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("compare stderr lacks %q:\n%s", want, stderr)
		}
	}
}
