//go:build !linux

package main

// peakRSS returns 0: the peak resident set size is read only on Linux.
func peakRSS() uint64 { return 0 }
