package reward

import (
	"errors"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func stock(n int64) *int64 { return &n }

func base() Reward {
	return Reward{ID: "r1", Name: "5 EUR off", Type: TypeFixedDiscount, Cost: 500, Discount: money.New(500, "EUR"),
		Status: StatusActive, ValidFrom: t0.AddDate(0, -1, 0), ValidUntil: t0.AddDate(0, 1, 0), Stock: stock(10),
		PerMemberLimit: 2, TierIDs: []string{"silver", "gold"}}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ok := Member{TierID: "gold", Available: 600, Redeemed: 1}
	tests := []struct {
		name   string
		mod    func(*Reward)
		member Member
		now    time.Time
		want   error
	}{
		{"an eligible member may redeem", func(*Reward) {}, ok, t0, nil},
		{"a paused reward cannot be redeemed", func(r *Reward) { r.Status = StatusPaused }, ok, t0, ErrNotActive},
		{"a reward before its window cannot be redeemed", func(*Reward) {}, ok, t0.AddDate(0, -2, 0), ErrNotYetValid},
		{"a reward at the end of its window has expired", func(*Reward) {}, ok, t0.AddDate(0, 1, 0), ErrExpired},
		{"a sold-out reward cannot be redeemed", func(r *Reward) { r.Stock = stock(0) }, ok, t0, ErrOutOfStock},
		{"unlimited stock never runs out", func(r *Reward) { r.Stock = nil }, ok, t0, nil},
		{"another tier is refused", func(*Reward) {}, Member{TierID: "bronze", Available: 600}, t0, ErrTierRestricted},
		{"the member limit is enforced", func(*Reward) {}, Member{TierID: "gold", Available: 600, Redeemed: 2}, t0, ErrMemberLimit},
		{"too few points are refused", func(*Reward) {}, Member{TierID: "gold", Available: 499}, t0, ErrNotEnoughPoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tt.mod(&r)
			if err := r.Check(tt.member, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("expected %v, got %v", tt.want, err)
			}
		})
	}
}

func TestStockAndIssue(t *testing.T) {
	t.Parallel()
	r := base()
	r.Stock = stock(1)
	if err := r.TakeStock(); err != nil || *r.Stock != 0 {
		t.Fatalf("expected stock 0 after taking the last unit, got %d (%v)", *r.Stock, err)
	}
	if err := r.TakeStock(); !errors.Is(err, ErrOutOfStock) {
		t.Errorf("expected ErrOutOfStock, got %v", err)
	}
	r.ReturnStock()
	if *r.Stock != 1 {
		t.Errorf("expected a returned unit, got %d", *r.Stock)
	}
	c := Reward{ID: "c", Name: "coupon", Type: TypeCoupon, Cost: 10, CouponValidity: 24 * time.Hour}
	if _, err := c.Issue("", t0); !errors.Is(err, ErrCouponPoolEmpty) {
		t.Errorf("expected an empty pool to be reported, got %v", err)
	}
	is, err := c.Issue("SAVE-123", t0)
	if err != nil || is.Code != "SAVE-123" || !is.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("expected coupon SAVE-123 valid for a day, got %+v (%v)", is, err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mod   func(*Reward)
		valid bool
	}{
		{"a complete reward is valid", func(*Reward) {}, true},
		{"a zero cost is invalid", func(r *Reward) { r.Cost = 0 }, false},
		{"a percent above 100 is invalid", func(r *Reward) { r.Type = TypePercentDiscount; r.Percent = 101 }, false},
		{"a free product needs a sku", func(r *Reward) { r.Type = TypeFreeProduct }, false},
		{"negative stock is invalid", func(r *Reward) { r.Stock = stock(-1) }, false},
		{"a window ending before it starts is invalid", func(r *Reward) { r.ValidUntil = r.ValidFrom }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tt.mod(&r)
			if err := r.Validate(); (err == nil) != tt.valid {
				t.Errorf("expected valid=%v, got %v", tt.valid, err)
			}
		})
	}
}

func TestRedemptionReverse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  RedemptionStatus
		wantErr error
	}{
		{"a completed redemption can be reversed", RedemptionCompleted, nil},
		{"a reversed redemption cannot be reversed again", RedemptionReversed, ErrAlreadyReversed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Redemption{ID: "x", Status: tt.status}
			if err := r.Reverse("customer cancelled", t0); !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected %v, got %v", tt.wantErr, err)
			}
			if r.Status != RedemptionReversed {
				t.Errorf("expected status reversed, got %d", r.Status)
			}
		})
	}
}
