package campaign

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// Order is what the conditions look at in a friend's order.
type Order struct {
	ID       string
	Value    money.Money
	PlacedAt time.Time
	// First reports whether this is the friend's first order ever, as
	// known from the commerce events.
	First bool
}

// Verdict is the outcome of checking an order against the conditions.
type Verdict int

// Verdicts.
const (
	// Qualifies: the order converts the referral.
	Qualifies Verdict = iota + 1
	// Wait: this order does not qualify but a later one still may.
	Wait
	// Reject: the referral can no longer convert; see the rejection.
	Reject
)

// String names the verdict for logs.
func (v Verdict) String() string {
	switch v {
	case Qualifies:
		return "qualifies"
	case Wait:
		return "wait"
	case Reject:
		return "reject"
	}
	return "unknown"
}

// WindowEnd is when the attribution window closes for a referral clicked at
// clickedAt (zero when the code was typed in) and signed up at signedUpAt;
// ok is false for an unlimited window.
func (c Conditions) WindowEnd(clickedAt, signedUpAt time.Time) (end time.Time, ok bool) {
	if c.AttributionWindow == 0 {
		return time.Time{}, false
	}
	anchor := signedUpAt
	if c.WindowFrom != FromSignUp && !clickedAt.IsZero() {
		anchor = clickedAt
	}
	return anchor.Add(c.AttributionWindow), true
}

// Evaluate checks a friend's order against the conditions of a campaign in
// currency (empty for points-only campaigns). The window is checked first
// because once it has closed no later order can help; then the order's
// currency and value, which under FirstOrderOnly reject and otherwise wait
// for a later order. Orders placed before the sign-up are ignored (Wait):
// they are the existing-customer rule's business, not a conversion.
func (c Conditions) Evaluate(currency string, o Order, clickedAt, signedUpAt time.Time) (Verdict, *rejection.Rejection) {
	const rule = "conditions"
	if o.PlacedAt.Before(signedUpAt) {
		return Wait, nil
	}
	if end, ok := c.WindowEnd(clickedAt, signedUpAt); ok && o.PlacedAt.After(end) {
		return Reject, rejection.New(rejection.AttributionWindowExpired, rule, o.PlacedAt,
			"order_id", o.ID, "order_placed_at", o.PlacedAt.UTC().Format(time.RFC3339),
			"window_end", end.UTC().Format(time.RFC3339), "window_from", string(c.WindowFrom))
	}
	if c.FirstOrderOnly && !o.First {
		return Reject, rejection.New(rejection.NotFirstOrder, rule, o.PlacedAt, "order_id", o.ID, "first_order", "false")
	}
	why := ""
	switch {
	case currency != "" && o.Value.Currency != currency:
		why = fmt.Sprintf("order currency %s is not the campaign currency %s", o.Value.Currency, currency)
	case !c.MinOrderValue.IsZero() && o.Value.Minor < c.MinOrderValue.Minor:
		why = fmt.Sprintf("order value %s is below the minimum %s", o.Value, c.MinOrderValue)
	}
	if why == "" {
		return Qualifies, nil
	}
	if c.FirstOrderOnly {
		return Reject, rejection.New(rejection.NotFirstOrder, rule, o.PlacedAt,
			"order_id", o.ID, "order_value", o.Value.String(), "min_order_value", c.MinOrderValue.String(), "detail", why)
	}
	return Wait, nil
}

// ReferrerFacts are what eligibility looks at, gathered by the app layer
// from commerce, segmentation and loyalty events.
type ReferrerFacts struct {
	Segments   []string
	OrderCount int
	Tier       string
}

// Check returns nil when the referrer may refer, else a rejection naming
// the first unmet requirement with the facts it saw.
func (e Eligibility) Check(customerID string, f ReferrerFacts, at time.Time) *rejection.Rejection {
	const rule = "referrer_eligibility"
	if len(e.Segments) > 0 && !slices.ContainsFunc(f.Segments, func(s string) bool { return slices.Contains(e.Segments, s) }) {
		return rejection.New(rejection.ReferrerIneligible, rule, at, "referrer_id", customerID,
			"requirement", "segment", "required_any", fmt.Sprint(e.Segments), "referrer_segments", fmt.Sprint(f.Segments))
	}
	if e.RequireOrder && f.OrderCount < 1 {
		return rejection.New(rejection.ReferrerIneligible, rule, at, "referrer_id", customerID,
			"requirement", "has_order", "order_count", strconv.Itoa(f.OrderCount))
	}
	if len(e.Tiers) > 0 && !slices.Contains(e.Tiers, f.Tier) {
		return rejection.New(rejection.ReferrerIneligible, rule, at, "referrer_id", customerID,
			"requirement", "tier", "required_any", fmt.Sprint(e.Tiers), "referrer_tier", f.Tier)
	}
	return nil
}

// ErrBudgetAccounting is returned when a budget operation is inconsistent
// (releasing more than was spent, a foreign currency); it indicates a bug,
// not a business outcome.
var ErrBudgetAccounting = errors.New("campaign budget accounting error")

// Budget is a campaign's spend against its caps. It is stored with the
// campaign row and changed only under that row's lock, which is what keeps
// it exact when many conversions race.
type Budget struct {
	LimitPoints int64
	SpentPoints int64
	LimitMoney  money.Money
	SpentMoney  money.Money
}

// BudgetFor returns an empty budget with the campaign's limits.
func (c Campaign) BudgetFor() Budget {
	return Budget{LimitPoints: c.Caps.BudgetPoints, LimitMoney: c.Caps.BudgetMoney}
}

// Reserve adds cost to the spend if it fits both limits; otherwise it
// changes nothing and returns a *rejection.Rejection (budget_exhausted)
// with the limit, the spend and the cost as evidence. All-or-nothing: a
// conversion whose two rewards fit only partly pays neither.
func (b *Budget) Reserve(cost reward.Cost, at time.Time) error {
	if cost.Points < 0 || cost.Money.Minor < 0 {
		return fmt.Errorf("reserve negative cost %d points, %s: %w", cost.Points, cost.Money, ErrBudgetAccounting)
	}
	points := b.SpentPoints + cost.Points
	spent, err := b.SpentMoney.Add(cost.Money)
	if err != nil {
		return fmt.Errorf("reserve %s: %w: %w", cost.Money, ErrBudgetAccounting, err)
	}
	if !b.LimitMoney.IsZero() && !cost.Money.IsZero() && cost.Money.Currency != b.LimitMoney.Currency {
		return fmt.Errorf("reserve %s against a %s budget: %w", cost.Money, b.LimitMoney.Currency, ErrBudgetAccounting)
	}
	overPoints := b.LimitPoints > 0 && points > b.LimitPoints
	overMoney := !b.LimitMoney.IsZero() && spent.Minor > b.LimitMoney.Minor
	if overPoints || overMoney {
		return rejection.New(rejection.BudgetExhausted, "campaign_budget", at,
			"limit_points", strconv.FormatInt(b.LimitPoints, 10), "spent_points", strconv.FormatInt(b.SpentPoints, 10),
			"cost_points", strconv.FormatInt(cost.Points, 10),
			"limit_money", b.LimitMoney.String(), "spent_money", b.SpentMoney.String(), "cost_money", cost.Money.String())
	}
	b.SpentPoints = points
	b.SpentMoney = spent
	return nil
}

// Release returns a voided reward's cost to the budget.
func (b *Budget) Release(cost reward.Cost) error {
	if cost.Points > b.SpentPoints || cost.Money.Minor > b.SpentMoney.Minor {
		return fmt.Errorf("release %d points, %s from spend %d points, %s: %w",
			cost.Points, cost.Money, b.SpentPoints, b.SpentMoney, ErrBudgetAccounting)
	}
	spent, err := b.SpentMoney.Sub(cost.Money)
	if err != nil {
		return fmt.Errorf("release %s: %w: %w", cost.Money, ErrBudgetAccounting, err)
	}
	b.SpentPoints -= cost.Points
	b.SpentMoney = spent
	return nil
}
