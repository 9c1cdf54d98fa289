//go:build !amd64 || purego

package cpupeak

const flopsPerIter = 0

func available() bool { return false }

func loop(iters int) {}
