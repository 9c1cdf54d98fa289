//go:build amd64 && !purego

#include "textflag.h"

// func amxTileBF16(k16 int, a *uint32, lda uintptr, b *uint32, ldb uintptr, c *float32, ldc uintptr, cfg *[64]byte)
//
// C (16x16 float32, rows ldc bytes apart) += A (16 rows of 16*k16 words,
// lda bytes apart) · B (16*k16 rows of 16 words, ldb bytes apart), every
// word two bfloat16 of consecutive k (the lower half first): B is in the
// pair-interleaved ("VNNI") layout TDPBF16PS reads. cfg configures tiles
// 0-2 as 16 rows of 64 bytes. The caller's process must hold the tile
// state (cpufeat.AMX).
//
// The Go assembler has no AMX instruction: each is encoded as bytes (all
// VEX.128.0F38.W0; TILELOADD F2 4B /r, TILESTORED F3 4B /r with a
// [base + index*1] SIB operand; TDPBF16PS F3 5C 11:rrr:bbb, the second
// source in VEX.vvvv; LDTILECFG NP 49 /0; TILERELEASE NP 49 C0), the
// instruction named in the comment (Intel operand order). Only the legacy
// registers AX, BX, CX, DX, SI, DI appear in tile operands, so no VEX
// register-extension bit is needed.
TEXT ·amxTileBF16(SB), NOSPLIT, $0-64
	MOVQ cfg+56(FP), DI
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // LDTILECFG [rdi]
	MOVQ k16+0(FP), R8
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), CX
	MOVQ c+40(FP), AX
	MOVQ ldc+48(FP), BX
	MOVQ CX, R10
	SHLQ $4, R10 // 16 rows of B per step
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x18 // TILELOADD tmm0, [rax + rbx*1]
	TESTQ R8, R8
	JEQ store
loop:
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x0c; BYTE $0x16 // TILELOADD tmm1, [rsi + rdx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x0f // TILELOADD tmm2, [rdi + rcx*1]
	BYTE $0xc4; BYTE $0xe2; BYTE $0x6a; BYTE $0x5c; BYTE $0xc1             // TDPBF16PS tmm0, tmm1, tmm2
	ADDQ $64, SI  // the next 16 words of each row of A
	ADDQ R10, DI  // the next 16 rows of B
	DECQ R8
	JNZ loop
store:
	BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x18 // TILESTORED [rax + rbx*1], tmm0
	BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0             // TILERELEASE
	RET
