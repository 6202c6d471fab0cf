// Package logging builds the JSON slog logger every service uses. Each
// record logged with a context that carries an OpenTelemetry span gets the
// span's trace_id and span_id, so logs and traces can be joined.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// New returns a JSON logger writing to w at the given level ("debug",
// "info", "warn", "error"). An unknown level falls back to info; call
// ParseLevel during configuration validation to reject it instead.
func New(w io.Writer, level string) *slog.Logger {
	lvl, err := ParseLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})))
}

// ParseLevel turns a level name into a slog.Level. The empty string means info.
func ParseLevel(level string) (slog.Level, error) {
	if strings.TrimSpace(level) == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		return 0, fmt.Errorf("logging: unknown level %q: %w", level, err)
	}
	return l, nil
}

// NewHandler wraps h so that records carry trace_id and span_id from the
// span in the record's context.
func NewHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

// Handle adds the trace ids before delegating. Inside a WithGroup the ids
// land in that group, as every attribute does.
func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
