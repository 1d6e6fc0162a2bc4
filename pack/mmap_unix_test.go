//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package pack_test

import (
	"os"
	"runtime/debug"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"
)

// TestScanFaultOutsideMapping checks that a memory fault of fn at an
// address outside the file's mapping is not taken for a changed file: it
// passes through Scan as a panic.
func TestScanFaultOutsideMapping(t *testing.T) {
	guard, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Munmap(guard)
	data := synthData(t, synth.Options{Users: 4, Samples: 3, Dim: 2, Rank: 1, Seed: 9})
	p, err := pack.Open(write(t, data.Train, pack.Float64))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !pack.Mapped(p) {
		t.Fatal("not mapped")
	}
	var r any
	var sink float64
	func() {
		defer func() { r = recover() }()
		var sc dataset.Scratch
		err = p.Scan(0, p.NumUsers(), &sc, func(_ int, x, _ []float64) error {
			// Reading guard faults (SIGSEGV) at its address.
			sink += x[0] + *(*float64)(unsafe.Pointer(unsafe.SliceData(guard)))
			return nil
		})
	}()
	f, ok := r.(interface{ Addr() uintptr })
	if !ok || f.Addr() != uintptr(unsafe.Pointer(unsafe.SliceData(guard))) {
		t.Fatalf("panic %v, Scan error %v; want a fault at the guard page", r, err)
	}
	_ = sink
	// Scan restored the setting, false by default.
	if debug.SetPanicOnFault(false) {
		t.Error("panic on fault left on")
	}
}
