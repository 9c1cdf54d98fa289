package data

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/residual-go/residual/vision"
)

// countingDataset has n 4x4 gray images whose pixels all equal i%256
// and label i%classes.
func countingDataset(n, classes int) *Dataset {
	names := make([]string, classes)
	for i := range names {
		names[i] = fmt.Sprint("c", i)
	}
	d := NewDataset(4, 4, 1, names)
	img := make([]uint8, 16)
	for i := 0; i < n; i++ {
		for k := range img {
			img[k] = uint8(i % 256)
		}
		d.Append(img, i%classes, fmt.Sprint("s", i), "")
	}
	return d
}

func collectEpoch(t *testing.T, l *Loader, epoch, from int) (batches [][]int, xs [][]float32) {
	t.Helper()
	for b := range l.Batches(epoch, from) {
		if b.Epoch != epoch || b.Index != from+len(batches) {
			t.Fatalf("batch %d of epoch %d labelled %d/%d", from+len(batches), epoch, b.Index, b.Epoch)
		}
		batches = append(batches, slices.Clone(b.Indices))
		xs = append(xs, slices.Clone(b.X.Data[:b.X.Len()]))
	}
	return
}

func TestLoaderCoversEpochInOrder(t *testing.T) {
	d := countingDataset(103, 5)
	l, err := NewLoader(d, LoaderOptions{BatchSize: 10, Workers: 2, Prefetch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.BatchesPerEpoch() != 11 {
		t.Fatalf("batches per epoch %d", l.BatchesPerEpoch())
	}
	batches, xs := collectEpoch(t, l, 0, 0)
	if len(batches) != 11 || len(batches[10]) != 3 {
		t.Fatalf("got %d batches, last of %d", len(batches), len(batches[len(batches)-1]))
	}
	next := 0
	for bi, idx := range batches {
		for s, i := range idx {
			if i != next {
				t.Fatalf("unshuffled order: got %d want %d", i, next)
			}
			next++
			// Default preprocessing maps pixel v to v/255.
			if got := xs[bi][s*16]; math.Abs(float64(got-float32(i)/255)) > 1e-6 {
				t.Fatalf("sample %d value %v", i, got)
			}
		}
	}
	b := func() *Batch { l.Start(0, 0); b, _ := l.Next(); return b }()
	if b.X.Dim(0) != 10 || b.X.Dim(1) != 4 || b.X.Dim(3) != 1 || len(b.Labels) != 10 || b.Labels[7] != 7%5 {
		t.Fatalf("batch shape %v labels %v", b.X.Shape, b.Labels)
	}
	l.Release(b)
}

func TestLoaderShuffleDeterministicAndResumable(t *testing.T) {
	d := countingDataset(50, 3)
	aug := DefaultAugment()
	opts := LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 42, Augment: &aug, Workers: 2, DropLast: true}
	l1, _ := NewLoader(d, opts)
	defer l1.Close()
	l2, _ := NewLoader(d, opts)
	defer l2.Close()
	a, ax := collectEpoch(t, l1, 3, 0)
	b, bx := collectEpoch(t, l2, 3, 0)
	if len(a) != 6 {
		t.Fatalf("DropLast: %d batches", len(a))
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) || !slices.Equal(ax[i], bx[i]) {
			t.Fatalf("batch %d differs between identical loaders", i)
		}
	}
	// Resume from batch 4: same batches as the full epoch's 4 and 5.
	c, cx := collectEpoch(t, l2, 3, 4)
	if len(c) != 2 || !slices.Equal(c[0], a[4]) || !slices.Equal(cx[1], ax[5]) {
		t.Fatal("resumed epoch differs")
	}
	// Another epoch has another order; every sample appears once.
	e, _ := collectEpoch(t, l1, 4, 0)
	if slices.Equal(e[0], a[0]) {
		t.Fatal("epochs 3 and 4 start identically")
	}
	seen := map[int]bool{}
	for _, idx := range a {
		for _, i := range idx {
			if seen[i] {
				t.Fatalf("sample %d twice in an epoch", i)
			}
			seen[i] = true
		}
	}
	if len(seen) != 48 {
		t.Fatalf("saw %d samples, want 48", len(seen))
	}
	// Different worker counts give the same batches.
	opts.Workers = 1
	l3, _ := NewLoader(d, opts)
	defer l3.Close()
	_, x3 := collectEpoch(t, l3, 3, 0)
	if !slices.Equal(x3[2], ax[2]) {
		t.Fatal("augmented batches depend on the worker count")
	}
}

func TestLoaderPreprocessResizes(t *testing.T) {
	d := countingDataset(6, 2)
	pre := vision.Preprocess{Width: 8, Height: 8, Channels: 3, Mean: []float32{0.5}, Std: []float32{0.5}}
	l, err := NewLoader(d, LoaderOptions{BatchSize: 4, Preprocess: pre})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Start(0, 0)
	b, ok := l.Next()
	if !ok || !slices.Equal(b.X.Shape, []int{4, 8, 8, 3}) {
		t.Fatalf("shape %v", b.X.Shape)
	}
	// Sample 2 has pixel value 2: (2/255 - 0.5)/0.5.
	want := (2.0/255 - 0.5) / 0.5
	if got := b.X.Data[2*8*8*3+5]; math.Abs(float64(got)-want) > 1e-5 {
		t.Fatalf("value %v want %v", got, want)
	}
	l.Release(b)
	b, _ = l.Next()
	if b.X.Dim(0) != 2 {
		t.Fatalf("last batch shape %v", b.X.Shape)
	}
	l.Release(b)
	if _, ok := l.Next(); ok {
		t.Fatal("batch after the end of the epoch")
	}
}

func TestLoaderErrorsAndShutdown(t *testing.T) {
	d := countingDataset(5, 2)
	if _, err := NewLoader(d, LoaderOptions{BatchSize: 8, DropLast: true}); err == nil {
		t.Fatal("no full batch accepted")
	}
	if _, err := NewLoader(d, LoaderOptions{Preprocess: vision.Preprocess{Width: 4, Height: 4, Channels: 2}}); err == nil {
		t.Fatal("bad preprocess accepted")
	}
	bad := Augment{FlipProb: 2}
	if _, err := NewLoader(d, LoaderOptions{Augment: &bad}); err == nil {
		t.Fatal("bad augment accepted")
	}
	if _, err := NewLoader(NewDataset(4, 4, 1, []string{"a"}), LoaderOptions{}); err == nil {
		t.Fatal("empty dataset accepted")
	}
	// Stopping mid-epoch, restarting and closing while holding a batch.
	l, _ := NewLoader(d, LoaderOptions{BatchSize: 1, Prefetch: 1})
	l.Start(0, 0)
	held, _ := l.Next()
	l.Start(1, 0)
	b, ok := l.Next()
	if !ok || b.Epoch != 1 || held.Epoch != 0 {
		t.Fatal("restart")
	}
	for range l.Batches(2, 0) {
		break // early exit stops the epoch
	}
	l.Close()
	l.Close()
}

func TestLoaderNoAllocPerBatch(t *testing.T) {
	d := countingDataset(4000, 3)
	aug := DefaultAugment()
	l, _ := NewLoader(d, LoaderOptions{BatchSize: 4, Shuffle: true, Augment: &aug})
	defer l.Close()
	l.Start(0, 0)
	for i := 0; i < 10; i++ { // warm up
		b, _ := l.Next()
		l.Release(b)
	}
	allocs := testing.AllocsPerRun(100, func() {
		b, _ := l.Next()
		l.Release(b)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

func BenchmarkLoaderFER(b *testing.B) {
	d := NewDataset(48, 48, 1, FER2013ClassNames())
	img := make([]uint8, 48*48)
	for i := 0; i < 1024; i++ {
		d.Append(img, i%7, "", "")
	}
	aug := DefaultAugment()
	l, _ := NewLoader(d, LoaderOptions{BatchSize: 128, Shuffle: true, Augment: &aug, Preprocess: vision.DefaultFER()})
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range l.Batches(i, 0) {
		}
	}
	b.ReportMetric(float64(b.N*d.Len())/b.Elapsed().Seconds(), "samples/s")
}
