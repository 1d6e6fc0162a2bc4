//go:build amd64 && !purego

package vec

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestAccelerated checks that the default amd64 build runs the assembly
// kernels on a CPU with AVX2 and FMA, so that the tests above hold the
// assembly (not the fallback twice) to the pure-Go kernels there.
func TestAccelerated(t *testing.T) {
	want := cpu.X86.HasAVX2 && cpu.X86.HasFMA
	if Accelerated() != want {
		t.Fatalf("Accelerated() = %v on a CPU with AVX2 and FMA = %v", Accelerated(), want)
	}
	t.Logf("assembly kernels: %v", want)
}
