package serve

import (
	"context"
	"fmt"
	"github.com/residual-go/residual/face"
	"image"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/residual-go/residual/vision"
)

// batchFrames are n different 48x48 gray frames.
func batchFrames(n int) []*vision.Image {
	frames := make([]*vision.Image, n)
	for f := range frames {
		img := vision.NewImage(48, 48, 1)
		for i := range img.Pix {
			img.Pix[i] = uint8((i*(f+3) + 7*f) % 251)
		}
		frames[f] = img
	}
	return frames
}

// maxDiff is the largest absolute difference between two probability sets.
func maxDiff(a, b [][]float32) float64 {
	d := 0.0
	for i := range a {
		for k := range a[i] {
			d = max(d, math.Abs(float64(a[i][k]-b[i][k])))
		}
	}
	return d
}

// TestBatchMatchesSerial runs 24 requests at once through one instance,
// so that they share forward passes, and checks each against the same
// request run alone.
func TestBatchMatchesSerial(t *testing.T) {
	m := newEmotionModel(t, 1)
	ctx := context.Background()
	frames := batchFrames(24)
	whole := []image.Rectangle{{}}
	want := make([][][]float32, len(frames))
	for i, f := range frames {
		p, err := m.Classify(ctx, f, whole)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = p
	}
	if s := m.BatchStats(); s.Largest != 1 {
		t.Fatalf("serial requests ran in a pass of %d crops", s.Largest)
	}

	// Hold the only instance until every request is queued, so that the
	// first free instance takes them together.
	in := <-m.pool
	got := make([][][]float32, len(frames))
	errs := make([]error, len(frames))
	var wg sync.WaitGroup
	for i, f := range frames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = m.Classify(ctx, f, whole)
		}()
	}
	waitQueued(t, m, len(frames))
	m.pool <- in
	wg.Wait()
	worst := 0.0
	for i := range frames {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		d := maxDiff(got[i], want[i])
		if d > 1e-5 {
			t.Errorf("request %d: batched probabilities differ from serial by %g", i, d)
		}
		worst = max(worst, d)
	}
	s := m.BatchStats()
	t.Logf("%+v; largest difference from serial %g", s, worst)
	if s.Largest != int64(len(frames)) {
		t.Errorf("largest pass %d crops, want all %d queued requests in one", s.Largest, len(frames))
	}
}

// waitQueued waits until n jobs are in m's queue.
func waitQueued(t *testing.T, m *Model, n int) {
	t.Helper()
	for i := 0; ; i++ {
		m.mu.Lock()
		q := len(m.queue)
		m.mu.Unlock()
		if q == n {
			return
		}
		if i > 20000 {
			t.Fatalf("%d jobs queued, want %d", q, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// queueJob puts a job in m's queue directly, as Classify does.
func queueJob(m *Model, ctx context.Context, frame *vision.Image, regions ...image.Rectangle) *job {
	rs := make([]face.Region, len(regions))
	for i, r := range regions {
		rs[i] = face.Region{Rect: r}
	}
	j, err := m.enqueue(ctx, frame, rs)
	if err != nil {
		panic(err) // the tests' queues stay far below the bound
	}
	return j
}

// TestBatchTakeLimits checks how a pass takes jobs: oldest first, up to
// MaxBatch crops, but always one job however large.
func TestBatchTakeLimits(t *testing.T) {
	m := newEmotionModel(t, 1)
	m.SetMaxBatch(4)
	frame := batchFrames(1)[0]
	var r image.Rectangle
	a := queueJob(m, context.Background(), frame, r, r)
	b := queueJob(m, context.Background(), frame, r)
	c := queueJob(m, context.Background(), frame, r, r)
	d := queueJob(m, context.Background(), frame, r, r, r, r, r, r)
	for _, want := range [][]*job{{a, b}, {c}, {d}, {}} {
		got, _ := m.begin(&instance{}, nil)
		m.running--
		if len(got) != len(want) {
			t.Fatalf("took %d jobs, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("job %d of the pass is not the expected one", i)
			}
		}
	}
}

// TestBatchJobFailuresStayTheirs puts a cancelled job and one with a
// region outside its frame in a pass with two good jobs: only those two
// fail, and the good ones get the probabilities they get alone.
func TestBatchJobFailuresStayTheirs(t *testing.T) {
	m := newEmotionModel(t, 1)
	frames := batchFrames(2)
	var whole image.Rectangle
	want0, err := m.Classify(context.Background(), frames[0], []image.Rectangle{whole})
	if err != nil {
		t.Fatal(err)
	}
	want1, err := m.Classify(context.Background(), frames[1], []image.Rectangle{whole, image.Rect(10, 10, 30, 30)})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	good0 := queueJob(m, context.Background(), frames[0], whole)
	gone := queueJob(m, cancelled, frames[0], whole)
	outside := queueJob(m, context.Background(), frames[1], whole, image.Rect(40, 40, 90, 90))
	good1 := queueJob(m, context.Background(), frames[1], whole, image.Rect(10, 10, 30, 30))
	m.runPass(<-m.pool)
	for name, j := range map[string]*job{"good0": good0, "cancelled": gone, "outside": outside, "good1": good1} {
		select {
		case <-j.done:
		default:
			t.Fatalf("job %s unanswered after the pass", name)
		}
	}
	if gone.err == nil || outside.err == nil {
		t.Errorf("cancelled job: %v; job with a region outside its frame: %v; want errors", gone.err, outside.err)
	}
	if good0.err != nil || good1.err != nil {
		t.Fatalf("good jobs failed: %v, %v", good0.err, good1.err)
	}
	if d := max(maxDiff(good0.probs, want0), maxDiff(good1.probs, want1)); d > 1e-5 {
		t.Errorf("good jobs' probabilities differ from their lone runs by %g", d)
	}
	if s := m.BatchStats(); s.Largest != 3 {
		t.Errorf("largest pass %d crops, want the good jobs' 3", s.Largest)
	}
}

// TestBatchCancelWhileQueued cancels a queued request: it returns at once
// and leaves the queue, and the request behind it is served.
func TestBatchCancelWhileQueued(t *testing.T) {
	m := newEmotionModel(t, 1)
	frame := batchFrames(1)[0]
	whole := []image.Rectangle{{}}
	in := <-m.pool // every instance busy
	ctx, cancel := context.WithCancel(context.Background())
	cancelledErr := make(chan error, 1)
	go func() {
		_, err := m.Classify(ctx, frame, whole)
		cancelledErr <- err
	}()
	waitQueued(t, m, 1)
	served := make(chan error, 1)
	go func() {
		_, err := m.Classify(context.Background(), frame, whole)
		served <- err
	}()
	waitQueued(t, m, 2)
	cancel()
	if err := <-cancelledErr; err == nil {
		t.Error("a request cancelled while queued succeeded")
	}
	waitQueued(t, m, 1)
	m.pool <- in
	if err := <-served; err != nil {
		t.Errorf("the request queued behind a cancelled one: %v", err)
	}
	waitQueued(t, m, 0)
}

// TestMaxBatchOne turns batching off: concurrent single-crop requests
// then never share a pass.
func TestMaxBatchOne(t *testing.T) {
	m := newEmotionModel(t, 1)
	m.SetMaxBatch(0)
	if m.MaxBatch() != 1 {
		t.Fatalf("SetMaxBatch(0) gives MaxBatch %d, want 1", m.MaxBatch())
	}
	frames := batchFrames(8)
	in := <-m.pool
	var wg sync.WaitGroup
	for _, f := range frames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Classify(context.Background(), f, []image.Rectangle{{}}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(t, m, len(frames))
	m.pool <- in
	wg.Wait()
	if s := m.BatchStats(); s.Largest != 1 || s.Passes != int64(len(frames)) {
		t.Errorf("%+v; want %d passes of one crop", s, len(frames))
	}
}

// TestBatchSizeMetric checks that concurrent HTTP requests share passes
// and that /metrics shows residual_batch_size.
func TestBatchSizeMetric(t *testing.T) {
	s, ts := newTestServer(t, Config{})
	m, _ := s.Model("emotion")
	body := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 48, 48)))
	in := <-m.pool // both instances busy while 6 requests queue
	in2 := <-m.pool
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, out := post(t, ts.URL+"/v1/predict?faces=false", "image/jpeg", body); status != 200 {
				t.Errorf("status %d: %s", status, out)
			}
		}()
	}
	waitQueued(t, m, 6)
	m.pool <- in
	m.pool <- in2
	wg.Wait()
	st := m.BatchStats()
	if st.Crops != 6 || st.Passes >= 6 {
		t.Errorf("%+v: want 6 crops in fewer than 6 passes", st)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		fmt.Sprintf(`residual_batch_size_count{model="emotion"} %d`, st.Passes),
		`residual_batch_size_sum{model="emotion"} 6`,
		`residual_batch_size_count{model="gesture"} 0`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestPassWaitsForRunningPass: while a pass runs, a free instance does not
// start a second pass for less than a full batch; the requests queue and
// go through the next pass together. A full batch does start at once.
func TestPassWaitsForRunningPass(t *testing.T) {
	m := newEmotionModel(t, 2)
	frames := batchFrames(3)
	whole := []image.Rectangle{{}}
	// A pass in progress on one instance.
	busy := <-m.pool
	m.mu.Lock()
	m.running++
	m.mu.Unlock()

	var wg sync.WaitGroup
	classify := func(f *vision.Image) {
		defer wg.Done()
		if _, err := m.Classify(context.Background(), f, whole); err != nil {
			t.Error(err)
		}
	}
	for _, f := range frames {
		wg.Add(1)
		go classify(f)
	}
	waitQueued(t, m, len(frames))
	for i := 0; ; i++ { // the other instance is parked, not running a pass
		m.mu.Lock()
		parked := len(m.parked)
		m.mu.Unlock()
		if parked == 1 {
			break
		}
		if i > 20000 {
			t.Fatalf("%d instances parked, want 1", parked)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if s := m.BatchStats(); s.Passes != 0 {
		t.Fatalf("%+v: a pass started beside the running one for %d crops", s, len(frames))
	}
	m.end(busy) // the running pass ends
	wg.Wait()
	if s := m.BatchStats(); s.Passes != 1 || s.Largest != int64(len(frames)) {
		t.Errorf("%+v: want the queued requests in one pass", s)
	}

	// A full batch (MaxBatch 2) starts beside a running pass.
	m.SetMaxBatch(2)
	busy = <-m.pool
	m.mu.Lock()
	m.running++
	m.mu.Unlock()
	wg.Add(2)
	go classify(frames[0])
	go classify(frames[1])
	wg.Wait() // would hang if the full batch waited for the running pass
	if s := m.BatchStats(); s.Passes != 2 || s.Largest != 3 {
		t.Errorf("%+v: want a second pass of 2 crops", s)
	}
	m.end(busy)
	if len(m.pool) != 2 {
		t.Errorf("%d instances free after all passes, want 2", len(m.pool))
	}
}
