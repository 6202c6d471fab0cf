package challenge

import (
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/fielderr"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
)

func TestRollingWindowsAndRepeatableRounds(t *testing.T) {
	t.Parallel()
	base := Challenge{ID: "cans", Name: "Buy 4 cans", Goal: GoalCount, Target: 4, SKUs: []string{"COLA"},
		StartsAt: t0, EndsAt: t0.AddDate(0, 3, 0), RewardPoints: 200}
	can := func(q int64) earning.Line { return earning.Line{SKU: "COLA", Quantity: q, UnitPrice: 100} }
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	weekly, repeat, both := base, base, base
	weekly.WindowDays = 7
	repeat.Repeatable = true
	both.WindowDays, both.Repeatable = 7, true
	tests := []struct {
		name            string
		c               Challenge
		orders          []earning.Order
		wantValue       int64
		wantCompletions int
		wantWindowStart time.Time
	}{
		{"orders within the window count together", weekly, []earning.Order{ord("o1", day(1), can(2)), ord("o2", day(7), can(2))}, 4, 1, day(1)},
		{"an order after the window closed starts over", weekly, []earning.Order{ord("o1", day(1), can(2)), ord("o2", day(8), can(3))}, 3, 0, day(8)},
		{"a non-repeatable challenge completes once", weekly, []earning.Order{ord("o1", day(1), can(4)), ord("o2", day(2), can(4))}, 4, 1, day(1)},
		{"a repeatable challenge completes again", repeat, []earning.Order{ord("o1", day(1), can(4)), ord("o2", day(2), can(4)), ord("o3", day(3), can(1))}, 1, 2, time.Time{}},
		{"a redelivered order does not complete a new round", repeat, []earning.Order{ord("o1", day(1), can(4)), ord("o1", day(1), can(4))}, 4, 1, time.Time{}},
		{"a repeatable round opens a fresh window", both, []earning.Order{ord("o1", day(1), can(4)), ord("o2", day(20), can(1))}, 1, 1, day(20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Progress{ChallengeID: "cans", MemberID: "m"}
			rewarded := 0
			for _, o := range tt.orders {
				var completed bool
				if p, completed = tt.c.Record(p, o); completed {
					rewarded++
				}
			}
			if p.Value() != tt.wantValue || p.Completions != tt.wantCompletions || rewarded != tt.wantCompletions || !p.WindowStart.Equal(tt.wantWindowStart) {
				t.Errorf("expected value %d, %d completions (rewarded each once) and window from %v; got %d, %d (%d rewarded), %v",
					tt.wantValue, tt.wantCompletions, tt.wantWindowStart, p.Value(), p.Completions, rewarded, p.WindowStart)
			}
		})
	}
}

func TestCurrentClearsAClosedWindowBeforeCompletion(t *testing.T) {
	t.Parallel()
	c := Challenge{ID: "cans", Goal: GoalCount, Target: 4, WindowDays: 7}
	open := Progress{ByOrder: map[string]int64{"o1": 2}, WindowStart: t0, Completions: 1}
	tests := []struct {
		name      string
		p         Progress
		at        time.Time
		wantValue int64
	}{
		{"an open window keeps its progress", open, t0.AddDate(0, 0, 6), 2},
		{"a closed window counts nothing", open, t0.AddDate(0, 0, 7), 0},
		{"a completed round stays as it is", Progress{ByOrder: map[string]int64{"o1": 4}, WindowStart: t0, CompletedAt: t0}, t0.AddDate(0, 0, 30), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.Current(tt.p, tt.at)
			if got.Value() != tt.wantValue || got.Completions != tt.p.Completions {
				t.Errorf("expected value %d and %d completions kept, got %d and %d", tt.wantValue, tt.p.Completions, got.Value(), got.Completions)
			}
		})
	}
}

func TestAWindowOutOfRangeNamesTheField(t *testing.T) {
	t.Parallel()
	for _, days := range []int32{-1, MaxWindowDays + 1} {
		c := Challenge{Name: "x", Goal: GoalCount, Target: 1, StartsAt: t0, EndsAt: t0.Add(time.Hour), RewardPoints: 1, WindowDays: days}
		if err := c.Validate(); err == nil || !slices.Contains(fielderr.Fields(err), "window_days") {
			t.Errorf("expected window_days %d refused on the field, got %v", days, err)
		}
	}
}
