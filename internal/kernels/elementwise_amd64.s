//go:build amd64 && !purego

#include "textflag.h"

// Elementwise kernels over n float32s, n % 16 == 0 (the Go wrappers do
// the tails), 16 at a time.

// func addReLUAVX512(out, a, b *float32, n int, relu bool)
TEXT ·addReLUAVX512(SB), NOSPLIT, $0-33
	MOVQ    out+0(FP), DI
	MOVQ    a+8(FP), SI
	MOVQ    b+16(FP), DX
	MOVQ    n+24(FP), CX
	MOVBLZX relu+32(FP), R10
	SHLQ    $2, CX
	XORQ    BX, BX
	VXORPS  Z31, Z31, Z31

addLoop:
	CMPQ    BX, CX
	JGE     addDone
	VMOVUPS (SI)(BX*1), Z0
	VADDPS  (DX)(BX*1), Z0, Z0
	TESTQ   R10, R10
	JZ      addStore
	VMAXPS  Z31, Z0, Z0

addStore:
	VMOVUPS Z0, (DI)(BX*1)
	ADDQ    $64, BX
	JMP     addLoop

addDone:
	VZEROUPPER
	RET

// func reluGradAVX512(dx, dy, y *float32, n int)
// dx = dy where y > 0, else 0.
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-32
	MOVQ   dx+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), DX
	MOVQ   n+24(FP), CX
	SHLQ   $2, CX
	XORQ   BX, BX
	VXORPS Z31, Z31, Z31

maskLoop:
	CMPQ      BX, CX
	JGE       maskDone
	VMOVUPS   (DX)(BX*1), Z1
	VCMPPS    $14, Z31, Z1, K1
	VMOVUPS.Z (SI)(BX*1), K1, Z0
	VMOVUPS   Z0, (DI)(BX*1)
	ADDQ      $64, BX
	JMP       maskLoop

maskDone:
	VZEROUPPER
	RET
