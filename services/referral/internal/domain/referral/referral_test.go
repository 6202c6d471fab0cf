package referral_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

const day = 24 * time.Hour

var (
	launch   = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	clicked  = launch.Add(day)
	signedUp = clicked.Add(time.Hour)
)

func eur(m int64) money.Money { return money.New(m, "EUR") }

func liveCampaign(t testing.TB, edit func(*campaign.NewParams)) campaign.Campaign {
	t.Helper()
	p := campaign.NewParams{
		ID: "c1", Name: "Give 10, get 10",
		ReferrerReward: campaign.Plan{Base: reward.Points(1000), Tiers: []campaign.Tier{{MinConversions: 3, Reward: reward.Points(1500)}}},
		FriendReward:   reward.Points(1000),
		Conditions:     campaign.Conditions{FirstOrderOnly: true, MinOrderValue: eur(2500), AttributionWindow: 30 * day},
		Caps:           campaign.Caps{RewardsPerReferrer: 5, BudgetPoints: 100_000},
		Currency:       "EUR",
		HoldPeriod:     14 * day,
		NudgeAfter:     3 * day,
	}
	if edit != nil {
		edit(&p)
	}
	c, err := campaign.New(p, launch)
	if err != nil {
		t.Fatalf("expected a valid campaign, got %v", err)
	}
	if err := c.Apply(campaign.ActionActivate, launch); err != nil {
		t.Fatalf("expected activation, got %v", err)
	}
	return c
}

func customerCode() code.Record {
	return code.Record{Code: "ABCD2345", CampaignID: "c1", OwnerKind: code.OwnerCustomer, OwnerID: "alice"}
}

func partnerCode() code.Record {
	return code.Record{Code: "ANNA10", CampaignID: "c1", OwnerKind: code.OwnerPartner, OwnerID: "partner-anna", Vanity: true,
		Partner: &code.PartnerTerms{PartnerReward: reward.Points(300), FriendReward: reward.Spec{Kind: reward.KindFixedDiscount, Amount: eur(1500), CouponPool: "anna"}}}
}

func open(t testing.TB, c campaign.Campaign, rec code.Record) referral.Referral {
	t.Helper()
	r, err := referral.Open(referral.OpenParams{
		Campaign: c, Code: rec,
		Touch:     attribution.Touch{Code: rec.Code, ClickID: "k1", ClickedAt: clicked, Model: attribution.LastClick, Considered: 1},
		SignUp:    attribution.SignUp{FriendID: "bob", Code: rec.Code, DeviceID: "dev-b", At: signedUp},
		Screening: fraud.Result{Checked: []string{"self_referral"}},
	})
	if err != nil {
		t.Fatalf("expected the referral to open, got %v", err)
	}
	return r
}

func firstOrder(value int64, at time.Time) campaign.Order {
	return campaign.Order{ID: "o1", Value: eur(value), PlacedAt: at, First: true}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	c := liveCampaign(t, nil)
	ineligible := rejection.New(rejection.ReferrerIneligible, "referrer_eligibility", signedUp, "requirement", "has_order")
	selfRef := rejection.New(rejection.SelfReferralDevice, "self_referral", signedUp, "device_id", "dev-b")
	tests := []struct {
		name       string
		campaign   campaign.Campaign
		code       code.Record
		screen     fraud.Result
		ineligible *rejection.Rejection
		stage      referral.Stage
		reason     rejection.Reason
		decisions  int
	}{
		{name: "a clean sign-up opens a signed-up referral", campaign: c, code: customerCode(), stage: referral.StageSignedUp},
		{name: "a fraud rejection is recorded, not dropped", campaign: c, code: customerCode(), screen: fraud.Result{Rejections: []*rejection.Rejection{selfRef}}, stage: referral.StageRejected, reason: rejection.SelfReferralDevice, decisions: 1},
		{name: "an ineligible referrer rejects after the fraud reasons", campaign: c, code: customerCode(), screen: fraud.Result{Rejections: []*rejection.Rejection{selfRef}}, ineligible: ineligible, stage: referral.StageRejected, reason: rejection.SelfReferralDevice, decisions: 2},
		{name: "customer eligibility does not apply to partner codes", campaign: c, code: partnerCode(), ineligible: ineligible, stage: referral.StageSignedUp},
		{name: "a paused campaign rejects the sign-up", campaign: func() campaign.Campaign {
			p := c
			if err := p.Apply(campaign.ActionPause, launch.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return p
		}(), code: customerCode(), stage: referral.StageRejected, reason: rejection.CampaignNotActive, decisions: 1},
		{name: "a sign-up to an ended campaign keeps its fraud findings behind the primary reason", campaign: func() campaign.Campaign {
			p := c
			if err := p.Apply(campaign.ActionEnd, launch.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return p
		}(), code: customerCode(), screen: fraud.Result{Rejections: []*rejection.Rejection{selfRef}}, stage: referral.StageRejected, reason: rejection.CampaignNotActive, decisions: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := referral.Open(referral.OpenParams{
				Campaign: tt.campaign, Code: tt.code,
				Touch:     attribution.Touch{Code: tt.code.Code, ClickID: "k1", ClickedAt: clicked},
				SignUp:    attribution.SignUp{FriendID: "bob", Code: tt.code.Code, DeviceID: "dev-b", IPHash: "ip-b", EmailHash: "eb", PhoneHash: "pb", At: signedUp},
				Screening: tt.screen, Ineligible: tt.ineligible,
			})
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if r.Stage != tt.stage || len(r.Decisions) != tt.decisions {
				t.Fatalf("expected stage %s with %d decisions, got %s with %d", tt.stage, tt.decisions, r.Stage, len(r.Decisions))
			}
			if tt.reason != "" && (r.Rejection == nil || r.Rejection.Reason != tt.reason) {
				t.Errorf("expected reason %s, got %v", tt.reason, r.Rejection)
			}
			if r.ID != referral.NewID("bob") || r.ReferrerID != tt.code.OwnerID || !r.ClickedAt.Equal(clicked) {
				t.Errorf("expected the friend-derived id, the owner and the click time, got %+v", r)
			}
			if r.FriendDeviceID != "dev-b" || r.FriendIPHash != "ip-b" || r.FriendEmailHash != "eb" || r.FriendPhoneHash != "pb" {
				t.Errorf("expected the sign-up evidence to be kept, got %+v", r)
			}
		})
	}
}

func TestOpenRefusesInconsistentInput(t *testing.T) {
	t.Parallel()
	c := liveCampaign(t, nil)
	rec := customerCode()
	rec.CampaignID = "other"
	_, err := referral.Open(referral.OpenParams{Campaign: c, Code: rec, Touch: attribution.Touch{Code: "ZZZZ9999"}, SignUp: attribution.SignUp{}})
	want := []string{"friend_customer_id", "code", "at", "code", "code"}
	if got := validation.Fields(err); !slices.Equal(got, want) {
		t.Errorf("expected violations %v, got %v", want, got)
	}
	if referral.NewID("bob") == referral.NewID("bobby") || !strings.HasPrefix(referral.NewID("bob"), "ref_") {
		t.Errorf("expected distinct prefixed ids, got %s", referral.NewID("bob"))
	}
}

func TestConvert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		edit       func(*campaign.NewParams)
		code       code.Record
		order      campaign.Order
		successful int
		budget     *campaign.Budget
		verdict    campaign.Verdict
		reason     rejection.Reason
		// rewards lists role:points (or role:coupon) of the new rewards.
		rewards []string
		spent   int64
	}{
		{name: "a qualifying first order pays both sides", code: customerCode(), order: firstOrder(3000, signedUp.Add(day)),
			verdict: campaign.Qualifies, rewards: []string{"referrer:1000", "friend:1000"}, spent: 2000},
		{name: "the third successful referral pays the tier reward", code: customerCode(), order: firstOrder(3000, signedUp.Add(day)), successful: 2,
			verdict: campaign.Qualifies, rewards: []string{"referrer:1500", "friend:1000"}, spent: 2500},
		{name: "a partner code pays the partner's terms", code: partnerCode(), order: firstOrder(3000, signedUp.Add(day)),
			verdict: campaign.Qualifies, rewards: []string{"partner:300", "friend:coupon"}, spent: 300},
		{name: "a partner code is not subject to the referrer cap", code: partnerCode(), order: firstOrder(3000, signedUp.Add(day)), successful: 99,
			verdict: campaign.Qualifies, rewards: []string{"partner:300", "friend:coupon"}, spent: 300},
		{name: "a friend-only campaign pays only the friend", edit: func(p *campaign.NewParams) { p.ReferrerReward = campaign.Plan{} }, code: customerCode(),
			order: firstOrder(3000, signedUp.Add(day)), verdict: campaign.Qualifies, rewards: []string{"friend:1000"}, spent: 1000},
		{name: "a referrer at the cap is rejected", code: customerCode(), order: firstOrder(3000, signedUp.Add(day)), successful: 5,
			verdict: campaign.Reject, reason: rejection.ReferrerCapExceeded},
		{name: "an order past the window is rejected", code: customerCode(), order: firstOrder(3000, clicked.Add(31*day)),
			verdict: campaign.Reject, reason: rejection.AttributionWindowExpired},
		{name: "a small first order is rejected under first-order-only", code: customerCode(), order: firstOrder(1000, signedUp.Add(day)),
			verdict: campaign.Reject, reason: rejection.NotFirstOrder},
		{name: "a small order waits when later orders may qualify", edit: func(p *campaign.NewParams) { p.Conditions.FirstOrderOnly = false },
			code: customerCode(), order: firstOrder(1000, signedUp.Add(day)), verdict: campaign.Wait},
		{name: "an order before the sign-up waits", code: customerCode(), order: firstOrder(3000, signedUp.Add(-time.Minute)), verdict: campaign.Wait},
		{name: "an order after the campaign ended is rejected", edit: func(p *campaign.NewParams) { p.EndsAt = signedUp.Add(12 * time.Hour) },
			code: customerCode(), order: firstOrder(3000, signedUp.Add(day)), verdict: campaign.Reject, reason: rejection.CampaignNotActive},
		{name: "a conversion that does not fit the budget pays neither side", code: customerCode(), order: firstOrder(3000, signedUp.Add(day)),
			budget: &campaign.Budget{LimitPoints: 100_000, SpentPoints: 98_500}, verdict: campaign.Reject, reason: rejection.BudgetExhausted, spent: 98_500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := liveCampaign(t, tt.edit)
			r := open(t, c, tt.code)
			budget := c.BudgetFor()
			if tt.budget != nil {
				budget = *tt.budget
			}
			conv, err := r.Convert(referral.ConvertParams{Campaign: c, Order: tt.order, ReferrerSuccessful: tt.successful, Budget: &budget})
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if conv.Verdict != tt.verdict {
				t.Fatalf("expected %s, got %s (%v)", tt.verdict, conv.Verdict, conv.Rejection)
			}
			var got []string
			for _, rw := range conv.Rewards {
				v := "coupon"
				if rw.Spec.Kind == reward.KindPoints {
					v = strings.TrimSuffix(rw.Spec.String(), " points")
				}
				got = append(got, string(rw.Role)+":"+v)
				if rw.Status != reward.StatusPending || !rw.PayableAt.Equal(tt.order.PlacedAt.Add(14*day)) || rw.ID != reward.NewID(r.ID, rw.Role, rw.BeneficiaryID) {
					t.Errorf("expected a pending reward with a stable id payable 14 days after the order, got %+v", rw)
				}
			}
			if !slices.Equal(got, tt.rewards) {
				t.Errorf("expected rewards %v, got %v", tt.rewards, got)
			}
			if budget.SpentPoints != tt.spent {
				t.Errorf("expected %d points spent, got %d", tt.spent, budget.SpentPoints)
			}
			switch tt.verdict {
			case campaign.Qualifies:
				if r.Stage != referral.StageConverted || r.OrderID != tt.order.ID || !r.PayableAt.Equal(tt.order.PlacedAt.Add(14*day)) {
					t.Errorf("expected converted by %s, got %+v", tt.order.ID, r)
				}
			case campaign.Reject:
				if r.Stage != referral.StageRejected || r.Rejection.Reason != tt.reason || conv.Rejection.Reason != tt.reason {
					t.Errorf("expected rejected with %s, got %s %v", tt.reason, r.Stage, r.Rejection)
				}
			case campaign.Wait:
				if r.Stage != referral.StageSignedUp {
					t.Errorf("expected the referral to keep waiting, got %s", r.Stage)
				}
			}
		})
	}
}

func TestConvertTwiceConvertsOnce(t *testing.T) {
	t.Parallel()
	c := liveCampaign(t, nil)
	r := open(t, c, customerCode())
	budget := c.BudgetFor()
	first, err := r.Convert(referral.ConvertParams{Campaign: c, Order: firstOrder(3000, signedUp.Add(day)), Budget: &budget})
	if err != nil || first.Verdict != campaign.Qualifies {
		t.Fatalf("expected the first delivery to convert, got %v, %v", first.Verdict, err)
	}
	before := budget
	again, err := r.Convert(referral.ConvertParams{Campaign: c, Order: firstOrder(3000, signedUp.Add(day)), Budget: &budget})
	if !errors.Is(err, referral.ErrAlreadyConverted) || len(again.Rewards) != 0 || budget != before {
		t.Fatalf("expected ErrAlreadyConverted with no rewards and no spend, got %v, %+v, %+v", err, again, budget)
	}
	r.Stage = referral.StageRejected
	if _, err := r.Convert(referral.ConvertParams{Campaign: c, Order: firstOrder(3000, signedUp.Add(day)), Budget: &budget}); !errors.Is(err, referral.ErrClosed) {
		t.Errorf("expected ErrClosed for a rejected referral, got %v", err)
	}
}

func converted(t *testing.T, c campaign.Campaign) (referral.Referral, []*reward.Reward, *campaign.Budget) {
	t.Helper()
	r := open(t, c, customerCode())
	budget := c.BudgetFor()
	conv, err := r.Convert(referral.ConvertParams{Campaign: c, Order: firstOrder(3000, signedUp.Add(day)), Budget: &budget})
	if err != nil || conv.Verdict != campaign.Qualifies {
		t.Fatalf("expected a conversion, got %v, %v", conv.Verdict, err)
	}
	rewards := make([]*reward.Reward, len(conv.Rewards))
	for i := range conv.Rewards {
		rewards[i] = &conv.Rewards[i]
	}
	return r, rewards, &budget
}

func TestReverse(t *testing.T) {
	t.Parallel()
	orderAt := signedUp.Add(day)
	holdEnd := orderAt.Add(14 * day)
	tests := []struct {
		name   string
		rev    referral.Reversal
		voided bool
		reason rejection.Reason
	}{
		{name: "a full refund inside the hold voids both rewards", rev: referral.Reversal{OrderID: "o1", Refunded: eur(3000), At: holdEnd.Add(-time.Second)}, voided: true, reason: rejection.OrderRefunded},
		{name: "a cancellation inside the hold voids", rev: referral.Reversal{OrderID: "o1", Cancelled: true, At: orderAt.Add(time.Hour)}, voided: true, reason: rejection.OrderCancelled},
		{name: "a partial refund below the minimum voids", rev: referral.Reversal{OrderID: "o1", Refunded: eur(501), At: orderAt.Add(day)}, voided: true, reason: rejection.OrderRefunded},
		{name: "a partial refund keeping the minimum does not void", rev: referral.Reversal{OrderID: "o1", Refunded: eur(500), At: orderAt.Add(day)}},
		{name: "a refund at the hold end does not void", rev: referral.Reversal{OrderID: "o1", Refunded: eur(3000), At: holdEnd}},
		{name: "a refund of another order does not void", rev: referral.Reversal{OrderID: "o2", Refunded: eur(3000), At: orderAt.Add(day)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := liveCampaign(t, nil)
			r, rewards, budget := converted(t, c)
			voided, err := r.Reverse(c, tt.rev, rewards, budget)
			if err != nil || voided != tt.voided {
				t.Fatalf("expected voided=%v, got %v, %v", tt.voided, voided, err)
			}
			wantStatus, wantSpent := reward.StatusPending, int64(2000)
			if tt.voided {
				wantStatus, wantSpent = reward.StatusVoided, 0
				if r.Stage != referral.StageRejected || r.Rejection.Reason != tt.reason {
					t.Errorf("expected rejected with %s, got %s %v", tt.reason, r.Stage, r.Rejection)
				}
			} else if r.Stage != referral.StageConverted {
				t.Errorf("expected still converted, got %s", r.Stage)
			}
			for _, rw := range rewards {
				if rw.Status != wantStatus {
					t.Errorf("expected reward %s %s, got %s", rw.Role, wantStatus, rw.Status)
				}
			}
			if budget.SpentPoints != wantSpent {
				t.Errorf("expected %d points spent after the reversal, got %d", wantSpent, budget.SpentPoints)
			}
			// A redelivered reversal changes nothing.
			again, err := r.Reverse(c, tt.rev, rewards, budget)
			if err != nil || again || budget.SpentPoints != wantSpent {
				t.Errorf("expected a repeat to be a no-op, got %v, %v, %d spent", again, err, budget.SpentPoints)
			}
		})
	}
}

func TestReverseRefusesForeignCurrency(t *testing.T) {
	t.Parallel()
	c := liveCampaign(t, nil)
	r, rewards, budget := converted(t, c)
	_, err := r.Reverse(c, referral.Reversal{OrderID: "o1", Refunded: money.New(3000, "USD"), At: signedUp.Add(2 * day)}, rewards, budget)
	if !errors.Is(err, money.ErrCurrencyMismatch) || r.Stage != referral.StageConverted {
		t.Errorf("expected a currency mismatch and no change, got %v, %s", err, r.Stage)
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	c := liveCampaign(t, nil)
	r, rewards, _ := converted(t, c)
	holdEnd := r.PayableAt
	list := []reward.Reward{*rewards[0], *rewards[1]}
	if r.Settle(list, holdEnd) {
		t.Fatal("expected no settlement while rewards are unpaid")
	}
	if err := list[0].MarkPaid(holdEnd, ""); err != nil {
		t.Fatal(err)
	}
	if r.Settle(list, holdEnd) {
		t.Fatal("expected no settlement with one reward unpaid")
	}
	if err := list[1].MarkPaid(holdEnd, ""); err != nil {
		t.Fatal(err)
	}
	if !r.Settle(list, holdEnd) || r.Stage != referral.StageRewarded || !r.RewardedAt.Equal(holdEnd) {
		t.Fatalf("expected rewarded at %s, got %s at %s", holdEnd, r.Stage, r.RewardedAt)
	}
	if r.Settle(list, holdEnd.Add(time.Hour)) {
		t.Error("expected settling twice to change nothing")
	}
}

func TestNudge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*campaign.NewParams)
		prep func(*referral.Referral)
		now  time.Time
		due  bool
	}{
		{name: "before the delay no nudge is due", now: signedUp.Add(3*day - time.Second)},
		{name: "at the delay the nudge is due", now: signedUp.Add(3 * day), due: true},
		{name: "a nudged referral is not nudged again", prep: func(r *referral.Referral) { r.NudgedAt = signedUp.Add(3 * day) }, now: signedUp.Add(4 * day)},
		{name: "a converted referral is not nudged", prep: func(r *referral.Referral) { r.Stage = referral.StageConverted }, now: signedUp.Add(4 * day)},
		{name: "campaigns without nudges never nudge", edit: func(p *campaign.NewParams) { p.NudgeAfter = 0 }, now: signedUp.Add(40 * day)},
		{name: "no nudge once the window would be closed", edit: func(p *campaign.NewParams) {
			p.Conditions.AttributionWindow = 2 * day
		}, now: signedUp.Add(4 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := liveCampaign(t, tt.edit)
			r := open(t, c, customerCode())
			if tt.prep != nil {
				tt.prep(&r)
			}
			if got := r.NudgeDue(c, tt.now); got != tt.due {
				t.Errorf("expected due=%v, got %v", tt.due, got)
			}
		})
	}
	c := liveCampaign(t, nil)
	r := open(t, c, customerCode())
	if err := r.MarkNudged(signedUp.Add(3 * day)); err != nil {
		t.Fatalf("expected the first nudge to be recorded, got %v", err)
	}
	if err := r.MarkNudged(signedUp.Add(3 * day)); !errors.Is(err, referral.ErrAlreadyNudged) {
		t.Errorf("expected ErrAlreadyNudged, got %v", err)
	}
}

func TestProgressAndSummary(t *testing.T) {
	t.Parallel()
	// A friend reward unlike the referrer's shows which one progress picks.
	c := liveCampaign(t, func(p *campaign.NewParams) { p.FriendReward = reward.Points(700) })
	conv, rewards, _ := converted(t, c)
	pending := open(t, c, customerCode())
	rejected := open(t, c, customerCode())
	budget := c.BudgetFor()
	if _, err := rejected.Convert(referral.ConvertParams{Campaign: c, Order: firstOrder(100, signedUp.Add(day)), Budget: &budget}); err != nil {
		t.Fatal(err)
	}
	list := []reward.Reward{*rewards[0], *rewards[1]}
	tests := []struct {
		name   string
		r      referral.Referral
		now    time.Time
		status referral.FriendStatus
		check  func(referral.FriendProgress) string
	}{
		{name: "a signed-up friend shows as signed up", r: pending, now: signedUp, status: referral.FriendSignedUp},
		{name: "a converted friend shows the pending date and the referrer's reward only", r: conv, now: signedUp.Add(2 * day), status: referral.FriendRewardPending,
			check: func(p referral.FriendProgress) string {
				if !p.PendingUntil.Equal(conv.PayableAt) || p.Reward.Points != 1000 || p.OrderedAt.IsZero() {
					return "expected the pending date, the order time and 1000 points"
				}
				return ""
			}},
		{name: "after the hold it shows as payable", r: conv, now: conv.PayableAt, status: referral.FriendRewardPayable},
		{name: "a rejected friend shows the reason and its text", r: rejected, now: signedUp.Add(2 * day), status: referral.FriendRejected,
			check: func(p referral.FriendProgress) string {
				if p.Reason != rejection.NotFirstOrder || p.Description != rejection.NotFirstOrder.Description() {
					return "expected not_first_order with its description"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.r.Progress(list, tt.now)
			if p.Status != tt.status {
				t.Errorf("expected %s, got %s", tt.status, p.Status)
			}
			if tt.check != nil {
				if msg := tt.check(p); msg != "" {
					t.Errorf("%s, got %+v", msg, p)
				}
			}
		})
	}
	rewarded := conv
	rewarded.Stage = referral.StageRewarded
	s := referral.Summarize([]referral.Referral{conv, rewarded, pending, rejected}, 40, c.ReferrerReward)
	want := referral.Summary{Clicks: 40, SignedUp: 4, Successful: 2, Rewarded: 1, Rejected: 1, HasNext: true,
		Next: referral.Milestone{Target: 3, Remaining: 1, Reward: reward.Points(1500)}}
	if s != want {
		t.Errorf("expected %+v, got %+v", want, s)
	}
	if top := referral.Summarize(nil, 0, campaign.Plan{Base: reward.Points(1)}); top.HasNext {
		t.Errorf("expected no milestone without tiers, got %+v", top)
	}
}

// BenchmarkConvert measures the pure part of the conversion pipeline (the
// issue's ≥ 2,000 orders/s goal is for the full pipeline with PostgreSQL;
// this shows the domain is not the bottleneck).
func BenchmarkConvert(b *testing.B) {
	c := liveCampaign(b, nil)
	base := open(b, c, customerCode())
	o := firstOrder(3000, signedUp.Add(day))
	for b.Loop() {
		r := base
		budget := c.BudgetFor()
		conv, err := r.Convert(referral.ConvertParams{Campaign: c, Order: o, Budget: &budget})
		if err != nil || conv.Verdict != campaign.Qualifies {
			b.Fatal(conv.Verdict, err)
		}
	}
}
