package kernels

import (
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"
)

// microKernel computes one register tile of C:
//
//	C[i, j] = alpha * sum_{p<k} A[i, p] * B[p, j] + beta * C[i, j]   for i < MR, j < NR
//
// (with beta == 0, C is overwritten without being read, so NaNs in C vanish).
// Row i of A starts at byte offset min(i, rows-1)*rs from a and holds k
// consecutive float32s: rows past the last valid one repeat it, so a kernel
// never reads outside A even on the bottom edge. b is a panel of k rows of
// NR consecutive float32s, packed (bs is then ignored and taken as 4*NR)
// except for the k-major kernels (fnK), which read B rows bs bytes apart
// and so can read an unpacked B. Rows of C are ldc bytes apart.
type microKernel func(k int, a *float32, rs uintptr, rows int, b *float32, bs uintptr, pf uintptr, c *float32, ldc uintptr, alpha, beta float32)

// kernelInfo is a micro-kernel with its register-tile shape.
type kernelInfo struct {
	name   string
	mr, nr int
	speed  float64 // relative throughput in the L1 cache, used by pick
	fn     microKernel
	// fnK is the same kernel reading A as a k-major panel: A[i, p] at byte
	// a + p*rs + 4*i (rows is ignored; the panel is padded to MR rows).
	fnK microKernel
	// fnNT, when not nil, is fn with non-temporal stores of C when beta is
	// 0, for C tiles aligned to ntAlign bytes (see ntMinBytes).
	fnNT    microKernel
	ntAlign uintptr
}

// variant is a family of micro-kernels for one instruction set. Each call
// of Sgemm uses the kernel that wastes the fewest columns for its n.
type variant struct {
	name    string
	kernels []kernelInfo // widest first
	dot8    dot8Func     // matrix-vector kernel (see gemv.go), or nil
}

// pickK returns the kernel of v that computes the fewest padded elements
// of C for an m x n product, each weighted by the kernel's relative speed.
// Kernels without a row form (fn == nil) only serve a transposed A. With a
// short k (< shortK), a call's fixed cost (row pointers, storing C) weighs
// more, and kernels with more rows amortise it better: they get a bonus.
func (v *variant) pickK(m, n, k int, transA bool) *kernelInfo {
	var best *kernelInfo
	var bestCost float64
	for i := range v.kernels {
		kk := &v.kernels[i]
		if (transA && kk.fnK == nil) || (!transA && kk.fn == nil) {
			continue
		}
		speed := kk.speed
		if k < shortK && !transA && kk.mr >= 12 {
			speed *= 1.12
		}
		cost := float64(roundUp(m, kk.mr)*roundUp(n, kk.nr)) / speed
		if best == nil || cost < bestCost {
			best, bestCost = kk, cost
		}
	}
	return best
}

// pick is pickK for a long k.
func (v *variant) pick(m, n int, transA bool) *kernelInfo {
	return v.pickK(m, n, shortK, transA)
}

// shortK is the k below which pick favours kernels with more rows.
const shortK = 64

// variants lists the usable variants, fastest first. The amd64 build adds
// its SIMD variants in an init function when the CPU supports them.
var variants = []*variant{genericVariant}

var genericVariant = &variant{
	name:    "generic",
	kernels: []kernelInfo{{name: "kernel4x8Generic", mr: 4, nr: 8, speed: 1, fn: kernel4x8Generic, fnK: kernel4x8GenericK}},
}

var active atomic.Pointer[variant]

func init() {
	active.Store(variants[0])
}

// Variants returns the names of the GEMM variants usable on this CPU,
// fastest first: a subset of "avx512", "avx2" and "generic".
func Variants() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}

// Variant returns the name of the variant Sgemm uses now.
func Variant() string { return active.Load().name }

// Use makes Sgemm use the named variant (one of Variants()) until restore
// is called, which puts the previous one back. It is meant for tests and
// benchmarks; it is safe to call concurrently with Sgemm.
func Use(name string) (restore func(), err error) {
	for _, v := range variants {
		if v.name == name {
			prev := active.Swap(v)
			return func() { active.Store(prev) }, nil
		}
	}
	return nil, fmt.Errorf("kernels: unknown or unsupported GEMM variant %q (usable here: %s)", name, strings.Join(Variants(), ", "))
}

// kernel4x8Generic is the portable micro-kernel (MR=4, NR=8) in plain Go,
// used under the purego build tag, on other architectures, and as the
// "generic" variant everywhere.
func kernel4x8Generic(k int, a *float32, rs uintptr, rows int, b *float32, bs uintptr, pf uintptr, c *float32, ldc uintptr, alpha, beta float32) {
	const mr, nr = 4, 8
	var arow [mr][]float32
	for i := range arow {
		arow[i] = unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a), uintptr(min(i, rows-1))*rs)), k)
	}
	a0, a1, a2, a3 := arow[0], arow[1], arow[2], arow[3]
	bp := unsafe.Slice(b, k*nr)
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		bp := (*[nr]float32)(bp[p*nr : p*nr+nr])
		x0, x1, x2, x3 := a0[p], a1[p], a2[p], a3[p]
		for j, bv := range bp {
			acc[0][j] += x0 * bv
			acc[1][j] += x1 * bv
			acc[2][j] += x2 * bv
			acc[3][j] += x3 * bv
		}
	}
	storeGeneric(&acc, c, ldc, alpha, beta)
}

// kernel4x8GenericK is kernel4x8Generic reading a k-major panel of A.
func kernel4x8GenericK(k int, a *float32, rs uintptr, rows int, b *float32, bs uintptr, pf uintptr, c *float32, ldc uintptr, alpha, beta float32) {
	const mr, nr = 4, 8
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		ap := (*[mr]float32)(unsafe.Add(unsafe.Pointer(a), uintptr(p)*rs))
		bp := (*[nr]float32)(unsafe.Add(unsafe.Pointer(b), uintptr(p)*bs))
		x0, x1, x2, x3 := ap[0], ap[1], ap[2], ap[3]
		for j, bv := range bp {
			acc[0][j] += x0 * bv
			acc[1][j] += x1 * bv
			acc[2][j] += x2 * bv
			acc[3][j] += x3 * bv
		}
	}
	storeGeneric(&acc, c, ldc, alpha, beta)
}

// storeGeneric writes C = alpha*acc + beta*C (C = alpha*acc when beta == 0).
func storeGeneric(acc *[4][8]float32, c *float32, ldc uintptr, alpha, beta float32) {
	const nr = 8
	for i := range acc {
		crow := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), uintptr(i)*ldc)), nr)
		for j, v := range acc[i] {
			if beta == 0 {
				crow[j] = alpha * v
			} else {
				crow[j] = alpha*v + beta*crow[j]
			}
		}
	}
}
