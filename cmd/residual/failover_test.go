package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/coder/websocket"

	"github.com/residual-go/residual/serve"
)

// The HAProxy failover test starts real processes (3 `residual serve`
// replicas and Debian's haproxy) and loads them for several seconds, so it
// runs only when asked: RESIDUAL_HAPROXY=1 (scripts/haproxy_failover.sh,
// which .ci/run calls, sets it and installs haproxy).
const haproxyEnv = "RESIDUAL_HAPROXY"

// haproxyConfig is the load balancer in front of the replicas: health
// checks on the readiness path, L7 retries of every retryable error on
// another replica (a prediction is a pure function of the request, so a
// replay is harmless), short check intervals so a replica leaves the pool
// well within the drain delay. The check sends a Host header: on a
// loopback address serve answers 421 to requests without an allowed Host
// (--allowed-hosts). docs/DEPLOY.md shows the same settings.
var haproxyConfig = template.Must(template.New("haproxy.cfg").Parse(`global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    timeout tunnel 1h
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
    option http-buffer-request
frontend api
    bind 127.0.0.1:{{.Port}}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
{{- range $i, $a := .Replicas}}
    server r{{$i}} {{$a}} check
{{- end}}
`))

// replica is one `residual serve` process.
type replica struct {
	cmd  *exec.Cmd
	addr string        // host:port it listens on
	out  *syncBuffer   // its stdout and stderr
	done chan struct{} // closed when it has exited
	err  error         // Wait's result, once done
}

func startReplica(t *testing.T, bin, modelPath string, extra ...string) *replica {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--model", "emotion=" + modelPath, "--instances", "1"}, extra...)
	r := &replica{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	addrc := make(chan string, 1)
	serving := regexp.MustCompile(`serving on http://([0-9.]+:[0-9]+)/`)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(r.out, sc.Text())
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	select {
	case r.addr = <-addrc:
	case <-r.done:
		t.Fatalf("replica exited before serving: %v\n%s", r.err, r.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("replica did not start in 30 s:\n%s", r.out)
	}
	return r
}

// freePort is a loopback port free a moment ago (haproxy binds it).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func getStatus(url string) (int, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// slowPost starts a POST /v1/predict on a raw connection with half its
// body: a request in flight until the returned function sends the rest and
// reads the status line.
func slowPost(t *testing.T, addr string, body []byte) func() (string, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v1/predict?faces=false HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	return func() (string, error) {
		if _, err := conn.Write(body[half:]); err != nil {
			return "", err
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		return bufio.NewReader(conn).ReadString('\n')
	}
}

// noiseJPEG is a 48x48 gray JPEG of fixed pseudo-random pixels.
func noiseJPEG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 48, 48))
	x := uint32(1)
	for i := range img.Pix {
		x = x*1664525 + 1013904223
		img.Pix[i] = uint8(x >> 24)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestHAProxyFailover runs 3 replicas behind HAProxy under load, SIGKILLs
// one and SIGTERMs another mid-load: no client request may fail, and the
// SIGTERM'd replica must drain (readiness 503 while it still serves, a
// request in flight finishes with 200, its stream gets a 1001 close, exit
// status 0).
func TestHAProxyFailover(t *testing.T) {
	if os.Getenv(haproxyEnv) == "" {
		t.Skipf("set %s=1 to run the 3-replica HAProxy failover test (needs Debian's haproxy; scripts/haproxy_failover.sh and .ci/run do)", haproxyEnv)
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("%s is set but haproxy is not installed (apt-get install haproxy): %v", haproxyEnv, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "residual")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	modelPath := saveTestModel(t, dir, "emotion.residual")

	const drainDelay = 2 * time.Second
	drainFlags := []string{"--drain-delay", drainDelay.String(), "--shutdown-grace", "10s"}
	var replicas []*replica
	var addrs []string
	for range 3 {
		r := startReplica(t, bin, modelPath, drainFlags...)
		replicas = append(replicas, r)
		addrs = append(addrs, r.addr)
	}
	port := freePort(t)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	var cfg bytes.Buffer
	if err := haproxyConfig.Execute(&cfg, map[string]any{"Port": port, "Replicas": addrs}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg.String())
	}
	var hout syncBuffer
	hp := exec.Command(haproxy, "-db", "-f", cfgPath)
	hp.Stdout, hp.Stderr = &hout, &hout
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Process.Kill(); hp.Wait() })
	lb := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, err := getStatus(lb + "/readyz"); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not answer in 10 s:\n%s", hout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	body := noiseJPEG(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type loadResult struct {
		rep serve.LoadReport
		err error
	}
	loadc := make(chan loadResult, 1)
	go func() {
		rep, err := serve.LoadTest(ctx, serve.LoadOptions{URL: lb + "/v1/predict?faces=false", Body: body, Clients: 8, Duration: 10 * time.Second})
		loadc <- loadResult{rep, err}
	}()

	time.Sleep(2 * time.Second)
	killed, drained := replicas[0], replicas[1]
	t.Logf("SIGKILL %s", killed.addr)
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	time.Sleep(2 * time.Second)
	// Direct to the replica about to drain: a request in flight and a stream.
	finish := slowPost(t, drained.addr, body)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	stream, _, err := websocket.Dial(wctx, "ws://"+drained.addr+"/v1/stream?faces=false", nil)
	wcancel()
	if err != nil {
		t.Fatalf("stream to %s: %v", drained.addr, err)
	}
	defer stream.CloseNow()
	streamClosed := make(chan error, 1)
	go func() { _, _, err := stream.Read(ctx); streamClosed <- err }()

	t.Logf("SIGTERM %s", drained.addr)
	t0 := time.Now()
	if err := drained.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness turns 503 first, while liveness and the API still answer.
	var ready503 time.Duration
	for time.Since(t0) < drainDelay {
		code, err := getStatus("http://" + drained.addr + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz %v after SIGTERM: %v (the listener must stay open for the %v drain delay)", time.Since(t0), err, drainDelay)
		}
		if code == http.StatusServiceUnavailable {
			ready503 = time.Since(t0)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ready503 == 0 {
		t.Fatalf("/readyz never answered 503 within the %v drain delay", drainDelay)
	}
	if code, err := getStatus("http://" + drained.addr + "/healthz"); err != nil || code != 200 {
		t.Errorf("GET /healthz while draining: %d, %v; want 200", code, err)
	}
	resp, err := http.Post("http://"+drained.addr+"/v1/predict?faces=false", "image/jpeg", bytes.NewReader(body))
	if err != nil {
		t.Errorf("POST /v1/predict to the draining replica within its delay: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("POST /v1/predict to the draining replica within its delay: %d, want 200", resp.StatusCode)
		}
	}
	t.Logf("/readyz 503 after %v", ready503)

	// Past the delay the listener closes; the request in flight completes.
	for time.Since(t0) < drainDelay+5*time.Second {
		if _, err := getStatus("http://" + drained.addr + "/healthz"); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := time.Since(t0)
	if stopped < drainDelay {
		t.Errorf("the draining replica stopped accepting after %v, before its %v delay", stopped, drainDelay)
	}
	line, err := finish()
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Errorf("request in flight across the drain: %q, %v; want HTTP/1.1 200", line, err)
	}
	select {
	case err := <-streamClosed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Errorf("stream on the draining replica ended with %v, want a 1001 going-away close", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("stream on the draining replica not closed 10 s after the delay")
	}
	select {
	case <-drained.done:
		if drained.err != nil {
			t.Errorf("drained replica exited with %v, want status 0:\n%s", drained.err, drained.out)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("drained replica still running %v after SIGTERM:\n%s", time.Since(t0), drained.out)
	}
	t.Logf("SIGTERM'd replica: 503 after %v, stopped accepting after %v, exited 0 after %v", ready503, stopped, time.Since(t0))
	if !strings.Contains(drained.out.String(), "server stopped: drained") {
		t.Errorf("drained replica's output lacks its drain report:\n%s", drained.out)
	}
	<-killed.done
	var ee *exec.ExitError
	if !errors.As(killed.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("killed replica: %v, want killed by SIGKILL", killed.err)
	}

	lr := <-loadc
	if lr.err != nil {
		t.Fatal(lr.err)
	}
	t.Logf("load through haproxy: %v", lr.rep)
	if lr.rep.Errors != 0 {
		t.Errorf("%d of %d client requests failed through haproxy (want 0)\nhaproxy:\n%s", lr.rep.Errors, lr.rep.Requests, hout.String())
	}
	if lr.rep.Requests < 100 {
		t.Errorf("only %d requests completed in 10 s: the load did not run", lr.rep.Requests)
	}
	// The one replica left must still answer through the balancer, a
	// stream (re)opened through it included.
	if code, err := getStatus(lb + "/readyz"); err != nil || code != 200 {
		t.Errorf("GET /readyz through haproxy after the failover: %d, %v", code, err)
	}
	if err := streamFrame(ctx, "ws://127.0.0.1:"+fmt.Sprint(port)+"/v1/stream?faces=false", body); err != nil {
		t.Errorf("stream through haproxy after the failover: %v", err)
	}
}

// streamFrame opens a stream, sends one frame and checks the reply is a
// result.
func streamFrame(ctx context.Context, url string, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, frame); err != nil {
		return err
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		return err
	}
	var reply serve.StreamReply
	if err := json.Unmarshal(data, &reply); err != nil || reply.Type != "result" || reply.Result == nil || len(reply.Result.Faces) != 1 {
		return fmt.Errorf("reply %s (%v), want a result with one region", data, err)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}
