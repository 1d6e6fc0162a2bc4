package memstat

import "os"

func peakRSS() uint64 { return status("VmHWM:") }

func fileRSS() uint64 { return status("RssFile:") }

// status returns the line key of /proc/self/status in bytes (see parseKB).
func status(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseKB(f, key)
}
