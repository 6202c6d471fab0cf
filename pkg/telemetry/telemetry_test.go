package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/affinity-platform/affinity/pkg/telemetry"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("expected 200 from /metrics, got %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestMetricsHandlerExposesRecordedMetricsAndRuntimeCollectors(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.New(t.Context(), "svc", "1.2.3", "")
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(t.Context()) })
	c, err := tel.MeterProvider.Meter("test").Int64Counter("widgets.made")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(t.Context(), 3)

	body := scrape(t, tel.Metrics)
	for _, want := range []string{"widgets_made_total", "go_goroutines", "process_cpu_seconds_total", `service_name="svc"`} {
		if !strings.Contains(body, want) {
			t.Errorf("expected /metrics to contain %q, got:\n%s", want, body)
		}
	}
}

func TestWithoutEndpointTracesAreNoOp(t *testing.T) {
	t.Parallel()
	tel, err := telemetry.New(t.Context(), "svc", "1", "")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "op")
	defer span.End()
	if span.IsRecording() {
		t.Error("expected a non-recording span without an OTLP endpoint, got a recording one")
	}
}

func TestWithEndpointSpansAreRecorded(t *testing.T) {
	t.Parallel()
	// The exporter connects lazily, so an address nobody listens on is fine;
	// Shutdown's flush failure is expected and ignored.
	tel, err := telemetry.New(t.Context(), "svc", "1", "127.0.0.1:1")
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "op")
	if !span.IsRecording() {
		t.Error("expected a recording span with an OTLP endpoint, got a non-recording one")
	}
	span.End()
}

// Not parallel: Setup installs the process-wide globals.
func TestSetupInstallsW3CPropagation(t *testing.T) {
	shutdown, h, err := telemetry.Setup(t.Context(), "svc", "1", "")
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	defer func() { _ = shutdown(t.Context()) }()
	if h == nil {
		t.Fatal("expected a metrics handler, got nil")
	}
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "baggage": "k=v"}
	ctx := otel.GetTextMapPropagator().Extract(t.Context(), carrier)
	out := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, out)
	if out["traceparent"] != carrier["traceparent"] || out["baggage"] != "k=v" {
		t.Errorf("expected traceparent and baggage to round-trip, got %v", out)
	}
}
