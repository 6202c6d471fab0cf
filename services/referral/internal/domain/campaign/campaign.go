// Package campaign is the referral campaign model: the rewards for both
// sides (tiered by the referrer's success), the conditions a friend's order
// must meet, who may refer, caps and budget, the hold period, and the
// schedule with its state machine
//
//	draft ─schedule─> scheduled ─(starts_at)─> active <─resume/pause─> paused
//	  └──────────activate──────────────────────^   any ─end─> ended
//
// Time-driven changes (a scheduled campaign starting, any campaign reaching
// ends_at) are computed by StatusAt rather than stored by a cron job, so a
// campaign is live exactly in its window even if a worker is late.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// Status is a campaign's state.
type Status string

// Campaign states.
const (
	StatusDraft     Status = "draft"
	StatusScheduled Status = "scheduled"
	StatusActive    Status = "active"
	StatusPaused    Status = "paused"
	StatusEnded     Status = "ended"
)

// Action is a marketer's command on a campaign's state.
type Action string

// Campaign actions.
const (
	ActionSchedule Action = "schedule"
	ActionActivate Action = "activate"
	ActionPause    Action = "pause"
	ActionEnd      Action = "end"
)

// ErrNotFound is returned by a Repository when no campaign matches.
var ErrNotFound = errors.New("campaign not found")

// TransitionError says an action is not allowed in the campaign's current
// state; ports map it to FailedPrecondition.
type TransitionError struct {
	From   Status
	Action Action
	Why    string
}

// Error implements error.
func (e *TransitionError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("cannot %s a %s campaign: %s", e.Action, e.From, e.Why)
	}
	return fmt.Sprintf("cannot %s a %s campaign", e.Action, e.From)
}

// Limits on configuration, chosen to catch typos rather than to restrict.
const (
	MaxNameLength        = 200
	MaxAttributionWindow = 365 * 24 * time.Hour
	MaxHoldPeriod        = 365 * 24 * time.Hour
	MaxTiers             = 20
)

// Campaign is a referral program with its terms.
type Campaign struct {
	ID   string
	Name string
	// Description is free text for marketers.
	Description string
	Status      Status
	// StartsAt and EndsAt bound when the campaign accepts clicks, sign-ups
	// and conversions; zero means open-ended.
	StartsAt time.Time
	EndsAt   time.Time

	ReferrerReward Plan
	FriendReward   reward.Spec

	Conditions  Conditions
	Eligibility Eligibility
	Caps        Caps
	// Currency is the one currency of every amount in the campaign (coupon
	// values, minimum order value, money budget). Orders in another currency
	// do not qualify, which keeps budget arithmetic in a single currency.
	// Required when any amount is configured; empty for points-only campaigns.
	Currency string
	// HoldPeriod delays payment until the friend's order is past its return
	// window; a refund or cancellation inside it voids the rewards.
	HoldPeriod time.Duration
	// NudgeAfter is how long after sign-up without an order a friend gets
	// one ReferralNudgeDue; zero disables nudges.
	NudgeAfter time.Duration
	// ShareBaseURL is the storefront URL that share links are built on.
	ShareBaseURL string
	// AttributionModel picks the touch a sign-up is credited to when the
	// friend clicked several links; empty (campaigns stored before the
	// field existed) means last click.
	AttributionModel attribution.Model

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Plan is the referrer's reward: a base reward, optionally replaced by
// larger ones as the referrer's count of successful referrals grows.
type Plan struct {
	Base reward.Spec
	// Tiers are sorted by MinConversions ascending; see RewardFor.
	Tiers []Tier
}

// Tier is a reward that applies from the MinConversions-th successful
// referral on (counting the one being rewarded).
type Tier struct {
	MinConversions int
	Reward         reward.Spec
}

// RewardFor returns the reward for the referrer's nth successful referral
// (n counts this one, so the first conversion is n = 1): the reward of the
// highest tier whose MinConversions ≤ n, else Base. Tiers raise the reward of
// later referrals, never retroactively of earlier ones.
func (p Plan) RewardFor(n int) reward.Spec {
	out := p.Base
	for _, t := range p.Tiers {
		if t.MinConversions <= n {
			out = t.Reward
		}
	}
	return out
}

// NextMilestone returns the first tier above the referrer's current count
// of successful referrals, for progress display; ok is false when the
// referrer is at the top.
func (p Plan) NextMilestone(converted int) (Tier, bool) {
	for _, t := range p.Tiers {
		if t.MinConversions > converted {
			return t, true
		}
	}
	return Tier{}, false
}

func (p Plan) validate() error {
	var c validation.Collector
	c.Nest("base", p.Base.Validate())
	if len(p.Tiers) > MaxTiers {
		c.Add("tiers", "at most %d tiers, got %d", MaxTiers, len(p.Tiers))
	}
	for i, t := range p.Tiers {
		f := fmt.Sprintf("tiers[%d]", i)
		if t.MinConversions < 1 {
			c.Add(f+".min_conversions", "must be at least 1, got %d", t.MinConversions)
		}
		if i > 0 && t.MinConversions <= p.Tiers[i-1].MinConversions {
			c.Add(f+".min_conversions", "must be greater than the previous tier's %d", p.Tiers[i-1].MinConversions)
		}
		if t.Reward.IsZero() {
			c.Add(f+".reward", "is required")
		}
		c.Nest(f+".reward", t.Reward.Validate())
	}
	return c.Err()
}

// IsZero reports whether the plan pays nothing at all.
func (p Plan) IsZero() bool { return p.Base.IsZero() && len(p.Tiers) == 0 }

// WindowAnchor says what the attribution window is measured from.
type WindowAnchor string

// Window anchors.
const (
	// FromClick measures from the click (or the sign-up when the code was
	// typed in without a click).
	FromClick WindowAnchor = "click"
	// FromSignUp measures from the friend's sign-up.
	FromSignUp WindowAnchor = "signup"
)

// Conditions are what the friend's order must meet to convert the referral.
type Conditions struct {
	// FirstOrderOnly: only the friend's first order ever can convert; if it
	// does not qualify, the referral is rejected (not_first_order). Without
	// it the first qualifying order converts.
	FirstOrderOnly bool
	// MinOrderValue is the smallest order value that qualifies; zero = any.
	MinOrderValue money.Money
	// AttributionWindow is how long after the anchor an order still
	// converts; zero means no limit.
	AttributionWindow time.Duration
	WindowFrom        WindowAnchor
}

// Eligibility restricts who may refer. Empty fields impose nothing.
type Eligibility struct {
	// Segments: the referrer must be in at least one of them.
	Segments []string
	// RequireOrder: the referrer must have placed at least one order.
	RequireOrder bool
	// Tiers: the referrer's loyalty tier must be one of them.
	Tiers []string
}

// Caps bound what a campaign pays.
type Caps struct {
	// RewardsPerReferrer caps rewarded referrals per referrer; 0 = unlimited.
	RewardsPerReferrer int
	// BudgetPoints caps the points paid in total; 0 = unlimited.
	BudgetPoints int64
	// BudgetMoney caps the coupon value paid in total; zero = unlimited.
	BudgetMoney money.Money
}

// NewParams are the marketer's inputs for a new campaign.
type NewParams struct {
	ID             string
	Name           string
	Description    string
	StartsAt       time.Time
	EndsAt         time.Time
	ReferrerReward Plan
	FriendReward   reward.Spec
	Conditions     Conditions
	Eligibility    Eligibility
	Caps           Caps
	Currency       string
	HoldPeriod     time.Duration
	NudgeAfter     time.Duration
	ShareBaseURL   string
	// AttributionModel defaults to last click.
	AttributionModel attribution.Model
}

// New validates p and returns a draft campaign.
func New(p NewParams, now time.Time) (Campaign, error) {
	c := Campaign{
		ID: p.ID, Name: p.Name, Description: p.Description, Status: StatusDraft, StartsAt: p.StartsAt, EndsAt: p.EndsAt,
		ReferrerReward: p.ReferrerReward, FriendReward: p.FriendReward,
		Conditions: p.Conditions, Eligibility: p.Eligibility, Caps: p.Caps, Currency: p.Currency,
		HoldPeriod: p.HoldPeriod, NudgeAfter: p.NudgeAfter, ShareBaseURL: p.ShareBaseURL,
		AttributionModel: p.AttributionModel,
		CreatedAt:        now, UpdatedAt: now,
	}
	if c.AttributionModel == "" {
		c.AttributionModel = attribution.LastClick
	}
	if c.Conditions.WindowFrom == "" {
		c.Conditions.WindowFrom = FromClick
	}
	if err := c.Validate(); err != nil {
		return Campaign{}, err
	}
	return c, nil
}

// Validate checks every field and reports all violations at once.
func (c Campaign) Validate() error {
	var v validation.Collector
	if c.ID == "" {
		v.Add("id", "is required")
	}
	if c.Name == "" || len(c.Name) > MaxNameLength {
		v.Add("name", "must have 1 to %d characters", MaxNameLength)
	}
	if !c.StartsAt.IsZero() && !c.EndsAt.IsZero() && !c.EndsAt.After(c.StartsAt) {
		v.Add("ends_at", "must be after starts_at")
	}
	if c.ReferrerReward.IsZero() && c.FriendReward.IsZero() {
		v.Add("referrer_reward", "a campaign must reward the referrer, the friend or both")
	}
	v.Nest("referrer_reward", c.ReferrerReward.validate())
	v.Nest("friend_reward", c.FriendReward.Validate())
	if !c.Conditions.MinOrderValue.IsZero() {
		v.Nest("conditions.min_order_value", c.Conditions.MinOrderValue.Validate())
	}
	if c.Conditions.AttributionWindow < 0 || c.Conditions.AttributionWindow > MaxAttributionWindow {
		v.Add("conditions.attribution_window", "must be between 0 and %s", MaxAttributionWindow)
	}
	if c.Conditions.WindowFrom != FromClick && c.Conditions.WindowFrom != FromSignUp {
		v.Add("conditions.window_from", "must be click or signup, got %q", c.Conditions.WindowFrom)
	}
	switch c.AttributionModel {
	case "", attribution.LastClick, attribution.FirstClick:
	default:
		v.Add("attribution_model", "must be %s or %s, got %q", attribution.LastClick, attribution.FirstClick, c.AttributionModel)
	}
	if c.Caps.RewardsPerReferrer < 0 {
		v.Add("caps.rewards_per_referrer", "must not be negative")
	}
	if c.Caps.BudgetPoints < 0 {
		v.Add("caps.budget_points", "must not be negative")
	}
	if !c.Caps.BudgetMoney.IsZero() {
		v.Nest("caps.budget_money", c.Caps.BudgetMoney.Validate())
	}
	c.validateCurrency(&v)
	if c.HoldPeriod < 0 || c.HoldPeriod > MaxHoldPeriod {
		v.Add("hold_period", "must be between 0 and %s", MaxHoldPeriod)
	}
	if c.NudgeAfter < 0 {
		v.Add("nudge_after", "must not be negative")
	}
	if slices.Contains(c.Eligibility.Segments, "") {
		v.Add("eligibility.segments", "must not contain empty ids")
	}
	if slices.Contains(c.Eligibility.Tiers, "") {
		v.Add("eligibility.tiers", "must not contain empty ids")
	}
	return v.Err()
}

// validateCurrency enforces the single campaign currency.
func (c Campaign) validateCurrency(v *validation.Collector) {
	amounts := map[string]money.Money{
		"conditions.min_order_value": c.Conditions.MinOrderValue,
		"caps.budget_money":          c.Caps.BudgetMoney,
	}
	specs := map[string]reward.Spec{"friend_reward": c.FriendReward, "referrer_reward.base": c.ReferrerReward.Base}
	for i, t := range c.ReferrerReward.Tiers {
		specs[fmt.Sprintf("referrer_reward.tiers[%d].reward", i)] = t.Reward
	}
	for field, s := range specs {
		switch s.Kind {
		case reward.KindFixedDiscount:
			amounts[field+".amount"] = s.Amount
		case reward.KindPercentDiscount:
			amounts[field+".max_discount"] = s.MaxDiscount
			if s.MaxDiscount.IsZero() && !c.Caps.BudgetMoney.IsZero() {
				// An uncapped percent coupon has no known cost, so a money
				// budget could not be guaranteed.
				v.Add(field+".max_discount", "is required when the campaign has a money budget")
			}
		}
	}
	needed := false
	for _, field := range slices.Sorted(maps.Keys(amounts)) {
		m := amounts[field]
		if m.IsZero() {
			continue
		}
		needed = true
		if c.Currency != "" && m.Currency != c.Currency {
			v.Add(field+".currency", "must be the campaign currency %s, got %q", c.Currency, m.Currency)
		}
	}
	switch {
	case c.Currency != "" && !money.ValidCurrency(c.Currency):
		v.Add("currency", "must be an ISO 4217 code of three upper-case letters, got %q", c.Currency)
	case c.Currency == "" && needed:
		v.Add("currency", "is required when the campaign has amounts")
	}
}

// StatusAt is the effective status at now: a scheduled campaign whose
// StartsAt has come is active, and any campaign past EndsAt is ended.
func (c Campaign) StatusAt(now time.Time) Status {
	if c.Status == StatusEnded || (!c.EndsAt.IsZero() && !now.Before(c.EndsAt)) {
		return StatusEnded
	}
	if c.Status == StatusScheduled && !c.StartsAt.IsZero() && !now.Before(c.StartsAt) {
		return StatusActive
	}
	return c.Status
}

// Model is the campaign's attribution model, last click when unset.
func (c Campaign) Model() attribution.Model {
	if c.AttributionModel == "" {
		return attribution.LastClick
	}
	return c.AttributionModel
}

// LiveAt reports whether the campaign accepts clicks, sign-ups and
// conversions at t (an event's occurrence time).
func (c Campaign) LiveAt(t time.Time) bool {
	if c.StatusAt(t) != StatusActive {
		return false
	}
	return c.StartsAt.IsZero() || !t.Before(c.StartsAt)
}

// Apply performs a marketer action at now, or returns a *TransitionError.
// The stored status is first brought up to date with StatusAt so that, for
// example, pausing a scheduled campaign that has already started works.
func (c *Campaign) Apply(a Action, now time.Time) error {
	from := c.StatusAt(now)
	fail := func(why string) error { return &TransitionError{From: from, Action: a, Why: why} }
	var to Status
	switch a {
	case ActionSchedule:
		if from != StatusDraft {
			return fail("only a draft can be scheduled")
		}
		if c.StartsAt.IsZero() || !c.StartsAt.After(now) {
			return fail("starts_at must be in the future")
		}
		to = StatusScheduled
	case ActionActivate:
		if from != StatusDraft && from != StatusScheduled && from != StatusPaused {
			return fail("")
		}
		to = StatusActive
		if !c.StartsAt.IsZero() && c.StartsAt.After(now) {
			// Activating early starts the campaign now: the marketer's
			// explicit command wins over the planned start.
			c.StartsAt = now
		}
	case ActionPause:
		if from != StatusActive {
			return fail("only an active campaign can be paused")
		}
		to = StatusPaused
	case ActionEnd:
		if from == StatusEnded {
			return fail("")
		}
		to = StatusEnded
		if c.EndsAt.IsZero() || c.EndsAt.After(now) {
			c.EndsAt = now
		}
	default:
		return fail("unknown action")
	}
	c.Status = to
	c.UpdatedAt = now
	return nil
}

// Repository stores campaigns.
type Repository interface {
	Create(ctx context.Context, c Campaign) error
	Get(ctx context.Context, id string) (Campaign, error)
	// Update loads the campaign FOR UPDATE, applies fn and saves it in the
	// caller's transaction; serializing on the campaign row is also what
	// keeps the budget exact under concurrent conversions.
	Update(ctx context.Context, id string, fn func(*Campaign, *Budget) error) error
	List(ctx context.Context, pageSize int, pageToken string) ([]Campaign, string, error)
}
