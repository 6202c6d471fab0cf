package bff

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunServesPagesAndMetricsAndStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	cfg := Config{HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", APIBaseURL: "http://127.0.0.1:1", APITimeout: time.Second, ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, "test", slog.New(slog.DiscardHandler), func(a Addrs) { addrs <- a }) }()
	var a Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz", "/console/"} {
		if code, _ := get("http://" + a.HTTP + p); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	code, body := get("http://" + a.Admin + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "http_server_request") {
		t.Errorf("GET admin /metrics = %d, want 200 with the HTTP server metrics; got %.300s", code, body)
	}
	if code, _ := get("http://" + a.HTTP + "/metrics"); code == http.StatusOK {
		t.Error("GET /metrics on the public port = 200, want it only on the admin port")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
}
