// Package parallel runs loops over all cores with a persistent pool of
// workers, so that a parallel loop in a hot path costs no allocation and no
// goroutine start.
package parallel

import (
	"runtime"
	"sync"
)

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	once    sync.Once
	workers int
	tasks   chan task
	wgPool  = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

func start() {
	workers = runtime.GOMAXPROCS(0)
	tasks = make(chan task, 4*workers)
	for i := 1; i < workers; i++ { // the caller is the remaining worker
		go func() {
			for t := range tasks {
				t.fn(t.lo, t.hi)
				t.wg.Done()
			}
		}()
	}
}

// Workers is the number of goroutines that For spreads work over.
func Workers() int {
	once.Do(start)
	return workers
}

// For calls fn on disjoint ranges [lo,hi) that cover [0,n), in parallel,
// and returns when all calls are done. Ranges hold at least grain items
// (except the last), so tiny loops run on the caller alone.
// To stay allocation-free, pass a func value created once (for example a
// method value stored in a struct), not a fresh closure per call.
// For must not be called from inside fn: nested loops run serially instead
// (use Serial to tell).
func For(n, grain int, fn func(lo, hi int)) {
	once.Do(start)
	if grain < 1 {
		grain = 1
	}
	chunks := min(workers, (n+grain-1)/grain)
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	step := (n + chunks - 1) / chunks
	chunks = (n + step - 1) / step
	wg := wgPool.Get().(*sync.WaitGroup)
	wg.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		lo := c * step
		hi := min(n, lo+step)
		tasks <- task{fn: fn, lo: lo, hi: hi, wg: wg}
	}
	fn(0, min(n, step))
	wg.Wait()
	wgPool.Put(wg)
}
