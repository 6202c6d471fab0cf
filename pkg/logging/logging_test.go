package logging_test

import (
	"bytes"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/affinity-platform/affinity/pkg/logging"
)

func TestRecordsCarryTraceIDsOnlyWhenTheContextHasASpan(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "op")
	defer span.End()

	var buf bytes.Buffer
	log := logging.New(&buf, "info").With("svc", "x")
	log.InfoContext(ctx, "with span")
	log.InfoContext(t.Context(), "without span")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("expected 2 log lines, got %d: %s", len(lines), buf.String())
	}
	var with, without map[string]any
	if err := json.Unmarshal(lines[0], &with); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &without); err != nil {
		t.Fatal(err)
	}
	if got, want := with["trace_id"], span.SpanContext().TraceID().String(); got != want {
		t.Errorf("expected trace_id %s, got %v", want, got)
	}
	if got, want := with["span_id"], span.SpanContext().SpanID().String(); got != want {
		t.Errorf("expected span_id %s, got %v", want, got)
	}
	if with["svc"] != "x" {
		t.Errorf("expected attributes from With to survive, got %v", with)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("expected no trace_id without a span, got %v", without)
	}
}

func TestLevelFiltersRecordsBelowIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level     string
		wantDebug bool
		wantInfo  bool
	}{
		{"debug", true, true},
		{"info", false, true},
		{"warn", false, false},
		{"", false, true},
		{"nonsense", false, true},
	}
	for _, tt := range tests {
		t.Run("level "+tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := logging.New(&buf, tt.level)
			log.Debug("d")
			gotDebug := buf.Len() > 0
			buf.Reset()
			log.Info("i")
			gotInfo := buf.Len() > 0
			if gotDebug != tt.wantDebug || gotInfo != tt.wantInfo {
				t.Errorf("expected debug=%v info=%v, got debug=%v info=%v", tt.wantDebug, tt.wantInfo, gotDebug, gotInfo)
			}
		})
	}
}

func TestParseLevelRejectsUnknownNames(t *testing.T) {
	t.Parallel()
	if _, err := logging.ParseLevel("loud"); err == nil {
		t.Error("expected an error for level \"loud\", got nil")
	}
	if _, err := logging.ParseLevel("WARN"); err != nil {
		t.Errorf("expected WARN to parse, got %v", err)
	}
}
