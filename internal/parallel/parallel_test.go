package parallel

import (
	"sync"
	"sync/atomic"
	"testing"
)

// covers records how often each index was visited.
type covers struct{ hits []atomic.Int32 }

func (c *covers) visit(lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000, 1001} {
		for _, grain := range []int{0, 1, 3, 100, 5000} {
			c := &covers{hits: make([]atomic.Int32, n)}
			For(n, grain, c.visit)
			for i := range c.hits {
				if h := c.hits[i].Load(); h != 1 {
					t.Fatalf("n=%d grain=%d: index %d visited %d times", n, grain, i, h)
				}
			}
		}
	}
}

// TestNestedAndConcurrent: For inside For, from several goroutines at
// once, must finish (a deadlock fails the test by timeout) and cover all.
func TestNestedAndConcurrent(t *testing.T) {
	const outer, inner = 16, 100
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var total atomic.Int64
			For(outer, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					For(inner, 1, func(a, b int) { total.Add(int64(b - a)) })
				}
			})
			if total.Load() != outer*inner {
				t.Errorf("nested loops covered %d items, want %d", total.Load(), outer*inner)
			}
		}()
	}
	wg.Wait()
}

func TestForDoesNotAllocate(t *testing.T) {
	c := &covers{hits: make([]atomic.Int32, 4096)}
	fn := c.visit
	For(4096, 1, fn)
	if n := testing.AllocsPerRun(20, func() { For(4096, 1, fn) }); n != 0 {
		t.Errorf("For allocates %.1f times per call", n)
	}
}
