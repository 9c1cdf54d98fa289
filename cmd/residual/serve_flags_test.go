package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeFlagsRejected: serve refuses negative and zero limits with an
// error naming the flag and its value, before loading anything (an
// explicit value is never replaced by a default).
func TestServeFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-upload", "-1"}, "--max-upload -1"},
		{[]string{"--max-upload", "0"}, "--max-upload 0"},
		{[]string{"--instances", "-3"}, "--instances -3"},
		{[]string{"--instances", "0"}, "--instances 0"},
		{[]string{"--max-pixels", "0"}, "--max-pixels 0"},
		{[]string{"--max-image-bytes", "-5"}, "--max-image-bytes -5"},
		{[]string{"--decode-budget", "0"}, "--decode-budget 0"},
		{[]string{"--max-inflight", "0"}, "--max-inflight 0"},
		{[]string{"--max-queue", "-1"}, "--max-queue -1"},
		{[]string{"--max-conns", "0"}, "--max-conns 0"},
		{[]string{"--max-streams", "0"}, "--max-streams 0"},
		{[]string{"--min-face", "0"}, "--min-face 0"},
		{[]string{"--request-timeout", "0s"}, "--request-timeout 0s"},
		{[]string{"--read-timeout", "-1s"}, "--read-timeout -1s"},
		{[]string{"--stream-idle-timeout", "0s"}, "--stream-idle-timeout 0s"},
		{[]string{"--max-image-bytes", "1000", "--decode-budget", "999"}, "above --decode-budget 999"},
		{[]string{"--tls-cert", "c.pem"}, `--tls-key ""`},
		{[]string{"--token", ""}, "empty token"},
		{[]string{"--token", "a", "--token-file", "f"}, "give one"},
		{[]string{"--token-file", filepath.Join(t.TempDir(), "missing")}, "missing"},
		{[]string{"--drain-delay", "-1s"}, "--drain-delay -1s"},
		{[]string{"--memory-limit", "1000"}, "--memory-limit 1000 is below --decode-budget"},
	} {
		_, err := runCLI(t, append([]string{"serve"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}

func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == tokenEnv }
	}
	for _, tc := range []struct {
		token   string
		set     bool
		file    string
		env     func(string) (string, bool)
		want    string
		wantErr string
	}{
		{"", false, "", noEnv, "", ""},
		{"abc", true, "", env("fromenv"), "abc", ""},
		{"", false, file, env("fromenv"), "s3cret", ""},
		{"", false, "", env("fromenv"), "fromenv", ""},
		{"", false, "", env(""), "", "set but empty"},
		{"", false, empty, noEnv, "", "one non-empty line"},
		{"", true, "", noEnv, "", "empty token"},
	} {
		got, err := resolveToken(tc.token, tc.set, tc.file, tc.env)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("resolveToken(%q, %v, %q): %q, %v; want %q, error with %q", tc.token, tc.set, tc.file, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestServeBindsLoopbackByDefault: without --addr, serve listens on
// 127.0.0.1 only.
func TestServeBindsLoopbackByDefault(t *testing.T) {
	f := newServeCmd().Flags().Lookup("addr")
	if f == nil || !strings.HasPrefix(f.DefValue, "127.0.0.1:") {
		t.Fatalf("--addr default %v, want 127.0.0.1:PORT", f)
	}
}

// TestBenchServeBombsShort runs `residual bench serve bombs` and `soak`
// for a moment: every answer allowed, in time, the RSS under the limit.
func TestBenchServeBombsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	photo := filepath.Join("..", "..", "testdata", "faces", "grace_hopper.jpg")
	if _, err := os.Stat(photo); err != nil {
		t.Fatalf("committed photo missing: %v", err)
	}
	out, err := runCLI(t, "bench", "serve", "bombs", "--photo", photo, "--duration", "1s", "--bombs", "2", "--clients", "1", "--bomb-size", "1200", "--sample", "100ms", "--memory-limit", "8000000000")
	if err != nil || !strings.Contains(out, "bombs: ") || strings.Contains(out, "(first:") {
		t.Errorf("bench serve bombs: %v\n%s", err, out)
	}
	out, err = runCLI(t, "bench", "serve", "soak", "--photo", photo, "--duration", "1s", "--clients", "1", "--sample", "50ms", "--memory-limit", "8000000000", "--rss-drift", "100")
	if err != nil || !strings.Contains(out, "normal: ") || !strings.Contains(out, "over the last 10%") {
		t.Errorf("bench serve soak: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "bench", "serve", "bombs", "--url", "http://192.0.2.1:8080", "--duration", "1s", "--photo", photo); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("non-loopback --url: %v", err)
	}
}
