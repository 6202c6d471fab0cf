// Package reward describes what a referral pays (points or a discount
// coupon), derives the stable id that makes paying idempotent across
// services, and runs a reward's lifecycle from pending (inside the hold
// period) to payable, paid or voided.
package reward

import (
	"fmt"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

// Kind is what a reward gives.
type Kind string

// Reward kinds.
const (
	// KindPoints credits loyalty points through the loyalty service.
	KindPoints Kind = "points"
	// KindFixedDiscount issues a coupon worth a fixed amount.
	KindFixedDiscount Kind = "fixed_discount"
	// KindPercentDiscount issues a coupon for a percentage off, optionally capped.
	KindPercentDiscount Kind = "percent_discount"
)

// MaxPoints bounds a single points reward; larger values are almost surely
// a typo (an amount in minor units entered as points) and would drain a
// budget in one conversion.
const MaxPoints = 10_000_000

// Spec is one reward as configured on a campaign or a partner code.
type Spec struct {
	Kind Kind
	// Points is the points credited for KindPoints.
	Points int64
	// Amount is the coupon value for KindFixedDiscount.
	Amount money.Money
	// PercentBps is the discount in basis points (1000 = 10 %) for KindPercentDiscount.
	PercentBps int64
	// MaxDiscount optionally caps a percent coupon; it is also what the
	// coupon costs the budget (see Cost).
	MaxDiscount money.Money
	// CouponPool names the pool of pre-generated coupon codes that discount
	// rewards draw from; the pool itself is managed by the app layer.
	CouponPool string
}

// Points returns a points reward spec.
func Points(n int64) Spec { return Spec{Kind: KindPoints, Points: n} }

// IsZero reports whether no reward is configured (a one-sided campaign).
func (s Spec) IsZero() bool { return s.Kind == "" }

// Validate checks s; the zero Spec is valid and means "no reward".
func (s Spec) Validate() error {
	var c validation.Collector
	switch s.Kind {
	case "":
		return nil
	case KindPoints:
		if s.Points <= 0 || s.Points > MaxPoints {
			c.Add("points", "must be between 1 and %d, got %d", MaxPoints, s.Points)
		}
	case KindFixedDiscount:
		c.Nest("amount", s.Amount.Validate())
		if s.Amount.Minor == 0 {
			c.Add("amount.minor", "must be positive")
		}
		if s.CouponPool == "" {
			c.Add("coupon_pool", "is required for a discount reward")
		}
	case KindPercentDiscount:
		if s.PercentBps <= 0 || s.PercentBps > 10000 {
			c.Add("percent_bps", "must be between 1 and 10000 basis points, got %d", s.PercentBps)
		}
		if !s.MaxDiscount.IsZero() {
			c.Nest("max_discount", s.MaxDiscount.Validate())
		}
		if s.CouponPool == "" {
			c.Add("coupon_pool", "is required for a discount reward")
		}
	default:
		c.Add("kind", "must be one of points, fixed_discount, percent_discount, got %q", s.Kind)
	}
	return c.Err()
}

// Cost is what a reward consumes from a campaign budget: points, money, or
// both across the rewards of one conversion.
type Cost struct {
	Points int64
	Money  money.Money
}

// Add sums two costs; money in different currencies is an error because a
// campaign budget has one currency.
func (c Cost) Add(o Cost) (Cost, error) {
	m, err := c.Money.Add(o.Money)
	if err != nil {
		return Cost{}, fmt.Errorf("add reward costs: %w", err)
	}
	return Cost{Points: c.Points + o.Points, Money: m}, nil
}

// IsZero reports whether the cost is nothing.
func (c Cost) IsZero() bool { return c.Points == 0 && c.Money.Minor == 0 }

// Cost is what paying s for an order of orderValue consumes. A percent
// coupon's real value is unknown until it is redeemed, so it is charged at
// its cap when it has one and otherwise at the percentage of the qualifying
// order, a documented estimate that keeps the budget conservative for the
// typical "same basket again" case.
func (s Spec) Cost(orderValue money.Money) Cost {
	switch s.Kind {
	case KindPoints:
		return Cost{Points: s.Points}
	case KindFixedDiscount:
		return Cost{Money: s.Amount}
	case KindPercentDiscount:
		if !s.MaxDiscount.IsZero() {
			return Cost{Money: s.MaxDiscount}
		}
		return Cost{Money: orderValue.Percent(s.PercentBps)}
	}
	return Cost{}
}

// String describes s for logs and evidence, e.g. "500 points".
func (s Spec) String() string {
	switch s.Kind {
	case KindPoints:
		return fmt.Sprintf("%d points", s.Points)
	case KindFixedDiscount:
		return fmt.Sprintf("%s off", s.Amount)
	case KindPercentDiscount:
		if s.MaxDiscount.IsZero() {
			return fmt.Sprintf("%d bps off", s.PercentBps)
		}
		return fmt.Sprintf("%d bps off up to %s", s.PercentBps, s.MaxDiscount)
	}
	return "no reward"
}
