package serve

import (
	"context"
	"image"
	"testing"
)

// Warm sizes every instance's input buffer for the largest pass, so a full
// pass afterwards grows nothing, and it changes no result.
func TestWarmSizesBuffers(t *testing.T) {
	m := newEmotionModel(t, 2)
	const maxBatch = 8
	m.SetMaxBatch(maxBatch)
	frame := batchFrames(1)[0]
	whole := []image.Rectangle{{}}
	before, err := m.Classify(context.Background(), frame, whole)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Warm(); err != nil {
		t.Fatal(err)
	}
	size := m.Preprocess.Size()
	bufs := map[*instance]*float32{}
	for range m.Instances() {
		in := <-m.pool
		if got := cap(in.x.Data); got < maxBatch*size {
			t.Errorf("after Warm an instance's input holds %d values, want at least %d (batch %d)", got, maxBatch*size, maxBatch)
		}
		bufs[in] = &in.x.Data[:1][0]
	}
	if len(bufs) != 2 {
		t.Fatalf("Warm left %d distinct instances in the pool, want 2", len(bufs))
	}
	for in := range bufs {
		m.pool <- in
	}
	regions := make([]image.Rectangle, maxBatch)
	after, err := m.Classify(context.Background(), frame, regions)
	if err != nil {
		t.Fatal(err)
	}
	for range m.Instances() {
		in := <-m.pool
		if p := &in.x.Data[:1][0]; p != bufs[in] {
			t.Errorf("a pass of %d crops after Warm reallocated an instance's input buffer", maxBatch)
		}
	}
	for k := range before[0] {
		if d := before[0][k] - after[0][k]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("class %d: probability %g before Warm, %g after", k, before[0][k], after[0][k])
		}
	}
}
