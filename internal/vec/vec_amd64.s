//go:build amd64 && !purego

// AVX2 + FMA kernels for vec_amd64.go. Every loop walks its slices from
// index 0 upwards with unaligned loads and the same partial sums whatever
// the alignment, so that a result depends only on the values and lengths.
// Register use: SI, DI, R8-R11 hold slice bases, AX the element index, CX
// the length, DX the end of the vector part of a loop.

#include "textflag.h"

// tailMask holds the VMASKMOVPD masks that load the last k = 1..3 elements
// of a slice: the four quadwords at tailMask+8*(3-k) are k all-ones masks
// followed by 4-k zeros. Masked-out lanes read as 0 and never fault.
DATA tailMask<>+0(SB)/8, $-1
DATA tailMask<>+8(SB)/8, $-1
DATA tailMask<>+16(SB)/8, $-1
DATA tailMask<>+24(SB)/8, $0
DATA tailMask<>+32(SB)/8, $0
DATA tailMask<>+40(SB)/8, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $48

// func dotAsm(x, y []float64) float64
//
// Four 4-lane partial sums over blocks of 16, then blocks of 4 into the
// first, the last 1..3 elements by masked loads into the second, and a
// fixed-order reduction.
TEXT ·dotAsm(SB), NOSPLIT, $0-56
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DI
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-16, DX
	JZ   dot_by4

dot_loop16:
	VMOVUPD     (SI)(AX*8), Y4
	VMOVUPD     32(SI)(AX*8), Y5
	VMOVUPD     64(SI)(AX*8), Y6
	VMOVUPD     96(SI)(AX*8), Y7
	VFMADD231PD (DI)(AX*8), Y4, Y0   // Y0 += x[i:i+4] * y[i:i+4]
	VFMADD231PD 32(DI)(AX*8), Y5, Y1
	VFMADD231PD 64(DI)(AX*8), Y6, Y2
	VFMADD231PD 96(DI)(AX*8), Y7, Y3
	ADDQ        $16, AX
	CMPQ        AX, DX
	JLT         dot_loop16

dot_by4:
	MOVQ CX, DX
	ANDQ $-4, DX
	CMPQ AX, DX
	JGE  dot_tail

dot_loop4:
	VMOVUPD     (SI)(AX*8), Y4
	VFMADD231PD (DI)(AX*8), Y4, Y0
	ADDQ        $4, AX
	CMPQ        AX, DX
	JLT         dot_loop4

dot_tail:
	MOVQ       CX, BX
	SUBQ       AX, BX                // BX = k, the 0..3 elements left
	JZ         dot_reduce
	LEAQ       tailMask<>(SB), R8
	NEGQ       BX
	LEAQ       24(R8)(BX*8), R8      // the mask for k elements
	VMOVUPD    (R8), Y8
	VMASKMOVPD (SI)(AX*8), Y8, Y4
	VMASKMOVPD (DI)(AX*8), Y8, Y5
	VFMADD231PD Y5, Y4, Y1

dot_reduce:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0          // two lanes left
	VPERMILPD    $1, X0, X1
	VADDSD       X1, X0, X0
	VZEROUPPER
	MOVSD        X0, ret+48(FP)
	RET

// func axpyAsm(alpha float64, x, y []float64)
//
// Blocks of 8, one block of 4, then scalar FMAs (a masked store would be
// slow on some CPUs).
TEXT ·axpyAsm(SB), NOSPLIT, $0-56
	VBROADCASTSD alpha+0(FP), Y0
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI
	XORQ         AX, AX
	MOVQ         CX, DX
	ANDQ         $-8, DX
	JZ           axpy_by4

axpy_loop8:
	VMOVUPD     (DI)(AX*8), Y1
	VMOVUPD     32(DI)(AX*8), Y2
	VFMADD231PD (SI)(AX*8), Y0, Y1   // Y1 += alpha * x[i:i+4]
	VFMADD231PD 32(SI)(AX*8), Y0, Y2
	VMOVUPD     Y1, (DI)(AX*8)
	VMOVUPD     Y2, 32(DI)(AX*8)
	ADDQ        $8, AX
	CMPQ        AX, DX
	JLT         axpy_loop8

axpy_by4:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $4
	JLT         axpy_tail
	VMOVUPD     (DI)(AX*8), Y1
	VFMADD231PD (SI)(AX*8), Y0, Y1
	VMOVUPD     Y1, (DI)(AX*8)
	ADDQ        $4, AX

axpy_tail:
	CMPQ        AX, CX
	JGE         axpy_done
	VMOVSD      (DI)(AX*8), X1
	VFMADD231SD (SI)(AX*8), X0, X1
	VMOVSD      X1, (DI)(AX*8)
	INCQ        AX
	JMP         axpy_tail

axpy_done:
	VZEROUPPER
	RET

// func dot4Asm(dst *[4]float64, x, b []float64)
//
// Four dot products of x with the rows b0..b3 of b (stride n = len(x)),
// sharing each load of x: two 4-lane partial sums per row over blocks of
// 8 (Y0-Y3 and Y4-Y7), one block of 4 into Y0-Y3, the last 1..3 elements
// by masked loads into Y4-Y7, and a reduction that leaves the four sums
// in the lanes of one register.
TEXT ·dot4Asm(SB), NOSPLIT, $0-56
	MOVQ   dst+0(FP), R12
	MOVQ   x_base+8(FP), SI
	MOVQ   x_len+16(FP), CX
	MOVQ   b_base+32(FP), R8
	LEAQ   (R8)(CX*8), R9
	LEAQ   (R9)(CX*8), R10
	LEAQ   (R10)(CX*8), R11
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	XORQ   AX, AX
	MOVQ   CX, DX
	ANDQ   $-8, DX
	JZ     dot4_by4

dot4_loop8:
	VMOVUPD     (SI)(AX*8), Y8
	VMOVUPD     32(SI)(AX*8), Y9
	VFMADD231PD (R8)(AX*8), Y8, Y0
	VFMADD231PD (R9)(AX*8), Y8, Y1
	VFMADD231PD (R10)(AX*8), Y8, Y2
	VFMADD231PD (R11)(AX*8), Y8, Y3
	VFMADD231PD 32(R8)(AX*8), Y9, Y4
	VFMADD231PD 32(R9)(AX*8), Y9, Y5
	VFMADD231PD 32(R10)(AX*8), Y9, Y6
	VFMADD231PD 32(R11)(AX*8), Y9, Y7
	ADDQ        $8, AX
	CMPQ        AX, DX
	JLT         dot4_loop8

dot4_by4:
	MOVQ        CX, DX
	SUBQ        AX, DX               // DX = elements left
	CMPQ        DX, $4
	JLT         dot4_tail
	VMOVUPD     (SI)(AX*8), Y8
	VFMADD231PD (R8)(AX*8), Y8, Y0
	VFMADD231PD (R9)(AX*8), Y8, Y1
	VFMADD231PD (R10)(AX*8), Y8, Y2
	VFMADD231PD (R11)(AX*8), Y8, Y3
	ADDQ        $4, AX
	SUBQ        $4, DX

dot4_tail:
	TESTQ       DX, DX
	JZ          dot4_reduce
	LEAQ        tailMask<>(SB), BX
	NEGQ        DX
	LEAQ        24(BX)(DX*8), BX     // the mask for the 1..3 elements left
	VMOVUPD     (BX), Y10
	VMASKMOVPD  (SI)(AX*8), Y10, Y8
	VMASKMOVPD  (R8)(AX*8), Y10, Y9
	VFMADD231PD Y9, Y8, Y4
	VMASKMOVPD  (R9)(AX*8), Y10, Y9
	VFMADD231PD Y9, Y8, Y5
	VMASKMOVPD  (R10)(AX*8), Y10, Y9
	VFMADD231PD Y9, Y8, Y6
	VMASKMOVPD  (R11)(AX*8), Y10, Y9
	VFMADD231PD Y9, Y8, Y7

dot4_reduce:
	VADDPD     Y4, Y0, Y0
	VADDPD     Y5, Y1, Y1
	VADDPD     Y6, Y2, Y2
	VADDPD     Y7, Y3, Y3
	VHADDPD    Y1, Y0, Y0            // [s0 01, s1 01, s0 23, s1 23]
	VHADDPD    Y3, Y2, Y2            // [s2 01, s3 01, s2 23, s3 23]
	VPERM2F128 $0x20, Y2, Y0, Y4     // the low halves
	VPERM2F128 $0x31, Y2, Y0, Y5     // the high halves
	VADDPD     Y5, Y4, Y0            // [s0, s1, s2, s3]
	VMOVUPD    Y0, (R12)
	VZEROUPPER
	RET

// func axpy4Asm(a *[4]float64, x, y []float64)
//
// y += a0 x0 + a1 x1 + a2 x2 + a3 x3 for the rows x0..x3 of x (stride
// n = len(y)), one load and store of y per four rows, in that order.
TEXT ·axpy4Asm(SB), NOSPLIT, $0-56
	MOVQ         a+0(FP), BX
	VBROADCASTSD (BX), Y0
	VBROADCASTSD 8(BX), Y1
	VBROADCASTSD 16(BX), Y2
	VBROADCASTSD 24(BX), Y3
	MOVQ         x_base+8(FP), R8
	MOVQ         y_base+32(FP), DI
	MOVQ         y_len+40(FP), CX
	LEAQ         (R8)(CX*8), R9
	LEAQ         (R9)(CX*8), R10
	LEAQ         (R10)(CX*8), R11
	XORQ         AX, AX
	MOVQ         CX, DX
	ANDQ         $-8, DX
	JZ           axpy4_by4

axpy4_loop8:
	VMOVUPD     (DI)(AX*8), Y4
	VMOVUPD     32(DI)(AX*8), Y5
	VFMADD231PD (R8)(AX*8), Y0, Y4
	VFMADD231PD 32(R8)(AX*8), Y0, Y5
	VFMADD231PD (R9)(AX*8), Y1, Y4
	VFMADD231PD 32(R9)(AX*8), Y1, Y5
	VFMADD231PD (R10)(AX*8), Y2, Y4
	VFMADD231PD 32(R10)(AX*8), Y2, Y5
	VFMADD231PD (R11)(AX*8), Y3, Y4
	VFMADD231PD 32(R11)(AX*8), Y3, Y5
	VMOVUPD     Y4, (DI)(AX*8)
	VMOVUPD     Y5, 32(DI)(AX*8)
	ADDQ        $8, AX
	CMPQ        AX, DX
	JLT         axpy4_loop8

axpy4_by4:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $4
	JLT         axpy4_tail
	VMOVUPD     (DI)(AX*8), Y4
	VFMADD231PD (R8)(AX*8), Y0, Y4
	VFMADD231PD (R9)(AX*8), Y1, Y4
	VFMADD231PD (R10)(AX*8), Y2, Y4
	VFMADD231PD (R11)(AX*8), Y3, Y4
	VMOVUPD     Y4, (DI)(AX*8)
	ADDQ        $4, AX

axpy4_tail:
	CMPQ        AX, CX
	JGE         axpy4_done
	VMOVSD      (DI)(AX*8), X4
	VFMADD231SD (R8)(AX*8), X0, X4
	VFMADD231SD (R9)(AX*8), X1, X4
	VFMADD231SD (R10)(AX*8), X2, X4
	VFMADD231SD (R11)(AX*8), X3, X4
	VMOVSD      X4, (DI)(AX*8)
	INCQ        AX
	JMP         axpy4_tail

axpy4_done:
	VZEROUPPER
	RET

// func addSquaresAsm(dst, x []float64)
TEXT ·addSquaresAsm(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-8, DX
	JZ   sq_by4

sq_loop8:
	VMOVUPD     (SI)(AX*8), Y1
	VMOVUPD     32(SI)(AX*8), Y2
	VMOVUPD     (DI)(AX*8), Y3
	VMOVUPD     32(DI)(AX*8), Y4
	VFMADD231PD Y1, Y1, Y3           // dst += x*x
	VFMADD231PD Y2, Y2, Y4
	VMOVUPD     Y3, (DI)(AX*8)
	VMOVUPD     Y4, 32(DI)(AX*8)
	ADDQ        $8, AX
	CMPQ        AX, DX
	JLT         sq_loop8

sq_by4:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $4
	JLT         sq_tail
	VMOVUPD     (SI)(AX*8), Y1
	VMOVUPD     (DI)(AX*8), Y3
	VFMADD231PD Y1, Y1, Y3
	VMOVUPD     Y3, (DI)(AX*8)
	ADDQ        $4, AX

sq_tail:
	CMPQ        AX, CX
	JGE         sq_done
	VMOVSD      (SI)(AX*8), X1
	VMOVSD      (DI)(AX*8), X3
	VFMADD231SD X1, X1, X3
	VMOVSD      X3, (DI)(AX*8)
	INCQ        AX
	JMP         sq_tail

sq_done:
	VZEROUPPER
	RET

// func widenAsm(dst []float64, src []float32)
//
// Converts len(dst) float32 values of src to float64: blocks of 16, one
// block of 8 and one of 4, then scalar conversions. Widening is exact, so
// the result is bit-identical to the pure-Go loop.
TEXT ·widenAsm(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-16, DX
	JZ   widen_by4

widen_loop16:
	VCVTPS2PD (SI)(AX*4), Y0
	VCVTPS2PD 16(SI)(AX*4), Y1
	VCVTPS2PD 32(SI)(AX*4), Y2
	VCVTPS2PD 48(SI)(AX*4), Y3
	VMOVUPD   Y0, (DI)(AX*8)
	VMOVUPD   Y1, 32(DI)(AX*8)
	VMOVUPD   Y2, 64(DI)(AX*8)
	VMOVUPD   Y3, 96(DI)(AX*8)
	ADDQ      $16, AX
	CMPQ      AX, DX
	JLT       widen_loop16

widen_by4:
	MOVQ      CX, DX
	ANDQ      $-4, DX
	CMPQ      AX, DX
	JGE       widen_tail

widen_loop4:
	VCVTPS2PD (SI)(AX*4), Y0
	VMOVUPD   Y0, (DI)(AX*8)
	ADDQ      $4, AX
	CMPQ      AX, DX
	JLT       widen_loop4

widen_tail:
	CMPQ      AX, CX
	JGE       widen_done
	VMOVSS    (SI)(AX*4), X0
	VCVTSS2SD X0, X0, X0
	VMOVSD    X0, (DI)(AX*8)
	INCQ      AX
	JMP       widen_tail

widen_done:
	VZEROUPPER
	RET

// func subSquares4Asm(dst, x []float64)
//
// dst[j] -= x[j]*x[j] for j < len(dst)&^3, the product rounded before the
// subtraction (no fused multiply-add), as the pure-Go loop computes it.
TEXT ·subSquares4Asm(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	ANDQ $-4, CX
	XORQ AX, AX
	CMPQ AX, CX
	JGE  subsq_done

subsq_loop:
	VMOVUPD (SI)(AX*8), Y0
	VMULPD  Y0, Y0, Y0
	VMOVUPD (DI)(AX*8), Y1
	VSUBPD  Y0, Y1, Y1               // dst - x*x
	VMOVUPD Y1, (DI)(AX*8)
	ADDQ    $4, AX
	CMPQ    AX, CX
	JLT     subsq_loop

subsq_done:
	VZEROUPPER
	RET

// func invAbove4Asm(v, inv []float64, floor float64)
//
// For j < len(v)&^3: v[j], inv[j] = 0, 0 where v[j] <= floor, else
// inv[j] = 1/v[j] (v[j] kept); a NaN v[j] is not <= floor, as in Go.
TEXT ·invAbove4Asm(SB), NOSPLIT, $0-56
	MOVQ         v_base+0(FP), SI
	MOVQ         v_len+8(FP), CX
	MOVQ         inv_base+24(FP), DI
	VBROADCASTSD floor+48(FP), Y4
	MOVQ         $0x3ff0000000000000, BX   // 1.0
	MOVQ         BX, X5
	VBROADCASTSD X5, Y5
	ANDQ         $-4, CX
	XORQ         AX, AX
	CMPQ         AX, CX
	JGE          inv_done

inv_loop:
	VMOVUPD (SI)(AX*8), Y0
	VCMPPD  $0x12, Y4, Y0, Y1        // v <= floor, ordered (false for NaN)
	VDIVPD  Y0, Y5, Y2               // 1 / v
	VANDNPD Y2, Y1, Y2               // 0 where v <= floor
	VANDNPD Y0, Y1, Y0
	VMOVUPD Y0, (SI)(AX*8)
	VMOVUPD Y2, (DI)(AX*8)
	ADDQ    $4, AX
	CMPQ    AX, CX
	JLT     inv_loop

inv_done:
	VZEROUPPER
	RET

// func scoreMax4Asm(c, w []float64, best, idx *[4]float64)
//
// For j < len(c)&^3: c[j] = (c[j]*w[j])*c[j]; lane l of best and idx
// (which start at 0 and -1) keeps the largest of the c[j] with j%4 == l
// that exceed it and its index (as a float64), the first of equals: a
// value replaces the lane's only when greater (ordered: never for NaN).
TEXT ·scoreMax4Asm(SB), NOSPLIT, $0-64
	MOVQ         c_base+0(FP), SI
	MOVQ         c_len+8(FP), CX
	MOVQ         w_base+24(FP), DI
	MOVQ         best+48(FP), R8
	MOVQ         idx+56(FP), R9
	VMOVUPD      (R8), Y6                 // lane bests
	VMOVUPD      (R9), Y7                 // lane indices
	MOVQ         $0x4010000000000000, BX  // 4.0
	MOVQ         BX, X5
	VBROADCASTSD X5, Y5
	MOVQ         $0x3ff0000000000000, BX  // 1.0
	MOVQ         BX, X0
	VBROADCASTSD X0, Y0
	VXORPD       Y4, Y4, Y4
	VADDPD       Y0, Y4, Y1               // 1
	VADDPD       Y1, Y0, Y2               // 2
	VADDPD       Y2, Y0, Y3               // 3
	VUNPCKLPD    Y1, Y4, Y4               // lanes 0,1 of (0, 1) in each half
	VUNPCKLPD    Y3, Y2, Y2               // (2, 3) in each half
	VPERM2F128   $0x20, Y2, Y4, Y4        // Y4 = (0, 1, 2, 3): the indices of this block
	ANDQ         $-4, CX
	XORQ         AX, AX
	CMPQ         AX, CX
	JGE          score_done

score_loop:
	VMOVUPD (SI)(AX*8), Y0
	VMULPD  (DI)(AX*8), Y0, Y1       // c*w
	VMULPD  Y0, Y1, Y1               // (c*w)*c
	VMOVUPD Y1, (SI)(AX*8)
	VCMPPD  $0x1e, Y6, Y1, Y2        // score > best, ordered
	VBLENDVPD Y2, Y1, Y6, Y6
	VBLENDVPD Y2, Y4, Y7, Y7
	VADDPD  Y5, Y4, Y4
	ADDQ    $4, AX
	CMPQ    AX, CX
	JLT     score_loop

score_done:
	VMOVUPD Y6, (R8)
	VMOVUPD Y7, (R9)
	VZEROUPPER
	RET
