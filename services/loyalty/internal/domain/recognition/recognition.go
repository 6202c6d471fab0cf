// Package recognition decides which once-per-occasion bonuses a member is
// due: birthday (once per year), enrolment anniversary (once per year of
// membership), milestones (the Nth order, N lifetime points) and goodwill
// credits after a service failure. Each Occasion has a stable Key; the app
// layer credits (member, key) at most once (a unique constraint), so the
// scheduled job and event triggers can run as often as they like.
package recognition

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
)

// Kind is the type of occasion.
type Kind string

// Kinds.
const (
	KindBirthday        Kind = "birthday"
	KindAnniversary     Kind = "anniversary"
	KindOrderMilestone  Kind = "orders"
	KindPointsMilestone Kind = "points"
	KindGoodwill        Kind = "goodwill"
)

// Milestone awards Points when a count reaches Threshold.
type Milestone struct {
	Threshold int64
	Points    int64
}

// Config is the program's recognition settings.
type Config struct {
	BirthdayPoints    int64
	AnniversaryPoints int64
	OrderMilestones   []Milestone
	PointsMilestones  []Milestone
	// Grace is how long after the date a birthday or anniversary is still
	// granted, so a job that did not run for a day does not skip anybody,
	// while a birthday from months ago is not paid out late.
	Grace time.Duration
	// Location decides when a date starts; nil is UTC.
	Location *time.Location
	// GoodwillMax bounds one goodwill credit.
	GoodwillMax int64
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v validation.Collector
	v.Check(c.BirthdayPoints >= 0, "birthday_points", "must not be negative")
	v.Check(c.AnniversaryPoints >= 0, "anniversary_points", "must not be negative")
	v.Check(c.Grace >= 0, "grace", "must not be negative")
	for i, m := range c.OrderMilestones {
		v.Check(m.Threshold > 0 && m.Points > 0, fmt.Sprintf("order_milestones[%d]", i), "threshold and points must be positive")
	}
	for i, m := range c.PointsMilestones {
		v.Check(m.Threshold > 0 && m.Points > 0, fmt.Sprintf("points_milestones[%d]", i), "threshold and points must be positive")
	}
	return v.Err()
}

// Profile is what recognition needs about a member.
type Profile struct {
	// BirthMonth and BirthDay; 0 when unknown.
	BirthMonth     time.Month
	BirthDay       int
	EnrolledAt     time.Time
	OrderCount     int64
	LifetimePoints int64
}

// Occasion is one bonus the member is due.
type Occasion struct {
	// Key is unique per member and occasion, e.g. "birthday:2026",
	// "anniversary:3", "orders:10", "points:1000", "goodwill:T-123".
	Key         string
	Kind        Kind
	Points      int64
	Description string
}

// Due lists the occasions due at now, in a stable order. It does not know
// what was already granted: the app layer filters by key.
func (c Config) Due(p Profile, now time.Time) []Occasion {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	var out []Occasion
	if c.BirthdayPoints > 0 && p.BirthMonth >= 1 && p.BirthMonth <= 12 && p.BirthDay >= 1 {
		for _, y := range []int{local.Year(), local.Year() - 1} { // a grace period may cross new year
			d := birthday(y, p.BirthMonth, p.BirthDay, loc)
			if !now.Before(d) && now.Before(d.Add(c.Grace+24*time.Hour)) && (p.EnrolledAt.IsZero() || p.EnrolledAt.Before(d.Add(24*time.Hour))) {
				out = append(out, Occasion{Key: fmt.Sprintf("birthday:%d", y), Kind: KindBirthday, Points: c.BirthdayPoints, Description: "happy birthday"})
				break
			}
		}
	}
	if c.AnniversaryPoints > 0 && !p.EnrolledAt.IsZero() {
		enrolled := p.EnrolledAt.In(loc)
		years := local.Year() - enrolled.Year()
		for _, n := range []int{years, years - 1} {
			if n < 1 {
				continue
			}
			d := expiry.AddMonths(enrolled, 12*n)
			if !now.Before(d) && now.Before(d.Add(c.Grace+24*time.Hour)) {
				out = append(out, Occasion{Key: fmt.Sprintf("anniversary:%d", n), Kind: KindAnniversary, Points: c.AnniversaryPoints,
					Description: fmt.Sprintf("%d years with us", n)})
				break
			}
		}
	}
	out = append(out, milestones(KindOrderMilestone, c.OrderMilestones, p.OrderCount, "order")...)
	out = append(out, milestones(KindPointsMilestone, c.PointsMilestones, p.LifetimePoints, "lifetime points")...)
	return out
}

// milestones returns every reached milestone; earlier ones are returned too
// so a member who jumps two thresholds at once gets both, and the key
// filter makes re-reporting harmless.
func milestones(k Kind, ms []Milestone, value int64, what string) []Occasion {
	sorted := slices.Clone(ms)
	slices.SortFunc(sorted, func(a, b Milestone) int { return cmp.Compare(a.Threshold, b.Threshold) })
	var out []Occasion
	for _, m := range sorted {
		if value >= m.Threshold {
			out = append(out, Occasion{Key: fmt.Sprintf("%s:%d", k, m.Threshold), Kind: k, Points: m.Points,
				Description: fmt.Sprintf("%d %s milestone", m.Threshold, what)})
		}
	}
	return out
}

// birthday is the member's birthday in year y; 29 February is celebrated on
// 28 February in common years rather than rolling into March.
func birthday(y int, m time.Month, d int, loc *time.Location) time.Time {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, loc).Day()
	return time.Date(y, m, min(d, last), 0, 0, 0, 0, loc)
}

// Goodwill is a credit after a service failure, keyed by the case (ticket)
// id so the same case is compensated once.
func (c Config) Goodwill(caseID string, points int64, reason, actor string) (Occasion, error) {
	var v validation.Collector
	v.Check(caseID != "", "case_id", "is required")
	v.Check(points > 0, "points", "must be positive, got %d", points)
	v.Check(c.GoodwillMax == 0 || points <= c.GoodwillMax, "points", "must be at most %d", c.GoodwillMax)
	v.Check(reason != "", "reason", "is required")
	v.Check(actor != "", "actor", "is required")
	if err := v.Err(); err != nil {
		return Occasion{}, err
	}
	return Occasion{Key: "goodwill:" + caseID, Kind: KindGoodwill, Points: points, Description: reason}, nil
}

// Repository records granted occasions.
type Repository interface {
	// Granted returns the keys already credited to the member.
	Granted(ctx context.Context, memberID string) ([]string, error)
}
