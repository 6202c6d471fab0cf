// Package telemetry sets up OpenTelemetry for a service: W3C trace context
// and baggage propagation, traces exported over OTLP/gRPC when an endpoint is
// configured (no-op otherwise), and a meter provider that always feeds a
// Prometheus registry (served on the admin port) plus OTLP when configured.
// Code elsewhere records metrics through the global otel.Meter API.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds the providers built for one service. Servers pass them to
// their instrumentation explicitly, so two servers in one test binary do not
// share metrics through the globals.
type Telemetry struct {
	// TracerProvider exports over OTLP when an endpoint is configured and is
	// a no-op provider otherwise.
	TracerProvider trace.TracerProvider
	// MeterProvider always feeds Metrics, plus OTLP when configured.
	MeterProvider metric.MeterProvider
	// Propagator is W3C TraceContext plus Baggage.
	Propagator propagation.TextMapPropagator
	// Metrics serves the Prometheus exposition of this service's registry.
	Metrics http.Handler

	shutdown []func(context.Context) error
}

// New builds the providers without touching the OpenTelemetry globals.
func New(ctx context.Context, name, version, otlpEndpoint string) (*Telemetry, error) {
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", name),
			attribute.String("service.version", version),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register collector: %w", err)
		}
	}
	promExp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}

	if otlpEndpoint == "" {
		t.TracerProvider = noop.NewTracerProvider()
	} else {
		traceExp, err := otlptracegrpc.New(ctx, traceEndpoint(otlpEndpoint)...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(traceExp))
		t.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)

		metricExp, err := otlpmetricgrpc.New(ctx, metricEndpoint(otlpEndpoint)...)
		if err != nil {
			_ = tp.Shutdown(ctx)
			return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
		}
		meterOpts = append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
	}
	mp := sdkmetric.NewMeterProvider(meterOpts...)
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

// Install makes t's providers and propagator the OpenTelemetry globals.
func (t *Telemetry) Install() {
	otel.SetTextMapPropagator(t.Propagator)
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
}

// Shutdown flushes and stops the exporters; call it once, last, with a
// context bounding how long the flush may take.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// Setup builds the providers, installs them as the globals and returns the
// function that flushes them and the handler for /metrics.
func Setup(ctx context.Context, name, version, otlpEndpoint string) (shutdown func(context.Context) error, promHandler http.Handler, err error) {
	t, err := New(ctx, name, version, otlpEndpoint)
	if err != nil {
		return nil, nil, err
	}
	t.Install()
	return t.Shutdown, t.Metrics, nil
}

// An endpoint with a scheme is used as an OTLP URL (http:// means
// plaintext); a bare host:port means a plaintext collector next to the
// service, the usual sidecar or node-agent setup.
func traceEndpoint(ep string) []otlptracegrpc.Option {
	if strings.Contains(ep, "://") {
		return []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(ep)}
	}
	return []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep), otlptracegrpc.WithInsecure()}
}

func metricEndpoint(ep string) []otlpmetricgrpc.Option {
	if strings.Contains(ep, "://") {
		return []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpointURL(ep)}
	}
	return []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(ep), otlpmetricgrpc.WithInsecure()}
}
