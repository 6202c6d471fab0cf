package campaign_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

func TestConditionsEvaluate(t *testing.T) {
	t.Parallel()
	clicked, signed := t0, t0.Add(2*day)
	eur := func(m int64) money.Money { return money.New(m, "EUR") }
	firstOnly := campaign.Conditions{FirstOrderOnly: true, MinOrderValue: eur(2500), AttributionWindow: 30 * day, WindowFrom: campaign.FromClick}
	anyOrder := firstOnly
	anyOrder.FirstOrderOnly = false
	fromSignUp := firstOnly
	fromSignUp.WindowFrom = campaign.FromSignUp
	unlimited := anyOrder
	unlimited.AttributionWindow = 0
	tests := []struct {
		name      string
		cond      campaign.Conditions
		order     campaign.Order
		clickedAt time.Time
		verdict   campaign.Verdict
		reason    rejection.Reason
	}{
		{name: "a first order above the minimum qualifies", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: signed.Add(day), First: true}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "an order exactly at the minimum qualifies", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(2500), PlacedAt: signed.Add(day), First: true}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "a small first order rejects under first-order-only", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(2499), PlacedAt: signed.Add(day), First: true}, clickedAt: clicked, verdict: campaign.Reject, reason: rejection.NotFirstOrder},
		{name: "a small order waits when any order may qualify", cond: anyOrder, order: campaign.Order{ID: "o1", Value: eur(100), PlacedAt: signed.Add(day), First: true}, clickedAt: clicked, verdict: campaign.Wait},
		{name: "a second order rejects under first-order-only", cond: firstOnly, order: campaign.Order{ID: "o2", Value: eur(9000), PlacedAt: signed.Add(day)}, clickedAt: clicked, verdict: campaign.Reject, reason: rejection.NotFirstOrder},
		{name: "a later qualifying order converts when any order may", cond: anyOrder, order: campaign.Order{ID: "o2", Value: eur(9000), PlacedAt: signed.Add(day)}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "an order in another currency waits", cond: anyOrder, order: campaign.Order{ID: "o1", Value: money.New(9000, "USD"), PlacedAt: signed.Add(day), First: true}, clickedAt: clicked, verdict: campaign.Wait},
		{name: "an order after the window from the click rejects", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: clicked.Add(30*day + time.Second), First: true}, clickedAt: clicked, verdict: campaign.Reject, reason: rejection.AttributionWindowExpired},
		{name: "an order exactly at the window end still qualifies", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: clicked.Add(30 * day), First: true}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "the same order qualifies when the window runs from sign-up", cond: fromSignUp, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: clicked.Add(31 * day), First: true}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "without a click the window runs from sign-up", cond: firstOnly, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: signed.Add(30 * day), First: true}, verdict: campaign.Qualifies},
		{name: "an unlimited window never expires", cond: unlimited, order: campaign.Order{ID: "o1", Value: eur(3000), PlacedAt: signed.Add(3000 * day)}, clickedAt: clicked, verdict: campaign.Qualifies},
		{name: "an order before the sign-up is ignored", cond: firstOnly, order: campaign.Order{ID: "o0", Value: eur(3000), PlacedAt: signed.Add(-time.Hour), First: true}, clickedAt: clicked, verdict: campaign.Wait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, rej := tt.cond.Evaluate("EUR", tt.order, tt.clickedAt, signed)
			if v != tt.verdict {
				t.Fatalf("expected %s, got %s (%v)", tt.verdict, v, rej)
			}
			if (rej != nil) != (tt.reason != "") || (rej != nil && rej.Reason != tt.reason) {
				t.Fatalf("expected reason %q, got %v", tt.reason, rej)
			}
			if rej != nil && rej.Evidence["order_id"] != tt.order.ID {
				t.Errorf("expected the order id as evidence, got %v", rej.Evidence)
			}
		})
	}
}

func TestEligibilityCheck(t *testing.T) {
	t.Parallel()
	strict := campaign.Eligibility{Segments: []string{"vip", "loyal"}, RequireOrder: true, Tiers: []string{"gold", "platinum"}}
	tests := []struct {
		name        string
		e           campaign.Eligibility
		facts       campaign.ReferrerFacts
		requirement string
	}{
		{name: "no requirements admit anyone", e: campaign.Eligibility{}},
		{name: "a referrer meeting all requirements is eligible", e: strict, facts: campaign.ReferrerFacts{Segments: []string{"new", "loyal"}, OrderCount: 1, Tier: "gold"}},
		{name: "a referrer outside every segment is ineligible", e: strict, facts: campaign.ReferrerFacts{Segments: []string{"new"}, OrderCount: 1, Tier: "gold"}, requirement: "segment"},
		{name: "a referrer without orders is ineligible", e: strict, facts: campaign.ReferrerFacts{Segments: []string{"vip"}, Tier: "gold"}, requirement: "has_order"},
		{name: "a referrer in another tier is ineligible", e: strict, facts: campaign.ReferrerFacts{Segments: []string{"vip"}, OrderCount: 3, Tier: "silver"}, requirement: "tier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rej := tt.e.Check("cust_1", tt.facts, t0)
			if tt.requirement == "" {
				if rej != nil {
					t.Fatalf("expected eligible, got %v", rej)
				}
				return
			}
			if rej == nil || rej.Reason != rejection.ReferrerIneligible || rej.Evidence["requirement"] != tt.requirement {
				t.Fatalf("expected ineligible on %s, got %v", tt.requirement, rej)
			}
		})
	}
}

func TestBudgetReserveAndRelease(t *testing.T) {
	t.Parallel()
	eur := func(m int64) money.Money { return money.New(m, "EUR") }
	tests := []struct {
		name       string
		budget     campaign.Budget
		cost       reward.Cost
		exhausted  bool
		accounting bool
		spent      campaign.Budget
	}{
		{name: "a cost within the points limit is reserved", budget: campaign.Budget{LimitPoints: 1000, SpentPoints: 500}, cost: reward.Cost{Points: 500}, spent: campaign.Budget{LimitPoints: 1000, SpentPoints: 1000}},
		{name: "one point over the limit is refused", budget: campaign.Budget{LimitPoints: 1000, SpentPoints: 501}, cost: reward.Cost{Points: 500}, exhausted: true, spent: campaign.Budget{LimitPoints: 1000, SpentPoints: 501}},
		{name: "an unlimited budget takes anything", budget: campaign.Budget{}, cost: reward.Cost{Points: 1 << 40, Money: eur(99999)}, spent: campaign.Budget{SpentPoints: 1 << 40, SpentMoney: eur(99999)}},
		{name: "money over the limit is refused even if points fit", budget: campaign.Budget{LimitPoints: 1000, LimitMoney: eur(1000), SpentMoney: eur(900)}, cost: reward.Cost{Points: 10, Money: eur(200)}, exhausted: true, spent: campaign.Budget{LimitPoints: 1000, LimitMoney: eur(1000), SpentMoney: eur(900)}},
		{name: "a cost in a foreign currency is an accounting error", budget: campaign.Budget{LimitMoney: eur(1000), SpentMoney: eur(1)}, cost: reward.Cost{Money: money.New(1, "USD")}, accounting: true, spent: campaign.Budget{LimitMoney: eur(1000), SpentMoney: eur(1)}},
		{name: "a negative cost is an accounting error", budget: campaign.Budget{}, cost: reward.Cost{Points: -1}, accounting: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.budget
			err := b.Reserve(tt.cost, t0)
			var rej *rejection.Rejection
			if got := errors.As(err, &rej) && rej.Reason == rejection.BudgetExhausted; got != tt.exhausted {
				t.Errorf("expected exhausted=%v, got %v", tt.exhausted, err)
			}
			if got := errors.Is(err, campaign.ErrBudgetAccounting); got != tt.accounting {
				t.Errorf("expected accounting error=%v, got %v", tt.accounting, err)
			}
			if b != tt.spent {
				t.Errorf("expected budget %+v, got %+v", tt.spent, b)
			}
		})
	}
	b := campaign.Budget{LimitPoints: 100, SpentPoints: 50}
	if err := b.Release(reward.Cost{Points: 60}); !errors.Is(err, campaign.ErrBudgetAccounting) || b.SpentPoints != 50 {
		t.Errorf("expected releasing more than spent to fail and change nothing, got %v, %+v", err, b)
	}
	if err := b.Release(reward.Cost{Points: 50}); err != nil || b.SpentPoints != 0 {
		t.Errorf("expected the spend back to 0, got %v, %+v", err, b)
	}
}

// TestBudgetIsNeverExceeded drives random reserve/release sequences; the
// invariant spent ≤ limit is what makes "never exceeded under concurrent
// conversions" hold once the app serializes on the campaign row.
func TestBudgetIsNeverExceeded(t *testing.T) {
	t.Parallel()
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		b := campaign.Budget{LimitPoints: 10_000, LimitMoney: money.New(50_000, "EUR")}
		var reserved []reward.Cost
		for range 500 {
			if len(reserved) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(reserved))
				if err := b.Release(reserved[i]); err != nil {
					t.Fatalf("seed %d: expected release of a reserved cost to succeed, got %v", seed, err)
				}
				reserved = append(reserved[:i], reserved[i+1:]...)
				continue
			}
			cost := reward.Cost{Points: rng.Int64N(1500), Money: money.New(rng.Int64N(5000), "EUR")}
			if err := b.Reserve(cost, t0); err == nil {
				reserved = append(reserved, cost)
			}
			if b.SpentPoints > b.LimitPoints || b.SpentMoney.Minor > b.LimitMoney.Minor {
				t.Fatalf("seed %d: expected spend within limits, got %+v", seed, b)
			}
		}
		var sumP, sumM int64
		for _, c := range reserved {
			sumP += c.Points
			sumM += c.Money.Minor
		}
		if sumP != b.SpentPoints || sumM != b.SpentMoney.Minor {
			t.Fatalf("seed %d: expected the spend to equal the reserved costs %d/%d, got %+v", seed, sumP, sumM, b)
		}
	}
}

func BenchmarkConditionsEvaluate(b *testing.B) {
	cond := campaign.Conditions{FirstOrderOnly: true, MinOrderValue: money.New(2500, "EUR"), AttributionWindow: 30 * day}
	o := campaign.Order{ID: "o1", Value: money.New(3000, "EUR"), PlacedAt: t0.Add(day), First: true}
	for b.Loop() {
		if v, _ := cond.Evaluate("EUR", o, t0, t0); v != campaign.Qualifies {
			b.Fatal(v)
		}
	}
}
