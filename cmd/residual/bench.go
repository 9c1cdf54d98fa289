package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"residual/internal/kernels"
)

type benchOptions struct {
	seconds float64
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure GEMM GFLOP/s and reference-network images/s on this machine",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(o)
		},
	}
	cmd.Flags().Float64Var(&o.seconds, "seconds", 2, "time spent on each measurement")
	return cmd
}

// measure runs fn until d has passed (after one warm-up call) and returns
// the calls per second.
func measure(d time.Duration, fn func()) float64 {
	fn()
	n, start := 0, time.Now()
	for {
		fn()
		n++
		if el := time.Since(start); el >= d {
			return float64(n) / el.Seconds()
		}
	}
}

func runBench(o benchOptions) error {
	d := time.Duration(o.seconds * float64(time.Second))
	const n = 1024
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	rate := measure(d, func() { kernels.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) })
	fmt.Printf("sgemm %dx%dx%d: %.1f GFLOP/s\n", n, n, n, rate*2*n*n*n/1e9)
	return nil
}
