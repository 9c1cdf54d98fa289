package serve

// Stress tests of a running server (residual bench serve bombs|soak):
// clients that each send their next request when the previous one is
// answered, in two groups (e.g. 32 sending decompression bombs beside 16
// sending normal frames), every answer checked against the statuses its
// group may get and the time it may take, and the server's resident
// memory sampled from /proc while they run.

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PNGBomb is a w x h 16-bit RGBA PNG of one flat colour: a few hundred
// kilobytes that decode to w*h*8 bytes (6300x6300: 318 MB). It is written
// row by row, never holding the image.
func PNGBomb(w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 || w > 1<<20 || h > 1<<20 {
		return nil, fmt.Errorf("serve: PNG bomb of %dx%d: sides must be in [1, %d]", w, h, 1<<20)
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		out.Write(c)
		binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // 16-bit RGBA
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	row := make([]byte, 1+w*8)
	for x := 0; x < w; x++ {
		copy(row[1+x*8:], []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xff, 0xff})
	}
	for y := 0; y < h; y++ {
		if _, err := zw.Write(row); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes(), nil
}

// StressGroup is one group of clients of a stress test.
type StressGroup struct {
	Name        string // e.g. "bombs", "normal"
	Clients     int
	Path        string // path and query, e.g. "/v1/predict?faces=true"
	Body        []byte
	ContentType string
	Allowed     []int // the statuses an answer may have
}

// StressOptions describe a stress test.
type StressOptions struct {
	URL      string // the server, e.g. "http://127.0.0.1:8080"
	Token    string // sent as a bearer token when set
	Groups   []StressGroup
	Duration time.Duration
	// MaxLatency is the longest an answer may take (30 s): a later one
	// counts as a failure.
	MaxLatency time.Duration
	// RSS reads the server's resident memory in bytes (e.g. ProcessRSS);
	// sampled every SampleEvery (default 1 s) when set.
	RSS         func() (int64, error)
	SampleEvery time.Duration
}

// GroupReport is what one group's clients got.
type GroupReport struct {
	Name     string
	Requests int
	Statuses map[int]int   // answers by status
	Failures int           // transport errors, statuses not allowed, answers later than MaxLatency
	FirstErr string        // the first failure, described
	P50, Max time.Duration // latency of the answers
}

// StressReport is a stress test's outcome.
type StressReport struct {
	Groups  []GroupReport
	Elapsed time.Duration
	RSS     []int64 // samples, bytes
}

// Failures is the number of failed requests over all groups.
func (r StressReport) Failures() int {
	n := 0
	for _, g := range r.Groups {
		n += g.Failures
	}
	return n
}

// PeakRSS is the largest RSS sample (0 without samples).
func (r StressReport) PeakRSS() int64 {
	if len(r.RSS) == 0 {
		return 0
	}
	return slices.Max(r.RSS)
}

// RSSDrift compares the median RSS of the last tenth of the samples with
// that of the tenth before the middle (40-50%): the relative growth, e.g.
// 0.03 for 3%. The first 40% are warm-up: the heap grows to the garbage
// collector's target over several GC cycles, minutes at a few hundred
// requests per minute. It is 0 with fewer than 20 samples.
func (r StressReport) RSSDrift() (early, late int64, drift float64) {
	n := len(r.RSS)
	if n < 20 {
		return 0, 0, 0
	}
	tenth := n / 10
	med := func(s []int64) int64 {
		c := slices.Clone(s)
		slices.Sort(c)
		return c[len(c)/2]
	}
	early, late = med(r.RSS[4*tenth:5*tenth]), med(r.RSS[n-tenth:])
	return early, late, float64(late-early) / float64(early)
}

func (r StressReport) String() string {
	var b strings.Builder
	for _, g := range r.Groups {
		codes := make([]int, 0, len(g.Statuses))
		for c := range g.Statuses {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d x%d", c, g.Statuses[c]))
		}
		fmt.Fprintf(&b, "%s: %d requests (%s), p50 %.0f ms, max %.0f ms, %d failures", g.Name, g.Requests, strings.Join(parts, ", "),
			msf(g.P50), msf(g.Max), g.Failures)
		if g.FirstErr != "" {
			fmt.Fprintf(&b, " (first: %s)", g.FirstErr)
		}
		b.WriteString("\n")
	}
	if len(r.RSS) > 0 {
		early, late, drift := r.RSSDrift()
		fmt.Fprintf(&b, "server RSS: peak %.0f MB over %d samples", float64(r.PeakRSS())/1e6, len(r.RSS))
		if early > 0 {
			fmt.Fprintf(&b, ", median at 40-50%% %.0f MB, over the last 10%% %.0f MB (%+.1f%%)", float64(early)/1e6, float64(late)/1e6, 100*drift)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "elapsed %.1f s", r.Elapsed.Seconds())
	return b.String()
}

// Stress runs the groups' clients against the server for o.Duration.
func Stress(ctx context.Context, o StressOptions) (StressReport, error) {
	if o.URL == "" || len(o.Groups) == 0 || o.Duration <= 0 {
		return StressReport{}, fmt.Errorf("serve: stress test needs a URL, groups and a positive duration (got %q, %d groups, %v)", o.URL, len(o.Groups), o.Duration)
	}
	if o.MaxLatency <= 0 {
		o.MaxLatency = 30 * time.Second
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = time.Second
	}
	clients := 0
	for _, g := range o.Groups {
		if g.Clients < 1 || len(g.Body) == 0 || len(g.Allowed) == 0 {
			return StressReport{}, fmt.Errorf("serve: stress group %q: %d clients, %d-byte body, allowed %v: want clients, a body and allowed statuses", g.Name, g.Clients, len(g.Body), g.Allowed)
		}
		clients += g.Clients
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	tr.MaxConnsPerHost = 0
	client := &http.Client{Transport: tr, Timeout: o.MaxLatency + 5*time.Second}
	defer tr.CloseIdleConnections()

	runCtx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	rep := StressReport{Groups: make([]GroupReport, len(o.Groups))}
	var mu sync.Mutex
	lat := make([][]time.Duration, len(o.Groups))
	for i, g := range o.Groups {
		rep.Groups[i] = GroupReport{Name: g.Name, Statuses: map[int]int{}}
	}
	record := func(gi int, status int, d time.Duration, fail string) {
		mu.Lock()
		defer mu.Unlock()
		gr := &rep.Groups[gi]
		gr.Requests++
		if status > 0 {
			gr.Statuses[status]++
		}
		lat[gi] = append(lat[gi], d)
		if fail != "" {
			gr.Failures++
			if gr.FirstErr == "" {
				gr.FirstErr = fail
			}
		}
	}

	var sampler sync.WaitGroup
	samplerDone := make(chan struct{})
	if o.RSS != nil {
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			t := time.NewTicker(o.SampleEvery)
			defer t.Stop()
			for {
				if v, err := o.RSS(); err == nil {
					mu.Lock()
					rep.RSS = append(rep.RSS, v)
					mu.Unlock()
				}
				select {
				case <-samplerDone:
					return
				case <-t.C:
				}
			}
		}()
	}

	start := time.Now()
	var wg sync.WaitGroup
	for gi, g := range o.Groups {
		for c := 0; c < g.Clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for runCtx.Err() == nil {
					// A request sent is always waited for to the end (its
					// own timeout), so that every answer is judged.
					req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, o.URL+g.Path, bytes.NewReader(g.Body))
					if err != nil {
						record(gi, 0, 0, err.Error())
						return
					}
					req.Header.Set("Content-Type", g.ContentType)
					if o.Token != "" {
						req.Header.Set("Authorization", "Bearer "+o.Token)
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					d := time.Since(t0)
					if err != nil {
						record(gi, 0, d, err.Error())
						continue
					}
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
					fail := ""
					switch {
					case !slices.Contains(g.Allowed, resp.StatusCode):
						fail = fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)
					case d > o.MaxLatency:
						fail = fmt.Sprintf("status %d after %v, more than %v", resp.StatusCode, d.Round(time.Millisecond), o.MaxLatency)
					}
					record(gi, resp.StatusCode, d, fail)
				}
			}()
		}
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	close(samplerDone)
	sampler.Wait()
	for gi := range rep.Groups {
		l := lat[gi]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		rep.Groups[gi].P50, rep.Groups[gi].Max = percentile(l, 0.5), l[len(l)-1]
	}
	return rep, nil
}

// ProcessRSS returns a function reading the resident memory (VmRSS) of
// process pid from /proc (Linux); pid 0 is this process.
func ProcessRSS(pid int) func() (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	return func() (int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: VmRSS %q: %v", path, v, err)
				}
				return kb << 10, nil
			}
		}
		return 0, fmt.Errorf("%s: no VmRSS line", path)
	}
}
