//go:build !linux

package memstat

func peakRSS() uint64 { return 0 }

func fileRSS() uint64 { return 0 }
