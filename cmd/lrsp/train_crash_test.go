package main

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lrsp/lrsp/model"
)

// TestMain runs the command itself when LRSP_TEST_MAIN is set, so that
// tests can start it as a process of its own (and kill it).
func TestMain(m *testing.M) {
	if os.Getenv("LRSP_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lrspMainProcess returns the command running lrsp with args in a process of
// its own.
func lrspMainProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LRSP_TEST_MAIN=1")
	return cmd
}

// tempFiles returns the names in dir that look like temporary files.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestTrainKilledLeavesOldOrCompleteModel is the crash-consistency test of
// lrsp train: runs killed with SIGKILL at random points leave the model
// file absent, old or complete (it loads and equals an uninterrupted
// run's), and the next run removes the temporary file a killed run could
// not; runs stopped with SIGINT or SIGTERM leave no temporary file at all.
func TestTrainKilledLeavesOldOrCompleteModel(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "synth", "--users", "1500", "--samples", "20", "--dim", "30", "--rank", "3", "--sparsity", "2",
		"--noise", "0.1", "--seed", "5", "--out", p("d.csv"))
	args := []string{"train", "--data", p("d.csv"), "--rank", "3", "--sparsity", "2", "--rounds", "6", "--tolerance", "0",
		"--workers", "2", "--out", p("model.lrsp")}

	// The complete model, and how long a run takes.
	start := time.Now()
	if out, err := lrspMainProcess(args...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	took := time.Since(start)
	complete, err := os.ReadFile(p("model.lrsp"))
	if err != nil {
		t.Fatal(err)
	}
	// An old model in its place, for the runs to replace.
	smallModel(t, p("model.lrsp"))
	old, _ := os.ReadFile(p("model.lrsp"))

	check := func(what string) {
		t.Helper()
		got, err := os.ReadFile(p("model.lrsp"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			t.Fatal(err)
		case bytes.Equal(got, old) || bytes.Equal(got, complete):
			if _, err := model.Load(p("model.lrsp")); err != nil {
				t.Fatalf("%s: the model does not load: %v", what, err)
			}
		default:
			t.Fatalf("%s: the model file (%d bytes) is neither the old one nor the complete one", what, len(got))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	runs := []struct {
		sig os.Signal
		// midWrite sends the signal as soon as the model's temporary
		// file appears, instead of after a random delay.
		midWrite bool
	}{
		{syscall.SIGKILL, false}, {syscall.SIGKILL, true}, {syscall.SIGKILL, false}, {syscall.SIGKILL, true},
		{os.Interrupt, false}, {os.Interrupt, true}, {syscall.SIGTERM, false}, {syscall.SIGTERM, true},
	}
	killed := map[int]bool{}
	for i, run := range runs {
		sig := run.sig
		cmd := lrspMainProcess(args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if run.midWrite {
			// Poll for the temporary file; fsync keeps it there for a
			// while before the rename.
			for seen := false; !seen && time.Since(start) < 3*took+10*time.Second; {
				for _, name := range tempFiles(t, dir) {
					pid, _, _ := strings.Cut(strings.TrimPrefix(name, ".model.lrsp.tmp-"), "-")
					seen = seen || !killed[atoi(pid)]
				}
				time.Sleep(100 * time.Microsecond)
			}
		} else {
			// Anywhere from the start to a little past the uninterrupted
			// run's end (writing the model is the last step).
			time.Sleep(time.Duration(rng.Float64() * 1.1 * float64(took)))
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		what := sig.String() + " after " + time.Since(start).Round(time.Millisecond).String()
		if run.midWrite {
			what += " (mid-write)"
		}
		t.Logf("run %d: %s: %v", i, what, err)
		check(what)
		// Only a killed run may leave a temporary file, its own; it stays
		// until the next run that writes the model.
		if sig == syscall.SIGKILL {
			killed[cmd.Process.Pid] = true
		}
		for _, name := range tempFiles(t, dir) {
			pid, _, _ := strings.Cut(strings.TrimPrefix(name, ".model.lrsp.tmp-"), "-")
			if !killed[atoi(pid)] {
				t.Fatalf("%s: temporary file %s is not a killed run's (killed: %v)\n%s", what, name, killed, out.String())
			}
		}
	}
	// A complete run writes the model and removes what killed runs left.
	if out, err := lrspMainProcess(args...).CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(p("model.lrsp")); !bytes.Equal(got, complete) {
		t.Error("the final run's model differs from the first uninterrupted run's")
	}
	if temps := tempFiles(t, dir); len(temps) > 0 {
		t.Errorf("temporary files left after a complete run: %v", temps)
	}
}

// atoi returns the number s, or -1.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
