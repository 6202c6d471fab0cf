package campaign_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// giveGet is the classic "give 10, get 10" campaign in points.
func giveGet() campaign.NewParams {
	return campaign.NewParams{
		ID: "c1", Name: "Give 10, get 10",
		ReferrerReward: campaign.Plan{Base: reward.Points(1000), Tiers: []campaign.Tier{
			{MinConversions: 3, Reward: reward.Points(1500)},
			{MinConversions: 10, Reward: reward.Points(2500)},
		}},
		FriendReward: reward.Points(1000),
		Conditions:   campaign.Conditions{FirstOrderOnly: true, MinOrderValue: money.New(2500, "EUR"), AttributionWindow: 30 * day},
		Caps:         campaign.Caps{RewardsPerReferrer: 20, BudgetPoints: 1_000_000},
		Currency:     "EUR",
		HoldPeriod:   14 * day,
		NudgeAfter:   3 * day,
		ShareBaseURL: "https://shop.example/r/{code}",
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	coupon := reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(1000, "EUR"), CouponPool: "welcome"}
	tests := []struct {
		name   string
		edit   func(*campaign.NewParams)
		fields []string
	}{
		{name: "the give-get campaign is valid", edit: func(*campaign.NewParams) {}},
		{name: "a one-sided friend-only campaign is valid", edit: func(p *campaign.NewParams) { p.ReferrerReward = campaign.Plan{} }},
		{name: "a campaign without any reward is refused", edit: func(p *campaign.NewParams) {
			p.ReferrerReward, p.FriendReward = campaign.Plan{}, reward.Spec{}
		}, fields: []string{"referrer_reward"}},
		{name: "a missing name and id are reported together", edit: func(p *campaign.NewParams) { p.ID, p.Name = "", "" }, fields: []string{"id", "name"}},
		{name: "the end must follow the start", edit: func(p *campaign.NewParams) { p.StartsAt, p.EndsAt = t0, t0 }, fields: []string{"ends_at"}},
		{name: "tiers must grow", edit: func(p *campaign.NewParams) {
			p.ReferrerReward.Tiers[1].MinConversions = 3
		}, fields: []string{"referrer_reward.tiers[1].min_conversions"}},
		{name: "a tier reward is validated with its path", edit: func(p *campaign.NewParams) {
			p.ReferrerReward.Tiers[0].Reward = reward.Points(-5)
		}, fields: []string{"referrer_reward.tiers[0].reward.points"}},
		{name: "a negative hold is refused", edit: func(p *campaign.NewParams) { p.HoldPeriod = -time.Hour }, fields: []string{"hold_period"}},
		{name: "a year-plus window is refused", edit: func(p *campaign.NewParams) {
			p.Conditions.AttributionWindow = 400 * day
		}, fields: []string{"conditions.attribution_window"}},
		{name: "an unknown window anchor is refused", edit: func(p *campaign.NewParams) { p.Conditions.WindowFrom = "order" }, fields: []string{"conditions.window_from"}},
		{name: "amounts need a campaign currency", edit: func(p *campaign.NewParams) { p.Currency = "" }, fields: []string{"currency"}},
		{name: "a points-only campaign needs no currency", edit: func(p *campaign.NewParams) {
			p.Currency, p.Conditions.MinOrderValue = "", money.Money{}
		}},
		{name: "a coupon in another currency is refused", edit: func(p *campaign.NewParams) {
			p.FriendReward = coupon
			p.FriendReward.Amount = money.New(1000, "USD")
		}, fields: []string{"friend_reward.amount.currency"}},
		{name: "an uncapped percent coupon cannot be budgeted in money", edit: func(p *campaign.NewParams) {
			p.FriendReward = reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: 1000, CouponPool: "p"}
			p.Caps.BudgetMoney = money.New(100000, "EUR")
		}, fields: []string{"friend_reward.max_discount"}},
		{name: "negative caps are refused", edit: func(p *campaign.NewParams) {
			p.Caps.RewardsPerReferrer, p.Caps.BudgetPoints = -1, -1
		}, fields: []string{"caps.rewards_per_referrer", "caps.budget_points"}},
		{name: "first click may be selected", edit: func(p *campaign.NewParams) { p.AttributionModel = attribution.FirstClick }},
		{name: "an unknown attribution model is refused", edit: func(p *campaign.NewParams) {
			p.AttributionModel = "linear"
		}, fields: []string{"attribution_model"}},
		{name: "empty segment ids are refused", edit: func(p *campaign.NewParams) {
			p.Eligibility.Segments = []string{"vip", ""}
		}, fields: []string{"eligibility.segments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := giveGet()
			tt.edit(&p)
			c, err := campaign.New(p, t0)
			if got := validation.Fields(err); !slices.Equal(got, tt.fields) {
				t.Fatalf("expected violations %v, got %v (%v)", tt.fields, got, err)
			}
			wantModel := p.AttributionModel
			if wantModel == "" {
				wantModel = attribution.LastClick
			}
			if err == nil && c.Model() != wantModel {
				t.Errorf("expected attribution model %q, got %q", wantModel, c.Model())
			}
			if err == nil && (c.Status != campaign.StatusDraft || c.Conditions.WindowFrom != campaign.FromClick || !c.CreatedAt.Equal(t0)) {
				t.Errorf("expected a draft anchored on clicks created at %s, got %+v", t0, c)
			}
		})
	}
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	type step struct {
		action campaign.Action
		at     time.Time
	}
	tests := []struct {
		name     string
		startsAt time.Time
		steps    []step
		want     campaign.Status
		fails    bool
	}{
		{name: "a draft activates", steps: []step{{campaign.ActionActivate, t0}}, want: campaign.StatusActive},
		{name: "a draft with a future start is scheduled", startsAt: t0.Add(day), steps: []step{{campaign.ActionSchedule, t0}}, want: campaign.StatusScheduled},
		{name: "scheduling needs a future start", startsAt: t0, steps: []step{{campaign.ActionSchedule, t0}}, want: campaign.StatusDraft, fails: true},
		{name: "an active campaign pauses and resumes", steps: []step{{campaign.ActionActivate, t0}, {campaign.ActionPause, t0.Add(time.Hour)}, {campaign.ActionActivate, t0.Add(2 * time.Hour)}}, want: campaign.StatusActive},
		{name: "a draft cannot be paused", steps: []step{{campaign.ActionPause, t0}}, want: campaign.StatusDraft, fails: true},
		{name: "a started scheduled campaign can be paused", startsAt: t0.Add(day), steps: []step{{campaign.ActionSchedule, t0}, {campaign.ActionPause, t0.Add(2 * day)}}, want: campaign.StatusPaused},
		{name: "an ended campaign cannot be reactivated", steps: []step{{campaign.ActionActivate, t0}, {campaign.ActionEnd, t0.Add(day)}, {campaign.ActionActivate, t0.Add(2 * day)}}, want: campaign.StatusEnded, fails: true},
		{name: "ending twice is refused", steps: []step{{campaign.ActionEnd, t0}, {campaign.ActionEnd, t0}}, want: campaign.StatusEnded, fails: true},
		{name: "unknown actions are refused", steps: []step{{campaign.Action("launch"), t0}}, want: campaign.StatusDraft, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := giveGet()
			p.StartsAt = tt.startsAt
			c, err := campaign.New(p, t0.Add(-day))
			if err != nil {
				t.Fatalf("expected a valid campaign, got %v", err)
			}
			for _, s := range tt.steps {
				if err = c.Apply(s.action, s.at); err != nil {
					break
				}
			}
			var te *campaign.TransitionError
			if tt.fails != errors.As(err, &te) {
				t.Errorf("expected a transition error=%v, got %v", tt.fails, err)
			}
			if got := c.StatusAt(tt.steps[len(tt.steps)-1].at); got != tt.want {
				t.Errorf("expected status %s, got %s", tt.want, got)
			}
		})
	}
}

func TestStatusAtAndLiveAt(t *testing.T) {
	t.Parallel()
	p := giveGet()
	p.StartsAt, p.EndsAt = t0.Add(day), t0.Add(10*day)
	scheduled, err := campaign.New(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := scheduled.Apply(campaign.ActionSchedule, t0); err != nil {
		t.Fatal(err)
	}
	early := scheduled
	if err := early.Apply(campaign.ActionActivate, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		c      campaign.Campaign
		at     time.Time
		status campaign.Status
		live   bool
	}{
		{name: "before the start a scheduled campaign is not live", c: scheduled, at: t0.Add(time.Hour), status: campaign.StatusScheduled},
		{name: "at the start it is active without a worker", c: scheduled, at: t0.Add(day), status: campaign.StatusActive, live: true},
		{name: "at the end it is ended", c: scheduled, at: t0.Add(10 * day), status: campaign.StatusEnded},
		{name: "activating early moves the start to the activation", c: early, at: t0.Add(2 * time.Hour), status: campaign.StatusActive, live: true},
		{name: "before an early activation it was not live", c: early, at: t0.Add(time.Minute), status: campaign.StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.StatusAt(tt.at); got != tt.status {
				t.Errorf("expected status %s, got %s", tt.status, got)
			}
			if got := tt.c.LiveAt(tt.at); got != tt.live {
				t.Errorf("expected live=%v, got %v", tt.live, got)
			}
		})
	}
}

func TestTieredRewards(t *testing.T) {
	t.Parallel()
	plan := giveGet().ReferrerReward
	tests := []struct {
		name      string
		n         int
		points    int64
		next      int
		atTheTop  bool
		converted int
	}{
		{name: "the first referral earns the base", n: 1, points: 1000, converted: 0, next: 3},
		{name: "the second still earns the base", n: 2, points: 1000, converted: 2, next: 3},
		{name: "the third reaches the first tier", n: 3, points: 1500, converted: 3, next: 10},
		{name: "the tenth reaches the top tier", n: 10, points: 2500, converted: 10, atTheTop: true},
		{name: "beyond the top the top tier holds", n: 50, points: 2500, converted: 50, atTheTop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := plan.RewardFor(tt.n).Points; got != tt.points {
				t.Errorf("expected %d points, got %d", tt.points, got)
			}
			next, ok := plan.NextMilestone(tt.converted)
			if ok == tt.atTheTop || (ok && next.MinConversions != tt.next) {
				t.Errorf("expected next milestone %d (top=%v), got %d, %v", tt.next, tt.atTheTop, next.MinConversions, ok)
			}
		})
	}
}
