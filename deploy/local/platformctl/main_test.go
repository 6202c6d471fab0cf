package main

import (
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/onlineretail"
)

func TestTheHistoryMovesInWholeDaysToEndOnTheAsOfDateButNeverInTheFuture(t *testing.T) {
	t.Parallel()
	last := time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC)
	rows := []onlineretail.Row{{Time: last.Add(-48 * time.Hour)}, {Time: last}}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		asOf string
		want time.Time
	}{
		{"original", last},
		// 12:50 today is after 10:00 now, so the history ends yesterday.
		{"now", time.Date(2026, 11, 23, 12, 50, 0, 0, time.UTC)},
		{"2020-01-31", time.Date(2020, 1, 31, 12, 50, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		shift, err := shiftFor(rows, c.asOf, now)
		if err != nil {
			t.Fatalf("%s: %v", c.asOf, err)
		}
		if got := last.Add(shift); !got.Equal(c.want) {
			t.Errorf("-as-of %s: the last event moves to %s, want %s", c.asOf, got, c.want)
		}
		if shift%(24*time.Hour) != 0 {
			t.Errorf("-as-of %s: shift %s is not whole days", c.asOf, shift)
		}
	}
	if _, err := shiftFor(rows, "yesterday", now); err == nil {
		t.Error("-as-of yesterday was accepted")
	}
}
