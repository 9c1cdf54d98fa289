// LANE_MASK sets the opmask k to the lanes of the group of 16 channels at
// byte offset off of a row of rowBytes bytes: all 16, or the channels left
// in a last partial group, so that masked loads and stores touch nothing
// past the last channel. n and tmp are scratch registers. (The count is
// clamped to 16 first: BZHI reads only its low 8 bits.)
#define LANE_MASK(rowBytes, off, n, tmp, k) \
	MOVQ    rowBytes, n; \
	SUBQ    off, n; \
	SHRQ    $2, n; \
	MOVL    $16, tmp; \
	CMPQ    n, tmp; \
	CMOVQHI tmp, n; \
	MOVL    $0xFFFF, tmp; \
	BZHIL   n, tmp, tmp; \
	KMOVW   tmp, k
