package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOversizeBatchAttack measures lrsp serve under the oversize-batch
// attack of issue 14: a 28.6 MB body of 10^7 empty batch items, once, then
// three at once while /healthz is polled. It reports the server's peak
// resident memory (VmHWM) and the /healthz latencies. It runs only with
// LRSP_ATTACK=1; LRSP_ATTACK_BIN names an lrsp binary to measure instead
// of this package's code (e.g. one built from an earlier commit):
//
//	LRSP_ATTACK=1 go test ./cmd/lrsp/ -run '^TestOversizeBatchAttack$' -v
//	LRSP_ATTACK=1 LRSP_ATTACK_BIN=/tmp/lrsp-old go test ./cmd/lrsp/ -run '^TestOversizeBatchAttack$' -v
func TestOversizeBatchAttack(t *testing.T) {
	if os.Getenv("LRSP_ATTACK") != "1" {
		t.Skip("a measurement: set LRSP_ATTACK=1")
	}
	bin := os.Getenv("LRSP_ATTACK_BIN")
	run := func(args ...string) *exec.Cmd {
		if bin != "" {
			return exec.Command(bin, args...)
		}
		return lrspProcess(args...)
	}
	dir := t.TempDir()
	mpath, spath := filepath.Join(dir, "m.lrsp"), filepath.Join(dir, "users.db")
	for _, args := range [][]string{
		{"store", "random-model", "--users", "1000", "--dim", "8", "--rank", "2", "--sparsity", "2", "--out", mpath},
		{"store", "import", "--model", mpath, "--store", spath},
	} {
		if out, err := run(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	srv := run("serve", "--store", spath, "--addr", "127.0.0.1:0")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var url string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), " on http://"); ok {
			addr, _, _ := strings.Cut(rest, " ")
			url = "http://" + addr
			break
		}
	}
	if url == "" {
		t.Fatal("server did not start")
	}
	go io.Copy(io.Discard, stderr)
	hwm := func() int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.Process.Pid))
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
				return kb / 1024
			}
		}
		return -1
	}
	const n = 10_000_000
	var body bytes.Buffer
	body.WriteString(`{"requests":[`)
	body.WriteString(strings.Repeat(`{},`, n-1))
	body.WriteString(`{}]}`)
	attack := func() (int, time.Duration) {
		start := time.Now()
		resp, err := http.Post(url+"/v1/predict", "application/json", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Error(err)
			return 0, 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	t.Logf("idle: peak RSS %d MB", hwm())
	code, d := attack()
	t.Logf("one request of %.1f MB, %d items: status %d in %v; peak RSS %d MB", float64(body.Len())/(1<<20), n, code, d.Round(time.Millisecond), hwm())

	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			code, d := attack()
			t.Logf("concurrent request: status %d in %v", code, d.Round(time.Millisecond))
		})
	}
	var lat []time.Duration
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			start := time.Now()
			resp, err := http.Get(url + "/healthz")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(done)
	<-probeDone
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no /healthz answers")
	}
	t.Logf("three at once: peak RSS %d MB; /healthz during them: %d probes, median %v, max %v",
		hwm(), len(lat), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}
