// Package challenge tracks stamp-card style challenges ("buy 4 cans, get 2
// free"): a count or spend goal over a period, optionally within a rolling
// per-member window, progress shown to the member, and a reward issued
// exactly once when the goal is met (once per round when the challenge is
// repeatable). Progress is kept per order id, so a redelivered order counts
// once and a cancelled order can be taken out again before completion.
package challenge

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
)

// Goal is what counts toward a challenge.
type Goal int

// Goals.
const (
	GoalUnspecified Goal = iota
	// GoalCount counts units of matching lines.
	GoalCount
	// GoalSpend sums the net value (minor units) of matching lines.
	GoalSpend
	// GoalOrders counts orders with at least one matching line.
	GoalOrders
)

// Challenge is one stamp card.
type Challenge struct {
	ID   string
	Name string
	Goal Goal
	// Target units or minor units.
	Target int64
	// SKUs and Categories that count; both empty = everything.
	SKUs       []string
	Categories []string
	StartsAt   time.Time
	// EndsAt is exclusive.
	EndsAt time.Time
	// RewardPoints credited on completion (and/or RewardID issued).
	RewardPoints int64
	RewardID     string
	// WindowDays, when positive, is a rolling per-member window: only
	// orders within this many days of the member's first qualifying order
	// (the window's start) count together; a qualifying order after the
	// window closed starts a fresh window and progress.
	WindowDays int32
	// Repeatable challenges start a new round with the member's next
	// qualifying order after a completion; each completion is rewarded once.
	Repeatable bool
}

// MaxWindowDays bounds the rolling window (ten years).
const MaxWindowDays = 3650

// Validate checks the challenge.
func (c Challenge) Validate() error {
	var v validation.Collector
	v.Check(strings.TrimSpace(c.Name) != "", "name", "is required")
	v.Check(c.Goal == GoalCount || c.Goal == GoalSpend || c.Goal == GoalOrders, "goal", "is required")
	v.Check(c.Target > 0, "target", "must be positive, got %d", c.Target)
	v.Check(!c.StartsAt.IsZero(), "starts_at", "is required")
	v.Check(c.EndsAt.After(c.StartsAt), "ends_at", "must be after starts_at")
	v.Check(c.RewardPoints > 0 || c.RewardID != "", "reward", "needs reward points or a reward id")
	v.Check(c.RewardPoints >= 0, "reward_points", "must not be negative")
	v.Check(c.WindowDays >= 0 && c.WindowDays <= MaxWindowDays, "window_days", "must be 0 to %d, got %d", MaxWindowDays, c.WindowDays)
	return v.Err()
}

// Open reports whether orders at t count.
func (c Challenge) Open(t time.Time) bool { return !t.Before(c.StartsAt) && t.Before(c.EndsAt) }

func (c Challenge) matches(l earning.Line) bool {
	if len(c.SKUs) == 0 && len(c.Categories) == 0 {
		return true
	}
	if slices.Contains(c.SKUs, l.SKU) {
		return true
	}
	return slices.ContainsFunc(c.Categories, func(cat string) bool { return earning.InCategory(l.CategoryPath, cat) })
}

// Contribution is what an order adds toward the goal.
func (c Challenge) Contribution(o earning.Order) int64 { return c.ContributionAfter(o, nil) }

// ContributionAfter is what an order still adds toward the goal after the
// refunds (cumulative per line: returned units, refunded amounts).
func (c Challenge) ContributionAfter(o earning.Order, refunds []earning.RefundLine) int64 {
	qty, amt := map[string]int64{}, map[string]int64{}
	for _, r := range refunds {
		qty[r.LineID] += r.Quantity
		amt[r.LineID] += r.Amount
	}
	var s int64
	for _, l := range o.Lines {
		if !c.matches(l) {
			continue
		}
		units := max(l.Quantity-qty[l.LineID], 0)
		switch c.Goal {
		case GoalCount:
			s += units
		case GoalSpend:
			if n, err := l.Net(); err == nil && n-amt[l.LineID] > 0 {
				s += n - amt[l.LineID]
			}
		case GoalOrders:
			if units > 0 {
				return 1
			}
		}
	}
	return s
}

// Progress is one member's state in one challenge.
type Progress struct {
	ChallengeID string
	MemberID    string
	// ByOrder is what each order contributed; the key makes recording idempotent.
	ByOrder     map[string]int64
	CompletedAt time.Time
	// WindowStart opened the member's current rolling window (zero when
	// the challenge has none or no order counted yet).
	WindowStart time.Time
	// Completions counts the rounds completed; the reward of round n is
	// issued when it becomes n, once.
	Completions int
}

// WindowEnd is when the member's current window closes (zero without one).
func (c Challenge) WindowEnd(p Progress) time.Time {
	if c.WindowDays <= 0 || p.WindowStart.IsZero() {
		return time.Time{}
	}
	return p.WindowStart.AddDate(0, 0, int(c.WindowDays))
}

// Current is the progress as it stands at t: a window that closed before
// completion counts nothing any more (the next qualifying order opens a
// fresh one).
func (c Challenge) Current(p Progress, t time.Time) Progress {
	if end := c.WindowEnd(p); !p.Completed() && !end.IsZero() && !t.Before(end) {
		return Progress{ChallengeID: p.ChallengeID, MemberID: p.MemberID, Completions: p.Completions}
	}
	return p
}

// Value is the progress toward the target.
func (p Progress) Value() int64 {
	var s int64
	for _, v := range p.ByOrder {
		s += v
	}
	return s
}

// Completed reports whether the reward was earned.
func (p Progress) Completed() bool { return !p.CompletedAt.IsZero() }

// Remaining is what is left to reach the target.
func (c Challenge) Remaining(p Progress) int64 { return max(c.Target-p.Value(), 0) }

// Record adds an order and reports whether this call completed a round of
// the challenge; it is true exactly once per round (once per member unless
// the challenge is repeatable), so the caller issues the round's reward
// then and only then (in the same transaction).
func (c Challenge) Record(p Progress, o earning.Order) (Progress, bool) {
	if (p.Completed() && !c.Repeatable) || !c.Open(o.CompletedAt) {
		return p, false
	}
	if _, seen := p.ByOrder[o.ID]; seen {
		return p, false
	}
	add := c.Contribution(o)
	if add == 0 {
		return p, false
	}
	if p.Completed() {
		// A repeatable challenge: this order opens the next round.
		p = Progress{ChallengeID: p.ChallengeID, MemberID: p.MemberID, Completions: p.Completions}
	}
	p = c.Current(p, o.CompletedAt)
	if c.WindowDays > 0 && p.WindowStart.IsZero() {
		p.WindowStart = o.CompletedAt
	}
	p.ByOrder = maps.Clone(p.ByOrder)
	if p.ByOrder == nil {
		p.ByOrder = map[string]int64{}
	}
	p.ByOrder[o.ID] = add
	if p.Value() >= c.Target {
		p.CompletedAt = o.CompletedAt
		p.Completions++
		return p, true
	}
	return p, false
}

// Remove takes a cancelled or fully refunded order out again. After
// completion nothing changes: the reward was issued and taking it back for
// one returned can would punish the member more than the program gains.
func (c Challenge) Remove(p Progress, orderID string) Progress {
	if p.Completed() {
		return p
	}
	if _, ok := p.ByOrder[orderID]; !ok {
		return p
	}
	p.ByOrder = maps.Clone(p.ByOrder)
	delete(p.ByOrder, orderID)
	return p
}

// Revise sets what an order counts after a refund (the order's
// ContributionAfter its refunds); an order that no longer counts leaves the
// progress. Like Remove it changes nothing after completion, and it never
// raises an order's part.
func (c Challenge) Revise(p Progress, orderID string, now int64) Progress {
	cur, ok := p.ByOrder[orderID]
	if p.Completed() || !ok || now >= cur {
		return p
	}
	if now <= 0 {
		return c.Remove(p, orderID)
	}
	p.ByOrder = maps.Clone(p.ByOrder)
	p.ByOrder[orderID] = now
	return p
}

// Repository persists challenges and progress.
type Repository interface {
	Open(ctx context.Context, at time.Time) ([]Challenge, error)
	// UpdateProgress runs fn on the member's progress under a row lock.
	UpdateProgress(ctx context.Context, challengeID, memberID string, fn func(*Progress) error) error
}
