//go:build !amd64 || purego

package kernels

// HasAMX reports false: AMX kernels exist only in the amd64 assembly build.
func HasAMX() bool { return false }

// SgemmAMX reports false: see the amd64 version.
func SgemmAMX(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	return false
}
