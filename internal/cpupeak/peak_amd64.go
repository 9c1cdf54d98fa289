//go:build !purego

package cpupeak

import "golang.org/x/sys/cpu"

// flopsPerIter is 12 FMAs of 16 float32 lanes, 2 FLOPs each.
const flopsPerIter = 12 * 16 * 2

//go:noescape
func fmaZMM(iters int)

func available() bool { return cpu.X86.HasAVX512F }

func loop(iters int) { fmaZMM(iters) }
