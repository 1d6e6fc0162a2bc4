//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package pack

import "os"

// mapFile reports that this system has no memory maps: Scan reads with
// ReadAt.
func mapFile(*os.File, int64) ([]byte, error) { return nil, errMapUnsupported }

// unmapFile is never called on this system.
func unmapFile([]byte) error { return nil }
