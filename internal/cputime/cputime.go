// Package cputime reads the process's CPU time. Benchmarks report work per
// CPU-second next to wall time: on a shared machine the wall time depends
// on the other processes, the CPU time much less.
package cputime

import "time"

// Process returns the user+system CPU time of this process so far, or 0
// where the platform cannot tell.
func Process() time.Duration { return process() }
