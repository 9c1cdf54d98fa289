// Package parallel runs loops over all cores with a persistent pool of
// workers, so that a parallel loop in a hot path costs no allocation and no
// goroutine start.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// group tracks the chunks of one For call that other goroutines run.
type group struct {
	pending atomic.Int32
	done    chan struct{} // receives once when pending reaches 0
}

type task struct {
	fn     func(lo, hi int)
	lo, hi int
	g      *group
}

func (t task) run() {
	t.fn(t.lo, t.hi)
	if t.g.pending.Add(-1) == 0 {
		t.g.done <- struct{}{}
	}
}

var (
	once      sync.Once
	workers   int
	tasks     chan task
	groupPool = sync.Pool{New: func() any { return &group{done: make(chan struct{}, 1)} }}
)

func start() {
	workers = runtime.GOMAXPROCS(0)
	tasks = make(chan task, 4*workers)
	for i := 1; i < workers; i++ { // the caller is the remaining worker
		go func() {
			for t := range tasks {
				t.run()
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
//
// To stay allocation-free, pass a func value created once (for example a
// method value stored in a struct), not a fresh closure per call.
// For may be called from inside fn (nested loops) and from several
// goroutines at once: a caller waiting for its chunks runs queued chunks
// itself, so the pool never deadlocks.
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
	g := groupPool.Get().(*group)
	g.pending.Store(int32(chunks - 1))
	for c := 1; c < chunks; c++ {
		t := task{fn: fn, lo: c * step, hi: min(n, (c+1)*step), g: g}
		select {
		case tasks <- t:
		default: // queue full: run it here
			t.run()
		}
	}
	fn(0, min(n, step))
	for {
		select {
		case <-g.done:
			groupPool.Put(g)
			return
		case t := <-tasks:
			t.run()
		}
	}
}
