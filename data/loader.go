package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"

	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of samples per batch (default 64).
	BatchSize int
	// Shuffle visits samples in a new random order each epoch; the order
	// depends only on (Seed, epoch), so training can resume exactly.
	Shuffle bool
	// DropLast drops the last, smaller batch of an epoch.
	DropLast bool
	// Seed seeds the shuffle and the augmentation.
	Seed uint64
	// Augment, when non-nil, augments every sample (training); the
	// augmentation of sample i in epoch e depends only on (Seed, e, i).
	Augment *Augment
	// Preprocess turns the dataset's 8-bit images into model input. Its
	// size and channels may differ from the dataset's (images are then
	// converted and resized first). A zero Preprocess keeps the dataset's
	// size and maps pixels to [0,1].
	Preprocess vision.Preprocess
	// Workers is the number of goroutines preparing batches (default 1:
	// the machine's cores are better spent on the model; each worker
	// prepares whole batches).
	Workers int
	// Prefetch is how many batches may be prepared ahead of the consumer
	// (default 2). It bounds memory: Prefetch+Workers+1 batch buffers exist.
	Prefetch int
}

// Batch is one prepared batch. It stays valid until released.
type Batch struct {
	X       *tensor.Tensor // (N,H,W,C) preprocessed (and augmented) images
	Labels  []int          // N labels
	Indices []int          // N dataset indices
	Epoch   int
	Index   int // batch number within the epoch
	job     *job
}

// job is a batch buffer travelling between dispatcher, worker and consumer.
type job struct {
	batch Batch
	done  chan struct{}
}

// epochRun is the state of one Start.
type epochRun struct {
	stop  chan struct{}
	queue chan *job // in batch order
	exit  chan struct{}
}

// Loader prepares float32 batches from a Dataset in background
// goroutines, overlapping data preparation with compute. Batches arrive in
// order; their buffers are recycled, so once warmed up the loader
// allocates nothing per batch. Use it from a single consumer goroutine:
//
//	l, _ := data.NewLoader(train, opts)
//	defer l.Close()
//	for b := range l.Batches(epoch, 0) { model.Step(b.X, b.Labels) }
type Loader struct {
	d       *Dataset
	opt     LoaderOptions
	pre     vision.Preprocess
	h, w, c int // output image shape

	free  chan *job
	work  chan *job
	wg    sync.WaitGroup
	order []int
	run   *epochRun
}

// NewLoader checks the options and starts the worker goroutines.
func NewLoader(d *Dataset, opt LoaderOptions) (*Loader, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("loader: empty dataset")
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = 64
	}
	if opt.Workers == 0 {
		opt.Workers = 1
	}
	if opt.Prefetch == 0 {
		opt.Prefetch = 2
	}
	if opt.BatchSize < 0 || opt.Workers < 0 || opt.Prefetch < 0 {
		return nil, fmt.Errorf("loader: batch size %d, workers %d and prefetch %d must be positive", opt.BatchSize, opt.Workers, opt.Prefetch)
	}
	pre := opt.Preprocess
	if pre.Width == 0 && pre.Height == 0 && pre.Channels == 0 {
		pre = vision.Preprocess{Width: d.W, Height: d.H, Channels: d.C}
	}
	if err := pre.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if _, err := pre.Fit(d.Image(0), d.H, d.W, d.C, new(vision.Scratch)); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if opt.Augment != nil {
		if err := opt.Augment.Validate(); err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
	}
	l := &Loader{d: d, opt: opt, pre: pre, h: pre.Height, w: pre.Width, c: pre.Channels}
	if l.BatchesPerEpoch() == 0 {
		return nil, fmt.Errorf("loader: %d samples make no full batch of %d (DropLast)", d.Len(), opt.BatchSize)
	}
	pool := opt.Prefetch + opt.Workers + 1
	l.free = make(chan *job, pool)
	l.work = make(chan *job, pool)
	for i := 0; i < pool; i++ {
		j := &job{done: make(chan struct{}, 1)}
		j.batch.X = tensor.New(opt.BatchSize, l.h, l.w, l.c)
		j.batch.Labels = make([]int, 0, opt.BatchSize)
		j.batch.Indices = make([]int, 0, opt.BatchSize)
		j.batch.job = j
		l.free <- j
	}
	for i := 0; i < opt.Workers; i++ {
		l.wg.Add(1)
		go l.worker()
	}
	return l, nil
}

// Len is the number of samples per epoch.
func (l *Loader) Len() int { return l.d.Len() }

// InputShape is the per-sample shape (H,W,C) of the batches.
func (l *Loader) InputShape() []int { return []int{l.h, l.w, l.c} }

// BatchesPerEpoch is the number of batches an epoch yields.
func (l *Loader) BatchesPerEpoch() int {
	n, b := l.d.Len(), l.opt.BatchSize
	if l.opt.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// EpochOrder writes into dst (reused when large enough) the order in
// which an epoch visits n samples: 0..n-1, or a permutation that depends
// only on (seed, epoch) when shuffle is set.
func EpochOrder(dst []int, n int, seed uint64, epoch int, shuffle bool) []int {
	if cap(dst) < n {
		dst = make([]int, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = i
	}
	if shuffle {
		rng := rand.New(rand.NewPCG(mix64(seed), mix64(uint64(epoch)+0x5bd1e995)))
		rng.Shuffle(n, func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
	}
	return dst
}

// mix64 is the splitmix64 finaliser, spreading nearby seeds apart.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Start begins preparing the batches of epoch from batch number
// fromBatch (0 for a whole epoch; later to resume mid-epoch). A running
// epoch is stopped first; batches the caller still holds stay valid.
func (l *Loader) Start(epoch, fromBatch int) {
	l.stopRun()
	l.order = EpochOrder(l.order, l.d.Len(), l.opt.Seed, epoch, l.opt.Shuffle)
	r := &epochRun{stop: make(chan struct{}), queue: make(chan *job, cap(l.free)), exit: make(chan struct{})}
	l.run = r
	go l.dispatch(r, epoch, max(fromBatch, 0))
}

// dispatch hands batch buffers to the workers in order and queues them
// for the consumer.
func (l *Loader) dispatch(r *epochRun, epoch, from int) {
	defer close(r.exit)
	defer close(r.queue)
	nb, bs, n := l.BatchesPerEpoch(), l.opt.BatchSize, l.d.Len()
	for k := from; k < nb; k++ {
		var j *job
		select {
		case j = <-l.free:
		case <-r.stop:
			return
		}
		lo, hi := k*bs, min((k+1)*bs, n)
		b := &j.batch
		b.Epoch, b.Index = epoch, k
		b.Indices = append(b.Indices[:0], l.order[lo:hi]...)
		l.work <- j  // never blocks: work holds every buffer
		r.queue <- j // never blocks: neither does queue
	}
}

// stopRun stops the current epoch and takes back its queued buffers.
func (l *Loader) stopRun() {
	r := l.run
	if r == nil {
		return
	}
	close(r.stop)
	<-r.exit
	for j := range r.queue {
		<-j.done
		l.free <- j
	}
	l.run = nil
}

// worker fills batches: fit, augment, normalise each sample.
func (l *Loader) worker() {
	defer l.wg.Done()
	var scratch vision.Scratch
	var aug *Augmenter
	var unit []float32
	if l.opt.Augment != nil {
		aug, _ = NewAugmenter(*l.opt.Augment, l.h, l.w, l.c) // validated in NewLoader
		unit = make([]float32, l.h*l.w*l.c)
	}
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	size := l.h * l.w * l.c
	d := l.d
	for j := range l.work {
		b := &j.batch
		b.X = tensor.Ensure(b.X, len(b.Indices), l.h, l.w, l.c)
		b.Labels = b.Labels[:0]
		for s, i := range b.Indices {
			b.Labels = append(b.Labels, d.Labels[i])
			out := b.X.Data[s*size : (s+1)*size]
			pix, _ := l.pre.Fit(d.Image(i), d.H, d.W, d.C, &scratch) // shapes checked in NewLoader
			if aug == nil {
				l.pre.Normalize(out, pix)
				continue
			}
			pcg.Seed(mix64(l.opt.Seed^mix64(uint64(b.Epoch))), uint64(i))
			aug.ApplyUint8(rng, unit, pix)
			l.pre.NormalizeUnit(out, unit)
		}
		j.done <- struct{}{}
	}
}

// Next returns the next batch of the epoch started with Start, waiting
// for it if needed, or false at the end of the epoch (or before any
// Start). Release the batch when done with it.
func (l *Loader) Next() (*Batch, bool) {
	if l.run == nil {
		return nil, false
	}
	j, ok := <-l.run.queue
	if !ok {
		return nil, false
	}
	<-j.done
	return &j.batch, true
}

// Release returns a batch's buffers for reuse; b must not be used after.
func (l *Loader) Release(b *Batch) {
	if b != nil && b.job != nil {
		l.free <- b.job
	}
}

// Batches starts epoch at fromBatch and yields its batches in order,
// releasing each one when the loop body returns.
func (l *Loader) Batches(epoch, fromBatch int) iter.Seq[*Batch] {
	return func(yield func(*Batch) bool) {
		l.Start(epoch, fromBatch)
		for {
			b, ok := l.Next()
			if !ok {
				return
			}
			cont := yield(b)
			l.Release(b)
			if !cont {
				l.stopRun()
				return
			}
		}
	}
}

// Close stops the loader and its goroutines. Batches still held stay
// readable, but the loader must not be used afterwards.
func (l *Loader) Close() {
	if l.work == nil {
		return
	}
	l.stopRun()
	close(l.work)
	l.wg.Wait()
	l.work = nil
}
