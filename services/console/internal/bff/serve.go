package bff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"github.com/affinity-platform/affinity/pkg/telemetry"
)

// Addrs are the addresses Run listens on.
type Addrs struct{ HTTP, Admin string }

// Run serves the console until ctx ends, then drains in-flight requests for
// at most cfg.ShutdownTimeout. onListen, when not nil, is called with the
// bound addresses so tests can listen on port 0.
func Run(ctx context.Context, cfg Config, version string, log *slog.Logger, onListen func(Addrs)) error {
	shutdownTelemetry, metrics, err := telemetry.Setup(ctx, "console", version, cfg.OTLPEndpoint)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTelemetry(sctx); err != nil {
			log.Warn("flush telemetry", "error", err)
		}
	}()
	h, err := NewHandler(cfg, log)
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("listen admin: %w", err)
	}
	admin := http.NewServeMux()
	admin.Handle("GET /metrics", metrics)
	admin.HandleFunc("/debug/pprof/", pprof.Index)
	admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
	admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	admin.HandleFunc("/debug/pprof/trace", pprof.Trace)

	servers := []*http.Server{
		{Handler: otelhttp.NewHandler(h, "console"), ReadHeaderTimeout: 10 * time.Second},
		{Handler: admin, ReadHeaderTimeout: 10 * time.Second},
	}
	listeners := []net.Listener{httpLn, adminLn}
	log.Info("console listening", "http", httpLn.Addr().String(), "admin", adminLn.Addr().String(), "api_base_url", cfg.APIBaseURL)
	if onListen != nil {
		onListen(Addrs{HTTP: httpLn.Addr().String(), Admin: adminLn.Addr().String()})
	}

	g, gctx := errgroup.WithContext(ctx)
	for i, s := range servers {
		g.Go(func() error {
			if err := s.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", listeners[i].Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}
