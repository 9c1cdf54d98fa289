//go:build amd64 && !purego
#include "textflag.h"
#include "lanemask_amd64.h"
// Winograd F(2x2,3x3) tile transforms (Lavin & Gray 2016), 16 channels
// per zmm register; see winograd.go for the matrices. All sizes are in
// bytes; c is the channel count times 4, any count: each tile's channels
// go in groups of 16 under the mask K1, all lanes but in a last partial
// group, so that nothing past the last channel is read or written.

// func winoInputAVX512(v, src *float32, rowStride, c, tiles uintptr)
// For each of tiles tiles (2*c bytes apart in src, 16*c apart in v):
// v[(4i+j)*c + ch] = (Bᵀ d B)[i][j] with d[i][j] = src[i*rowStride + j*c + ch].
// Registers: d in Z0-Z15 (Z(4i+j)), t = Bᵀ d in Z16-Z31, v back in Z0-Z15.
TEXT ·winoInputAVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rowStride+16(FP), R8
	MOVQ c+24(FP), R9
	MOVQ tiles+32(FP), CX
	LEAQ (R9)(R9*2), R14  // 3c
	MOVQ R9, R15
	SHLQ $2, R15          // 4c

inTile:
	TESTQ CX, CX
	JZ    inDone
	XORQ  BX, BX          // channel offset within the tile

inGroup:
	CMPQ BX, R9
	JGE  inNext
	LANE_MASK(R9, BX, AX, R12, K1)
	LEAQ (SI)(BX*1), R10  // row 0
	LEAQ (R10)(R8*1), R11 // row 1
	LEAQ (R11)(R8*1), R12 // row 2
	LEAQ (R12)(R8*1), R13 // row 3
	VMOVUPS.Z (R10), K1, Z0
	VMOVUPS.Z (R10)(R9*1), K1, Z1
	VMOVUPS.Z (R10)(R9*2), K1, Z2
	VMOVUPS.Z (R10)(R14*1), K1, Z3
	VMOVUPS.Z (R11), K1, Z4
	VMOVUPS.Z (R11)(R9*1), K1, Z5
	VMOVUPS.Z (R11)(R9*2), K1, Z6
	VMOVUPS.Z (R11)(R14*1), K1, Z7
	VMOVUPS.Z (R12), K1, Z8
	VMOVUPS.Z (R12)(R9*1), K1, Z9
	VMOVUPS.Z (R12)(R9*2), K1, Z10
	VMOVUPS.Z (R12)(R14*1), K1, Z11
	VMOVUPS.Z (R13), K1, Z12
	VMOVUPS.Z (R13)(R9*1), K1, Z13
	VMOVUPS.Z (R13)(R9*2), K1, Z14
	VMOVUPS.Z (R13)(R14*1), K1, Z15
	// t = Bᵀ d: t0j = d0j - d2j, t1j = d1j + d2j, t2j = d2j - d1j, t3j = d1j - d3j
	VSUBPS Z8, Z0, Z16
	VADDPS Z8, Z4, Z20
	VSUBPS Z4, Z8, Z24
	VSUBPS Z12, Z4, Z28
	VSUBPS Z9, Z1, Z17
	VADDPS Z9, Z5, Z21
	VSUBPS Z5, Z9, Z25
	VSUBPS Z13, Z5, Z29
	VSUBPS Z10, Z2, Z18
	VADDPS Z10, Z6, Z22
	VSUBPS Z6, Z10, Z26
	VSUBPS Z14, Z6, Z30
	VSUBPS Z11, Z3, Z19
	VADDPS Z11, Z7, Z23
	VSUBPS Z7, Z11, Z27
	VSUBPS Z15, Z7, Z31
	// v = t B: vi0 = ti0 - ti2, vi1 = ti1 + ti2, vi2 = ti2 - ti1, vi3 = ti1 - ti3
	VSUBPS Z18, Z16, Z0
	VADDPS Z18, Z17, Z1
	VSUBPS Z17, Z18, Z2
	VSUBPS Z19, Z17, Z3
	VSUBPS Z22, Z20, Z4
	VADDPS Z22, Z21, Z5
	VSUBPS Z21, Z22, Z6
	VSUBPS Z23, Z21, Z7
	VSUBPS Z26, Z24, Z8
	VADDPS Z26, Z25, Z9
	VSUBPS Z25, Z26, Z10
	VSUBPS Z27, Z25, Z11
	VSUBPS Z30, Z28, Z12
	VADDPS Z30, Z29, Z13
	VSUBPS Z29, Z30, Z14
	VSUBPS Z31, Z29, Z15
	LEAQ (DI)(BX*1), AX
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K1, (AX)(R9*1)
	VMOVUPS Z2, K1, (AX)(R9*2)
	VMOVUPS Z3, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z4, K1, (AX)
	VMOVUPS Z5, K1, (AX)(R9*1)
	VMOVUPS Z6, K1, (AX)(R9*2)
	VMOVUPS Z7, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z8, K1, (AX)
	VMOVUPS Z9, K1, (AX)(R9*1)
	VMOVUPS Z10, K1, (AX)(R9*2)
	VMOVUPS Z11, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z12, K1, (AX)
	VMOVUPS Z13, K1, (AX)(R9*1)
	VMOVUPS Z14, K1, (AX)(R9*2)
	VMOVUPS Z15, K1, (AX)(R14*1)
	ADDQ $64, BX
	JMP  inGroup

inNext:
	LEAQ (SI)(R9*2), SI   // next tile: 2 pixels on
	MOVQ R15, AX
	SHLQ $2, AX
	ADDQ AX, DI           // 16c on
	DECQ CX
	JMP  inTile

inDone:
	VZEROUPPER
	RET

// func winoOutputAVX512(y, m, bias, res *float32, rowStride, c, tiles uintptr, relu bool)
// For each of tiles tiles (16*c bytes apart in m, 2*c apart in y), the
// 2x2 pixels Aᵀ m A: y[i*rowStride + j*c + ch] from m[(4i+j)*c + ch],
// plus bias[ch] (unless bias is nil), plus res at the same offset as y
// (unless res is nil), then max(., 0) if relu.
// Registers: m in Z0-Z15, t = Aᵀ m in Z16-Z23, y in Z24-Z27, 0 in Z31.
TEXT ·winoOutputAVX512(SB), NOSPLIT, $0-57
	MOVQ    y+0(FP), DI
	MOVQ    m+8(FP), SI
	MOVQ    bias+16(FP), R10
	MOVQ    res+24(FP), DX
	MOVQ    rowStride+32(FP), R8
	MOVQ    c+40(FP), R9
	MOVQ    tiles+48(FP), CX
	MOVBLZX relu+56(FP), R11
	LEAQ    (R9)(R9*2), R14  // 3c
	MOVQ    R9, R15
	SHLQ    $2, R15          // 4c
	VXORPS  Z31, Z31, Z31

outTile:
	TESTQ CX, CX
	JZ    outDone
	XORQ  BX, BX

outGroup:
	CMPQ BX, R9
	JGE  outNext
	LANE_MASK(R9, BX, AX, R12, K1)
	LEAQ (SI)(BX*1), AX
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z (AX)(R9*1), K1, Z1
	VMOVUPS.Z (AX)(R9*2), K1, Z2
	VMOVUPS.Z (AX)(R14*1), K1, Z3
	ADDQ R15, AX
	VMOVUPS.Z (AX), K1, Z4
	VMOVUPS.Z (AX)(R9*1), K1, Z5
	VMOVUPS.Z (AX)(R9*2), K1, Z6
	VMOVUPS.Z (AX)(R14*1), K1, Z7
	ADDQ R15, AX
	VMOVUPS.Z (AX), K1, Z8
	VMOVUPS.Z (AX)(R9*1), K1, Z9
	VMOVUPS.Z (AX)(R9*2), K1, Z10
	VMOVUPS.Z (AX)(R14*1), K1, Z11
	ADDQ R15, AX
	VMOVUPS.Z (AX), K1, Z12
	VMOVUPS.Z (AX)(R9*1), K1, Z13
	VMOVUPS.Z (AX)(R9*2), K1, Z14
	VMOVUPS.Z (AX)(R14*1), K1, Z15
	// t = Aᵀ m: t0j = m0j + m1j + m2j, t1j = m1j - m2j - m3j
	VADDPS Z4, Z0, Z16
	VADDPS Z8, Z16, Z16
	VSUBPS Z8, Z4, Z20
	VSUBPS Z12, Z20, Z20
	VADDPS Z5, Z1, Z17
	VADDPS Z9, Z17, Z17
	VSUBPS Z9, Z5, Z21
	VSUBPS Z13, Z21, Z21
	VADDPS Z6, Z2, Z18
	VADDPS Z10, Z18, Z18
	VSUBPS Z10, Z6, Z22
	VSUBPS Z14, Z22, Z22
	VADDPS Z7, Z3, Z19
	VADDPS Z11, Z19, Z19
	VSUBPS Z11, Z7, Z23
	VSUBPS Z15, Z23, Z23
	// y = t A: yi0 = ti0 + ti1 + ti2, yi1 = ti1 - ti2 - ti3
	VADDPS Z17, Z16, Z24
	VADDPS Z18, Z24, Z24
	VSUBPS Z18, Z17, Z25
	VSUBPS Z19, Z25, Z25
	VADDPS Z21, Z20, Z26
	VADDPS Z22, Z26, Z26
	VSUBPS Z22, Z21, Z27
	VSUBPS Z23, Z27, Z27
	TESTQ  R10, R10
	JZ     outRes
	VMOVUPS.Z (R10)(BX*1), K1, Z30
	VADDPS Z30, Z24, Z24
	VADDPS Z30, Z25, Z25
	VADDPS Z30, Z26, Z26
	VADDPS Z30, Z27, Z27

outRes:
	TESTQ  DX, DX
	JZ     outReLU
	LEAQ   (DX)(BX*1), AX
	VADDPS (AX), Z24, K1, Z24
	VADDPS (AX)(R9*1), Z25, K1, Z25
	ADDQ   R8, AX
	VADDPS (AX), Z26, K1, Z26
	VADDPS (AX)(R9*1), Z27, K1, Z27

outReLU:
	TESTQ  R11, R11
	JZ     outStore
	VMAXPS Z31, Z24, Z24
	VMAXPS Z31, Z25, Z25
	VMAXPS Z31, Z26, Z26
	VMAXPS Z31, Z27, Z27

outStore:
	LEAQ    (DI)(BX*1), AX
	VMOVUPS Z24, K1, (AX)
	VMOVUPS Z25, K1, (AX)(R9*1)
	ADDQ    R8, AX
	VMOVUPS Z26, K1, (AX)
	VMOVUPS Z27, K1, (AX)(R9*1)
	ADDQ    $64, BX
	JMP     outGroup

outNext:
	MOVQ R15, AX
	SHLQ $2, AX
	ADDQ AX, SI           // 16c on
	LEAQ (DI)(R9*2), DI   // 2 pixels on
	TESTQ DX, DX
	JZ   outNoRes
	LEAQ (DX)(R9*2), DX

outNoRes:
	DECQ CX
	JMP  outTile

outDone:
	VZEROUPPER
	RET

// func winoGradAVX512(v, dy *float32, rowStride, c, tiles uintptr)
// For each of tiles tiles (2*c bytes apart in dy, 16*c apart in v), the
// 4x4 transform A y Aᵀ of the 2x2 pixels y[a][b] = dy[a*rowStride + b*c + ch]
// (the gradient with respect to the transformed output tile):
// v[(4i+j)*c + ch] = sum over a, b of A[i][a] A[j][b] y[a][b], with
// A = Aᵀᵀ: rows (1,0), (1,1), (1,-1), (0,-1).
// Registers: y in Z0-Z3 (Z(2a+b)), u = A y in Z4-Z11 (Z(4+2i+b)), v in
// Z12-Z27, 0 in Z31.
TEXT ·winoGradAVX512(SB), NOSPLIT, $0-40
	MOVQ   v+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   rowStride+16(FP), R8
	MOVQ   c+24(FP), R9
	MOVQ   tiles+32(FP), CX
	LEAQ   (R9)(R9*2), R14  // 3c
	MOVQ   R9, R15
	SHLQ   $2, R15          // 4c
	VXORPS Z31, Z31, Z31

gradTile:
	TESTQ CX, CX
	JZ    gradDone
	XORQ  BX, BX

gradGroup:
	CMPQ    BX, R9
	JGE     gradNext
	LANE_MASK(R9, BX, AX, R12, K1)
	LEAQ    (SI)(BX*1), AX
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z (AX)(R9*1), K1, Z1
	ADDQ    R8, AX
	VMOVUPS.Z (AX), K1, Z2
	VMOVUPS.Z (AX)(R9*1), K1, Z3
	// u = A y: u0b = y0b, u1b = y0b + y1b, u2b = y0b - y1b, u3b = -y1b
	VMOVAPS Z0, Z4
	VADDPS Z2, Z0, Z6
	VSUBPS Z2, Z0, Z8
	VSUBPS Z2, Z31, Z10
	VMOVAPS Z1, Z5
	VADDPS Z3, Z1, Z7
	VSUBPS Z3, Z1, Z9
	VSUBPS Z3, Z31, Z11
	// v = u Aᵀ: vi0 = ui0, vi1 = ui0 + ui1, vi2 = ui0 - ui1, vi3 = -ui1
	VMOVAPS Z4, Z12
	VADDPS Z5, Z4, Z13
	VSUBPS Z5, Z4, Z14
	VSUBPS Z5, Z31, Z15
	VMOVAPS Z6, Z16
	VADDPS Z7, Z6, Z17
	VSUBPS Z7, Z6, Z18
	VSUBPS Z7, Z31, Z19
	VMOVAPS Z8, Z20
	VADDPS Z9, Z8, Z21
	VSUBPS Z9, Z8, Z22
	VSUBPS Z9, Z31, Z23
	VMOVAPS Z10, Z24
	VADDPS Z11, Z10, Z25
	VSUBPS Z11, Z10, Z26
	VSUBPS Z11, Z31, Z27
	LEAQ (DI)(BX*1), AX
	VMOVUPS Z12, K1, (AX)
	VMOVUPS Z13, K1, (AX)(R9*1)
	VMOVUPS Z14, K1, (AX)(R9*2)
	VMOVUPS Z15, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z16, K1, (AX)
	VMOVUPS Z17, K1, (AX)(R9*1)
	VMOVUPS Z18, K1, (AX)(R9*2)
	VMOVUPS Z19, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z20, K1, (AX)
	VMOVUPS Z21, K1, (AX)(R9*1)
	VMOVUPS Z22, K1, (AX)(R9*2)
	VMOVUPS Z23, K1, (AX)(R14*1)
	ADDQ R15, AX
	VMOVUPS Z24, K1, (AX)
	VMOVUPS Z25, K1, (AX)(R9*1)
	VMOVUPS Z26, K1, (AX)(R9*2)
	VMOVUPS Z27, K1, (AX)(R14*1)
	ADDQ $64, BX
	JMP  gradGroup

gradNext:
	LEAQ (SI)(R9*2), SI   // next tile: 2 pixels on
	MOVQ R15, AX
	SHLQ $2, AX
	ADDQ AX, DI           // 16c on
	DECQ CX
	JMP  gradTile

gradDone:
	VZEROUPPER
	RET
