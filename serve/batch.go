package serve

// Cross-request batching.
//
// A forward pass over 8 crops costs less CPU per crop than 8 passes over
// one (~20-35% less for the FER2013 ResNet, see BenchmarkPass: larger
// matrix products, and the per-pass work done once), so concurrent
// requests share passes. There is no dispatcher goroutine and no waiting
// window: a request puts its job (frame and regions) at the end of the
// model's queue, then waits for whichever comes first of
//
//   - a pass taking its job: it then waits for the result only;
//   - a free network instance: it takes the jobs at the head of the
//     queue, up to MaxBatch crops (always at least one job, whatever its
//     size), marks them taken, preprocesses them into the instance's
//     input batch, runs one forward pass, hands every job its
//     probabilities and frees the instance; if its own job was not among
//     them it waits again;
//   - the end of its context: it leaves the queue (if its job is already
//     in a pass, the result is dropped).
//
// One rule keeps batches large: while a pass runs, a free instance starts
// no second pass for less than a full batch (MaxBatch crops); it is
// parked, and the jobs queue for the next pass. A forward pass already
// spreads over every core (internal/parallel), so two small passes side
// by side gain nothing over one larger pass after the first, and they
// keep every batch small. Parked instances return to the pool when a pass
// ends, or one at once when the queue reaches a full batch. With
// MaxBatch 1 every queued job is a full batch: each free instance runs
// one request, as without batching.
//
// A lone request finds a free instance and no pass running, so it is
// never delayed. The network runs in evaluation mode, where every image of
// a batch is computed independently of the others, so a crop's
// probabilities do not depend on the batch it went through (up to float32
// rounding in the matrix products, ~1e-7).

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// DefaultMaxBatch is the default bound on the crops of one forward pass
// (see Model.SetMaxBatch). Past ~16 crops of 48x48 a larger batch gains
// little throughput and only lengthens the pass that every request in it
// waits for.
const DefaultMaxBatch = 32

// job is one Classify call waiting in the queue or in a forward pass.
type job struct {
	ctx     context.Context
	frame   *vision.Image
	regions []face.Region

	taken chan struct{} // closed when a pass takes the job from the queue

	// Set by the pass that runs the job, before done is closed.
	probs [][]float32
	err   error
	done  chan struct{}
}

// finish hands the job its result and wakes its caller.
func (j *job) finish(probs [][]float32, err error) {
	j.probs, j.err = probs, err
	close(j.done)
}

// BatchStats counts a model's forward passes since it was built.
type BatchStats struct {
	Passes  int64 // forward passes run
	Crops   int64 // crops classified in them
	Largest int64 // crops in the largest pass
}

// batchCounters are the atomic counters behind BatchStats and the
// residual_batch_size histogram.
type batchCounters struct {
	passes, crops, largest atomic.Int64
	sizes                  prometheus.Histogram // crops per pass
}

func newBatchCounters(model string) *batchCounters {
	return &batchCounters{sizes: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "residual_batch_size",
		Help:        "Crops per forward pass (concurrent requests share passes).",
		ConstLabels: prometheus.Labels{"model": model},
		Buckets:     prometheus.ExponentialBuckets(1, 2, 8), // 1 to 128
	})}
}

func (c *batchCounters) observe(crops int) {
	c.passes.Add(1)
	c.crops.Add(int64(crops))
	for {
		l := c.largest.Load()
		if int64(crops) <= l || c.largest.CompareAndSwap(l, int64(crops)) {
			break
		}
	}
	c.sizes.Observe(float64(crops))
}

// SetMaxBatch bounds the crops of one forward pass to n (default
// DefaultMaxBatch; n < 1 means 1, which turns batching across requests
// off: each pass then runs one request, as many crops as it has). Call it
// before serving.
func (m *Model) SetMaxBatch(n int) { m.maxBatch = max(n, 1) }

// DefaultMaxBatchQueue is the default bound on the Classify calls waiting for
// a forward pass of one model (see Model.SetMaxQueue).
const DefaultMaxBatchQueue = 256

// SetMaxQueue bounds the Classify calls waiting for a forward pass to n
// (default DefaultMaxBatchQueue, n < 1 means 1); one more fails at once with a
// 503 *Error. The server admits at most Config.MaxInFlight requests to
// classification, so this bound is for other callers. Call it before
// serving.
func (m *Model) SetMaxQueue(n int) { m.maxQueue = max(n, 1) }

// queuedJobs is the number of Classify calls waiting for a pass.
func (m *Model) queuedJobs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}

// MaxBatch is the bound on the crops of one forward pass.
func (m *Model) MaxBatch() int { return m.maxBatch }

// BatchStats returns the model's forward-pass counts so far.
func (m *Model) BatchStats() BatchStats {
	return BatchStats{Passes: m.batches.passes.Load(), Crops: m.batches.crops.Load(), Largest: m.batches.largest.Load()}
}

// Classify runs the regions of frame (each cropped, then preprocessed
// exactly as in training; an empty rectangle is the whole frame) through
// the network and returns each region's class probabilities. All regions
// of one call go through the same forward pass, possibly with other
// calls' regions (see the package's batching notes in batch.go). frame
// must have the model's channel count (or any count: Preprocess converts,
// at some cost). It waits for a free instance or ctx's end.
func (m *Model) Classify(ctx context.Context, frame *vision.Image, rects []image.Rectangle) ([][]float32, error) {
	regions := make([]face.Region, len(rects))
	for i, r := range rects {
		regions[i] = face.Region{Rect: r}
	}
	return m.ClassifyRegions(ctx, frame, regions)
}

// ClassifyRegions is Classify for regions that may be turned (aligned
// faces, hand boxes): each is sampled upright first (face.RegionInput).
func (m *Model) ClassifyRegions(ctx context.Context, frame *vision.Image, regions []face.Region) ([][]float32, error) {
	if len(regions) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("serve: model %q: %w", m.Name, err)
	}
	j, err := m.enqueue(ctx, frame, regions)
	if err != nil {
		return nil, err
	}
	// While the job is queued, wait for a free instance to run a pass with
	// it (or whatever is ahead of it); once a pass has taken it, wait for
	// the result only. A caller whose job is in another pass must not take
	// instances: with nothing queued it would only hand them round.
wait:
	for {
		select {
		case <-j.taken:
			break wait
		case in := <-m.pool:
			select {
			case <-j.taken: // taken meanwhile: leave the instance to a queued job
				m.pool <- in
				break wait
			default:
			}
			m.runPass(in)
		case <-ctx.Done():
			if m.dequeue(j) {
				return nil, fmt.Errorf("serve: model %q: waiting for a free network: %w", m.Name, ctx.Err())
			}
			break wait
		}
	}
	select {
	case <-j.done:
		return j.probs, j.err
	case <-ctx.Done():
		// The job is in a pass: its result will be dropped.
		return nil, fmt.Errorf("serve: model %q: %w", m.Name, ctx.Err())
	}
}

// enqueue puts a job at the end of the queue, or fails with a 503 when
// the queue is full. When the queue then holds a full batch, a parked
// instance is freed for it.
func (m *Model) enqueue(ctx context.Context, frame *vision.Image, regions []face.Region) (*job, error) {
	j := &job{ctx: ctx, frame: frame, regions: regions, taken: make(chan struct{}), done: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) >= m.maxQueue {
		return nil, &Error{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter,
			Msg: fmt.Sprintf("model %q busy: %d requests already waiting for a forward pass, try again later", m.Name, len(m.queue))}
	}
	m.queue = append(m.queue, j)
	m.queued += len(regions)
	if m.queued >= m.maxBatch && len(m.parked) > 0 {
		last := len(m.parked) - 1
		m.pool <- m.parked[last] // never blocks: the pool has room for every instance
		m.parked[last] = nil
		m.parked = m.parked[:last]
	}
	return j, nil
}

// dequeue removes j from the queue; false if a pass has taken it.
func (m *Model) dequeue(j *job) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range m.queue {
		if q == j {
			m.queued -= len(j.regions)
			last := len(m.queue) - 1
			copy(m.queue[i:], m.queue[i+1:])
			m.queue[last] = nil
			m.queue = m.queue[:last]
			return true
		}
	}
	return false
}

// begin starts a pass on instance in: it moves the jobs at the head of
// the queue, up to m.maxBatch crops (at least one job), into dst. While
// another pass runs and the queue holds less than a full batch, it parks
// in instead and returns ok false: the jobs are better served together
// by the next pass than split over two passes sharing the cores.
func (m *Model) begin(in *instance, dst []*job) (jobs []*job, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running > 0 && m.queued < m.maxBatch {
		m.parked = append(m.parked, in)
		return dst, false
	}
	m.running++
	crops, n := 0, 0
	for _, j := range m.queue {
		if n > 0 && crops+len(j.regions) > m.maxBatch {
			break
		}
		crops += len(j.regions)
		n++
	}
	for _, j := range m.queue[:n] {
		close(j.taken)
	}
	m.queued -= crops
	dst = append(dst, m.queue[:n]...)
	rest := copy(m.queue, m.queue[n:])
	clear(m.queue[rest:]) // drop the taken jobs' references
	m.queue = m.queue[:rest]
	return dst, true
}

// end ends the pass on instance in: in and every parked instance go back
// to the pool, for the jobs that queued meanwhile.
func (m *Model) end(in *instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running--
	for _, p := range m.parked {
		m.pool <- p
	}
	clear(m.parked)
	m.parked = m.parked[:0]
	m.pool <- in
}

// runPass takes the jobs at the head of the queue and classifies all their
// regions in one forward pass of instance in, which it then returns to the
// pool (or parks it, see begin). Jobs whose context has ended are answered
// with its error and left out; a region that fails to preprocess fails its
// job only.
func (m *Model) runPass(in *instance) {
	jobs, ok := m.begin(in, in.jobs[:0])
	if !ok {
		return
	}
	defer m.end(in)
	in.jobs = jobs
	if len(jobs) == 0 {
		return
	}
	live := in.live[:0]
	defer func() {
		// A panic must neither leave callers waiting forever nor lose the
		// instance: every unanswered job gets an internal error. The panic
		// value is logged, never sent to clients.
		if r := recover(); r != nil {
			buf := make([]byte, 8<<10)
			buf = buf[:runtime.Stack(buf, false)]
			slog.Error("panic in forward pass", "model", m.Name, "jobs", len(jobs), "panic", fmt.Sprint(r), "stack", string(buf))
			for _, j := range jobs {
				select {
				case <-j.done:
				default:
					j.finish(nil, errorf(http.StatusInternalServerError, "model %q: internal error in the forward pass", m.Name))
				}
			}
		}
		clear(in.jobs) // drop the references to finished jobs
		clear(in.live)
	}()

	p := m.Preprocess
	size := p.Size()
	total := 0
	for _, j := range jobs {
		total += len(j.regions)
	}
	// x is (N,H,W,C): the regions of the live jobs, one after another.
	in.x = tensor.Ensure(in.x, total, p.Height, p.Width, p.Channels)
	n := 0
	for _, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			j.finish(nil, fmt.Errorf("serve: model %q: %w", m.Name, err))
			continue
		}
		if err := m.preprocess(in.x.Data[n*size:], j, &in.scratch); err != nil {
			j.finish(nil, err)
			continue
		}
		live = append(live, j)
		n += len(j.regions)
	}
	in.live = live
	if n == 0 {
		return
	}
	in.x = tensor.Ensure(in.x, n, p.Height, p.Width, p.Channels)
	logits, err := in.net.Forward(in.x, false) // (n,Classes)
	if err != nil {
		err = fmt.Errorf("serve: model %q: %w", m.Name, err)
		for _, j := range live {
			j.finish(nil, err)
		}
		return
	}
	m.batches.observe(n)
	in.probs = nn.Softmax(logits, in.probs)
	k := len(m.Classes)
	row := 0
	for _, j := range live {
		out := make([][]float32, len(j.regions))
		for i := range out {
			out[i] = append([]float32(nil), in.probs.Data[row*k:(row+1)*k]...)
			row++
		}
		j.finish(out, nil)
	}
}

// preprocess writes the crops of j's regions into dst, one image of
// m.Preprocess.Size() values after another.
func (m *Model) preprocess(dst []float32, j *job, s *face.Scratch) error {
	size := m.Preprocess.Size()
	for i, r := range j.regions {
		if err := face.RegionInput(dst[i*size:(i+1)*size], j.frame, r, m.Preprocess, s); err != nil {
			return fmt.Errorf("serve: model %q, region %d %v: %w", m.Name, i, r.Rect, err)
		}
	}
	return nil
}
