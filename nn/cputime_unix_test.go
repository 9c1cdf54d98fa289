//go:build unix

package nn

import (
	"syscall"
	"time"
)

// cpuTime is the user+system CPU time of this process so far: benchmarks
// divide work by it so that other processes on a shared machine do not
// skew comparisons.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
