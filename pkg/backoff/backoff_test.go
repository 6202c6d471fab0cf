package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelayDoublesPerRetryUpToTheCap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		retry int
		want  time.Duration
	}{
		{-1, 100 * time.Millisecond},
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{4, time.Second},
		{1000, time.Second},
	}
	for _, c := range cases {
		if got := Delay(100*time.Millisecond, time.Second, c.retry); got != c.want {
			t.Errorf("Delay(100ms, 1s, %d) = %s, want %s", c.retry, got, c.want)
		}
	}
}

func TestSleepReturnsEarlyWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep on a cancelled context reported the full wait")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep of 1ms on a live context reported an early end")
	}
}
