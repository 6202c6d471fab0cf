package fielderr

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestCollector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		build  func(c *Collector)
		fields []string
	}{
		{"no violations give a nil error", func(c *Collector) { c.Check(true, "a", "fine") }, nil},
		{"a failed check names its field", func(c *Collector) { c.Check(false, "points", "must be positive") }, []string{"points"}},
		{"nested errors are prefixed with the parent path", func(c *Collector) {
			c.Nest("rule", Field("cap.period", "must be positive"))
		}, []string{"rule.cap.period"}},
		{"a nested error without a field takes the prefix", func(c *Collector) { c.Nest("rate", Field("", "bad")) }, []string{"rate"}},
		{"a plain error is recorded against the prefix", func(c *Collector) { c.Nest("order", errors.New("boom")) }, []string{"order"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c Collector
			tt.build(&c)
			err := c.Err()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("expected no error, got %v", err)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("expected *Error, got %T %v", err, err)
			}
			if got := ve.Fields(); !slices.Equal(got, tt.fields) {
				t.Errorf("expected fields %v, got %v", tt.fields, got)
			}
			if !errors.Is(fmt.Errorf("wrapped: %w", err), ErrInvalid) {
				t.Errorf("expected a wrapped validation error to match ErrInvalid")
			}
		})
	}
}
