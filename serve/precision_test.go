package serve

import (
	"testing"

	"github.com/residual-go/residual/model"
)

// TestModelSetBF16 sets the precision of every instance, clones included,
// and leaves all of them in the pool.
func TestModelSetBF16(t *testing.T) {
	m := newEmotionModel(t, 3)
	for _, on := range []bool{true, false} {
		m.SetBF16(on)
		if len(m.pool) != 3 {
			t.Fatalf("%d instances in the pool after SetBF16, want 3", len(m.pool))
		}
		var all []*instance
		for range 3 {
			in := <-m.pool
			if n := in.net.(*model.Net); n.BF16() != on {
				t.Errorf("instance has BF16 %v after SetBF16(%v)", n.BF16(), on)
			}
			all = append(all, in)
		}
		for _, in := range all {
			m.pool <- in
		}
	}
}
