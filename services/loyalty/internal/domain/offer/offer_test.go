package offer

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/challenge"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func program(t *testing.T) Program {
	t.Helper()
	l, err := tier.NewLadder(tier.MeasurePointsEarned, 12, []tier.Tier{
		{ID: "silver", Name: "Silver", Rank: 1, Benefits: tier.Benefits{Perks: []string{"birthday gift"}}},
		{ID: "gold", Name: "Gold", Rank: 2, Threshold: 1000, Benefits: tier.Benefits{EarnMultiplierPercent: 150, Perks: []string{"free shipping"}}},
	})
	if err != nil {
		t.Fatalf("expected a valid ladder, got %v", err)
	}
	active := func(id string, mod func(*earning.Rule)) earning.Rule {
		r := earning.Rule{ID: id, Name: id, Trigger: earning.TriggerOrder, Kind: earning.AwardBonus, BonusPoints: 10,
			Status: earning.StatusActive, StartsAt: t0.AddDate(0, -1, 0)}
		mod(&r)
		return r
	}
	rw := func(id string, cost int64, tiers ...string) reward.Reward {
		return reward.Reward{ID: id, Name: id, Type: reward.TypeCoupon, Cost: cost, Status: reward.StatusActive, TierIDs: tiers}
	}
	return Program{
		Ladder: l,
		Rules: []earning.Rule{
			active("everyone", func(*earning.Rule) {}),
			active("gold-only", func(r *earning.Rule) { r.Target.TierIDs = []string{"gold"} }),
			active("vip-segment", func(r *earning.Rule) { r.Target.SegmentIDs = []string{"vip"} }),
			active("ended", func(r *earning.Rule) { r.EndsAt = t0.Add(-time.Hour) }),
			active("held-out", func(r *earning.Rule) { r.HoldoutPercent = 50 }),
		},
		Rewards:    []reward.Reward{rw("cheap", 100), rw("dear", 900), rw("gold-lounge", 50, "gold")},
		Challenges: []challenge.Challenge{{ID: "cans", Name: "cans", Goal: challenge.GoalCount, Target: 4, StartsAt: t0.AddDate(0, 0, -1), EndsAt: t0.AddDate(0, 1, 0), RewardPoints: 5}},
		Conversion: money.Conversion{Points: 100, Value: money.New(100, "EUR")},
	}
}

// memberOutsideHoldout finds a member not held out of rule "held-out".
func memberOutsideHoldout(t *testing.T, in bool) string {
	for i := 0; i < 1000; i++ {
		id := fmt.Sprint("m", i)
		if earning.InHoldout("held-out", id, 50) == in {
			return id
		}
	}
	t.Fatal("expected to find a member")
	return ""
}

func TestForMember(t *testing.T) {
	t.Parallel()
	p := program(t)
	silver, _ := p.Ladder.Evaluate(tier.Status{}, 200, t0)
	gold, _ := p.Ladder.Evaluate(tier.Status{}, 1500, t0)
	tests := []struct {
		name          string
		member        Member
		wantTier      string
		wantCampaigns []string
		wantAfford    []string
		wantExpiring  int
	}{
		{"a silver member sees general campaigns and affordable rewards", Member{ID: memberOutsideHoldout(t, true), Tier: silver, Measure: 200,
			Balances: ledger.Balances{Available: 150}, Expiring: []ledger.Expiring{{Points: 40, ExpiresAt: t0.AddDate(0, 0, 10)}, {Points: 60, ExpiresAt: t0.AddDate(0, 2, 0)}}},
			"silver", []string{"everyone"}, []string{"cheap"}, 1},
		{"a gold vip member outside the holdout sees targeted campaigns", Member{ID: memberOutsideHoldout(t, false), Tier: gold, Measure: 1500,
			Segments: []string{"vip"}, Balances: ledger.Balances{Available: 1000}},
			"gold", []string{"everyone", "gold-only", "vip-segment", "held-out"}, []string{"gold-lounge", "cheap", "dear"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := ForMember(p, tt.member, t0)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if a.Tier.Current.ID != tt.wantTier {
				t.Errorf("expected tier %s, got %s", tt.wantTier, a.Tier.Current.ID)
			}
			var camps, afford []string
			for _, c := range a.Campaigns {
				camps = append(camps, c.RuleID)
			}
			for _, r := range a.Rewards {
				if r.Affordable {
					afford = append(afford, r.Reward.ID)
				}
			}
			if fmt.Sprint(camps) != fmt.Sprint(tt.wantCampaigns) {
				t.Errorf("expected campaigns %v, got %v", tt.wantCampaigns, camps)
			}
			if fmt.Sprint(afford) != fmt.Sprint(tt.wantAfford) {
				t.Errorf("expected affordable rewards %v, got %v", tt.wantAfford, afford)
			}
			if len(a.Expiring) != tt.wantExpiring {
				t.Errorf("expected %d expiring groups within 30 days, got %v", tt.wantExpiring, a.Expiring)
			}
			if a.AvailableValue.Amount != tt.member.Balances.Available {
				t.Errorf("expected a value of %d cents, got %v", tt.member.Balances.Available, a.AvailableValue)
			}
			if len(a.Challenges) != 1 || a.Challenges[0].Remaining != 4 {
				t.Errorf("expected the open challenge with 4 to go, got %+v", a.Challenges)
			}
		})
	}
	a, _ := ForMember(p, Member{ID: "x", Tier: silver, Balances: ledger.Balances{Available: 150}}, t0)
	for _, r := range a.Rewards {
		if r.Reward.ID == "dear" && (r.PointsShort != 750 || !errors.Is(r.Blocked, reward.ErrNotEnoughPoints)) {
			t.Errorf("expected dear to be 750 points short, got %d (%v)", r.PointsShort, r.Blocked)
		}
		if r.Reward.ID == "gold-lounge" {
			t.Errorf("expected the gold-only reward hidden from silver")
		}
	}
}
