// Command asmgen writes the amd64 micro-kernels of package kernels:
// gemm_amd64.s (Go assembly) and gemm_amd64_stubs.go (their declarations).
//
// Run it with `go generate ./internal/kernels/`. It is a plain text
// generator: each kernel is fully unrolled over its MR x NR register tile,
// so writing them by hand would be long and error-prone.
//
// Every kernel has the same contract (see microKernel in kernels.go):
//
//	C[0:MR, 0:NR] = alpha * sum_p A[i, p] * B[p, j] + beta * C   (beta==0: C is overwritten)
//
// while prefetching MR*k float32s from pf on (the next panel of A).
//
// where row i of A starts at a + min(i, rows-1)*rs bytes and holds k
// consecutive float32s (k-major kernels: A[i, p] at a + p*rs + 4*i), B is a
// panel of k rows of NR float32s (packed, so bs = 4*NR is implied, except
// for k-major kernels, which read rows bs bytes apart), and C rows are ldc
// bytes apart.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
)

// kernelSpec describes one register-blocked micro-kernel.
type kernelSpec struct {
	name  string
	avx   int // 512 (zmm) or 256 (ymm)
	mr    int // rows of C per call, <= 12 (one general register per row)
	nv    int // vectors per row of C; NR = nv * lanes
	unrol int // k-loop unroll factor (4 for k-major kernels)
	// kmajor kernels read A as a packed panel in k-major order: A[i, p]
	// at a + p*rs + 4*i (rs >= 4*MR; rows is ignored).
	kmajor bool
	// nt kernels store C with non-temporal stores when beta == 0 (C must
	// then be aligned to the vector size); the caller issues the SFENCE.
	nt bool
	// bf16 kernels multiply bfloat16 pairs with VDPBF16PS (AVX512_BF16):
	// A and B hold pairs of bf16 values in each 32-bit word (consecutive
	// k), and k counts pairs. Everything else is as for float32.
	bf16 bool
}

func (s kernelSpec) lanes() int { return s.avx / 32 }
func (s kernelSpec) nr() int    { return s.nv * s.lanes() }

var specs = []kernelSpec{
	{name: "kernel12x32AVX512", avx: 512, mr: 12, nv: 2, unrol: 4},
	{name: "kernel12x16AVX512", avx: 512, mr: 12, nv: 1, unrol: 4},
	{name: "kernel8x32AVX512", avx: 512, mr: 8, nv: 2, unrol: 4},
	{name: "kernel8x16AVX512", avx: 512, mr: 8, nv: 1, unrol: 4},
	{name: "kernel4x32AVX512", avx: 512, mr: 4, nv: 2, unrol: 4},
	{name: "kernel1x64AVX512", avx: 512, mr: 1, nv: 4, unrol: 4},
	{name: "kernel6x16AVX2", avx: 256, mr: 6, nv: 2, unrol: 4},
	{name: "kernel12x32AVX512NT", avx: 512, mr: 12, nv: 2, unrol: 4, nt: true},
	{name: "kernel12x16AVX512NT", avx: 512, mr: 12, nv: 1, unrol: 4, nt: true},
	{name: "kernel8x32AVX512NT", avx: 512, mr: 8, nv: 2, unrol: 4, nt: true},
	{name: "kernel8x16AVX512NT", avx: 512, mr: 8, nv: 1, unrol: 4, nt: true},
	{name: "kernel4x32AVX512NT", avx: 512, mr: 4, nv: 2, unrol: 4, nt: true},
	{name: "kernel1x64AVX512NT", avx: 512, mr: 1, nv: 4, unrol: 4, nt: true},
	{name: "kernel6x16AVX2NT", avx: 256, mr: 6, nv: 2, unrol: 4, nt: true},
	{name: "kernelBF16x12x32AVX512", avx: 512, mr: 12, nv: 2, unrol: 4, bf16: true},
	{name: "kernelBF16x12x16AVX512", avx: 512, mr: 12, nv: 1, unrol: 4, bf16: true},
	{name: "kernel12x32AVX512K", avx: 512, mr: 12, nv: 2, unrol: 4, kmajor: true},
	{name: "kernel12x16AVX512K", avx: 512, mr: 12, nv: 1, unrol: 4, kmajor: true},
	{name: "kernel8x32AVX512K", avx: 512, mr: 8, nv: 2, unrol: 4, kmajor: true},
	{name: "kernel8x16AVX512K", avx: 512, mr: 8, nv: 1, unrol: 4, kmajor: true},
	{name: "kernel16x16AVX512K", avx: 512, mr: 16, nv: 1, unrol: 4, kmajor: true},
	{name: "kernel4x32AVX512K", avx: 512, mr: 4, nv: 2, unrol: 4, kmajor: true},
	{name: "kernel1x64AVX512K", avx: 512, mr: 1, nv: 4, unrol: 4, kmajor: true},
	{name: "kernel6x16AVX2K", avx: 256, mr: 6, nv: 2, unrol: 4, kmajor: true},
}

// Row pointers live in these registers; R14 holds the k offset (counting up
// from -4k to 0, so the loop ends on the zero flag) and R15 the B pointer.
var rowRegs = []string{"AX", "BX", "CX", "DX", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13"}

type writer struct{ bytes.Buffer }

func (w *writer) op(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
func (w *writer) label(l string)                { fmt.Fprintf(w, "%s:\n", l) }

func (s kernelSpec) vreg(i int) string {
	if s.avx == 512 {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

func gen(w *writer, s kernelSpec) {
	if !s.kmajor && s.mr > len(rowRegs) {
		log.Fatalf("%s: mr %d > %d row registers", s.name, s.mr, len(rowRegs))
	}
	nr, vbytes := s.nr(), s.avx/8
	acc := func(i, v int) string { return s.vreg(i*s.nv + v) }
	nacc := s.mr * s.nv
	bReg := func(u, v int) string { // B vectors, double-buffered across unroll steps
		if s.nv == 1 {
			return s.vreg(nacc + u%4)
		}
		return s.vreg(nacc + (u%2)*s.nv + v)
	}
	maxRegs := 32
	if s.avx == 256 {
		maxRegs = 16
	}
	bcast := func(i int) string { return s.vreg(maxRegs - 1 - i%2) }
	if s.nv > 1 && nacc+2*s.nv+2 > maxRegs {
		// Not enough registers to double-buffer B: use a single set.
		bReg = func(u, v int) string { return s.vreg(nacc + v) }
		if nacc+s.nv+2 > maxRegs {
			bcast = func(i int) string { return s.vreg(maxRegs - 1) }
		}
	}

	fmt.Fprintf(w, "// func %s(k int, a *float32, rs uintptr, rows int, b *float32, bs uintptr, pf uintptr, c *float32, ldc uintptr, alpha float32, beta float32)\n", s.name)
	fmt.Fprintf(w, "// Requires: %s\n", map[int]string{512: "AVX512F", 256: "AVX, AVX2, FMA3"}[s.avx])
	// A frame of 8 bytes makes the assembler save and restore BP, which
	// then serves as the prefetch pointer.
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $8-80\n", s.name)
	if s.kmajor {
		genSetupKMajor(w, s, nacc)
	} else {
		genSetupRows(w, s, nacc)
	}
	step := func(u int) {
		boff := u * nr * 4
		for v := 0; v < s.nv; v++ {
			if s.kmajor {
				// B rows are bs bytes apart: SI = bs, DI = 3*bs.
				w.op("VMOVUPS %d(R15)%s, %s", v*vbytes, []string{"", "(SI*1)", "(SI*2)", "(DI*1)"}[u], bReg(u, v))
				continue
			}
			w.op("VMOVUPS %d(R15), %s", boff+v*vbytes, bReg(u, v))
		}
		for i := 0; i < s.mr; i++ {
			var mem string
			if s.kmajor {
				mem = fmt.Sprintf("%d(AX)%s", 4*i, []string{"", "(BX*1)", "(BX*2)", "(DX*1)"}[u])
			} else {
				mem = fmt.Sprintf("%d(%s)(R14*1)", 4*u, rowRegs[i])
			}
			if s.bf16 {
				t := bcast(i)
				w.op("VPBROADCASTD %s, %s", mem, t)
				for v := 0; v < s.nv; v++ {
					w.op("%s", vdpbf16ps(acc(i, v), t, bReg(u, v)))
				}
				continue
			}
			if s.avx == 512 {
				// Embedded broadcasts: the load rides along with each FMA.
				for v := 0; v < s.nv; v++ {
					w.op("VFMADD231PS.BCST %s, %s, %s", mem, bReg(u, v), acc(i, v))
				}
				continue
			}
			t := bcast(i)
			w.op("VBROADCASTSS %s, %s", mem, t)
			for v := 0; v < s.nv; v++ {
				w.op("VFMADD231PS %s, %s, %s", t, bReg(u, v), acc(i, v))
			}
		}
	}
	if s.kmajor {
		if s.unrol != 4 {
			log.Fatalf("%s: k-major kernels unroll by 4", s.name)
		}
		w.op("CMPQ CX, $4")
		w.op("JLT tail")
		w.label("loop")
		idx := []string{"", "(SI*1)", "(SI*2)", "(DI*1)"}
		aidx := []string{"", "(BX*1)", "(BX*2)", "(DX*1)"}
		for u := 0; u < 4; u++ {
			step(u)
			genPrefetch(w, s, u)
			// A and B rows kmajorAhead steps ahead: they are strided, so
			// the hardware prefetchers may not see them coming.
			for off := 0; off < s.nv*vbytes; off += 64 {
				w.op("PREFETCHT0 %d(R8)%s", off, idx[u])
			}
			for off := 0; off < s.mr*4; off += 64 {
				w.op("PREFETCHT0 %d(R9)%s", off, aidx[u])
			}
		}
		w.op("ADDQ $%d, BP", s.mr*4*4)
		w.op("LEAQ (AX)(BX*4), AX")
		w.op("LEAQ (R15)(SI*4), R15")
		w.op("LEAQ (R8)(SI*4), R8")
		w.op("LEAQ (R9)(BX*4), R9")
		w.op("SUBQ $4, CX")
		w.op("CMPQ CX, $4")
		w.op("JGE loop")
		w.label("tail")
		w.op("TESTQ CX, CX")
		w.op("JEQ done")
		w.label("loop1")
		step(0)
		w.op("ADDQ BX, AX")
		w.op("ADDQ SI, R15")
		w.op("DECQ CX")
		w.op("JNZ loop1")
		w.label("done")
	} else {
		U := s.unrol
		w.op("CMPQ R14, $-%d", 4*U)
		w.op("JGT tail")
		w.label("loop")
		for u := 0; u < U; u++ {
			step(u)
			// Prefetch the next A panel: MR*4*U bytes per iteration cover
			// MR*4*k bytes over the k loop, a whole panel of rows k long.
			genPrefetch(w, s, u)
		}
		w.op("ADDQ $%d, BP", s.mr*4*U)
		w.op("ADDQ $%d, R15", U*nr*4)
		w.op("ADDQ $%d, R14", 4*U)
		w.op("CMPQ R14, $-%d", 4*U)
		w.op("JLE loop")
		w.label("tail")
		w.op("TESTQ R14, R14")
		w.op("JEQ done")
		w.label("loop1")
		step(0)
		w.op("ADDQ $%d, R15", nr*4)
		w.op("ADDQ $4, R14")
		w.op("JNZ loop1")
		w.label("done")
	}

	// Epilogue: C = alpha*acc + beta*C, or alpha*acc when beta == 0 (C is
	// then not read), skipping the multiplication when alpha == 1.
	alpha, beta := s.vreg(maxRegs-2), s.vreg(maxRegs-1)
	w.op("MOVQ c+56(FP), AX")
	w.op("MOVQ ldc+64(FP), BX")
	w.op("MOVL alpha+72(FP), DX")
	w.op("MOVL beta+76(FP), CX")
	w.op("ANDL $0x7fffffff, CX // beta == 0 or -0")
	w.op("JZ nobeta")
	w.op("VBROADCASTSS beta+76(FP), %s", beta)
	w.op("CMPL DX, $0x3f800000 // alpha == 1")
	w.op("JEQ beta_alpha1")
	w.op("VBROADCASTSS alpha+72(FP), %s", alpha)
	store := func(label string, mulAlpha, readC bool) {
		if label != "" {
			w.label(label)
		}
		for i := 0; i < s.mr; i++ {
			for v := 0; v < s.nv; v++ {
				if mulAlpha {
					w.op("VMULPS %s, %s, %s", alpha, acc(i, v), acc(i, v))
				}
				switch {
				case readC:
					w.op("VFMADD231PS %d(AX), %s, %s", v*vbytes, beta, acc(i, v))
					w.op("VMOVUPS %s, %d(AX)", acc(i, v), v*vbytes)
				case s.nt:
					w.op("VMOVNTPS %s, %d(AX)", acc(i, v), v*vbytes)
				default:
					w.op("VMOVUPS %s, %d(AX)", acc(i, v), v*vbytes)
				}
			}
			if i+1 < s.mr {
				w.op("ADDQ BX, AX")
			}
		}
		w.op("VZEROUPPER")
		w.op("RET")
	}
	store("", true, true)
	store("beta_alpha1", false, true)
	w.label("nobeta")
	w.op("CMPL DX, $0x3f800000")
	w.op("JEQ nobeta_alpha1")
	w.op("VBROADCASTSS alpha+72(FP), %s", alpha)
	store("", true, false)
	store("nobeta_alpha1", false, false)
	fmt.Fprintln(w)
}

func main() {
	out := flag.String("out", "gemm_amd64.s", "assembly output")
	stubs := flag.String("stubs", "gemm_amd64_stubs.go", "Go declarations output")
	flag.Parse()

	var w writer
	fmt.Fprintln(&w, "// Code generated by asmgen. DO NOT EDIT.")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "//go:build amd64 && !purego")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "#include \"textflag.h\"")
	fmt.Fprintln(&w)
	for _, s := range specs {
		gen(&w, s)
	}
	w.WriteString(packBRows)
	w.WriteString(sfence)
	w.WriteString(transposePack)
	w.WriteString(cvtBF16)
	w.WriteString(dot8)
	if err := os.WriteFile(*out, w.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}

	var g bytes.Buffer
	fmt.Fprintln(&g, "// Code generated by asmgen. DO NOT EDIT.")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "//go:build amd64 && !purego")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "package kernels")
	for _, s := range specs {
		fmt.Fprintln(&g)
		fmt.Fprintf(&g, "// %s is a %dx%d micro-kernel (see microKernel).\n", s.name, s.mr, s.nr())
		fmt.Fprintln(&g, "//\n//go:noescape")
		fmt.Fprintf(&g, "func %s(k int, a *float32, rs uintptr, rows int, b *float32, bs uintptr, pf uintptr, c *float32, ldc uintptr, alpha float32, beta float32)\n", s.name)
	}
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// packBRowsAVX2 copies kc rows of panels*nr float32s, rows ldb bytes apart")
	fmt.Fprintln(&g, "// in src, into panels of nr columns in dst (panel q at q*nr*kc); nr % 8 == 0.")
	fmt.Fprintln(&g, "//\n//go:noescape")
	fmt.Fprintln(&g, "func packBRowsAVX2(dst *float32, src *float32, ldb uintptr, kc int, panels int, nr int)")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// sfence orders the non-temporal stores of the NT kernels before later stores.")
	fmt.Fprintln(&g, "func sfence()")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// transposePackAVX2 transposes 8 rows of src (ldb bytes apart) into dst:")
	fmt.Fprintln(&g, "// dst[r*nrb/4 + j] = src[j*ldb/4 + r] for j < 8 and r < kc (kc % 8 == 0).")
	fmt.Fprintln(&g, "//\n//go:noescape")
	fmt.Fprintln(&g, "func transposePackAVX2(dst *float32, src *float32, ldb uintptr, kc int, nrb uintptr)")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// cvtRowBF16AVX512 rounds n float32s (n % 16 == 0) to bfloat16 and stores")
	fmt.Fprintln(&g, "// them in order: dst[q] = bf16(src[2q]) | bf16(src[2q+1])<<16.")
	fmt.Fprintln(&g, "//\n//go:noescape")
	fmt.Fprintln(&g, "func cvtRowBF16AVX512(dst *uint32, src *float32, n int)")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// cvtPairsBF16AVX512 interleaves two rows rounded to bfloat16 (n % 16 == 0):")
	fmt.Fprintln(&g, "// dst[j] = bf16(src0[j]) | bf16(src1[j])<<16.")
	fmt.Fprintln(&g, "//\n//go:noescape")
	fmt.Fprintln(&g, "func cvtPairsBF16AVX512(dst *uint32, src0 *float32, src1 *float32, n int)")
	fmt.Fprintln(&g)
	fmt.Fprintln(&g, "// dot8AVX512 sets out[r] = sum_{p<k} x[p] * b[r*ldb/4 + p] for r < 8 (k > 0).")
	fmt.Fprintln(&g, "//\n//go:noescape")
	fmt.Fprintln(&g, "func dot8AVX512(k int, x *float32, b *float32, ldb uintptr, out *[8]float32)")
	if err := os.WriteFile(*stubs, g.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// packBRows is the copy loop of packB for a B stored k x n: each row of the
// block is dealt out to the panels, 8 float32s (one ymm) at a time.
const packBRows = `// func packBRowsAVX2(dst *float32, src *float32, ldb uintptr, kc int, panels int, nr int)
// Requires: AVX
TEXT ·packBRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ kc+24(FP), CX
	MOVQ panels+32(FP), R9
	MOVQ nr+40(FP), R10
	SHLQ $2, R10 // bytes per panel row
	MOVQ R10, R11
	IMULQ CX, R11 // bytes per panel
rowloop:
	TESTQ CX, CX
	JEQ done
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX
panelloop:
	TESTQ DX, DX
	JEQ rowdone
	XORQ R12, R12
vecloop:
	VMOVUPS (AX)(R12*1), Y0
	VMOVUPS Y0, (BX)(R12*1)
	ADDQ $32, R12
	CMPQ R12, R10
	JLT vecloop
	ADDQ R10, AX
	ADDQ R11, BX
	DECQ DX
	JMP panelloop
rowdone:
	ADDQ R8, SI
	ADDQ R10, DI
	DECQ CX
	JMP rowloop
done:
	VZEROUPPER
	RET
`

// genSetupRows loads the arguments of a row kernel: MR row pointers (from
// their ends, clamped to the last valid row), R14 = -4k, R15 = b, BP = pf.
func genSetupRows(w *writer, s kernelSpec, nacc int) {
	w.op("MOVQ k+0(FP), R14")
	w.op("SHLQ $2, R14")
	w.op("MOVQ a+8(FP), AX")
	w.op("ADDQ R14, AX // rows are addressed from their end: (row)(R14*1) with R14 < 0")
	w.op("NEGQ R14")
	w.op("MOVQ rows+24(FP), R15")
	w.op("DECQ R15")
	w.op("IMULQ rs+16(FP), R15")
	w.op("ADDQ AX, R15 // R15 = last valid row; rows past it repeat it")
	for i := 1; i < s.mr; i++ {
		r, prev := rowRegs[i], rowRegs[i-1]
		w.op("MOVQ %s, %s", prev, r)
		w.op("ADDQ rs+16(FP), %s", r)
		w.op("CMPQ %s, R15", r)
		w.op("CMOVQHI R15, %s", r)
	}
	w.op("MOVQ b+32(FP), R15")
	w.op("MOVQ pf+48(FP), BP")
	genZero(w, s, nacc)
}

// kmajorAhead (a power of two) is how many k steps ahead the k-major
// kernels prefetch their A and B rows.
const kmajorAheadLog2 = 4

// genSetupKMajor loads the arguments of a k-major kernel: AX = a, BX = rs,
// DX = 3*rs, CX = k, R15 = b, SI = bs, DI = 3*bs, BP = pf, and R8, R9 the
// A and B prefetch pointers.
func genSetupKMajor(w *writer, s kernelSpec, nacc int) {
	w.op("MOVQ k+0(FP), CX")
	w.op("MOVQ a+8(FP), AX")
	w.op("MOVQ rs+16(FP), BX")
	w.op("LEAQ (BX)(BX*2), DX")
	w.op("MOVQ b+32(FP), R15")
	w.op("MOVQ bs+40(FP), SI")
	w.op("LEAQ (SI)(SI*2), DI")
	w.op("MOVQ SI, R8")
	w.op("SHLQ $%d, R8", kmajorAheadLog2)
	w.op("ADDQ R15, R8 // R8 = b, kmajorAhead rows on")
	w.op("MOVQ BX, R9")
	w.op("SHLQ $%d, R9", kmajorAheadLog2)
	w.op("ADDQ AX, R9 // R9 = a, kmajorAhead rows on")
	w.op("MOVQ pf+48(FP), BP")
	genZero(w, s, nacc)
}

// genPrefetch prefetches, over one unrolled iteration, the MR*4*U bytes of
// the prefetch stream that the iteration accounts for.
func genPrefetch(w *writer, s kernelSpec, u int) {
	U := s.unrol
	for off := u * 64; off < s.mr*4*U; off += U * 64 {
		w.op("PREFETCHT0 %d(BP)", off)
	}
}

func genZero(w *writer, s kernelSpec, nacc int) {
	for i := 0; i < nacc; i++ {
		if s.avx == 512 {
			w.op("VPXORD %[1]s, %[1]s, %[1]s", s.vreg(i))
		} else {
			w.op("VXORPS %[1]s, %[1]s, %[1]s", s.vreg(i))
		}
	}
}

const sfence = `
// func sfence()
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET
`

// transposePack packs 8 columns of op(B) = B^T (8 rows of B) into a
// panel, 8x8 blocks at a time, with the classic unpack/shuffle/permute
// transpose.
const transposePack = `
// func transposePackAVX2(dst *float32, src *float32, ldb uintptr, kc int, nrb uintptr)
// Requires: AVX
TEXT ·transposePackAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ kc+24(FP), CX
	MOVQ nrb+32(FP), R9
	LEAQ (R8)(R8*2), R10
	LEAQ (R9)(R9*2), R11
	SHRQ $3, CX
	JEQ done
loop:
	MOVQ SI, AX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R8*1), Y1
	VMOVUPS (AX)(R8*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	LEAQ (AX)(R8*4), AX
	VMOVUPS (AX), Y4
	VMOVUPS (AX)(R8*1), Y5
	VMOVUPS (AX)(R8*2), Y6
	VMOVUPS (AX)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ DI, BX
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, (BX)(R9*1)
	VMOVUPS Y10, (BX)(R9*2)
	VMOVUPS Y11, (BX)(R11*1)
	LEAQ (BX)(R9*4), BX
	VMOVUPS Y12, (BX)
	VMOVUPS Y13, (BX)(R9*1)
	VMOVUPS Y14, (BX)(R9*2)
	VMOVUPS Y15, (BX)(R11*1)
	LEAQ (BX)(R9*4), DI
	ADDQ $32, SI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
`

// vdpbf16ps encodes VDPBF16PS dst, src1, src2 (Intel operand order; zmm
// registers), which the Go assembler does not know:
// EVEX.512.F3.0F38.W0 52 /r, dst in ModRM.reg, src1 in EVEX.vvvv, src2 in
// ModRM.rm.
func vdpbf16ps(dst, src1, src2 string) string {
	d, v, r := zreg(dst), zreg(src1), zreg(src2)
	inv := func(x, bit int) int { return (x>>bit)&1 ^ 1 }
	p0 := inv(d, 3)<<7 | inv(r, 4)<<6 | inv(r, 3)<<5 | inv(d, 4)<<4 | 0b10 // map 0F38
	p1 := (^v&0xF)<<3 | 1<<2 | 0b10                                        // W0, vvvv, pp = F3
	p2 := 0b10<<5 | inv(v, 4)<<3                                           // 512 bits, V'
	modrm := 0b11<<6 | (d&7)<<3 | r&7
	return fmt.Sprintf("BYTE $0x62; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x52; BYTE $0x%02x // VDPBF16PS %s, %s, %s",
		p0, p1, p2, modrm, src2, src1, dst)
}

func zreg(name string) int {
	var n int
	if _, err := fmt.Sscanf(name, "Z%d", &n); err != nil {
		log.Fatalf("not a zmm register: %s", name)
	}
	return n
}

// cvtBF16 converts float32 to bfloat16 (round to nearest even, as
// x + 0x7fff + (x>>16 & 1), keeping the top 16 bits) for SgemmBF16's packing.
// NaNs are not special-cased.
const cvtBF16 = `
// func cvtRowBF16AVX512(dst *uint32, src *float32, n int)
// Requires: AVX512F
TEXT ·cvtRowBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JEQ rowdone
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z31
rowloop:
	VMOVDQU32 (SI), Z0
	VPSRLD $16, Z0, Z1
	VPANDD Z31, Z1, Z1
	VPADDD Z30, Z0, Z0
	VPADDD Z1, Z0, Z0
	VPSRLD $16, Z0, Z0
	VPMOVDW Z0, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ rowloop
rowdone:
	VZEROUPPER
	RET

// func cvtPairsBF16AVX512(dst *uint32, src0 *float32, src1 *float32, n int)
// Requires: AVX512F
TEXT ·cvtPairsBF16AVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src0+8(FP), SI
	MOVQ src1+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JEQ pairsdone
	MOVL $0x7fff, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z31
	MOVL $0xffff0000, AX
	VPBROADCASTD AX, Z29
pairsloop:
	VMOVDQU32 (SI), Z0
	VPSRLD $16, Z0, Z1
	VPANDD Z31, Z1, Z1
	VPADDD Z30, Z0, Z0
	VPADDD Z1, Z0, Z0
	VPSRLD $16, Z0, Z0
	VMOVDQU32 (DX), Z2
	VPSRLD $16, Z2, Z3
	VPANDD Z31, Z3, Z3
	VPADDD Z30, Z2, Z2
	VPADDD Z3, Z2, Z2
	VPANDD Z29, Z2, Z2
	VPORD Z2, Z0, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ pairsloop
pairsdone:
	VZEROUPPER
	RET
`

// dot8 is the matrix-vector kernel of a one-row GEMM with a transposed B
// (a Linear layer on one sample): 8 dot products of x with 8 rows of B, 16
// values of k at a time, the last ones under a mask, then 8 horizontal sums.
const dot8 = `
// func dot8AVX512(k int, x *float32, b *float32, ldb uintptr, out *[8]float32)
// Requires: AVX512F
TEXT ·dot8AVX512(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), R10
	MOVQ ldb+24(FP), BX
	LEAQ (R10)(BX*1), R11
	LEAQ (R11)(BX*1), R12
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	LEAQ (R14)(BX*1), R15
	LEAQ (R15)(BX*1), AX
	LEAQ (AX)(BX*1), DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	XORQ R8, R8 // byte offset along k
	MOVQ CX, R9
	SHRQ $4, R9
	JEQ dottail
dotloop:
	VMOVUPS (SI)(R8*1), Z8
	VFMADD231PS (R10)(R8*1), Z8, Z0
	VFMADD231PS (R11)(R8*1), Z8, Z1
	VFMADD231PS (R12)(R8*1), Z8, Z2
	VFMADD231PS (R13)(R8*1), Z8, Z3
	VFMADD231PS (R14)(R8*1), Z8, Z4
	VFMADD231PS (R15)(R8*1), Z8, Z5
	VFMADD231PS (AX)(R8*1), Z8, Z6
	VFMADD231PS (DX)(R8*1), Z8, Z7
	ADDQ $64, R8
	DECQ R9
	JNZ dotloop
dottail:
	ANDQ $15, CX
	JEQ dotsum
	MOVL $1, R9
	SHLL CX, R9
	DECL R9
	KMOVW R9, K1 // the last k % 16 values; masked loads never fault
	VMOVUPS.Z (SI)(R8*1), K1, Z8
	VMOVUPS.Z (R10)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z0
	VMOVUPS.Z (R11)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z1
	VMOVUPS.Z (R12)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z2
	VMOVUPS.Z (R13)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z3
	VMOVUPS.Z (R14)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z4
	VMOVUPS.Z (R15)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z5
	VMOVUPS.Z (AX)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z6
	VMOVUPS.Z (DX)(R8*1), K1, Z9
	VFMADD231PS Z9, Z8, Z7
dotsum:
	MOVQ out+32(FP), DI
	VEXTRACTF64X4 $1, Z0, Y9
	VADDPS Y9, Y0, Y0
	VEXTRACTF128 $1, Y0, X9
	VADDPS X9, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, 0(DI)
	VEXTRACTF64X4 $1, Z1, Y9
	VADDPS Y9, Y1, Y1
	VEXTRACTF128 $1, Y1, X9
	VADDPS X9, X1, X1
	VHADDPS X1, X1, X1
	VHADDPS X1, X1, X1
	VMOVSS X1, 4(DI)
	VEXTRACTF64X4 $1, Z2, Y9
	VADDPS Y9, Y2, Y2
	VEXTRACTF128 $1, Y2, X9
	VADDPS X9, X2, X2
	VHADDPS X2, X2, X2
	VHADDPS X2, X2, X2
	VMOVSS X2, 8(DI)
	VEXTRACTF64X4 $1, Z3, Y9
	VADDPS Y9, Y3, Y3
	VEXTRACTF128 $1, Y3, X9
	VADDPS X9, X3, X3
	VHADDPS X3, X3, X3
	VHADDPS X3, X3, X3
	VMOVSS X3, 12(DI)
	VEXTRACTF64X4 $1, Z4, Y9
	VADDPS Y9, Y4, Y4
	VEXTRACTF128 $1, Y4, X9
	VADDPS X9, X4, X4
	VHADDPS X4, X4, X4
	VHADDPS X4, X4, X4
	VMOVSS X4, 16(DI)
	VEXTRACTF64X4 $1, Z5, Y9
	VADDPS Y9, Y5, Y5
	VEXTRACTF128 $1, Y5, X9
	VADDPS X9, X5, X5
	VHADDPS X5, X5, X5
	VHADDPS X5, X5, X5
	VMOVSS X5, 20(DI)
	VEXTRACTF64X4 $1, Z6, Y9
	VADDPS Y9, Y6, Y6
	VEXTRACTF128 $1, Y6, X9
	VADDPS X9, X6, X6
	VHADDPS X6, X6, X6
	VHADDPS X6, X6, X6
	VMOVSS X6, 24(DI)
	VEXTRACTF64X4 $1, Z7, Y9
	VADDPS Y9, Y7, Y7
	VEXTRACTF128 $1, Y7, X9
	VADDPS X9, X7, X7
	VHADDPS X7, X7, X7
	VHADDPS X7, X7, X7
	VMOVSS X7, 28(DI)
	VZEROUPPER
	RET
`
