//go:build !amd64 || purego

package vec

// useAsm is false: there are no assembly kernels for this build.
const useAsm = false

// The assembly kernels' stand-ins, never called (useAsm is false), so that
// the dispatching functions compile on every build.

func dotAsm(x, y []float64) float64         { return dotGeneric(x, y) }
func axpyAsm(alpha float64, x, y []float64) { axpyGeneric(alpha, x, y) }
func dotRowsAsm(dst, x, b []float64)        { dotRowsGeneric(dst, x, b) }
func mulVecTransAsm(dst, x, v []float64)    { addMulVecTransGeneric(dst, x, v) }
func addSquaresAsm(dst, x []float64)        { addSquaresGeneric(dst, x) }
func widenAsm(dst []float64, src []float32) { widenGeneric(dst, src) }

func subSquares4Asm(dst, x []float64)                    {}
func invAbove4Asm(v, inv []float64, floor float64)       {}
func scoreMax4Asm(c, w []float64, best, idx *[4]float64) {}
