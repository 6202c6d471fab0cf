package reward_test

import (
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestNewIDIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	uuidV5 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	base := reward.NewID("ref_1", reward.RoleReferrer, "cust_1")
	tests := []struct {
		name  string
		id    reward.ID
		equal bool
	}{
		{name: "the same inputs give the same id", id: reward.NewID("ref_1", reward.RoleReferrer, "cust_1"), equal: true},
		{name: "another role gives another id", id: reward.NewID("ref_1", reward.RoleFriend, "cust_1")},
		{name: "another beneficiary gives another id", id: reward.NewID("ref_1", reward.RoleReferrer, "cust_2")},
		{name: "another referral gives another id", id: reward.NewID("ref_2", reward.RoleReferrer, "cust_1")},
		{name: "shifting characters between parts gives another id", id: reward.NewID("ref_1r", reward.Role("eferrer"), "cust_1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !uuidV5.MatchString(string(tt.id)) {
				t.Errorf("expected a version 5 UUID, got %q", tt.id)
			}
			if (tt.id == base) != tt.equal {
				t.Errorf("expected equal=%v, got %q vs %q", tt.equal, tt.id, base)
			}
		})
	}
	// Pin one value: changing the derivation would double-pay every reward
	// that is redelivered across a deploy.
	if want := reward.ID("5f602b8f-4bd7-5296-9508-23f46e47c5c1"); base != want {
		t.Errorf("expected the pinned id %s, got %s", want, base)
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   reward.Spec
		fields []string
	}{
		{name: "no reward is valid", spec: reward.Spec{}},
		{name: "points are valid", spec: reward.Points(500)},
		{name: "zero points are invalid", spec: reward.Points(0), fields: []string{"points"}},
		{name: "absurd points are invalid", spec: reward.Points(reward.MaxPoints + 1), fields: []string{"points"}},
		{name: "a fixed discount needs an amount and a pool", spec: reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(0, "eur")}, fields: []string{"amount.currency", "amount.minor", "coupon_pool"}},
		{name: "a fixed discount with a pool is valid", spec: reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(1000, "EUR"), CouponPool: "welcome"}},
		{name: "percent above 100 is invalid", spec: reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: 10001, CouponPool: "p"}, fields: []string{"percent_bps"}},
		{name: "a percent cap is validated", spec: reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: 1000, MaxDiscount: money.New(-1, "EUR"), CouponPool: "p"}, fields: []string{"max_discount.minor"}},
		{name: "unknown kinds are invalid", spec: reward.Spec{Kind: "cash"}, fields: []string{"kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validation.Fields(tt.spec.Validate()); !slices.Equal(got, tt.fields) {
				t.Errorf("expected violations %v, got %v", tt.fields, got)
			}
		})
	}
}

func TestSpecCost(t *testing.T) {
	t.Parallel()
	order := money.New(8000, "EUR")
	tests := []struct {
		name string
		spec reward.Spec
		want reward.Cost
	}{
		{name: "points cost points", spec: reward.Points(500), want: reward.Cost{Points: 500}},
		{name: "a fixed coupon costs its value", spec: reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(1000, "EUR")}, want: reward.Cost{Money: money.New(1000, "EUR")}},
		{name: "a capped percent coupon costs its cap", spec: reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: 1500, MaxDiscount: money.New(500, "EUR")}, want: reward.Cost{Money: money.New(500, "EUR")}},
		{name: "an uncapped percent coupon costs the percentage of the order", spec: reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: 1500}, want: reward.Cost{Money: money.New(1200, "EUR")}},
		{name: "no reward costs nothing", spec: reward.Spec{}, want: reward.Cost{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.spec.Cost(order); got != tt.want {
				t.Errorf("expected %+v, got %+v", tt.want, got)
			}
		})
	}
}

func newReward(spec reward.Spec) reward.Reward {
	return reward.New(reward.NewParams{
		ReferralID: "ref_1", CampaignID: "c1", Role: reward.RoleReferrer, BeneficiaryID: "cust_1",
		Spec: spec, OrderValue: money.New(5000, "EUR"), ConvertedAt: t0, Hold: 14 * 24 * time.Hour,
	})
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	holdEnd := t0.Add(14 * 24 * time.Hour)
	refund := rejection.New(rejection.OrderRefunded, "order_reversal", holdEnd.Add(-time.Second))
	type step func(*reward.Reward) error
	tests := []struct {
		name   string
		spec   reward.Spec
		steps  []step
		err    error
		status reward.Status
	}{
		{name: "a new reward is pending", spec: reward.Points(100), status: reward.StatusPending},
		{name: "release before the hold ends is refused", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.Release(holdEnd.Add(-time.Nanosecond)) }},
			err:   reward.ErrHoldNotOver, status: reward.StatusPending},
		{name: "release at the hold end makes it payable", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.Release(holdEnd) }},
			status: reward.StatusPayable},
		{name: "releasing twice is harmless", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.Release(holdEnd) }, func(r *reward.Reward) error { return r.Release(holdEnd) }},
			status: reward.StatusPayable},
		{name: "paying after the hold releases and pays", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.MarkPaid(holdEnd, "") }},
			status: reward.StatusPaid},
		{name: "paying twice is refused", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.MarkPaid(holdEnd, "") }, func(r *reward.Reward) error { return r.MarkPaid(holdEnd, "") }},
			err:   reward.ErrAlreadyPaid, status: reward.StatusPaid},
		{name: "paying inside the hold is refused", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.MarkPaid(t0, "") }},
			err:   reward.ErrHoldNotOver, status: reward.StatusPending},
		{name: "a refund inside the hold voids", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.Void(holdEnd.Add(-time.Second), refund) }},
			status: reward.StatusVoided},
		{name: "a refund at the hold end no longer voids", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.Void(holdEnd, refund) }},
			err:   reward.ErrHoldOver, status: reward.StatusPending},
		{name: "a late-processed refund that happened inside the hold still voids a released reward", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.Release(holdEnd) }, func(r *reward.Reward) error { return r.Void(holdEnd.Add(-time.Hour), refund) }},
			status: reward.StatusVoided},
		{name: "a voided reward cannot be paid", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.Void(t0, refund) }, func(r *reward.Reward) error { return r.MarkPaid(holdEnd, "") }},
			err:   reward.ErrVoided, status: reward.StatusVoided},
		{name: "a paid reward cannot be voided", spec: reward.Points(100),
			steps: []step{func(r *reward.Reward) error { return r.MarkPaid(holdEnd, "") }, func(r *reward.Reward) error { return r.Void(t0, refund) }},
			err:   reward.ErrAlreadyPaid, status: reward.StatusPaid},
		{name: "voiding twice is harmless", spec: reward.Points(100),
			steps:  []step{func(r *reward.Reward) error { return r.Void(t0, refund) }, func(r *reward.Reward) error { return r.Void(t0, refund) }},
			status: reward.StatusVoided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReward(tt.spec)
			var err error
			for _, s := range tt.steps {
				if err = s(&r); err != nil {
					break
				}
			}
			switch {
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("expected %v, got %v", tt.err, err)
			case tt.err == nil && err != nil:
				t.Errorf("expected no error, got %v", err)
			}
			if r.Status != tt.status {
				t.Errorf("expected status %s, got %s", tt.status, r.Status)
			}
		})
	}
}

func TestNewComputesHoldAndCost(t *testing.T) {
	t.Parallel()
	r := newReward(reward.Points(250))
	if want := t0.Add(14 * 24 * time.Hour); !r.PayableAt.Equal(want) {
		t.Errorf("expected payable at %s, got %s", want, r.PayableAt)
	}
	if r.Cost.Points != 250 {
		t.Errorf("expected a cost of 250 points, got %+v", r.Cost)
	}
	if r.ID != reward.NewID("ref_1", reward.RoleReferrer, "cust_1") {
		t.Errorf("expected the derived id, got %s", r.ID)
	}
	if got := r.StatusAt(t0); got != reward.StatusPending {
		t.Errorf("expected pending inside the hold, got %s", got)
	}
	if got := r.StatusAt(r.PayableAt); got != reward.StatusPayable {
		t.Errorf("expected payable once the hold ends, got %s", got)
	}
}

func TestCouponRewardIsPaidWithItsCode(t *testing.T) {
	t.Parallel()
	r := newReward(reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(1000, "EUR"), CouponPool: "p"})
	holdEnd := r.PayableAt
	if err := r.MarkPaid(holdEnd, ""); err == nil {
		t.Fatal("expected an error without a coupon code")
	}
	if err := r.MarkPaid(holdEnd, "WELCOME-123"); err != nil {
		t.Fatalf("expected payment with a coupon code, got %v", err)
	}
	if r.Status != reward.StatusPaid || r.CouponCode != "WELCOME-123" || !r.PaidAt.Equal(holdEnd) {
		t.Errorf("expected paid with the coupon at %s, got %+v", holdEnd, r)
	}
}

func BenchmarkNewID(b *testing.B) {
	for b.Loop() {
		_ = reward.NewID("ref_0123456789abcdef01234567", reward.RoleReferrer, "customer-42")
	}
}
