// Package reward is the rewards catalog and the rules for redeeming from
// it: cost, stock, validity window, per-member limits and tier restriction.
// Check answers "may this member redeem this reward now" with a typed
// reason, which both the Redeem command and the "what can I get" view use,
// so the two never disagree.
package reward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// Type is what a reward gives; values match loyalty.v1.RewardType.
type Type int

// Types.
const (
	TypeUnspecified Type = iota
	TypeFixedDiscount
	TypePercentDiscount
	TypeFreeProduct
	TypeCoupon
)

// Status is the catalog lifecycle; values match loyalty.v1.ConfigStatus.
type Status int

// Statuses; only active rewards can be redeemed.
const (
	StatusUnspecified Status = iota
	StatusDraft
	StatusActive
	StatusPaused
	StatusArchived
)

// Reasons a redemption is refused; all map to FailedPrecondition except
// ErrNotFound (NotFound) and validation errors.
var (
	ErrNotFound        = errors.New("reward not found")
	ErrNotActive       = errors.New("reward is not active")
	ErrNotYetValid     = errors.New("reward is not valid yet")
	ErrExpired         = errors.New("reward has expired")
	ErrOutOfStock      = errors.New("reward is out of stock")
	ErrMemberLimit     = errors.New("member has reached the limit for this reward")
	ErrTierRestricted  = errors.New("reward is restricted to other tiers")
	ErrNotEnoughPoints = errors.New("not enough points for this reward")
	ErrCouponPoolEmpty = errors.New("no coupon codes left")
)

// Reward is a catalog item bought with points.
type Reward struct {
	ID          string
	Name        string
	Description string
	Type        Type
	// Cost in points.
	Cost int64
	// Discount for TypeFixedDiscount.
	Discount money.Money
	// Percent (1..100) for TypePercentDiscount.
	Percent int32
	// SKU given for TypeFreeProduct.
	SKU string
	// Stock left; nil means unlimited. For coupons, stock is the pool size.
	Stock *int64
	// ValidFrom and ValidUntil bound when it can be redeemed (until is exclusive; zero = open).
	ValidFrom  time.Time
	ValidUntil time.Time
	// PerMemberLimit redemptions per member; 0 = no limit.
	PerMemberLimit int64
	// TierIDs that may redeem; empty = everyone.
	TierIDs []string
	Status  Status
	// CouponValidity is how long an issued discount or coupon can be used.
	CouponValidity time.Duration
}

// Validate checks a catalog entry.
func (r Reward) Validate() error {
	var c validation.Collector
	c.Check(strings.TrimSpace(r.Name) != "", "name", "is required")
	c.Check(r.Cost > 0, "points_cost", "must be positive, got %d", r.Cost)
	switch r.Type {
	case TypeFixedDiscount:
		c.Check(r.Discount.Amount > 0 && money.ValidCurrency(r.Discount.Currency), "discount", "must be a positive amount with a currency")
	case TypePercentDiscount:
		c.Check(r.Percent >= 1 && r.Percent <= 100, "percent", "must be between 1 and 100, got %d", r.Percent)
	case TypeFreeProduct:
		c.Check(r.SKU != "", "sku", "is required for a free product")
	case TypeCoupon:
	default:
		c.Add("type", "is required")
	}
	c.Check(r.Stock == nil || *r.Stock >= 0, "stock", "must not be negative")
	c.Check(r.PerMemberLimit >= 0, "per_member_limit", "must not be negative")
	c.Check(r.ValidUntil.IsZero() || r.ValidUntil.After(r.ValidFrom), "valid_until", "must be after valid_from")
	c.Check(r.CouponValidity >= 0, "coupon_validity", "must not be negative")
	return c.Err()
}

// Member is what eligibility needs to know about the member.
type Member struct {
	TierID string
	// Available points now.
	Available int64
	// Redeemed is how many times the member redeemed this reward.
	Redeemed int64
}

// Check says whether member may redeem r at now; nil means yes. The first
// failing rule is returned, in an order that gives the most useful message
// (a sold-out reward says so before "not enough points").
func (r Reward) Check(m Member, now time.Time) error {
	switch {
	case r.Status != StatusActive:
		return fmt.Errorf("reward %s: %w", r.ID, ErrNotActive)
	case now.Before(r.ValidFrom):
		return fmt.Errorf("reward %s from %s: %w", r.ID, r.ValidFrom, ErrNotYetValid)
	case !r.ValidUntil.IsZero() && !now.Before(r.ValidUntil):
		return fmt.Errorf("reward %s until %s: %w", r.ID, r.ValidUntil, ErrExpired)
	case r.Stock != nil && *r.Stock <= 0:
		return fmt.Errorf("reward %s: %w", r.ID, ErrOutOfStock)
	case len(r.TierIDs) > 0 && !slices.Contains(r.TierIDs, m.TierID):
		return fmt.Errorf("reward %s for tiers %v: %w", r.ID, r.TierIDs, ErrTierRestricted)
	case r.PerMemberLimit > 0 && m.Redeemed >= r.PerMemberLimit:
		return fmt.Errorf("reward %s limit %d: %w", r.ID, r.PerMemberLimit, ErrMemberLimit)
	case m.Available < r.Cost:
		return fmt.Errorf("reward %s costs %d, member has %d: %w", r.ID, r.Cost, m.Available, ErrNotEnoughPoints)
	}
	return nil
}

// Visible reports whether the reward belongs in a member's catalog at all
// (active, in its window, for their tier), even if they cannot afford it.
func (r Reward) Visible(tierID string, now time.Time) bool {
	err := r.Check(Member{TierID: tierID, Available: r.Cost}, now)
	return err == nil || errors.Is(err, ErrOutOfStock) || errors.Is(err, ErrMemberLimit)
}

// TakeStock decrements limited stock by one. The app layer must persist it
// under the reward's row lock (or as a conditional update) so concurrent
// redemptions cannot oversell.
func (r *Reward) TakeStock() error {
	if r.Stock == nil {
		return nil
	}
	if *r.Stock <= 0 {
		return fmt.Errorf("reward %s: %w", r.ID, ErrOutOfStock)
	}
	n := *r.Stock - 1
	r.Stock = &n
	return nil
}

// ReturnStock gives one unit back when a redemption is reversed.
func (r *Reward) ReturnStock() {
	if r.Stock != nil {
		n := *r.Stock + 1
		r.Stock = &n
	}
}

// Issued is what a redemption hands the member.
type Issued struct {
	RewardID string
	Type     Type
	// Code is the coupon from the pool (TypeCoupon) or a generated
	// discount code.
	Code      string
	Discount  money.Money
	Percent   int32
	SKU       string
	ExpiresAt time.Time
}

// Issue builds what the member receives; code comes from the app layer (a
// pool row taken with FOR UPDATE SKIP LOCKED for coupons, a random code
// otherwise).
func (r Reward) Issue(code string, now time.Time) (Issued, error) {
	if code == "" {
		if r.Type == TypeCoupon {
			return Issued{}, fmt.Errorf("reward %s: %w", r.ID, ErrCouponPoolEmpty)
		}
		return Issued{}, fmt.Errorf("reward %s: issue needs a code", r.ID)
	}
	is := Issued{RewardID: r.ID, Type: r.Type, Code: code, Discount: r.Discount, Percent: r.Percent, SKU: r.SKU}
	if r.CouponValidity > 0 {
		is.ExpiresAt = now.Add(r.CouponValidity)
	}
	return is, nil
}

// Repository persists the catalog.
type Repository interface {
	Get(ctx context.Context, id string) (Reward, error)
	// Update runs fn on the reward under a row lock.
	Update(ctx context.Context, id string, fn func(*Reward) error) error
	// Active lists rewards that may be visible at now.
	Active(ctx context.Context, now time.Time) ([]Reward, error)
	// RedeemedCount is how many times member redeemed the reward (not reversed).
	RedeemedCount(ctx context.Context, memberID, rewardID string) (int64, error)
	// TakeCoupon removes one unused code from the reward's pool ("" when empty).
	TakeCoupon(ctx context.Context, rewardID string) (string, error)
}
