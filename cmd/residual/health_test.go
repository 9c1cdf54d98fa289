package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthCommand: residual health succeeds on 200 only, and names the
// URL and status otherwise.
func TestHealthCommand(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	var out bytes.Buffer
	if err := probeHealth(context.Background(), ts.URL+"/healthz", time.Second, &out); err != nil || !strings.Contains(out.String(), "200 OK") {
		t.Errorf("healthy server: %v, %q", err, out.String())
	}
	status = http.StatusServiceUnavailable
	if err := probeHealth(context.Background(), ts.URL+"/healthz", time.Second, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: %v", err)
	}
	if _, err := runCLI(t, "health", "--url", ts.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	if _, err := runCLI(t, "health", "--url", ts.URL+"/healthz", "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout 0s") {
		t.Errorf("--timeout 0: %v", err)
	}
	ts.Close()
	if err := probeHealth(context.Background(), ts.URL+"/healthz", time.Second, &out); err == nil {
		t.Error("a closed server passed")
	}
}
