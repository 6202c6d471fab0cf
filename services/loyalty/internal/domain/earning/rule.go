// Package earning computes how many points an order or an event earns: the
// program's base rate, the marketers' rules (multipliers, rate bonuses,
// fixed bonuses, targeting, schedules, caps, budgets, holdouts), and, for
// refunds, how many of those points to take back. Everything is integer
// arithmetic over minor units, and every award says which rule produced it,
// so a refund or a per-rule report can always be traced back.
package earning

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// Trigger is the occasion a rule applies to; values match loyalty.v1.EarningTrigger.
type Trigger int

// Triggers.
const (
	TriggerUnspecified Trigger = iota
	TriggerOrder
	TriggerFirstOrder
	TriggerSignup
	TriggerBirthday
	TriggerProductReview
	TriggerCustomEvent
)

// orderTriggered reports whether the trigger fires on an order.
func (t Trigger) orderTriggered() bool { return t == TriggerOrder || t == TriggerFirstOrder }

// AwardKind is what a rule gives.
type AwardKind int

// Award kinds.
const (
	AwardUnspecified AwardKind = iota
	// AwardRate earns extra points on the value of matching lines at its own rate.
	AwardRate
	// AwardMultiplier multiplies the base points of matching lines (200% = double).
	AwardMultiplier
	// AwardBonus is a fixed number of points.
	AwardBonus
)

// Status is a rule's lifecycle; values match loyalty.v1.ConfigStatus.
type Status int

// Statuses. Only active rules earn.
const (
	StatusUnspecified Status = iota
	StatusDraft
	StatusActive
	StatusPaused
	StatusArchived
)

// Rate is points per amount of money, e.g. 1 point per 100 minor units.
type Rate struct {
	Points   int64
	Per      money.Money
	Rounding money.Rounding
}

// Validate checks the rate.
func (r Rate) Validate() error {
	var c validation.Collector
	c.Check(r.Points > 0, "points", "must be positive, got %d", r.Points)
	c.Check(r.Per.Amount > 0, "per.amount_minor", "must be positive, got %d", r.Per.Amount)
	c.Check(money.ValidCurrency(r.Per.Currency), "per.currency", "must be an ISO 4217 code, got %q", r.Per.Currency)
	c.Check(r.Rounding.Valid(), "rounding", "unknown rounding %d", r.Rounding)
	return c.Err()
}

// PointsFor is the points amount minor units earn at the rate.
func (r Rate) PointsFor(amount int64) (int64, error) {
	if amount <= 0 {
		return 0, nil
	}
	p, err := money.MulDiv(amount, r.Points, r.Per.Amount, r.Rounding)
	if err != nil {
		return 0, fmt.Errorf("points for %d at %d per %s: %w", amount, r.Points, r.Per, err)
	}
	return p, nil
}

// Target restricts what and whom a rule applies to; empty lists do not
// restrict. Categories match a line when they are a prefix of its category
// path ("home/garden" matches home > garden > tools).
type Target struct {
	SKUs               []string
	Categories         []string
	ExcludedSKUs       []string
	ExcludedCategories []string
	TierIDs            []string
	SegmentIDs         []string
	Channels           []string
	// MinOrderValue is on the value of the lines the rule matches.
	MinOrderValue int64
}

func (t Target) validate() error {
	var c validation.Collector
	c.Check(t.MinOrderValue >= 0, "min_order_value.amount_minor", "must not be negative")
	for i, s := range t.Categories {
		c.Check(s != "", fmt.Sprintf("categories[%d]", i), "must not be empty")
	}
	for i, s := range t.ExcludedCategories {
		c.Check(s != "", fmt.Sprintf("excluded_categories[%d]", i), "must not be empty")
	}
	return c.Err()
}

// InCategory reports whether path lies under category ("a/b"),
// case-insensitively. It walks the string instead of splitting it because
// it runs for every line and rule of every order.
func InCategory(path []string, category string) bool {
	c := strings.Trim(category, "/")
	if c == "" {
		return false
	}
	for i := 0; ; i++ {
		seg, rest, more := strings.Cut(c, "/")
		if i >= len(path) || !strings.EqualFold(seg, path[i]) {
			return false
		}
		if !more {
			return true
		}
		c = rest
	}
}

func inAnyCategory(path []string, cats []string) bool {
	for _, c := range cats {
		if InCategory(path, c) {
			return true
		}
	}
	return false
}

func (t Target) matchesLine(l Line) bool {
	if slices.Contains(t.ExcludedSKUs, l.SKU) || inAnyCategory(l.CategoryPath, t.ExcludedCategories) {
		return false
	}
	if len(t.SKUs) == 0 && len(t.Categories) == 0 {
		return true
	}
	return slices.Contains(t.SKUs, l.SKU) || inAnyCategory(l.CategoryPath, t.Categories)
}

func (t Target) matchesMember(m Member) bool {
	if len(t.TierIDs) > 0 && !slices.Contains(t.TierIDs, m.TierID) {
		return false
	}
	if len(t.SegmentIDs) > 0 && !slices.ContainsFunc(t.SegmentIDs, m.InSegment) {
		return false
	}
	return true
}

// Cap limits what a rule may award.
type Cap struct {
	// MaxPointsPerMember per Period; 0 means no cap.
	MaxPointsPerMember int64
	// Period of the per-member cap, in fixed windows from the rule's
	// start; 0 means over the rule's whole life.
	Period time.Duration
	// BudgetPoints across all members; 0 means no budget.
	BudgetPoints int64
}

// Rule is an earning rule marketers create and schedule.
type Rule struct {
	ID          string
	Name        string
	Trigger     Trigger
	CustomEvent string
	Kind        AwardKind
	Rate        Rate
	// MultiplierPercent (AwardMultiplier): 200 doubles the base points.
	MultiplierPercent int32
	// BonusPoints (AwardBonus).
	BonusPoints int64
	Target      Target
	Cap         Cap
	// HoldoutPercent of eligible members (0..50) do not get the offer, to
	// measure its lift against them.
	HoldoutPercent int32
	// Priority orders evaluation (higher first); with caps and budgets it
	// decides which rule gets the points when they run out.
	Priority int32
	StartsAt time.Time
	// EndsAt is exclusive; zero means open-ended.
	EndsAt time.Time
	Status Status
}

// MaxHoldoutPercent keeps most eligible members in the campaign; a larger
// holdout is an experiment design, not a campaign.
const MaxHoldoutPercent = 50

// MaxMultiplierPercent bounds multipliers against fat-finger configuration
// (10000% instead of 100%), which would be an expensive mistake.
const MaxMultiplierPercent = 2000

// Validate checks a rule against the program currency.
func (r Rule) Validate(currency string) error {
	var c validation.Collector
	c.Check(strings.TrimSpace(r.Name) != "", "name", "is required")
	c.Check(r.Trigger > TriggerUnspecified && r.Trigger <= TriggerCustomEvent, "trigger", "is required")
	if r.Trigger == TriggerCustomEvent {
		c.Check(r.CustomEvent != "", "custom_event_name", "is required for a custom event rule")
	}
	switch r.Kind {
	case AwardRate:
		c.Nest("rate", r.Rate.Validate())
		c.Check(r.Rate.Per.Currency == "" || r.Rate.Per.Currency == currency, "rate.per.currency",
			"must be the program currency %s, got %s", currency, r.Rate.Per.Currency)
		c.Check(r.Trigger.orderTriggered(), "rate", "only order rules can earn by rate")
	case AwardMultiplier:
		c.Check(r.MultiplierPercent > 100 && r.MultiplierPercent <= MaxMultiplierPercent, "multiplier_percent",
			"must be between 101 and %d, got %d", MaxMultiplierPercent, r.MultiplierPercent)
		c.Check(r.Trigger.orderTriggered(), "multiplier_percent", "only order rules can multiply")
	case AwardBonus:
		c.Check(r.BonusPoints > 0, "bonus_points", "must be positive, got %d", r.BonusPoints)
	default:
		c.Add("award", "set exactly one of rate, multiplier_percent, bonus_points")
	}
	c.Nest("target", r.Target.validate())
	c.Check(r.Cap.MaxPointsPerMember >= 0, "cap.max_points_per_member", "must not be negative")
	c.Check(r.Cap.BudgetPoints >= 0, "cap.budget_points", "must not be negative")
	c.Check(r.Cap.Period >= 0, "cap.period", "must not be negative")
	c.Check(r.Cap.Period == 0 || r.Cap.MaxPointsPerMember > 0, "cap.period", "needs max_points_per_member")
	c.Check(r.Cap.Period == 0 || !r.StartsAt.IsZero(), "starts_at", "is required when the cap has a period")
	c.Check(r.HoldoutPercent >= 0 && r.HoldoutPercent <= MaxHoldoutPercent, "holdout_percent",
		"must be between 0 and %d, got %d", MaxHoldoutPercent, r.HoldoutPercent)
	c.Check(r.EndsAt.IsZero() || r.EndsAt.After(r.StartsAt), "ends_at", "must be after starts_at")
	c.Check(r.Status >= StatusUnspecified && r.Status <= StatusArchived, "status", "unknown status %d", r.Status)
	return c.Err()
}

// ActiveAt reports whether the rule earns at t: active status and inside
// its campaign window [StartsAt, EndsAt).
func (r Rule) ActiveAt(t time.Time) bool {
	return r.Status == StatusActive && !t.Before(r.StartsAt) && (r.EndsAt.IsZero() || t.Before(r.EndsAt))
}

// CapWindow is the per-member cap window containing t: fixed Period-long
// windows counted from StartsAt, or the rule's whole life without a period.
// The app layer sums the member's earnings from the rule inside it.
func (r Rule) CapWindow(t time.Time) (start, end time.Time) {
	if r.Cap.Period <= 0 {
		return r.StartsAt, r.EndsAt
	}
	n := t.Sub(r.StartsAt) / r.Cap.Period
	if t.Before(r.StartsAt) {
		n = 0
	}
	start = r.StartsAt.Add(n * r.Cap.Period)
	return start, start.Add(r.Cap.Period)
}

// AppliesTo reports whether the rule would give member anything at t,
// ignoring line targeting, caps and holdout: used to list the campaigns a
// member can see.
func (r Rule) AppliesTo(m Member, t time.Time) bool {
	return r.ActiveAt(t) && r.Target.matchesMember(m)
}

// InHoldout reports whether member is in the rule's holdout group. The
// bucket is the first 8 bytes of SHA-256("holdout", rule, member) mod
// 10000, so assignment is stable across processes, releases and replays,
// independent between rules, and changes granularity in 0.01% steps.
func InHoldout(ruleID, memberID string, percent int32) bool {
	if percent <= 0 {
		return false
	}
	return HoldoutBucket(ruleID, memberID) < int(percent)*100
}

// HoldoutBucket is the member's bucket (0..9999) for a rule.
func HoldoutBucket(ruleID, memberID string) int {
	h := sha256.New()
	h.Write([]byte("holdout\x00"))
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	h.Write([]byte(memberID))
	sum := h.Sum(nil)
	return int(binary.BigEndian.Uint64(sum[:8]) % 10000)
}

// Partner is a coalition partner that awards points on its own
// transactions at its own rate.
type Partner struct {
	ID     string
	Name   string
	Rate   Rate
	Active bool
}

// Validate checks the partner's configuration.
func (p Partner) Validate() error {
	var c validation.Collector
	c.Check(p.ID != "", "partner_id", "is required")
	c.Nest("rate", p.Rate.Validate())
	return c.Err()
}

// Earn is the points a partner transaction of amount earns.
func (p Partner) Earn(amount money.Money) (int64, error) {
	if !p.Active {
		return 0, fmt.Errorf("partner %s: %w", p.ID, ErrPartnerInactive)
	}
	if amount.Currency != p.Rate.Per.Currency {
		return 0, fmt.Errorf("partner %s earns in %s, got %s: %w", p.ID, p.Rate.Per.Currency, amount, money.ErrCurrencyMismatch)
	}
	if amount.Amount <= 0 {
		return 0, validation.Field("amount.amount_minor", "must be positive, got %d", amount.Amount)
	}
	return p.Rate.PointsFor(amount.Amount)
}
