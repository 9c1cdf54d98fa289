//go:build !unix

package nn

import "time"

// cpuTime is unknown here: benchmarks report nothing per CPU-second.
func cpuTime() time.Duration { return 0 }
