package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverUnary turns a handler panic into codes.Internal. The panic value
// and stack go to the log only: they can carry internals a caller must not see.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in grpc handler", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ss.Context(), "panic in grpc handler", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// quiet methods are polled by probes; logging each call at info would drown the log.
func quiet(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	switch code {
	case codes.OK:
		if quiet(method) {
			level = slog.LevelDebug
		}
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		level = slog.LevelError
	default:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	log.LogAttrs(ctx, level, "grpc call", attrs...)
}

func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

func logStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

// callMetrics adds what otelgrpc's duration histograms do not show: calls
// in flight, which is what a drain or a stuck dependency looks like.
type callMetrics struct {
	inFlight metric.Int64UpDownCounter
	// attrs caches each method's attribute option: building an attribute
	// set hashes it, which cost about 5% of a cheap call's CPU.
	attrs sync.Map // full method name -> metric.AddOption
}

func newCallMetrics(mp metric.MeterProvider) (*callMetrics, error) {
	m := mp.Meter("github.com/affinity-platform/affinity/pkg/server")
	inFlight, err := m.Int64UpDownCounter("rpc.server.in_flight", metric.WithDescription("gRPC calls being handled"), metric.WithUnit("{call}"))
	if err != nil {
		return nil, fmt.Errorf("server: in-flight metric: %w", err)
	}
	return &callMetrics{inFlight: inFlight}, nil
}

// methodAttrs returns the attribute option for method. The cache holds one
// entry per method a client called: unknown methods are answered by gRPC
// with Unimplemented before any interceptor runs, so callers cannot grow it.
func (m *callMetrics) methodAttrs(method string) metric.AddOption {
	if o, ok := m.attrs.Load(method); ok {
		return o.(metric.AddOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(attribute.String("rpc.method", method)))
	m.attrs.Store(method, o)
	return o
}

func (m *callMetrics) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		attrs := m.methodAttrs(info.FullMethod)
		m.inFlight.Add(ctx, 1, attrs)
		// Deferred so a panicking handler does not leave the gauge raised.
		defer m.inFlight.Add(ctx, -1, attrs)
		return handler(ctx, req)
	}
}

func (m *callMetrics) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		attrs := m.methodAttrs(info.FullMethod)
		m.inFlight.Add(ss.Context(), 1, attrs)
		defer m.inFlight.Add(ss.Context(), -1, attrs)
		return handler(srv, ss)
	}
}
