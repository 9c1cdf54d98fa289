//go:build !purego

#include "textflag.h"

// func fmaZMM(iters int)
// 12 independent accumulators, 12 VFMADD231PS zmm per iteration: enough
// in flight to hide the FMA latency, so the loop runs at the FMA
// throughput of one core.
TEXT ·fmaZMM(SB), NOSPLIT, $0-8
	MOVQ iters+0(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z30, Z30, Z30
	VXORPS Z31, Z31, Z31
loop:
	VFMADD231PS Z30, Z31, Z0
	VFMADD231PS Z30, Z31, Z1
	VFMADD231PS Z30, Z31, Z2
	VFMADD231PS Z30, Z31, Z3
	VFMADD231PS Z30, Z31, Z4
	VFMADD231PS Z30, Z31, Z5
	VFMADD231PS Z30, Z31, Z6
	VFMADD231PS Z30, Z31, Z7
	VFMADD231PS Z30, Z31, Z8
	VFMADD231PS Z30, Z31, Z9
	VFMADD231PS Z30, Z31, Z10
	VFMADD231PS Z30, Z31, Z11
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET

// func bf16ZMM(iters int)
// fmaZMM with VDPBF16PS (AVX512-BF16): each instruction adds 16 dot
// products of bf16 pairs to 16 float32 sums. The Go assembler has no
// mnemonic for it: each is encoded as bytes (EVEX.512.F3.0F38.W0 52 /r),
// the instruction named in the comment (Intel operand order).
TEXT ·bf16ZMM(SB), NOSPLIT, $0-8
	MOVQ iters+0(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z30, Z30, Z30
	VXORPS Z31, Z31, Z31
bf16loop:
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xc7 // VDPBF16PS zmm0, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xcf // VDPBF16PS zmm1, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xd7 // VDPBF16PS zmm2, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xdf // VDPBF16PS zmm3, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xe7 // VDPBF16PS zmm4, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xef // VDPBF16PS zmm5, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xf7 // VDPBF16PS zmm6, zmm30, zmm31
	BYTE $0x62; BYTE $0x92; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xff // VDPBF16PS zmm7, zmm30, zmm31
	BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xc7 // VDPBF16PS zmm8, zmm30, zmm31
	BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xcf // VDPBF16PS zmm9, zmm30, zmm31
	BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xd7 // VDPBF16PS zmm10, zmm30, zmm31
	BYTE $0x62; BYTE $0x12; BYTE $0x0e; BYTE $0x40; BYTE $0x52; BYTE $0xdf // VDPBF16PS zmm11, zmm30, zmm31
	DECQ CX
	JNZ bf16loop
	VZEROUPPER
	RET

// func amxTiles(iters int, cfg *[64]byte)
// The AMX loop: 4 independent TDPBF16PS per iteration into tiles 0-3
// from tiles 4-7 (all zero: the speed does not depend on the values).
// The Go assembler knows no AMX instruction: each is encoded as bytes
// (VEX.128.0F38.W0: LDTILECFG NP 49 /0, TILEZERO F2 49 11:rrr:000,
// TDPBF16PS F3 5C 11:rrr:bbb with the second source in VEX.vvvv,
// TILERELEASE NP 49 C0), the instruction named in the comment (Intel
// operand order). Only for a thread whose process was granted the tile
// state (cpufeat.AMX).
TEXT ·amxTiles(SB), NOSPLIT, $0-16
	MOVQ iters+0(FP), CX
	MOVQ cfg+8(FP), DI
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // LDTILECFG [rdi]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc0 // TILEZERO tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xc8 // TILEZERO tmm1
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0 // TILEZERO tmm2
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8 // TILEZERO tmm3
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xe0 // TILEZERO tmm4
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xe8 // TILEZERO tmm5
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xf0 // TILEZERO tmm6
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xf8 // TILEZERO tmm7
amxloop:
	BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xc4 // TDPBF16PS tmm0, tmm4, tmm6
	BYTE $0xc4; BYTE $0xe2; BYTE $0x4a; BYTE $0x5c; BYTE $0xcd // TDPBF16PS tmm1, tmm5, tmm6
	BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xd4 // TDPBF16PS tmm2, tmm4, tmm7
	BYTE $0xc4; BYTE $0xe2; BYTE $0x42; BYTE $0x5c; BYTE $0xdd // TDPBF16PS tmm3, tmm5, tmm7
	DECQ CX
	JNZ amxloop
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0 // TILERELEASE
	RET
