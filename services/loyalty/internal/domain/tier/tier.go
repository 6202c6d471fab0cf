// Package tier decides a member's tier: qualification by a measure (points
// earned or spend) over a rolling window, immediate upgrades, downgrades only
// at re-qualification and by a configured policy, manual overrides with an
// expiry, and paid tiers bought by subscription. The app layer supplies the
// measure summed over Ladder.Window and persists the Status; TierChanged is
// emitted exactly when Evaluate returns a Change.
package tier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
)

// ErrUnknownTier: a tier id that is not in the ladder (NotFound / InvalidArgument).
var ErrUnknownTier = errors.New("unknown tier")

// Measure is what qualifies; values match loyalty.v1.QualifyingMeasure.
type Measure int

// Measures.
const (
	MeasureUnspecified Measure = iota
	MeasurePointsEarned
	MeasureSpend
)

// DowngradePolicy is what happens at re-qualification when the measure no
// longer supports the tier; values match loyalty.v1.DowngradePolicy.
type DowngradePolicy int

// Policies; Unspecified behaves as OneTier, the gentlest common default.
const (
	DowngradeUnspecified DowngradePolicy = iota
	DowngradeOneTier
	DowngradeToQualified
	DowngradeNone
)

// Benefits are what a tier gives.
type Benefits struct {
	// EarnMultiplierPercent on base points (150 = 1.5x); 0 or 100 = none.
	EarnMultiplierPercent int32
	Perks                 []string
}

// Tier is one level.
type Tier struct {
	ID        string
	Name      string
	Rank      int32
	Threshold int64
	// Paid tiers are only reached by subscription, never by the measure.
	Paid      bool
	Downgrade DowngradePolicy
	Benefits  Benefits
}

// Ladder is the program's tiers, lowest rank first.
type Ladder struct {
	Measure      Measure
	WindowMonths int
	Tiers        []Tier
}

// NewLadder validates and sorts tiers. Thresholds must rise with rank among
// qualifying tiers, otherwise "the tier the measure supports" would be
// ambiguous.
func NewLadder(m Measure, windowMonths int, tiers []Tier) (Ladder, error) {
	var c validation.Collector
	c.Check(m == MeasurePointsEarned || m == MeasureSpend, "measure", "is required")
	c.Check(windowMonths > 0 && windowMonths <= 60, "window_months", "must be between 1 and 60, got %d", windowMonths)
	sorted := slices.Clone(tiers)
	slices.SortStableFunc(sorted, func(a, b Tier) int { return cmp.Compare(a.Rank, b.Rank) })
	ids, ranks := map[string]bool{}, map[int32]bool{}
	var prev *Tier
	for i, t := range sorted {
		f := fmt.Sprintf("tiers[%s]", t.ID)
		c.Check(t.ID != "" && !ids[t.ID], f+".tier_id", "must be present and unique")
		c.Check(!ranks[t.Rank], f+".rank", "rank %d is used twice", t.Rank)
		c.Check(t.Name != "", f+".name", "is required")
		c.Check(t.Threshold >= 0, f+".threshold", "must not be negative")
		c.Check(t.Downgrade >= DowngradeUnspecified && t.Downgrade <= DowngradeNone, f+".downgrade_policy", "unknown policy")
		c.Check(t.Benefits.EarnMultiplierPercent >= 0 && t.Benefits.EarnMultiplierPercent <= 1000, f+".benefits.earn_multiplier_percent", "must be between 0 and 1000")
		ids[t.ID], ranks[t.Rank] = true, true
		if !t.Paid {
			if prev != nil {
				c.Check(t.Threshold > prev.Threshold, f+".threshold", "must be above %s's %d", prev.ID, prev.Threshold)
			}
			prev = &sorted[i]
		}
	}
	if err := c.Err(); err != nil {
		return Ladder{}, err
	}
	return Ladder{Measure: m, WindowMonths: windowMonths, Tiers: sorted}, nil
}

// ByID finds a tier.
func (l Ladder) ByID(id string) (Tier, bool) {
	for _, t := range l.Tiers {
		if t.ID == id {
			return t, true
		}
	}
	return Tier{}, false
}

// Window is the rolling period the measure is summed over at now.
func (l Ladder) Window(now time.Time) (from, to time.Time) {
	return expiry.AddMonths(now, -l.WindowMonths), now
}

// Supported is the highest qualifying tier measure reaches, or false.
func (l Ladder) Supported(measure int64) (Tier, bool) {
	var best Tier
	found := false
	for _, t := range l.Tiers {
		if !t.Paid && measure >= t.Threshold {
			best, found = t, true
		}
	}
	return best, found
}

// below is the next qualifying tier under t, or false at the bottom.
func (l Ladder) below(t Tier) (Tier, bool) {
	var best Tier
	found := false
	for _, x := range l.Tiers {
		if !x.Paid && x.Rank < t.Rank {
			best, found = x, true
		}
	}
	return best, found
}

// Override is a manual tier set by a marketer until ExpiresAt. It wins over
// everything else while active, including when it is lower (a demotion).
type Override struct {
	TierID    string
	ExpiresAt time.Time
	Reason    string
	Actor     string
}

// Subscription is a paid membership granting TierID until PaidUntil.
type Subscription struct {
	TierID    string
	PaidUntil time.Time
}

// Status is a member's persisted tier state.
type Status struct {
	// QualifiedTierID is the tier earned by the measure ("" = none).
	QualifiedTierID string
	QualifiedAt     time.Time
	// RequalifyAt is when the qualified tier is next reviewed.
	RequalifyAt  time.Time
	Override     *Override
	Subscription *Subscription
	// EffectiveTierID is the tier last announced, so a change is detected
	// (and TierChanged emitted) exactly once.
	EffectiveTierID string
}

// Cause says why the effective tier changed.
type Cause string

// Causes.
const (
	CauseQualified       Cause = "qualified"
	CauseRequalified     Cause = "requalification"
	CauseOverride        Cause = "override"
	CauseOverrideEnded   Cause = "override_expired"
	CauseSubscribed      Cause = "subscription"
	CauseSubscriptionEnd Cause = "subscription_lapsed"
)

// Change is a change of effective tier, the payload of TierChanged.
type Change struct {
	From, To string
	Upgrade  bool
	Cause    Cause
	At       time.Time
}

// Effective is the tier the member has at now: an active override, else
// the higher of the qualified tier and an active paid tier. ok is false
// when the member has no tier.
func (l Ladder) Effective(s Status, now time.Time) (Tier, bool) {
	if o := s.Override; o != nil && now.Before(o.ExpiresAt) {
		if t, ok := l.ByID(o.TierID); ok {
			return t, true
		}
	}
	best, found := l.ByID(s.QualifiedTierID)
	if sub := s.Subscription; sub != nil && now.Before(sub.PaidUntil) {
		if t, ok := l.ByID(sub.TierID); ok && (!found || t.Rank > best.Rank) {
			best, found = t, true
		}
	}
	return best, found
}

func (l Ladder) rank(id string) int32 {
	if t, ok := l.ByID(id); ok {
		return t.Rank
	}
	return -1 << 31
}

// finish drops ended overrides/subscriptions and reports an effective change.
func (l Ladder) finish(s Status, cause Cause, now time.Time) (Status, *Change) {
	if s.Override != nil && !now.Before(s.Override.ExpiresAt) {
		s.Override = nil
		if cause == "" {
			cause = CauseOverrideEnded
		}
	}
	if s.Subscription != nil && !now.Before(s.Subscription.PaidUntil) {
		s.Subscription = nil
		if cause == "" {
			cause = CauseSubscriptionEnd
		}
	}
	eff, _ := l.Effective(s, now)
	if eff.ID == s.EffectiveTierID {
		return s, nil
	}
	ch := &Change{From: s.EffectiveTierID, To: eff.ID, Upgrade: l.rank(eff.ID) > l.rank(s.EffectiveTierID), Cause: cause, At: now}
	if ch.Cause == "" {
		ch.Cause = CauseRequalified
	}
	s.EffectiveTierID = eff.ID
	return s, ch
}

// Evaluate applies qualification at now with measure summed over
// Window(now): an upgrade happens at once; a downgrade only once
// RequalifyAt has passed, by the current tier's policy. Passing the review
// (or being kept by policy None) starts a new review period.
func (l Ladder) Evaluate(s Status, measure int64, now time.Time) (Status, *Change) {
	cur, hasCur := l.ByID(s.QualifiedTierID)
	sup, hasSup := l.Supported(measure)
	var cause Cause
	switch {
	case hasSup && (!hasCur || sup.Rank > cur.Rank):
		s.QualifiedTierID, s.QualifiedAt = sup.ID, now
		s.RequalifyAt = expiry.AddMonths(now, l.WindowMonths)
		cause = CauseQualified
	case hasCur && !s.RequalifyAt.IsZero() && !now.Before(s.RequalifyAt):
		next, keep := cur, true
		if !hasSup || sup.Rank < cur.Rank {
			switch cur.Downgrade {
			case DowngradeNone:
			case DowngradeToQualified:
				next, keep = sup, hasSup
			default:
				next, keep = l.below(cur)
				if hasSup && keep && sup.Rank > next.Rank { // cannot happen with rising thresholds; kept for safety
					next = sup
				}
			}
		}
		if keep {
			s.QualifiedTierID = next.ID
			s.RequalifyAt = expiry.AddMonths(now, l.WindowMonths)
		} else {
			s.QualifiedTierID, s.RequalifyAt = "", time.Time{}
		}
		cause = CauseRequalified
	}
	return l.finish(s, cause, now)
}

// SetOverride puts the member on a tier until o.ExpiresAt.
func (l Ladder) SetOverride(s Status, o Override, now time.Time) (Status, *Change, error) {
	var c validation.Collector
	_, known := l.ByID(o.TierID)
	c.Check(known, "tier_id", "unknown tier %q", o.TierID)
	c.Check(o.ExpiresAt.After(now), "expires_at", "must be in the future")
	c.Check(o.Reason != "", "reason", "is required")
	c.Check(o.Actor != "", "actor", "is required")
	if err := c.Err(); err != nil {
		return s, nil, fmt.Errorf("override: %w", err)
	}
	s.Override = &o
	s, ch := l.finish(s, CauseOverride, now)
	return s, ch, nil
}

// Subscribe grants or extends a paid tier until paidUntil. Renewals before
// the lapse extend without a change event.
func (l Ladder) Subscribe(s Status, tierID string, paidUntil, now time.Time) (Status, *Change, error) {
	t, ok := l.ByID(tierID)
	if !ok || !t.Paid {
		return s, nil, fmt.Errorf("subscribe to %q: %w", tierID, validation.Field("tier_id", "must be a paid tier"))
	}
	if !paidUntil.After(now) {
		return s, nil, validation.Field("paid_until", "must be in the future")
	}
	s.Subscription = &Subscription{TierID: tierID, PaidUntil: paidUntil}
	s, ch := l.finish(s, CauseSubscribed, now)
	return s, ch, nil
}

// Progress is what the member view shows.
type Progress struct {
	Current Tier
	// HasTier is false when the member has no tier yet.
	HasTier bool
	Measure int64
	Next    Tier
	HasNext bool
	// Remaining measure to reach Next.
	Remaining   int64
	RequalifyAt time.Time
}

// Progress computes the member's position at now; the next tier is the
// next qualifying tier above the effective one.
func (l Ladder) Progress(s Status, measure int64, now time.Time) Progress {
	cur, has := l.Effective(s, now)
	p := Progress{Current: cur, HasTier: has, Measure: measure, RequalifyAt: s.RequalifyAt}
	if o := s.Override; o != nil && now.Before(o.ExpiresAt) {
		p.RequalifyAt = o.ExpiresAt
	} else if sub := s.Subscription; sub != nil && now.Before(sub.PaidUntil) && has && cur.ID == sub.TierID {
		// On the paid tier, what ends it is the membership lapsing.
		p.RequalifyAt = sub.PaidUntil
	}
	for _, t := range l.Tiers {
		if !t.Paid && (!has || t.Rank > cur.Rank) {
			p.Next, p.HasNext = t, true
			p.Remaining = max(t.Threshold-measure, 0)
			break
		}
	}
	return p
}

// Repository persists tiers and member status.
type Repository interface {
	Ladder(ctx context.Context) (Ladder, error)
	// UpdateStatus runs fn on the member's status under a row lock.
	UpdateStatus(ctx context.Context, memberID string, fn func(*Status) error) error
	// Measure sums the member's qualifying measure in [from, to).
	Measure(ctx context.Context, memberID string, m Measure, from, to time.Time) (int64, error)
	// DueForReview lists members whose RequalifyAt, override expiry or
	// subscription end is at or before now.
	DueForReview(ctx context.Context, now time.Time, limit int) ([]string, error)
}
