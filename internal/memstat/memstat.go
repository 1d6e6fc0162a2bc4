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

// parseVmHWM returns the VmHWM line of a /proc/PID/status file in bytes,
// or 0 when there is none or it does not parse.
func parseVmHWM(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
