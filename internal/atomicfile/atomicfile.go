// Package atomicfile writes files so that a crash leaves either the old
// content or the new, never a partial file.
//
// What Write does depends on what the path names:
//
//   - An absent path or a regular file is replaced atomically: the content
//     goes to a temporary file in the same directory, which is synced and
//     renamed over the path, and the directory is synced.
//   - A symbolic link is followed (through any chain of links) and the file
//     it points to is handled by these rules; the link itself is kept. A
//     link to a regular or absent file thus gets that file replaced
//     atomically, in the link target's directory.
//   - A FIFO, a character or block device or a socket (a terminal, a named
//     pipe) is opened for writing and written through, without a temporary
//     file, since renaming over it would replace the special file itself.
//     Such a write is not atomic.
//   - A path that leads to an open file descriptor through /proc
//     (/dev/stdout, /dev/stderr, /dev/fd/N on Linux) is written through,
//     appending, whatever the descriptor holds: a pipe, a terminal, or a
//     regular file that the shell opened with > or >> (replacing that file
//     would detach it from the descriptor).
//   - A directory is an error.
//
// Temporary files are named ".NAME.tmp-PID-RANDOM", where NAME is the
// target's base name and PID the writing process's id. A failed write,
// including one whose callback panics or whose context is cancelled, removes
// its temporary file. A process killed by a signal it cannot catch (kill -9)
// cannot remove its own, so every Write first removes the stale temporary
// files of the same target: those whose PID names no running process on this
// host. A temporary file of a live process, or one not named by this rule, is
// never touched. The rule assumes that the writers of a directory share a
// process-id space (the same host, or the same container).
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxLinks bounds the symbolic links followed to resolve a path, as the
// kernel's own limit does.
const maxLinks = 40

// Write writes the content written by write to path, as the package comment
// describes: atomically for an absent path or a regular file.
func Write(path string, write func(io.Writer) error) error {
	return WriteContext(context.Background(), path, write)
}

// WriteContext is Write that stops when ctx is done: a write to the file
// after ctx is cancelled fails with ctx's error, the temporary file is
// removed and path keeps its old content.
func WriteContext(ctx context.Context, path string, write func(io.Writer) error) error {
	if err := writeContext(ctx, path, write); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return nil
}

func writeContext(ctx context.Context, path string, write func(io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	target, fi, err := resolve(path)
	switch {
	case errors.Is(err, errDescriptor):
		// /dev/stdout and the like: write to what the descriptor holds.
		return writeThrough(ctx, path, os.O_WRONLY|os.O_APPEND, write)
	case err != nil:
		return err
	case fi == nil || fi.Mode().IsRegular():
		return replace(ctx, target, write)
	case fi.IsDir():
		return errors.New("is a directory")
	}
	return writeThrough(ctx, target, os.O_WRONLY, write)
}

// errDescriptor is resolve's error for a path that leads through a link to
// an open file descriptor (/proc/PID/fd/N: /dev/stdout, /dev/fd/N).
var errDescriptor = errors.New("names a file descriptor")

// resolve follows the symbolic links of path and returns the path it ends
// at and that file's information, nil when it does not exist. A path that
// leads through /proc (where /dev/stdout and /dev/fd/N point: links to
// open descriptors, whose text is not always a path) is errDescriptor.
func resolve(path string) (string, fs.FileInfo, error) {
	for range maxLinks {
		// The directory's own links resolved, so that a link's relative
		// text (with "..") is read as the kernel reads it.
		dir := filepath.Dir(path)
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		if abs, err := filepath.Abs(dir); err == nil && (abs == "/proc" || strings.HasPrefix(abs, "/proc/")) {
			return "", nil, errDescriptor
		}
		path = filepath.Join(dir, filepath.Base(path))
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, fi, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", nil, fmt.Errorf("more than %d symbolic links", maxLinks)
}

// writeThrough writes to the special file at path in place, opened with
// flag.
func writeThrough(ctx context.Context, path string, flag int, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return err
	}
	if err := write(ctxWriter{ctx, f}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tempPrefix returns the prefix of the temporary files for the target
// named base.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// replace writes path through a temporary file renamed over it.
func replace(ctx context.Context, path string, write func(io.Writer) error) (err error) {
	t, err := createTemp(path)
	if err != nil {
		return err
	}
	// Until Commit succeeds every way out, a panic of write included,
	// removes the temporary file.
	defer t.Abort()
	if err := write(ctxWriter{ctx, t.File}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.commit()
}

// Temp is a temporary file that replaces its target atomically when
// committed, for writers that need more than Write offers (seeking, writing
// over a long time). Its name follows the package comment's rule, so that a
// later writer removes it if the process is killed.
type Temp struct {
	// File is the temporary file, open for reading and writing.
	*os.File
	target string
	done   bool
}

// CreateTemp returns a temporary file that Commit renames over path. path
// is resolved as Write resolves it (symbolic links are followed), but it
// must name a regular file or nothing: a FIFO or device cannot be replaced
// and a temporary file cannot be written through it, so such a path is an
// error. Stale temporary files of path are removed first.
func CreateTemp(path string) (*Temp, error) {
	t, err := createTemp(path)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	return t, nil
}

func createTemp(path string) (*Temp, error) {
	target, fi, err := resolve(path)
	if errors.Is(err, errDescriptor) {
		return nil, fmt.Errorf("%w (like /dev/stdout); this output is rewritten in place, so it must be a file", err)
	}
	if err != nil {
		return nil, err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("is a %s, not a regular file; this output is rewritten in place, so it must be a file", kind(fi.Mode()))
	}
	dir, base := filepath.Dir(target), filepath.Base(target)
	removeStale(dir, base)
	f, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, err
	}
	// CreateTemp makes the file private; a written file gets the usual mode.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Temp{File: f, target: target}, nil
}

// Commit syncs the temporary file, closes it and renames it over the
// target, then syncs the directory. On an error the temporary file is
// removed and the target keeps its old content.
func (t *Temp) Commit() error {
	if err := t.commit(); err != nil {
		t.Abort()
		return fmt.Errorf("atomicfile: write %s: %w", t.target, err)
	}
	return nil
}

func (t *Temp) commit() error {
	if t.done {
		return errors.New("already committed or aborted")
	}
	if err := t.Sync(); err != nil {
		return err
	}
	if err := t.Close(); err != nil {
		return err
	}
	if err := os.Rename(t.Name(), t.target); err != nil {
		return err
	}
	t.done = true
	if d, derr := os.Open(filepath.Dir(t.target)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort closes and removes the temporary file unless it was committed; it
// may be called more than once, and after Commit, for use with defer.
func (t *Temp) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.Close()
	os.Remove(t.Name())
}

// removeStale removes the temporary files for base in dir whose writer is
// no longer running (see the package comment). Errors are ignored: a stale
// file that cannot be removed does not stop a new write.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// kind names the type of a file that is not regular.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// ctxWriter is a writer that fails once its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}
