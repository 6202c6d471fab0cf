// Package expiry decides when earned points stop being spendable. A lot's
// expiry is fixed when it is earned (so a member can always be told the
// date), except under the inactivity policy, where all points lapse together
// N months after the member's last qualifying activity and each new activity
// pushes the date out.
package expiry

import (
	"fmt"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// Kind is the expiry policy family.
type Kind int

const (
	// Never: points do not expire.
	Never Kind = iota
	// FixedPeriod: each lot expires a fixed number of months (plus days)
	// after it was earned, optionally rounded up to a period end.
	FixedPeriod
	// Inactivity: no lot has its own date; all points expire when the
	// member has had no activity for InactivityMonths.
	Inactivity
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Never:
		return "never"
	case FixedPeriod:
		return "fixed_period"
	case Inactivity:
		return "inactivity"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// RoundTo moves a fixed-period expiry to the end of its calendar period,
// which members find easier to remember ("your points expire at the end of
// March") and which batches the expiry job into a few large runs.
type RoundTo int

const (
	// NoRounding keeps the exact instant.
	NoRounding RoundTo = iota
	// EndOfMonth rounds up to the first instant of the next month.
	EndOfMonth
	// EndOfQuarter rounds up to the first instant of the next quarter.
	EndOfQuarter
	// EndOfYear rounds up to the first instant of the next year.
	EndOfYear
)

// Policy is a program's expiry configuration.
type Policy struct {
	Kind Kind
	// Months and Days after earning (FixedPeriod).
	Months int
	Days   int
	// RoundTo rounds a FixedPeriod date up to a period end.
	RoundTo RoundTo
	// InactivityMonths without activity after which all points expire.
	InactivityMonths int
	// Location is the program's time zone: "end of month" is midnight there,
	// not in UTC. Nil means UTC.
	Location *time.Location
	// WarnBefore is how long before expiry PointsWillExpire is announced.
	WarnBefore time.Duration
}

// Validate checks the policy is usable.
func (p Policy) Validate() error {
	var c validation.Collector
	switch p.Kind {
	case Never:
	case FixedPeriod:
		c.Check(p.Months >= 0 && p.Days >= 0, "months", "months and days must not be negative")
		c.Check(p.Months > 0 || p.Days > 0, "months", "a fixed period needs months or days")
		c.Check(p.RoundTo >= NoRounding && p.RoundTo <= EndOfYear, "round_to", "unknown rounding %d", p.RoundTo)
	case Inactivity:
		c.Check(p.InactivityMonths > 0, "inactivity_months", "must be positive, got %d", p.InactivityMonths)
	default:
		c.Add("kind", "unknown expiry policy %d", p.Kind)
	}
	c.Check(p.WarnBefore >= 0, "warn_before", "must not be negative")
	return c.Err()
}

func (p Policy) loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// LotExpiry is when a lot earned at earnedAt expires; the zero time means it
// has no date of its own (Never and Inactivity).
func (p Policy) LotExpiry(earnedAt time.Time) time.Time {
	if p.Kind != FixedPeriod {
		return time.Time{}
	}
	t := AddMonths(earnedAt.In(p.loc()), p.Months).AddDate(0, 0, p.Days)
	return roundUp(t, p.RoundTo).UTC()
}

// InactivityDeadline is when all points expire if nothing happens after
// lastActivity; zero unless the policy is Inactivity.
func (p Policy) InactivityDeadline(lastActivity time.Time) time.Time {
	if p.Kind != Inactivity || lastActivity.IsZero() {
		return time.Time{}
	}
	return AddMonths(lastActivity.In(p.loc()), p.InactivityMonths).UTC()
}

// InactivityDue reports whether all points should expire now.
func (p Policy) InactivityDue(lastActivity, now time.Time) bool {
	d := p.InactivityDeadline(lastActivity)
	return !d.IsZero() && !now.Before(d)
}

// WarnAt is when to announce that points expiring at expiresAt will expire.
func (p Policy) WarnAt(expiresAt time.Time) time.Time {
	if expiresAt.IsZero() || p.WarnBefore <= 0 {
		return time.Time{}
	}
	return expiresAt.Add(-p.WarnBefore)
}

// AddMonths adds n months, clamping the day to the target month's length.
// time.AddDate normalizes Jan 31 + 1 month to Mar 3, which would give a
// member two extra days one month and none the next; clamping to Feb 28/29
// is what people mean by "one month later".
func AddMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := daysIn(first.Year(), first.Month())
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// roundUp returns the first instant of the period after the one containing
// t; an instant already on a boundary still moves to the next boundary,
// because the points were earned during the period that boundary closes.
func roundUp(t time.Time, r RoundTo) time.Time {
	y, m, _ := t.Date()
	loc := t.Location()
	switch r {
	case EndOfMonth:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	case EndOfQuarter:
		q := (int(m)-1)/3*3 + 1
		return time.Date(y, time.Month(q+3), 1, 0, 0, 0, 0, loc)
	case EndOfYear:
		return time.Date(y+1, 1, 1, 0, 0, 0, 0, loc)
	}
	return t
}
