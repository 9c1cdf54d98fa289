package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/residual-go/residual/model"
)

// Precisions are the values of --precision: fp32 (the default) and bf16,
// bfloat16 products with float32 sums (model.Net.SetBF16) on CPUs with
// AVX512-BF16.
var precisions = []string{"fp32", "bf16"}

// addPrecisionFlag registers --precision on a command that runs a network.
func addPrecisionFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "precision", "fp32", "arithmetic of the network's convolutions: fp32, or bf16 (bfloat16 products, float32 sums; inference only, "+
		"on CPUs with AVX512-BF16, else fp32 with a warning; layers that run Winograd stay fp32)")
}

// useBF16 checks a --precision value and reports whether bf16 runs: a
// bf16 request on a CPU (or build) without AVX512-BF16 runs fp32, with a
// note on warn.
func useBF16(cmd, p string, warn io.Writer) (bool, error) {
	switch p {
	case "fp32":
		return false, nil
	case "bf16":
		if !model.HasBF16() {
			fmt.Fprintf(warn, "%s: --precision bf16: this CPU (or the purego build) has no AVX512-BF16; running fp32\n", cmd)
			return false, nil
		}
		return true, nil
	}
	return false, fmt.Errorf("%s: --precision %q, want one of %v", cmd, p, precisions)
}
