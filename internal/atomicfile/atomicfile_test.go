package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// temps returns the names of the temporary files in dir.
func temps(t *testing.T, dir string) []string {
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

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteReplacesRegularFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	for _, content := range []string{"first\n", "second\n"} {
		if err := Write(path, writeString(content)); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != content {
			t.Fatalf("content %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left: %v", tt)
	}
}

func TestWriteKeepsSymlinkAndReplacesItsTarget(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "real")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		link     string // the link's text
		exists   bool   // whether the target exists before the write
		resolved string // the file that must receive the content
	}{
		{"relative", "real/a.txt", true, filepath.Join(sub, "a.txt")},
		{"absolute", filepath.Join(sub, "b.txt"), true, filepath.Join(sub, "b.txt")},
		{"dangling", "real/c.txt", false, filepath.Join(sub, "c.txt")},
		{"chain", "link-relative", true, filepath.Join(sub, "a.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.exists {
				if _, err := os.Stat(tt.resolved); errors.Is(err, fs.ErrNotExist) {
					if err := os.WriteFile(tt.resolved, []byte("old"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			link := filepath.Join(dir, "link-"+tt.name)
			if err := os.Symlink(tt.link, link); err != nil {
				t.Fatal(err)
			}
			content := "new " + tt.name + "\n"
			if err := Write(link, writeString(content)); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(link)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the link was replaced by a %v", fi.Mode())
			}
			if got, _ := os.Readlink(link); got != tt.link {
				t.Errorf("link now points to %q, want %q", got, tt.link)
			}
			if got := readFile(t, tt.resolved); got != content {
				t.Errorf("target holds %q, want %q", got, content)
			}
			if tt := append(temps(t, dir), temps(t, sub)...); len(tt) > 0 {
				t.Errorf("temporary files left: %v", tt)
			}
		})
	}
}

func TestWriteThroughFIFOKeepsIt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	content := strings.Repeat("row,1.5\n", 10000) // more than a pipe buffer
	if err := Write(fifo, writeString(content)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != content {
			t.Errorf("reader got %d bytes, want %d", len(s), len(content))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader got nothing")
	}
	fi, err := os.Lstat(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced by a %v", fi.Mode())
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left: %v", tt)
	}
}

// nullDevice makes a null character device (1, 3 on Linux) in dir and
// returns its path; the test is skipped where that is not allowed (not
// root). Tests never write to the real /dev/null or /dev/stdout: a buggy
// Write run as root would replace the system's device.
func nullDevice(t *testing.T, dir string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("device numbers are Linux's")
	}
	path := filepath.Join(dir, "null")
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("mknod: %v", err)
	}
	return path
}

func TestWriteThroughCharDevice(t *testing.T) {
	dir := t.TempDir()
	dev := nullDevice(t, dir)
	link := filepath.Join(dir, "out")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dev, link} {
		if err := Write(path, writeString("discarded")); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if fi, err := os.Stat(dev); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
			t.Fatalf("writing %s replaced the device by a %v", path, fi.Mode())
		}
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left: %v", tt)
	}
}

func TestWriteRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, writeString("x")); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("err %v, want a directory error", err)
	}
}

func TestWriteRemovesTempOnFailure(t *testing.T) {
	tests := []struct {
		name  string
		write func(ctx context.Context, cancel func()) func(io.Writer) error
	}{
		{"error", func(context.Context, func()) func(io.Writer) error {
			return func(w io.Writer) error {
				io.WriteString(w, "partial")
				return errors.New("boom")
			}
		}},
		{"panic", func(context.Context, func()) func(io.Writer) error {
			return func(w io.Writer) error {
				io.WriteString(w, "partial")
				panic("boom")
			}
		}},
		{"cancelled mid-write", func(ctx context.Context, cancel func()) func(io.Writer) error {
			return func(w io.Writer) error {
				if _, err := io.WriteString(w, "partial"); err != nil {
					return err
				}
				cancel() // as SIGINT does through signal.NotifyContext
				for range 1000 {
					if _, err := io.WriteString(w, "more"); err != nil {
						return err
					}
				}
				return nil
			}
		}},
		{"cancelled after the last write", func(ctx context.Context, cancel func()) func(io.Writer) error {
			return func(w io.Writer) error {
				io.WriteString(w, "all")
				cancel()
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.lrsp")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			func() {
				defer func() { recover() }()
				if err := WriteContext(ctx, path, tt.write(ctx, cancel)); err == nil {
					t.Error("no error")
				}
			}()
			if got := readFile(t, path); got != "old" {
				t.Errorf("target holds %q, want the old content", got)
			}
			if tt := temps(t, dir); len(tt) > 0 {
				t.Errorf("temporary files left: %v", tt)
			}
		})
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if processAlive(pid) {
		t.Skipf("pid %d was reused already", pid)
	}
	return pid
}

func TestWriteRemovesStaleTempsOfDeadWriters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.lrsp")
	dead := deadPID(t)
	stale := fmt.Sprintf(".model.lrsp.tmp-%d-123", dead)
	live := fmt.Sprintf(".model.lrsp.tmp-%d-456", os.Getppid()) // a running process
	other := fmt.Sprintf(".other.lrsp.tmp-%d-789", dead)        // another target's
	foreign := ".model.lrsp.tmp-notapid"                        // not named by the rule
	for _, name := range []string{stale, live, other, foreign} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(path, writeString("new")); err != nil {
		t.Fatal(err)
	}
	got := temps(t, dir)
	want := []string{live, other, foreign}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, stale)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale %s was kept (temps now %v)", stale, got)
	}
}

// TestMain lets TestWriteKilledLeavesOldContentAndNextWriteCleans run this
// binary as a writer that it kills.
func TestMain(m *testing.M) {
	if path := os.Getenv("ATOMICFILE_SLOW_WRITER"); path != "" {
		err := Write(path, func(w io.Writer) error {
			chunk := bytes.Repeat([]byte("n"), 4096)
			for {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
				time.Sleep(time.Millisecond)
			}
		})
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestWriteKilledLeavesOldContentAndNextWriteCleans(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no kill -9")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.lrsp")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_SLOW_WRITER="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the writer's temporary file holds data, then kill it.
	prefix := ".model.lrsp.tmp-" + strconv.Itoa(cmd.Process.Pid) + "-"
	deadline := time.Now().Add(30 * time.Second)
	var temp string
	for temp == "" && time.Now().Before(deadline) {
		for _, name := range temps(t, dir) {
			if fi, err := os.Stat(filepath.Join(dir, name)); strings.HasPrefix(name, prefix) && err == nil && fi.Size() > 0 {
				temp = name
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if temp == "" {
		t.Fatal("the writer wrote no temporary file")
	}
	if got := readFile(t, path); got != "old" {
		t.Fatalf("after kill -9 the target holds %d bytes, want the old content", len(got))
	}
	if _, err := os.Stat(filepath.Join(dir, temp)); err != nil {
		t.Fatalf("the killed writer's temporary file is gone already: %v", err)
	}
	// The next writer removes it.
	if err := Write(path, writeString("new")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "new" {
		t.Errorf("target holds %q, want %q", got, "new")
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left after the next write: %v", tt)
	}
}

func TestCreateTempCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.bin")
	link := filepath.Join(dir, "link.bin")
	if err := os.Symlink("real.bin", link); err != nil {
		t.Fatal(err)
	}
	// Commit through a link replaces its target and keeps the link.
	tf, err := CreateTemp(link)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tf, "xxcd")
	if _, err := tf.WriteAt([]byte("ab"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tf.Commit(); err != nil {
		t.Fatal(err)
	}
	tf.Abort() // a no-op after Commit
	if got := readFile(t, real); got != "abcd" {
		t.Errorf("target holds %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced")
	}
	// Abort leaves the old content and no temporary file.
	tf, err = CreateTemp(real)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tf, "partial")
	tf.Abort()
	if got := readFile(t, real); got != "abcd" {
		t.Errorf("after Abort the target holds %q", got)
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left: %v", tt)
	}
	// A FIFO cannot be rewritten in place: refused, and left alone.
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := CreateTemp(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("CreateTemp of a FIFO: err %v", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced")
	}
}

// TestWriteThroughDescriptor guards --out /dev/stdout: it leads to
// /proc/self/fd/1, whose link text for a pipe ("pipe:[N]") is no path, and
// whose regular file (a shell's > redirection) must not be replaced. Open
// descriptors of the test stand for standard output.
func TestWriteThroughDescriptor(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	// A pipe, directly and through a link in the test's directory.
	for _, viaLink := range []bool{false, true} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/proc/self/fd/%d", w.Fd())
		if viaLink {
			link := filepath.Join(dir, "stdout")
			os.Remove(link)
			if err := os.Symlink(path, link); err != nil {
				t.Fatal(err)
			}
			path = link
		}
		got := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(r)
			got <- string(b)
		}()
		err = Write(path, writeString("through the pipe\n"))
		w.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s := <-got; s != "through the pipe\n" {
			t.Errorf("%s: the pipe got %q", path, s)
		}
		r.Close()
	}
	// A regular file behind a descriptor is appended to in place, as
	// after "lrsp ... --out /dev/stdout >> file".
	file := filepath.Join(dir, "redirected.txt")
	if err := os.WriteFile(file, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, _ := os.Stat(file)
	if err := Write(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), writeString("after\n")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(file)
	if !os.SameFile(before, after) {
		t.Error("the redirected file was replaced, detaching it from the descriptor")
	}
	if got := readFile(t, file); got != "before\nafter\n" {
		t.Errorf("file holds %q", got)
	}
	if tt := temps(t, dir); len(tt) > 0 {
		t.Errorf("temporary files left: %v", tt)
	}
	// CreateTemp cannot rewrite a descriptor in place.
	if _, err := CreateTemp(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil || !strings.Contains(err.Error(), "descriptor") {
		t.Errorf("CreateTemp of a descriptor: err %v", err)
	}
}

// TestWriteLinkInLinkedDirectory checks that a relative link with ".." is
// read from the directory it really is in, as the kernel reads it.
func TestWriteLinkInLinkedDirectory(t *testing.T) {
	root := t.TempDir()
	// root/a/b/out -> ../target (root/a/target); root/lb -> a/b.
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../target", filepath.Join(root, "a", "b", "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("a", "b"), filepath.Join(root, "lb")); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(root, "lb", "out"), writeString("x")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "a", "target")); got != "x" {
		t.Errorf("root/a/target holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "target")); err == nil {
		t.Error("the link's .. was read lexically: root/target was written")
	}
}
