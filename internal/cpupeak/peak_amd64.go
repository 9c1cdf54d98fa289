//go:build !purego

package cpupeak

import (
	"golang.org/x/sys/cpu"

	"github.com/residual-go/residual/internal/cpufeat"
)

const (
	// 12 VFMADD231PS zmm: 16 float32 lanes, 2 FLOPs each.
	flopsPerIter = 12 * 16 * 2
	// 12 VDPBF16PS zmm: 16 lanes, each 2 products and 2 additions.
	flopsPerIterBF16 = 12 * 16 * 2 * 2
	// 4 TDPBF16PS on 16-row, 64-byte tiles: C (16x16 fp32) += A (16x32
	// bf16) B (32x16 bf16), 2*16*16*32 FLOPs each.
	flopsPerIterAMX = 4 * 2 * 16 * 16 * 32
)

//go:noescape
func fmaZMM(iters int)

//go:noescape
func bf16ZMM(iters int)

//go:noescape
func amxTiles(iters int, cfg *[64]byte)

func available() bool     { return cpu.X86.HasAVX512F }
func availableBF16() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 }
func availableAMX() bool  { return cpufeat.AMX() == nil }

func loop(iters int)     { fmaZMM(iters) }
func loopBF16(iters int) { bf16ZMM(iters) }

// tileConfig is the LDTILECFG operand: palette 1, tiles 0-7 of 16 rows of
// 64 bytes (the largest tiles).
var tileConfig = func() (cfg [64]byte) {
	cfg[0] = 1 // palette
	for t := 0; t < 8; t++ {
		cfg[16+2*t] = 64 // colsb[t], bytes per row (uint16, little endian)
		cfg[48+t] = 16   // rows[t]
	}
	return cfg
}()

func loopAMX(iters int) {
	cfg := tileConfig
	amxTiles(iters, &cfg)
}
