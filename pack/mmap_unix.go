//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package pack

import (
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the first size bytes of f read-only and shared: reads of the
// mapping see the file's pages in the page cache, without a copy.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size > math.MaxInt {
		return nil, errMapUnsupported
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// unmapFile undoes mapFile.
func unmapFile(b []byte) error { return unix.Munmap(b) }
