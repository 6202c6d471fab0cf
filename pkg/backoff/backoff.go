// Package backoff computes the waits of retry loops (the outbox relay, the
// consumer runner) and waits them without outliving their context.
package backoff

import (
	"context"
	"time"
)

// Delay is base doubled once per retry already made (retry 0 waits base),
// capped at maxD. A negative retry counts as 0.
func Delay(base, maxD time.Duration, retry int) time.Duration {
	d := base
	for range max(retry, 0) {
		d *= 2
		if d >= maxD {
			return maxD
		}
	}
	return min(d, maxD)
}

// Sleep waits d or until ctx is done; it reports whether the full time
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
