package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/logging"
	"github.com/affinity-platform/affinity/pkg/telemetry"
	"github.com/affinity-platform/affinity/pkg/validate"
)

// Options describe one service for Run.
type Options struct {
	// Name and Version identify the service in logs and telemetry.
	Name, Version string
	// Config holds addresses, log level, telemetry and auth settings.
	Config Config
	// LogConfig, when set, is logged (masked) at start instead of Config;
	// pass the service's whole configuration struct.
	LogConfig any
	// Logger overrides the JSON logger built from Config.LogLevel on stdout.
	Logger *slog.Logger
	// Register adds the service's gRPC implementations.
	Register func(*grpc.Server)
	// Gateway registers the generated grpc-gateway handlers on mux, calling
	// the service through conn so REST takes the same interceptors as gRPC.
	Gateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// OpenAPI is served at /openapi.json when set.
	OpenAPI []byte
	// Policy says who may call each method; methods not in it are denied.
	Policy auth.Policy
	// Validators check requests before handlers run; nil checks nothing.
	Validators *validate.Registry
	// Ready reports whether the service can serve (e.g. its database
	// answers); /readyz returns 503 while it fails.
	Ready func(context.Context) error
	// Workers run beside the servers (outbox relays, consumers). A worker
	// error stops the service; their context ends after the gRPC drain.
	Workers []func(context.Context) error
	// OnListen, when set, is called with the bound addresses once all
	// listeners are open, so tests can listen on port 0.
	OnListen func(Addrs)
}

// Addrs are the addresses Run listens on.
type Addrs struct {
	GRPC, HTTP, Admin string
}

// readyTimeout bounds one readiness check so a hung dependency reads as not ready.
const readyTimeout = 5 * time.Second

// Run serves until ctx ends or a server or worker fails, then shuts down
// gracefully: health reports NOT_SERVING and /readyz 503, the HTTP server
// drains, gRPC GracefulStop runs until Config.ShutdownTimeout (then Stop),
// workers are cancelled and telemetry is flushed. It returns nil after a
// shutdown caused by ctx, and the first failure otherwise.
//
// Run does not wait between NOT_SERVING and closing its listeners; in
// Kubernetes give the pod a preStop sleep of a few seconds so endpoints are
// updated before the listeners close.
func Run(ctx context.Context, o Options) (err error) {
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("server: config: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = logging.New(os.Stdout, cfg.LogLevel)
	}
	shown := o.LogConfig
	if shown == nil {
		shown = cfg
	}
	log.LogAttrs(ctx, slog.LevelInfo, "starting", slog.String("service", o.Name), slog.String("version", o.Version),
		slog.Attr{Key: "config", Value: slog.GroupValue(config.Attrs(shown)...)})

	tel, err := telemetry.New(ctx, o.Name, o.Version, cfg.OTLPEndpoint)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	tel.Install()
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := tel.Shutdown(fctx); ferr != nil {
			log.Warn("telemetry flush failed", "err", ferr)
		}
	}()

	if !cfg.Auth.Configured() {
		log.Warn("no JWT key configured (JWT_HS256_SECRET, JWKS_URL, JWKS_FILE): every call that needs a token will be rejected")
	}
	// The JWKS refresher lives as long as Run, not as long as ctx, because
	// calls still draining after ctx ends need their tokens verified.
	authCtx, stopAuth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAuth()
	verifier, err := auth.NewVerifier(authCtx, cfg.Auth, log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	authz := auth.NewAuthorizer(verifier, o.Policy)
	calls, err := newCallMetrics(tel.MeterProvider)
	if err != nil {
		return err
	}

	otelOpts := []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tel.TracerProvider),
		otelgrpc.WithMeterProvider(tel.MeterProvider),
		otelgrpc.WithPropagators(tel.Propagator),
	}
	gs := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...)),
		grpc.ChainUnaryInterceptor(recoverUnary(log), logUnary(log), calls.unary(), authz.UnaryServerInterceptor(), o.Validators.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(recoverStream(log), logStream(log), calls.stream(), authz.StreamServerInterceptor(), o.Validators.StreamServerInterceptor()),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	if o.Register != nil {
		o.Register(gs)
	}
	for name := range gs.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}

	var lc net.ListenConfig
	lis := make([]net.Listener, 0, 3)
	defer func() {
		// Servers close their own listeners; this only matters on early returns.
		for _, l := range lis {
			_ = l.Close()
		}
	}()
	for _, a := range []string{cfg.GRPCAddr, cfg.HTTPAddr, cfg.AdminAddr} {
		l, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fmt.Errorf("server: listen %s: %w", a, err)
		}
		lis = append(lis, l)
	}
	addrs := Addrs{GRPC: lis[0].Addr().String(), HTTP: lis[1].Addr().String(), Admin: lis[2].Addr().String()}

	conn, err := grpc.NewClient(loopback(lis[0].Addr()),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOpts...)),
	)
	if err != nil {
		return fmt.Errorf("server: gateway connection: %w", err)
	}
	defer conn.Close()
	gw := newGatewayMux()
	if o.Gateway != nil {
		if err := o.Gateway(ctx, gw, conn); err != nil {
			return fmt.Errorf("server: register gateway: %w", err)
		}
	}

	var stopping atomic.Bool
	httpSrv := &http.Server{
		Handler:           httpHandler(log, gw, o, &stopping, tel),
		ReadHeaderTimeout: 10 * time.Second,
	}
	adminSrv := &http.Server{Handler: adminHandler(tel.Metrics), ReadHeaderTimeout: 10 * time.Second}

	if o.OnListen != nil {
		o.OnListen(addrs)
	}
	log.Info("serving", "grpc", addrs.GRPC, "http", addrs.HTTP, "admin", addrs.Admin)

	g, gctx := errgroup.WithContext(ctx)
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	grpcLis, httpLis, adminLis := lis[0], lis[1], lis[2]
	lis = nil
	g.Go(func() error {
		if err := gs.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("server: grpc: %w", err)
		}
		return nil
	})
	for name, s := range map[string]struct {
		srv *http.Server
		l   net.Listener
	}{"http": {httpSrv, httpLis}, "admin": {adminSrv, adminLis}} {
		g.Go(func() error {
			if err := s.srv.Serve(s.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server: %s: %w", name, err)
			}
			return nil
		})
	}
	for i, w := range o.Workers {
		g.Go(func() error {
			err := w(workerCtx)
			if err != nil && workerCtx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // stopped because we asked it to
			}
			if err != nil {
				return fmt.Errorf("server: worker %d: %w", i, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		stopping.Store(true)
		hs.Shutdown() // every service NOT_SERVING; later updates are ignored
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		if err := httpSrv.Shutdown(sctx); err != nil {
			_ = httpSrv.Close()
			errs = append(errs, fmt.Errorf("server: http shutdown: %w", err))
		}
		drained := make(chan struct{})
		go func() {
			gs.GracefulStop()
			close(drained)
		}()
		select {
		case <-drained:
		case <-sctx.Done():
			log.Warn("drain deadline passed; cancelling remaining calls")
			gs.Stop()
			<-drained
		}
		stopWorkers()
		// Admin goes last so /metrics can be scraped during the drain.
		if err := adminSrv.Shutdown(sctx); err != nil {
			_ = adminSrv.Close()
			errs = append(errs, fmt.Errorf("server: admin shutdown: %w", err))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	if err != nil {
		log.Error("stopped", "err", err)
		return err
	}
	log.Info("stopped")
	return nil
}

// DialOptions are the options every gRPC client of a platform service
// uses: otelgrpc client instrumentation with the global providers, so
// traces continue across services. Callers add transport and per-RPC
// credentials (see auth.NewServiceCredentials).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler())}
}

// loopback turns a wildcard listen address into one the process can dial.
func loopback(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort("127.0.0.1", port)
	}
	return net.JoinHostPort(tcp.IP.String(), strconv.Itoa(tcp.Port))
}

// newGatewayMux answers JSON with lowerCamelCase field names and no
// zero-valued fields, and forwards the headers services read besides
// Authorization (which the gateway forwards itself).
func newGatewayMux() *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false, UseProtoNames: false},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			if strings.EqualFold(key, "Idempotency-Key") {
				return "idempotency-key", true // idempotency.MetadataKey
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
	)
}

func httpHandler(log *slog.Logger, gw http.Handler, o Options, stopping *atomic.Bool, tel *telemetry.Telemetry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Liveness: answering at all is the signal; dependencies belong in /readyz.
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			writeText(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				log.WarnContext(ctx, "not ready", "err", err)
				writeText(w, http.StatusServiceUnavailable, "not ready")
				return
			}
		}
		writeText(w, http.StatusOK, "ok")
	})
	if o.OpenAPI != nil {
		mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(o.OpenAPI)
		})
	}
	mux.Handle("/", otelhttp.NewHandler(gw, "grpc-gateway",
		otelhttp.WithTracerProvider(tel.TracerProvider),
		otelhttp.WithMeterProvider(tel.MeterProvider),
		otelhttp.WithPropagators(tel.Propagator),
	))
	return mux
}

func adminHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}
