//go:build !linux

package memstat

func peakRSS() uint64 { return 0 }
