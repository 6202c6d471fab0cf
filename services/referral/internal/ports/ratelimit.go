package ports

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/affinity-platform/affinity/pkg/auth"
)

// maxLimiterKeys bounds the limiter's memory (about 100 bytes a key) when a
// flood brings ever new devices: past it, new keys in the current window are
// not limited. The database still holds, and the fraud rules still count
// sign-ups per IP and device, so failing open only costs click records.
const maxLimiterKeys = 1 << 20

// clickLimiter bounds the public RecordClick endpoint: at most limit clicks
// per IP hash and per device id in each fixed window of the clock. Fixed
// windows aligned to the clock keep the state to one map that is dropped
// whole when the window turns, so memory never outlives a window. The cost
// is a possible burst of twice the limit across a window boundary. The
// state is per replica: with n replicas behind a balancer a key may get up
// to n times the limit.
type clickLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

func newClickLimiter(limit int, window time.Duration, now func() time.Time) *clickLimiter {
	if now == nil {
		now = time.Now
	}
	return &clickLimiter{limit: limit, window: window, now: now, counts: map[string]int{}}
}

// allow counts one click for every non-empty key, or none when any key is
// at its limit; it then returns the exhausted key's field name and how long
// until the window turns.
func (l *clickLimiter) allow(keys map[string]string) (field string, retryAfter time.Duration) {
	if l == nil || l.limit <= 0 {
		return "", 0
	}
	now := l.now()
	start := now.Truncate(l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !start.Equal(l.start) {
		l.start, l.counts = start, map[string]int{}
	}
	for _, f := range []string{"ip_hash", "device_id"} {
		if k := keys[f]; k != "" && l.counts[f+":"+k] >= l.limit {
			return f, start.Add(l.window).Sub(now)
		}
	}
	for _, f := range []string{"ip_hash", "device_id"} {
		k := keys[f]
		if k == "" {
			continue
		}
		if _, seen := l.counts[f+":"+k]; !seen && len(l.counts) >= maxLimiterKeys {
			continue
		}
		l.counts[f+":"+k]++
	}
	return "", 0
}

// checkClick answers ResourceExhausted (HTTP 429) with a RetryInfo when the
// click's IP hash or device went over the limit. Platform systems (service
// and admin roles: backfills, storefront relays) are not limited.
func (l *clickLimiter) checkClick(ctx context.Context, deviceID, ipHash string) error {
	if c, ok := auth.ClaimsFrom(ctx); ok && (c.Has(auth.RoleService) || c.Has(auth.RoleAdmin)) {
		return nil
	}
	field, wait := l.allow(map[string]string{"ip_hash": ipHash, "device_id": deviceID})
	if field == "" {
		return nil
	}
	st := status.New(codes.ResourceExhausted, fmt.Sprintf("too many clicks from this %s: at most %d per %s", field, l.limit, l.window))
	if d, err := st.WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: field, Description: fmt.Sprintf("%d clicks per %s", l.limit, l.window)}}},
	); err == nil {
		st = d
	}
	return st.Err()
}
