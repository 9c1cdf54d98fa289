//go:build !unix

package kernels

// processCPUSeconds is not measured here (0: the metric is skipped).
func processCPUSeconds() float64 { return 0 }
