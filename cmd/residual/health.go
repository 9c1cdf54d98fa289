package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthCmd() *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Probe a running server's health endpoint (exit status 0 when it answers 200)",
		Long: `health sends GET --url and exits 0 when the answer is 200 OK, 1 otherwise:
a health check for images without a shell or curl (the container's
HEALTHCHECK runs "residual health"). Use --url .../readyz for readiness.`,
		Example: `  residual health
  residual health --url http://127.0.0.1:8080/readyz --timeout 1s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return probeHealth(cmd.Context(), url, timeout, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/healthz", "URL probed")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "time allowed for the answer")
	return cmd
}

// probeHealth GETs url and fails unless it answers 200 within timeout.
func probeHealth(ctx context.Context, url string, timeout time.Duration, out io.Writer) error {
	if timeout <= 0 {
		return fmt.Errorf("health: --timeout %v must be positive", timeout)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: --url %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(out, "%s: %s\n", url, resp.Status)
	return nil
}
