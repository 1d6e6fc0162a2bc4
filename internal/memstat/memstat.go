// Package memstat reads the memory the process uses, for the reports of
// commands that stream data larger than memory.
package memstat

import (
	"bufio"
	"io"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
)

// Heap returns the bytes of the Go heap's live and not yet swept objects,
// a lower bound on the memory used, from runtime metrics (or
// runtime.MemStats when the metric is missing).
func Heap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	return s[0].Value.Uint64()
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM of
// /proc/self/status), or 0 when it cannot be read, as on systems other
// than Linux.
func PeakRSS() uint64 { return peakRSS() }

// FileRSS returns the bytes of the process's resident memory that are
// pages of files (RssFile of /proc/self/status): for a process that reads a
// memory-mapped file, the pages of it in memory, which count in its resident
// set size but are page cache that the kernel can reclaim. It is 0 when it
// cannot be read, as on systems other than Linux.
func FileRSS() uint64 { return fileRSS() }

// parseKB returns the line of a /proc/PID/status file that starts with key,
// a number of kB, in bytes, or 0 when there is none or it does not parse.
func parseKB(r io.Reader, key string) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
