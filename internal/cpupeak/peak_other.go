//go:build !amd64 || purego

package cpupeak

const flopsPerIter, flopsPerIterBF16, flopsPerIterAMX = 1, 1, 1

func available() bool     { return false }
func availableBF16() bool { return false }
func availableAMX() bool  { return false }

func loop(iters int)     {}
func loopBF16(iters int) {}
func loopAMX(iters int)  {}
