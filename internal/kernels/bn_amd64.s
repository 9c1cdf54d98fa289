//go:build amd64 && !purego

#include "textflag.h"
#include "lanemask_amd64.h"

// Batch-normalisation kernels over a (rows, c) row-major matrix, any c,
// 16 channels (one zmm register; a last partial group under the mask K2,
// so that nothing past channel c is touched) at a time down the rows: the per-channel
// constants and accumulators stay in registers. R11 is the row stride in
// bytes, BX the byte offset of the current group of 16 channels. With
// relu set, the gradient g is dy where y > 0 and 0 elsewhere (a compare
// into K1 and a zero-masked move).

// func bnAffineAVX512(y, x, scale, shift *float32, rows, c int, relu bool)
TEXT ·bnAffineAVX512(SB), NOSPLIT, $0-49
	MOVQ    y+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    scale+16(FP), R8
	MOVQ    shift+24(FP), R9
	MOVQ    rows+32(FP), CX
	MOVQ    c+40(FP), R11
	MOVBLZX relu+48(FP), R10
	SHLQ    $2, R11
	VXORPS  Z31, Z31, Z31
	XORQ    BX, BX

affineGroup:
	CMPQ    BX, R11
	JGE     affineDone
	LANE_MASK(R11, BX, AX, DX, K2)
	VMOVUPS.Z (R8)(BX*1), K2, Z0
	VMOVUPS.Z (R9)(BX*1), K2, Z1
	LEAQ    (SI)(BX*1), R12
	LEAQ    (DI)(BX*1), R13
	MOVQ    CX, R14

affineRow:
	TESTQ       R14, R14
	JZ          affineNext
	VMOVUPS.Z (R12), K2, Z2
	VFMADD213PS Z1, Z0, Z2 // Z2 = x*scale + shift
	TESTQ       R10, R10
	JZ          affineStore
	VMAXPS      Z31, Z2, Z2

affineStore:
	VMOVUPS Z2, K2, (R13)
	ADDQ    R11, R12
	ADDQ    R11, R13
	DECQ    R14
	JMP     affineRow

affineNext:
	ADDQ $64, BX
	JMP  affineGroup

affineDone:
	VZEROUPPER
	RET

// func bnGradSumsAVX512(sg, sgx, x, y, dy, mean, invStd *float32, rows, c int, relu bool)
TEXT ·bnGradSumsAVX512(SB), NOSPLIT, $0-73
	MOVQ    x+16(FP), SI
	MOVQ    y+24(FP), DI
	MOVQ    dy+32(FP), DX
	MOVQ    mean+40(FP), R8
	MOVQ    invStd+48(FP), R9
	MOVQ    rows+56(FP), CX
	MOVQ    c+64(FP), R11
	MOVBLZX relu+72(FP), R10
	SHLQ    $2, R11
	VXORPS  Z31, Z31, Z31
	XORQ    BX, BX

sumsGroup:
	CMPQ    BX, R11
	JGE     sumsDone
	LANE_MASK(R11, BX, AX, R12, K2)
	VMOVUPS.Z (R8)(BX*1), K2, Z0 // mean
	VMOVUPS.Z (R9)(BX*1), K2, Z1 // invStd
	VXORPS  Z2, Z2, Z2     // sum g
	VXORPS  Z3, Z3, Z3     // sum g*xhat
	LEAQ    (SI)(BX*1), R12
	LEAQ    (DI)(BX*1), R13
	LEAQ    (DX)(BX*1), R15
	MOVQ    CX, R14

sumsRow:
	TESTQ   R14, R14
	JZ      sumsNext
	VMOVUPS.Z (R15), K2, Z4
	TESTQ   R10, R10
	JZ      sumsAcc
	VMOVUPS.Z (R13), K2, Z5
	VCMPPS  $14, Z31, Z5, K1 // y > 0
	VMOVUPS.Z Z4, K1, Z4

sumsAcc:
	VADDPS      Z4, Z2, Z2
	VMOVUPS.Z (R12), K2, Z6
	VSUBPS      Z0, Z6, Z6 // x - mean
	VMULPS      Z1, Z6, Z6 // xhat
	VFMADD231PS Z6, Z4, Z3 // += g*xhat
	ADDQ        R11, R12
	ADDQ        R11, R13
	ADDQ        R11, R15
	DECQ        R14
	JMP         sumsRow

sumsNext:
	MOVQ    sg+0(FP), AX
	VMOVUPS Z2, K2, (AX)(BX*1)
	MOVQ    sgx+8(FP), AX
	VMOVUPS Z3, K2, (AX)(BX*1)
	ADDQ    $64, BX
	JMP     sumsGroup

sumsDone:
	VZEROUPPER
	RET

// func bnGradAVX512(dx, x, y, dy, k, a, cc *float32, rows, c int, relu bool)
TEXT ·bnGradAVX512(SB), NOSPLIT, $0-73
	MOVQ    dx+0(FP), AX
	MOVQ    x+8(FP), SI
	MOVQ    y+16(FP), DI
	MOVQ    dy+24(FP), DX
	MOVQ    rows+56(FP), CX
	MOVQ    c+64(FP), R11
	MOVBLZX relu+72(FP), R10
	SHLQ    $2, R11
	VXORPS  Z31, Z31, Z31
	XORQ    BX, BX

gradGroup:
	CMPQ    BX, R11
	JGE     gradDone
	LANE_MASK(R11, BX, R8, R12, K2)
	MOVQ    k+32(FP), R8
	VMOVUPS.Z (R8)(BX*1), K2, Z0
	MOVQ    a+40(FP), R8
	VMOVUPS.Z (R8)(BX*1), K2, Z1
	MOVQ    cc+48(FP), R8
	VMOVUPS.Z (R8)(BX*1), K2, Z2
	LEAQ    (SI)(BX*1), R12
	LEAQ    (DI)(BX*1), R13
	LEAQ    (DX)(BX*1), R15
	LEAQ    (AX)(BX*1), R9
	MOVQ    CX, R14

gradRow:
	TESTQ   R14, R14
	JZ      gradNext
	VMOVUPS.Z (R15), K2, Z4
	TESTQ   R10, R10
	JZ      gradCalc
	VMOVUPS.Z (R13), K2, Z5
	VCMPPS  $14, Z31, Z5, K1
	VMOVUPS.Z Z4, K1, Z4

gradCalc:
	VMOVAPS     Z2, Z7
	VFMADD231PS (R12), Z1, K2, Z7 // cc + a*x
	VFMADD231PS Z4, Z0, Z7    // + k*g
	VMOVUPS Z7, K2, (R9)
	ADDQ        R11, R12
	ADDQ        R11, R13
	ADDQ        R11, R15
	ADDQ        R11, R9
	DECQ        R14
	JMP         gradRow

gradNext:
	ADDQ $64, BX
	JMP  gradGroup

gradDone:
	VZEROUPPER
	RET

// func biasResReLUAVX512(y, bias, res *float32, rows, c int, relu bool)
// y[r,j] += bias[j] (+ res[r,j] when res != nil), then max(.,0) if relu.
TEXT ·biasResReLUAVX512(SB), NOSPLIT, $0-41
	MOVQ    y+0(FP), DI
	MOVQ    bias+8(FP), R8
	MOVQ    res+16(FP), R9
	MOVQ    rows+24(FP), CX
	MOVQ    c+32(FP), R11
	MOVBLZX relu+40(FP), R10
	SHLQ    $2, R11
	VXORPS  Z31, Z31, Z31

epiRow:
	TESTQ CX, CX
	JZ    epiDone
	XORQ  BX, BX

epiGroup:
	CMPQ    BX, R11
	JGE     epiNextRow
	LANE_MASK(R11, BX, AX, DX, K2)
	VMOVUPS.Z (DI)(BX*1), K2, Z0
	VADDPS (R8)(BX*1), Z0, K2, Z0
	TESTQ   R9, R9
	JZ      epiReLU
	VADDPS (R9)(BX*1), Z0, K2, Z0

epiReLU:
	TESTQ  R10, R10
	JZ     epiStore
	VMAXPS Z31, Z0, Z0

epiStore:
	VMOVUPS Z0, K2, (DI)(BX*1)
	ADDQ    $64, BX
	JMP     epiGroup

epiNextRow:
	ADDQ  R11, DI
	TESTQ R9, R9
	JZ    epiNoRes
	ADDQ  R11, R9

epiNoRes:
	DECQ CX
	JMP  epiRow

epiDone:
	VZEROUPPER
	RET

// func bnBlockStatsAVX512(mean, m2, x *float32, rows, c int, inv float32)
// mean[j] = inv * sum x[r,j] (inv = 1/rows), m2[j] = sum (x[r,j]-mean[j])^2.
TEXT ·bnBlockStatsAVX512(SB), NOSPLIT, $0-44
	MOVQ         mean+0(FP), DI
	MOVQ         m2+8(FP), R9
	MOVQ         x+16(FP), SI
	MOVQ         rows+24(FP), CX
	MOVQ         c+32(FP), R11
	VBROADCASTSS inv+40(FP), Z30
	SHLQ         $2, R11
	XORQ         BX, BX

statsGroup:
	CMPQ   BX, R11
	JGE    statsDone
	LANE_MASK(R11, BX, AX, DX, K2)
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	LEAQ   (SI)(BX*1), R12
	MOVQ   CX, R14

statsSum: // two accumulators for two independent add chains
	CMPQ   R14, $2
	JLT    statsSumTail
	VADDPS (R12), Z0, K2, Z0
	VADDPS (R12)(R11*1), Z1, K2, Z1
	LEAQ   (R12)(R11*2), R12
	SUBQ   $2, R14
	JMP    statsSum

statsSumTail:
	TESTQ  R14, R14
	JZ     statsMean
	VADDPS (R12), Z0, K2, Z0

statsMean:
	VADDPS  Z1, Z0, Z0
	VMULPS  Z30, Z0, Z0 // mean
	VMOVUPS Z0, K2, (DI)(BX*1)
	VXORPS  Z2, Z2, Z2
	VXORPS  Z3, Z3, Z3
	LEAQ    (SI)(BX*1), R12
	MOVQ    CX, R14

statsSq:
	CMPQ        R14, $2
	JLT         statsSqTail
	VMOVUPS.Z (R12), K2, Z4
	VSUBPS      Z0, Z4, Z4
	VFMADD231PS Z4, Z4, Z2
	VMOVUPS.Z (R12)(R11*1), K2, Z5
	VSUBPS      Z0, Z5, Z5
	VFMADD231PS Z5, Z5, Z3
	LEAQ        (R12)(R11*2), R12
	SUBQ        $2, R14
	JMP         statsSq

statsSqTail:
	TESTQ       R14, R14
	JZ          statsStore
	VMOVUPS.Z (R12), K2, Z4
	VSUBPS      Z0, Z4, Z4
	VFMADD231PS Z4, Z4, Z2

statsStore:
	VADDPS  Z3, Z2, Z2
	VMOVUPS Z2, K2, (R9)(BX*1)
	ADDQ    $64, BX
	JMP     statsGroup

statsDone:
	VZEROUPPER
	RET
