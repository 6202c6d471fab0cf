// Package offer answers "what does this member get right now" as a pure
// function of the member's state and the program's configuration: tier and
// perks, the earning campaigns that apply to them, the rewards they can
// afford (and how far they are from the others), points expiring soon and
// challenge progress. Web, app, POS and staff tools all call this one
// function, so every channel gives the same answer.
package offer

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/challenge"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// DefaultExpiringWindow is how far ahead "points expiring soon" looks.
const DefaultExpiringWindow = 30 * 24 * time.Hour

// Program is the configuration the answer depends on.
type Program struct {
	Ladder     tier.Ladder
	Rules      []earning.Rule
	Rewards    []reward.Reward
	Challenges []challenge.Challenge
	Conversion money.Conversion
	// ExpiringWindow; DefaultExpiringWindow when zero.
	ExpiringWindow time.Duration
}

// Member is the member's state, loaded by the app layer.
type Member struct {
	ID       string
	Tier     tier.Status
	Measure  int64
	Balances ledger.Balances
	// Expiring as returned by Account.ExpiringWithin (any window at least
	// as long as the program's; it is filtered here).
	Expiring []ledger.Expiring
	Segments []string
	// Redeemed counts per reward id.
	Redeemed map[string]int64
	// Progress per challenge id.
	Progress map[string]challenge.Progress
}

// Campaign is an earning rule that applies to the member now.
type Campaign struct {
	RuleID            string
	Name              string
	Trigger           earning.Trigger
	Kind              earning.AwardKind
	MultiplierPercent int32
	BonusPoints       int64
	Rate              earning.Rate
	EndsAt            time.Time
}

// RewardOption is a visible reward and whether the member can take it.
type RewardOption struct {
	Reward reward.Reward
	// Affordable is true when Check passes now.
	Affordable bool
	// PointsShort is how many more points are needed (0 when affordable or
	// blocked for another reason).
	PointsShort int64
	// Blocked is the reason it cannot be redeemed, nil when it can.
	Blocked error
}

// ChallengeStatus is progress in one open challenge.
type ChallengeStatus struct {
	Challenge challenge.Challenge
	Value     int64
	Remaining int64
	Completed bool
}

// Answer is everything the member gets right now.
type Answer struct {
	Tier                  tier.Progress
	Perks                 []string
	EarnMultiplierPercent int32
	Balances              ledger.Balances
	AvailableValue        money.Money
	Campaigns             []Campaign
	// Rewards visible to the member: affordable first, then by cost.
	Rewards    []RewardOption
	Expiring   []ledger.Expiring
	Challenges []ChallengeStatus
}

// ForMember computes the answer at now.
func ForMember(p Program, m Member, now time.Time) (Answer, error) {
	var a Answer
	a.Tier = p.Ladder.Progress(m.Tier, m.Measure, now)
	if a.Tier.HasTier {
		a.Perks = slices.Clone(a.Tier.Current.Benefits.Perks)
		a.EarnMultiplierPercent = a.Tier.Current.Benefits.EarnMultiplierPercent
	}
	a.Balances = m.Balances
	if p.Conversion.Points > 0 {
		v, err := p.Conversion.ValueOf(max(m.Balances.Available, 0))
		if err != nil {
			return Answer{}, err
		}
		a.AvailableValue = v
	}
	em := earning.Member{ID: m.ID, TierID: a.Tier.Current.ID, Segments: m.Segments}
	for _, r := range p.Rules {
		// Held-out members must not see the offer, or the holdout would
		// no longer measure the campaign's effect.
		if !r.AppliesTo(em, now) || earning.InHoldout(r.ID, m.ID, r.HoldoutPercent) {
			continue
		}
		a.Campaigns = append(a.Campaigns, Campaign{RuleID: r.ID, Name: r.Name, Trigger: r.Trigger, Kind: r.Kind,
			MultiplierPercent: r.MultiplierPercent, BonusPoints: r.BonusPoints, Rate: r.Rate, EndsAt: r.EndsAt})
	}
	for _, rw := range p.Rewards {
		if !rw.Visible(a.Tier.Current.ID, now) {
			continue
		}
		err := rw.Check(reward.Member{TierID: a.Tier.Current.ID, Available: m.Balances.Available, Redeemed: m.Redeemed[rw.ID]}, now)
		opt := RewardOption{Reward: rw, Affordable: err == nil, Blocked: err}
		if errors.Is(err, reward.ErrNotEnoughPoints) {
			opt.PointsShort = rw.Cost - m.Balances.Available
		}
		a.Rewards = append(a.Rewards, opt)
	}
	slices.SortStableFunc(a.Rewards, func(x, y RewardOption) int {
		if x.Affordable != y.Affordable {
			if x.Affordable {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(x.Reward.Cost, y.Reward.Cost); c != 0 {
			return c
		}
		return cmp.Compare(x.Reward.ID, y.Reward.ID)
	})
	window := p.ExpiringWindow
	if window <= 0 {
		window = DefaultExpiringWindow
	}
	for _, e := range m.Expiring {
		if e.ExpiresAt.After(now) && e.ExpiresAt.Before(now.Add(window)) {
			a.Expiring = append(a.Expiring, e)
		}
	}
	for _, c := range p.Challenges {
		if !c.Open(now) {
			continue
		}
		pr := m.Progress[c.ID]
		a.Challenges = append(a.Challenges, ChallengeStatus{Challenge: c, Value: pr.Value(), Remaining: c.Remaining(pr), Completed: pr.Completed()})
	}
	return a, nil
}
