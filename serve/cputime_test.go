package serve

import (
	"github.com/residual-go/residual/internal/cputime"
	"testing"
	"time"
)

// reportCPU reports the CPU time per iteration since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cputime.Process()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
