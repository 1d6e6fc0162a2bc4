package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lrsp/lrsp/store"
)

// TestHelperLRSPMain is not a test: the crash tests run the test binary
// with LRSP_HELPER_ARGS set, and this then runs lrsp with those arguments
// (separated by the unit separator, 0x1f) as main does, and exits.
func TestHelperLRSPMain(t *testing.T) {
	args := os.Getenv("LRSP_HELPER_ARGS")
	if args == "" {
		t.Skip("runs only as the lrsp command of the crash tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(strings.Split(args, "\x1f"))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lrsp:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// lrspProcess returns the command running lrsp with args in a process of
// its own.
func lrspProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLRSPMain$")
	cmd.Env = append(os.Environ(), "LRSP_HELPER_ARGS="+strings.Join(args, "\x1f"))
	return cmd
}

// startServer runs lrsp serve on a free loopback port and returns the
// process and its base URL.
func startServer(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := lrspProcess("serve", "--store", path, "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " on http://"); ok {
			addr, _, _ := strings.Cut(rest, " ")
			go io.Copy(io.Discard, stderr)
			return cmd, "http://" + addr
		}
	}
	t.Fatalf("lrsp serve did not start: %v", sc.Err())
	return nil, ""
}

// userParams is the JSON of GET /v1/users/{id} and of PUT's answer.
type userParams struct {
	W []float64 `json:"w"`
	B []struct {
		Index int     `json:"index"`
		Value float64 `json:"value"`
	} `json:"b"`
}

// TestCrashConsistency kills lrsp serve with SIGKILL during a stream of
// PUTs and DELETEs from two clients, restarts it on the same store, and
// checks that every acknowledged PUT is there with exactly the
// acknowledged parameters, every acknowledged DELETE is absent, that
// lrsp store import and compact refuse the store while the server holds
// it, and that store.Check finds the store sound.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs lrsp serve in subprocesses")
	}
	dir := t.TempDir()
	mpath, spath := filepath.Join(dir, "m.lrsp"), filepath.Join(dir, "users.db")
	mustRun(t, "store", "random-model", "--users", "400", "--dim", "6", "--rank", "2", "--sparsity", "2", "--out", mpath)
	mustRun(t, "store", "import", "--model", mpath, "--store", spath)

	for round := range 2 {
		srv, url0 := startServer(t, spath)
		var mu sync.Mutex
		acked := map[string]*userParams{} // nil: acknowledged delete
		inflight := map[string]bool{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 5 * time.Second}
		for c := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var req *http.Request
					var id string
					if i%3 == 2 {
						id = fmt.Sprintf("u%d", (round*200+c*100+i)%400)
						req, _ = http.NewRequest("DELETE", url0+"/v1/users/"+id, nil)
					} else {
						id = fmt.Sprintf("r%dc%di%d", round, c, i)
						body := fmt.Sprintf(`{"samples":[{"features":[1,%d,0.5,-2,0,3],"y":%d.25},{"features":[0,1,1,%d,2,-1],"y":-1},{"features":[2,0,1,0,1,1],"y":0.5}]}`, i%7, i%5, i%3)
						req, _ = http.NewRequest("PUT", url0+"/v1/users/"+id, strings.NewReader(body))
					}
					mu.Lock()
					inflight[id] = true
					mu.Unlock()
					resp, err := client.Do(req)
					if err != nil {
						return // the server died: this op is unacknowledged
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					mu.Lock()
					switch {
					case req.Method == "DELETE" && (resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotFound):
						acked[id] = nil
						delete(inflight, id)
					case req.Method == "PUT" && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated):
						var p userParams
						if err := json.Unmarshal(b, &p); err != nil {
							t.Errorf("PUT %s: %v in %s", id, err, b)
						}
						acked[id] = &p
						delete(inflight, id)
					default:
						t.Errorf("%s %s: %d %s", req.Method, id, resp.StatusCode, b)
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(300+200*round) * time.Millisecond)
		srv.Process.Signal(syscall.SIGKILL)
		srv.Wait()
		close(stop)
		wg.Wait()
		mu.Lock()
		if len(acked) < 5 {
			t.Fatalf("round %d: only %d acknowledged writes before the kill", round, len(acked))
		}
		restarted, url := startServer(t, spath)
		if round == 0 {
			// A second writer is refused while the server holds the store.
			wantErr(t, []string{"store", "import", "--model", mpath, "--store", spath}, "locked by another process")
			wantErr(t, []string{"store", "compact", "--store", spath}, "locked by another process")
		}
		for id, want := range acked {
			if inflight[id] {
				continue // a later, unacknowledged op on the same id
			}
			resp, err := http.Get(url + "/v1/users/" + id)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case want == nil && resp.StatusCode != http.StatusNotFound:
				t.Errorf("round %d: acknowledged DELETE %s: after restart %d %s", round, id, resp.StatusCode, b)
			case want != nil && resp.StatusCode != http.StatusOK:
				t.Errorf("round %d: acknowledged PUT %s: after restart %d %s", round, id, resp.StatusCode, b)
			case want != nil:
				var got userParams
				if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(&got, want) {
					t.Errorf("round %d: user %s after restart %+v, acknowledged %+v", round, id, got, *want)
				}
			}
		}
		t.Logf("round %d: %d acknowledged writes checked after kill -9", round, len(acked))
		mu.Unlock()
		// Stop the restarted server, then check the whole store.
		restarted.Process.Signal(syscall.SIGTERM)
		restarted.Wait()
		storeSound(t, spath)
	}
}

// storeSound fails unless store.Check finds the store at path sound.
func storeSound(t *testing.T, path string) {
	t.Helper()
	rep, err := store.Check(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("store check %s: %q", path, rep.Problems)
	}
}

// TestImportKilled kills lrsp store import over an existing store, with
// SIGKILL and with SIGTERM, at several points: the target must be the old
// store or the complete new one, never a mix; SIGTERM leaves no temporary
// file, and the temporary file a SIGKILL leaves is removed by the next
// import.
func TestImportKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs lrsp store import in subprocesses")
	}
	dir := t.TempDir()
	oldm, newm, target := filepath.Join(dir, "old.lrsp"), filepath.Join(dir, "new.lrsp"), filepath.Join(dir, "users.db")
	mustRun(t, "store", "random-model", "--users", "50", "--dim", "4", "--rank", "2", "--sparsity", "1", "--out", oldm)
	mustRun(t, "store", "random-model", "--users", "150000", "--dim", "4", "--rank", "2", "--sparsity", "1", "--seed", "2", "--out", newm)
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".users.db.tmp*"))
		return m
	}
	outcomes := map[string]int{}
	for i, tc := range []struct {
		sig   syscall.Signal
		after time.Duration
	}{
		{syscall.SIGKILL, 150 * time.Millisecond}, {syscall.SIGKILL, 400 * time.Millisecond},
		{syscall.SIGTERM, 150 * time.Millisecond}, {syscall.SIGTERM, 400 * time.Millisecond},
		{syscall.SIGKILL, 800 * time.Millisecond},
	} {
		mustRun(t, "store", "import", "--model", oldm, "--store", target) // also sweeps stale temporaries
		if left := temps(); len(left) > 0 {
			t.Fatalf("attempt %d: temporary files left before the import: %v", i, left)
		}
		cmd := lrspProcess("store", "import", "--model", newm, "--store", target, "--batch", "2000")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(tc.after)
		cmd.Process.Signal(tc.sig)
		cmd.Wait()
		s, err := store.Open(target, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("attempt %d (%v after %v): the target does not open: %v", i, tc.sig, tc.after, err)
		}
		n := s.Len()
		s.Close()
		switch n {
		case 50:
			outcomes["old"]++
		case 150000:
			outcomes["new"]++
		default:
			t.Fatalf("attempt %d: the target holds %d users, want 50 (old) or 150000 (new)", i, n)
		}
		storeSound(t, target)
		if tc.sig == syscall.SIGTERM {
			if left := temps(); len(left) > 0 {
				t.Fatalf("attempt %d: SIGTERM left temporary files %v (stderr %s)", i, left, stderr.String())
			}
		}
	}
	// An import that runs to the end replaces the store whole and sweeps
	// what the kills left.
	mustRun(t, "store", "import", "--model", newm, "--store", target)
	if left := temps(); len(left) > 0 {
		t.Fatalf("temporary files left after a final import: %v", left)
	}
	s, err := store.Open(target, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 150000 {
		t.Fatalf("complete import holds %d users, want 150000", n)
	}
	s.Close()
	storeSound(t, target)
	t.Logf("outcomes of the interrupted imports: %v", outcomes)
}
