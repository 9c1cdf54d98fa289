//go:build amd64 && !purego

package kernels

import (
	"runtime"

	"github.com/residual-go/residual/internal/cpufeat"
)

//go:noescape
func amxTileBF16(k16 int, a *uint32, lda uintptr, b *uint32, ldb uintptr, c *float32, ldc uintptr, cfg *[64]byte)

// amxTileConfig is the LDTILECFG operand of amxTileBF16: palette 1, tiles
// 0 (C), 1 (A) and 2 (B) of 16 rows of 64 bytes.
var amxTileConfig = func() (cfg [64]byte) {
	cfg[0] = 1
	for t := 0; t < 3; t++ {
		cfg[16+2*t] = 64 // colsb[t] (uint16, little endian)
		cfg[48+t] = 16   // rows[t]
	}
	return cfg
}()

// HasAMX reports whether SgemmAMX multiplies on AMX tiles here: the CPU
// has AMX-BF16 and Linux granted the tile state (cpufeat.AMX).
func HasAMX() bool { return cpufeat.AMX() == nil }

// SgemmAMX computes C (m x n, row stride ldc) = A (m x k, row stride lda)
// · B (k x n, row stride ldb) with A and B rounded to bfloat16 (to
// nearest, ties to even) and float32 sums on AMX tiles (TDPBF16PS), and
// reports false, doing nothing, where AMX is not usable (HasAMX).
//
// It is the first AMX kernel: written on a machine without AMX, it is
// tested only where AMX exists (TestSgemmAMX skips elsewhere) and is not
// yet called by SgemmBF16 or the convolutions. It packs A and B in plain
// Go on every call (tiles of 16 rows by 16 k-pairs, B pair-interleaved)
// and runs one 16x16 C tile at a time on one core: a correct reference
// to be made fast on an AMX machine, not a fast path.
func SgemmAMX(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if !HasAMX() {
		return false
	}
	checkArgs(false, false, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return true
	}
	kp := roundUp((k+1)/2, 16) // k-pairs, padded to whole tiles
	mp, np := roundUp(m, 16), roundUp(n, 16)
	// A: mp rows of kp words; B: np/16 panels of kp rows of 16 words.
	pa := make([]uint32, mp*kp)
	for i := 0; i < m; i++ {
		for q := 0; 2*q < k; q++ {
			lo := toBF16(a[i*lda+2*q])
			var hi uint32
			if 2*q+1 < k {
				hi = toBF16(a[i*lda+2*q+1])
			}
			pa[i*kp+q] = lo | hi<<16
		}
	}
	pb := make([]uint32, np*kp)
	for j := 0; j < n; j++ {
		panel := pb[(j/16)*kp*16:]
		for q := 0; 2*q < k; q++ {
			lo := toBF16(b[2*q*ldb+j])
			var hi uint32
			if 2*q+1 < k {
				hi = toBF16(b[(2*q+1)*ldb+j])
			}
			panel[q*16+j%16] = lo | hi<<16
		}
	}
	// The tile state belongs to the thread: one call runs on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tile [16 * 16]float32
	cfg := amxTileConfig
	for i0 := 0; i0 < m; i0 += 16 {
		for j0 := 0; j0 < n; j0 += 16 {
			clear(tile[:])
			amxTileBF16(kp/16, &pa[i0*kp], uintptr(kp)*4, &pb[(j0/16)*kp*16], 16*4, &tile[0], 16*4, &cfg)
			for i := i0; i < min(m, i0+16); i++ {
				copy(c[i*ldc+j0:i*ldc+min(n, j0+16)], tile[(i-i0)*16:])
			}
		}
	}
	runtime.KeepAlive(pa)
	runtime.KeepAlive(pb)
	return true
}
