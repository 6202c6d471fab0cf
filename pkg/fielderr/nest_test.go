package fielderr_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

func TestCollectorGathersNestedViolationsAndFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(*validation.Collector)
		want  []string
	}{
		{name: "nothing recorded is no error", build: func(*validation.Collector) {}, want: nil},
		{name: "violations keep their order", build: func(c *validation.Collector) { c.Add("b", "x"); c.Add("a", "y") }, want: []string{"b", "a"}},
		{name: "nested violations get the prefix", build: func(c *validation.Collector) {
			c.Nest("reward", validation.Field("points", "bad"))
		}, want: []string{"reward.points"}},
		{name: "a nested violation without a field takes the prefix", build: func(c *validation.Collector) {
			c.Nest("reward", validation.Field("", "bad"))
		}, want: []string{"reward"}},
		{name: "an empty prefix keeps the field", build: func(c *validation.Collector) { c.Nest("", validation.Field("code", "bad")) }, want: []string{"code"}},
		{name: "a wrapped validation error is unwrapped", build: func(c *validation.Collector) {
			c.Nest("a", fmt.Errorf("ctx: %w", validation.Field("b", "bad")))
		}, want: []string{"a.b"}},
		{name: "a plain error is recorded against the prefix", build: func(c *validation.Collector) { c.Nest("a", errors.New("boom")) }, want: []string{"a"}},
		{name: "nil errors are ignored", build: func(c *validation.Collector) { c.Nest("a", nil) }, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c validation.Collector
			tt.build(&c)
			err := c.Err()
			if got := validation.Fields(err); !slices.Equal(got, tt.want) {
				t.Errorf("expected fields %v, got %v (%v)", tt.want, got, err)
			}
			if (err == nil) != (tt.want == nil) {
				t.Errorf("expected error %v, got %v", tt.want != nil, err)
			}
		})
	}
}

func TestErrorMessageNamesEveryField(t *testing.T) {
	t.Parallel()
	var c validation.Collector
	c.Add("name", "is required")
	c.Add("hold_period", "must be positive")
	want := "invalid argument: name: is required; hold_period: must be positive"
	if got := c.Err().Error(); got != want {
		t.Errorf("expected %q, got %q", want, got)
	}
}
