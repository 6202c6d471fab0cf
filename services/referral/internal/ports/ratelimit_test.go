package ports

import (
	"testing"
	"time"
)

func TestTheClickLimiterCountsPerKeyInFixedWindows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 10, 0, time.UTC)
	l := newClickLimiter(2, time.Minute, func() time.Time { return now })
	steps := []struct {
		name      string
		at        time.Duration // after 12:00:10
		ip, dev   string
		wantField string
		wantWait  time.Duration
	}{
		{name: "a first click passes", ip: "ip1", dev: "d1"},
		{name: "a second click of the same keys passes", ip: "ip1", dev: "d1"},
		{name: "a third from the same IP is refused until the minute turns", at: 20 * time.Second, ip: "ip1", dev: "d2", wantField: "ip_hash", wantWait: 30 * time.Second},
		{name: "a refused click did not count for its device", at: 20 * time.Second, dev: "d2"},
		{name: "so the device still has its second click", at: 20 * time.Second, dev: "d2"},
		{name: "the device at its limit is refused", at: 30 * time.Second, ip: "ip2", dev: "d1", wantField: "device_id", wantWait: 20 * time.Second},
		{name: "a refused click did not count for its IP", at: 30 * time.Second, ip: "ip2"},
		{name: "so the IP still has its second click", at: 30 * time.Second, ip: "ip2"},
		{name: "the next window starts afresh", at: 50 * time.Second, ip: "ip1", dev: "d1"},
	}
	for _, st := range steps {
		now = time.Date(2026, 11, 24, 12, 0, 10, 0, time.UTC).Add(st.at)
		field, wait := l.allow(map[string]string{"ip_hash": st.ip, "device_id": st.dev})
		if field != st.wantField || wait != st.wantWait {
			t.Errorf("%s: got (%q, %s), want (%q, %s)", st.name, field, wait, st.wantField, st.wantWait)
		}
	}
}

func TestAZeroLimitDisablesTheClickLimiter(t *testing.T) {
	t.Parallel()
	l := newClickLimiter(0, time.Minute, nil)
	for i := range 100 {
		if field, _ := l.allow(map[string]string{"device_id": "d"}); field != "" {
			t.Fatalf("click %d refused on %s, want a zero limit to refuse nothing", i+1, field)
		}
	}
}
