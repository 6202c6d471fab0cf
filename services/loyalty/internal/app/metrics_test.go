package app_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
)

// expiryRuns reads loyalty.expiry.runs per outcome from reader.
func expiryRuns(t *testing.T, reader sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "loyalty.expiry.runs" {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("expected loyalty.expiry.runs to be a monotonic int64 sum (a counter), got %T", m.Data)
			}
			for _, dp := range sum.DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("outcome"))
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

func TestEveryExpiryJobRunCountsItsOutcome(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	a, clk := newApp(t, app.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	ctx := context.Background()
	earn(t, a, "m1", "o1", 5000)
	clk.advance(40 * 24 * time.Hour) // past the one-month expiry
	for range 2 {
		if _, err := a.RunJobs(ctx); err != nil {
			t.Fatalf("run jobs: %v", err)
		}
	}
	if got := expiryRuns(t, reader); got["success"] != 2 || got["failure"] != 0 {
		t.Errorf("expected 2 successful runs and no failure, got %v", got)
	}

	// A run that cannot reach the database is a failure.
	a.Pool().Close()
	if _, err := a.RunJobs(ctx); err == nil {
		t.Fatal("expected a run on a closed pool to fail")
	}
	// A run cut short by shutdown is neither.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = a.RunJobs(cancelled)
	if got := expiryRuns(t, reader); got["success"] != 2 || got["failure"] != 1 {
		t.Errorf("expected 2 successful runs and 1 failure, got %v", got)
	}
}
