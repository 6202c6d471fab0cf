package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyeventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/services/referral/db"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// env is one test's service core on its own fresh database, with a clock
// the test moves.
type env struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	a    *app.App
	mu   sync.Mutex
	now  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), now: start}
	e.pool = pgtest.NewDB(t, outbox.Migrations, idempotency.Migrations, db.Set)
	e.a = app.New(e.pool, app.Config{Fraud: fraud.DefaultPolicy(), Now: e.clock})
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) tx(fn func(t *app.Tx) error) error { return e.a.InTx(e.ctx, fn) }

// pointsCampaign is "give 300, get 500": 500 points for the referrer, 300
// for the friend, a 30-day window and a 14-day hold.
func pointsCampaign() campaign.NewParams {
	return campaign.NewParams{
		Name:           "Give 300, get 500",
		ReferrerReward: campaign.Plan{Base: reward.Points(500)},
		FriendReward:   reward.Points(300),
		Conditions:     campaign.Conditions{AttributionWindow: 30 * day},
		HoldPeriod:     14 * day,
		ShareBaseURL:   "https://shop.example/r/{code}",
	}
}

// activeCampaign creates and activates a campaign with p, changed by edit.
func (e *env) activeCampaign(edit func(*campaign.NewParams)) campaign.Campaign {
	e.t.Helper()
	p := pointsCampaign()
	if edit != nil {
		edit(&p)
	}
	var c campaign.Campaign
	err := e.tx(func(t *app.Tx) error {
		created, err := e.a.CreateCampaign(e.ctx, t, p)
		if err != nil {
			return err
		}
		c, err = e.a.ApplyCampaignAction(e.ctx, t, created.ID, campaign.ActionActivate)
		return err
	})
	if err != nil {
		e.t.Fatalf("create campaign: %v", err)
	}
	return c
}

func (e *env) code(campaignID, customerID string) code.Code {
	e.t.Helper()
	var got app.IssuedCode
	err := e.tx(func(t *app.Tx) error {
		var err error
		got, err = e.a.IssueCode(e.ctx, t, app.IssueCodeInput{CampaignID: campaignID, CustomerID: customerID})
		return err
	})
	if err != nil {
		e.t.Fatalf("issue code for %s: %v", customerID, err)
	}
	return got.Code
}

func (e *env) signUp(in app.SignUpInput) app.Attributed {
	e.t.Helper()
	if in.At.IsZero() {
		in.At = e.clock()
	}
	var out app.Attributed
	err := e.tx(func(t *app.Tx) error {
		var err error
		out, err = e.a.Attribute(e.ctx, t, in)
		return err
	})
	if err != nil {
		e.t.Fatalf("attribute %s: %v", in.FriendID, err)
	}
	return out
}

func (e *env) order(kind commercev1.OrderEvent_Kind, orderID, customerID string, total int64, at time.Time, refunded ...int64) {
	e.t.Helper()
	if err := e.tryOrder(kind, orderID, customerID, total, at, refunded...); err != nil {
		e.t.Fatalf("order %s: %v", orderID, err)
	}
}

func (e *env) tryOrder(kind commercev1.OrderEvent_Kind, orderID, customerID string, total int64, at time.Time, refunded ...int64) error {
	ev := &commercev1.OrderEvent{
		Kind: kind, OrderId: orderID, CustomerId: customerID,
		Totals:    &commercev1.OrderTotals{Total: &commercev1.Money{AmountMinor: total, Currency: "EUR"}},
		OrderedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at),
	}
	for i, amount := range refunded {
		ev.RefundedLines = append(ev.RefundedLines, &commercev1.RefundedLine{LineId: fmt.Sprint(i), Amount: &commercev1.Money{AmountMinor: amount, Currency: "EUR"}})
		ev.RefundId = fmt.Sprintf("%s-refund-%d-%d", orderID, i, at.UnixNano())
	}
	return e.tx(func(t *app.Tx) error { return e.a.HandleOrder(e.ctx, t, "ev-"+orderID+kind.String()+at.String(), ev) })
}

func (e *env) customer(ev *commercev1.CustomerEvent) {
	e.t.Helper()
	if err := e.tx(func(t *app.Tx) error { return e.a.HandleCustomer(e.ctx, t, "ev", ev) }); err != nil {
		e.t.Fatalf("customer event: %v", err)
	}
}

func (e *env) referral(friendID string) referral.Referral {
	e.t.Helper()
	var r referral.Referral
	err := e.tx(func(t *app.Tx) error {
		var err error
		r, err = t.Store().ReferralByFriend(e.ctx, friendID)
		return err
	})
	if err != nil {
		e.t.Fatalf("referral of %s: %v", friendID, err)
	}
	return r
}

func (e *env) rewards(referralID string) []reward.Reward {
	e.t.Helper()
	var rs []reward.Reward
	err := e.tx(func(t *app.Tx) error {
		var err error
		rs, err = t.Store().RewardsForReferral(e.ctx, referralID)
		return err
	})
	if err != nil {
		e.t.Fatalf("rewards of %s: %v", referralID, err)
	}
	return rs
}

// published returns the referral events waiting in the outbox (no relay
// runs in these tests), in the order they were written.
func (e *env) published() []*referraleventsv1.ReferralEvent {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, "SELECT payload FROM outbox WHERE topic = 'referral.events.v1' ORDER BY id")
	if err != nil {
		e.t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]*referraleventsv1.ReferralEvent, len(payloads))
	for i, p := range payloads {
		out[i] = &referraleventsv1.ReferralEvent{}
		if err := proto.Unmarshal(p, out[i]); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

func kinds(evs []*referraleventsv1.ReferralEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.ProtoReflect().WhichOneof(ev.ProtoReflect().Descriptor().Oneofs().ByName("event")).Name())
	}
	return out
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestAReferralGoesFromCodeToClickToSignUpToOrderToTwoRewardsPaidAfterTheHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(nil)
	ref := e.code(c.ID, "anna")

	var click string
	err := e.tx(func(t *app.Tx) error {
		cl, err := e.a.RecordClick(e.ctx, t, app.ClickInput{Code: ref.Display(), DeviceID: "dev-ben", IPHash: hash("10.0.0.2"), At: start.Add(time.Hour)})
		click = cl.ID
		return err
	})
	if err != nil {
		t.Fatalf("record click: %v", err)
	}
	got := e.signUp(app.SignUpInput{Code: string(ref), FriendID: "ben", DeviceID: "dev-ben", IPHash: hash("10.0.0.2"), At: start.Add(2 * time.Hour)})
	if got.Referral.Stage != referral.StageSignedUp || got.Referral.ClickID != click || got.Referral.ReferrerID != "anna" {
		t.Fatalf("attribution = stage %s, click %q, referrer %q; want signed_up, click %q, referrer anna (rejection %v)",
			got.Referral.Stage, got.Referral.ClickID, got.Referral.ReferrerID, click, got.Referral.Rejection)
	}

	ordered := start.Add(3 * day)
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 4999, ordered)
	r := e.referral("ben")
	if r.Stage != referral.StageConverted || !r.PayableAt.Equal(ordered.Add(14*day)) {
		t.Fatalf("after the order: stage %s payable %s; want converted payable %s", r.Stage, r.PayableAt, ordered.Add(14*day))
	}

	// Nothing is paid during the hold.
	if n, err := e.a.PayDue(e.ctx, ordered.Add(13*day), 100); err != nil || n != 0 {
		t.Fatalf("PayDue inside the hold = %d, %v; want 0 rewards", n, err)
	}
	if n, err := e.a.PayDue(e.ctx, ordered.Add(14*day), 100); err != nil || n != 2 {
		t.Fatalf("PayDue after the hold = %d, %v; want 2 rewards", n, err)
	}
	if n, err := e.a.PayDue(e.ctx, ordered.Add(15*day), 100); err != nil || n != 0 {
		t.Fatalf("PayDue again = %d, %v; want 0: a reward is paid once", n, err)
	}
	if r := e.referral("ben"); r.Stage != referral.StageRewarded {
		t.Errorf("stage after payment = %s, want rewarded", r.Stage)
	}

	evs := e.published()
	want := []string{"referral_attributed", "referral_converted", "referral_rewarded", "referral_rewarded"}
	if fmt.Sprint(kinds(evs)) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", kinds(evs), want)
	}
	paid := map[string]int64{}
	ids := map[string]bool{}
	for _, ev := range evs[2:] {
		rw := ev.GetReferralRewarded()
		paid[rw.GetBeneficiaryCustomerId()] = rw.GetPoints()
		ids[rw.GetRewardId()] = true
		if want := string(reward.NewID(r.ID, map[string]reward.Role{"anna": reward.RoleReferrer, "ben": reward.RoleFriend}[rw.GetBeneficiaryCustomerId()], rw.GetBeneficiaryCustomerId())); rw.GetRewardId() != want {
			t.Errorf("reward id of %s = %s, want the stable %s", rw.GetBeneficiaryCustomerId(), rw.GetRewardId(), want)
		}
	}
	if paid["anna"] != 500 || paid["ben"] != 300 || len(ids) != 2 {
		t.Errorf("rewards paid = %v with %d ids, want anna 500 and ben 300 with 2 ids", paid, len(ids))
	}
}

func TestEveryFraudAndProgramRuleRejectsWithItsReason(t *testing.T) {
	t.Parallel()
	type setup struct {
		campaign func(*campaign.NewParams)
		// before runs after the referrer's code exists and before the sign-up.
		before func(e *env, c campaign.Campaign, ref code.Code)
		signUp app.SignUpInput
		// after runs after the sign-up (orders).
		after func(e *env, c campaign.Campaign, ref code.Code)
		want  rejection.Reason
	}
	cases := map[string]setup{
		"a friend who is the referrer": {signUp: app.SignUpInput{FriendID: "anna"}, want: rejection.SelfReferralCustomer},
		"a friend with the referrer's e-mail": {
			before: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.customer(&commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED, Customer: &commercev1.Customer{CustomerId: "anna", EmailHash: hash("anna@example.com")}})
			},
			signUp: app.SignUpInput{EmailHash: hash("anna@example.com")}, want: rejection.SelfReferralEmail,
		},
		"a friend with the referrer's phone": {
			before: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.customer(&commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED, Customer: &commercev1.Customer{CustomerId: "anna", PhoneHash: hash("+4930123456")}})
			},
			signUp: app.SignUpInput{PhoneHash: hash("+4930123456")}, want: rejection.SelfReferralPhone,
		},
		"a friend on the referrer's device": {
			before: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.customer(&commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED, Customer: &commercev1.Customer{CustomerId: "anna", AnonymousIds: []string{"dev-anna"}}})
			},
			signUp: app.SignUpInput{DeviceID: "dev-anna"}, want: rejection.SelfReferralDevice,
		},
		"a friend who already ordered": {
			before: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "old-order", "ben", 1000, start.Add(-30*day))
			},
			want: rejection.ExistingCustomer,
		},
		"a friend whose account is older than the referral": {
			before: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.customer(&commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, Customer: &commercev1.Customer{CustomerId: "ben", SignedUpAt: timestamppb.New(start.Add(-90 * day))}})
			},
			want: rejection.ExistingCustomer,
		},
		"a fourth sign-up from one IP in a day": {
			before: func(e *env, _ campaign.Campaign, ref code.Code) {
				for i := range 3 {
					e.signUp(app.SignUpInput{Code: string(ref), FriendID: fmt.Sprintf("ip-friend-%d", i), IPHash: hash("10.9.9.9"), At: start.Add(time.Duration(i) * time.Minute)})
				}
			},
			signUp: app.SignUpInput{IPHash: hash("10.9.9.9")}, want: rejection.IPVelocity,
		},
		"a third sign-up from one device in a day": {
			before: func(e *env, _ campaign.Campaign, ref code.Code) {
				for i := range 2 {
					e.signUp(app.SignUpInput{Code: string(ref), FriendID: fmt.Sprintf("dev-friend-%d", i), DeviceID: "dev-shared", At: start.Add(time.Duration(i) * time.Minute)})
				}
			},
			signUp: app.SignUpInput{DeviceID: "dev-shared"}, want: rejection.DeviceVelocity,
		},
		"a disposable e-mail domain": {signUp: app.SignUpInput{EmailDomain: "eu.mailinator.com"}, want: rejection.DisposableEmail},
		"a referrer without an order when the campaign asks for one": {
			campaign: func(p *campaign.NewParams) { p.Eligibility.RequireOrder = true },
			want:     rejection.ReferrerIneligible,
		},
		"a referrer outside the campaign's segments": {
			campaign: func(p *campaign.NewParams) { p.Eligibility.Segments = []string{"vip"} },
			want:     rejection.ReferrerIneligible,
		},
		"a sign-up while the campaign is paused": {
			before: func(e *env, c campaign.Campaign, _ code.Code) {
				if err := e.tx(func(t *app.Tx) error {
					_, err := e.a.ApplyCampaignAction(e.ctx, t, c.ID, campaign.ActionPause)
					return err
				}); err != nil {
					e.t.Fatal(err)
				}
			},
			want: rejection.CampaignNotActive,
		},
		"a referrer past the cap": {
			campaign: func(p *campaign.NewParams) { p.Caps.RewardsPerReferrer = 1 },
			before: func(e *env, _ campaign.Campaign, ref code.Code) {
				e.signUp(app.SignUpInput{Code: string(ref), FriendID: "first-friend"})
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "first-order", "first-friend", 2000, start.Add(time.Hour))
			},
			after: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-ben", "ben", 2000, start.Add(2*time.Hour))
			},
			want: rejection.ReferrerCapExceeded,
		},
		"a conversion past the budget": {
			campaign: func(p *campaign.NewParams) { p.Caps.BudgetPoints = 800 },
			before: func(e *env, _ campaign.Campaign, ref code.Code) {
				e.signUp(app.SignUpInput{Code: string(ref), FriendID: "first-friend"})
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "first-order", "first-friend", 2000, start.Add(time.Hour))
			},
			after: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-ben", "ben", 2000, start.Add(2*time.Hour))
			},
			want: rejection.BudgetExhausted,
		},
		"a first order after the attribution window": {
			after: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-ben", "ben", 2000, start.Add(31*day))
			},
			want: rejection.AttributionWindowExpired,
		},
		"a first order below the minimum when only the first order counts": {
			campaign: func(p *campaign.NewParams) {
				p.Conditions.FirstOrderOnly = true
				p.Conditions.MinOrderValue = money.New(5000, "EUR")
				p.Currency = "EUR"
			},
			after: func(e *env, _ campaign.Campaign, _ code.Code) {
				e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-ben", "ben", 1000, start.Add(day))
			},
			want: rejection.NotFirstOrder,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.activeCampaign(tc.campaign)
			ref := e.code(c.ID, "anna")
			if tc.before != nil {
				tc.before(e, c, ref)
			}
			in := tc.signUp
			in.Code = string(ref)
			if in.FriendID == "" {
				in.FriendID = "ben"
			}
			if in.At.IsZero() {
				in.At = start.Add(10 * time.Minute)
			}
			e.signUp(in)
			if tc.after != nil {
				tc.after(e, c, ref)
			}
			r := e.referral(in.FriendID)
			if r.Stage != referral.StageRejected || r.Rejection == nil || r.Rejection.Reason != tc.want {
				t.Fatalf("referral = stage %s, rejection %v; want rejected with %s", r.Stage, r.Rejection, tc.want)
			}
			if len(r.Rejection.Evidence) == 0 {
				t.Errorf("rejection %s carries no evidence", r.Rejection.Reason)
			}
			var announced bool
			for _, ev := range e.published() {
				if rj := ev.GetReferralRejected(); rj != nil && rj.GetReferredCustomerId() == in.FriendID {
					announced = rj.GetReasonCode() == string(tc.want) && rj.GetReason() == app.ReasonToProto(tc.want) && rj.GetReason() != 0
				}
			}
			if !announced {
				t.Errorf("no ReferralRejected with reason %s (enum %v) for %s in %v", tc.want, app.ReasonToProto(tc.want), in.FriendID, kinds(e.published()))
			}
		})
	}
}

func TestARefundOrCancellationInsideTheHoldVoidsTheRewardsAndLaterOnesDoNot(t *testing.T) {
	t.Parallel()
	ordered := start.Add(time.Hour)
	cases := []struct {
		name     string
		kind     commercev1.OrderEvent_Kind
		at       time.Time
		refunds  []int64
		voided   bool
		reason   rejection.Reason
		spentOut int64
	}{
		{"a full refund inside the hold", commercev1.OrderEvent_KIND_REFUNDED, ordered.Add(5 * day), []int64{4000}, true, rejection.OrderRefunded, 0},
		{"a cancellation inside the hold", commercev1.OrderEvent_KIND_CANCELLED, ordered.Add(day), nil, true, rejection.OrderCancelled, 0},
		{"a partial refund inside the hold", commercev1.OrderEvent_KIND_REFUNDED, ordered.Add(5 * day), []int64{1000}, false, "", 800},
		{"a full refund after the hold", commercev1.OrderEvent_KIND_REFUNDED, ordered.Add(15 * day), []int64{4000}, false, "", 800},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.activeCampaign(func(p *campaign.NewParams) { p.Caps.BudgetPoints = 10000 })
			ref := e.code(c.ID, "anna")
			e.signUp(app.SignUpInput{Code: string(ref), FriendID: "ben"})
			e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 4000, ordered)
			e.order(tc.kind, "o-1", "ben", 4000, tc.at, tc.refunds...)
			r := e.referral("ben")
			rewards := e.rewards(r.ID)
			if len(rewards) != 2 {
				t.Fatalf("rewards = %d, want 2", len(rewards))
			}
			for _, rw := range rewards {
				if (rw.Status == reward.StatusVoided) != tc.voided {
					t.Errorf("reward %s of %s status %s, want voided=%v", rw.ID, rw.BeneficiaryID, rw.Status, tc.voided)
				}
			}
			if tc.voided && (r.Stage != referral.StageRejected || r.Rejection.Reason != tc.reason) {
				t.Errorf("referral = %s %v, want rejected %s", r.Stage, r.Rejection, tc.reason)
			}
			var spent int64
			if err := e.pool.QueryRow(e.ctx, "SELECT spent_points FROM campaigns WHERE id = $1", c.ID).Scan(&spent); err != nil {
				t.Fatal(err)
			}
			if spent != tc.spentOut {
				t.Errorf("budget spent = %d points, want %d", spent, tc.spentOut)
			}
			paid, err := e.a.PayDue(e.ctx, ordered.Add(30*day), 100)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 0, false: 2}[tc.voided]; paid != want {
				t.Errorf("rewards paid after the hold = %d, want %d", paid, want)
			}
		})
	}
}

func TestAnOrderDeliveredTwiceConvertsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(nil)
	ref := e.code(c.ID, "anna")
	e.signUp(app.SignUpInput{Code: string(ref), FriendID: "ben"})
	for range 2 {
		e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 2000, start.Add(time.Hour))
	}
	// A second order of the friend does not convert again either.
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-2", "ben", 2000, start.Add(2*time.Hour))
	converted := 0
	for _, k := range kinds(e.published()) {
		if k == "referral_converted" {
			converted++
		}
	}
	if converted != 1 {
		t.Errorf("ReferralConverted events = %d, want 1", converted)
	}
	if n := len(e.rewards(e.referral("ben").ID)); n != 2 {
		t.Errorf("rewards = %d, want 2", n)
	}
}

func TestACampaignBudgetIsNeverExceededUnder100ConcurrentConversions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// 800 points per conversion; 6 fit into 5000.
	c := e.activeCampaign(func(p *campaign.NewParams) { p.Caps.BudgetPoints = 5000 })
	const n = 100
	for i := range n {
		ref := e.code(c.ID, fmt.Sprintf("referrer-%d", i))
		e.signUp(app.SignUpInput{Code: string(ref), FriendID: fmt.Sprintf("friend-%d", i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.tryOrder(commercev1.OrderEvent_KIND_COMPLETED, fmt.Sprintf("o-%d", i), fmt.Sprintf("friend-%d", i), 2000, start.Add(time.Hour))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("conversion: %v", err)
		}
	}
	var spent int64
	var converted, exhausted int
	if err := e.pool.QueryRow(e.ctx, "SELECT spent_points FROM campaigns WHERE id = $1", c.ID).Scan(&spent); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FILTER (WHERE stage = 'converted'),
		count(*) FILTER (WHERE body->'Rejection'->>'Reason' = 'budget_exhausted') FROM referrals`).Scan(&converted, &exhausted); err != nil {
		t.Fatal(err)
	}
	if spent > 5000 || converted != 6 || exhausted != n-6 || spent != int64(converted)*800 {
		t.Errorf("spent %d of 5000 with %d conversions and %d budget rejections; want 4800 spent by 6 conversions and %d rejections", spent, converted, exhausted, n-6)
	}
}

func TestANudgeIsEmittedOnceForAFriendWhoSignedUpAndDidNotOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(func(p *campaign.NewParams) { p.NudgeAfter = 72 * time.Hour })
	ref := e.code(c.ID, "anna")
	e.signUp(app.SignUpInput{Code: string(ref), FriendID: "ben", At: start})
	e.signUp(app.SignUpInput{Code: string(ref), FriendID: "cleo", At: start})
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-cleo", "cleo", 2000, start.Add(time.Hour))

	for _, tc := range []struct {
		at   time.Time
		want int
	}{{start.Add(71 * time.Hour), 0}, {start.Add(72 * time.Hour), 1}, {start.Add(100 * time.Hour), 0}} {
		got, err := e.a.NudgeDue(e.ctx, tc.at, 100)
		if err != nil || got != tc.want {
			t.Errorf("NudgeDue at %s = %d, %v; want %d", tc.at.Sub(start), got, err, tc.want)
		}
	}
	var nudged []string
	for _, ev := range e.published() {
		if nd := ev.GetReferralNudgeDue(); nd != nil {
			nudged = append(nudged, nd.GetReferredCustomerId())
		}
	}
	if fmt.Sprint(nudged) != "[ben]" {
		t.Errorf("nudged friends = %v, want [ben]", nudged)
	}
}

func TestTieredRewardsGrowWithSuccessfulReferralsAndProgressShowsTheNextStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(func(p *campaign.NewParams) {
		p.ReferrerReward.Tiers = []campaign.Tier{{MinConversions: 2, Reward: reward.Points(1000)}, {MinConversions: 5, Reward: reward.Points(2000)}}
	})
	ref := e.code(c.ID, "anna")
	for i := range 3 {
		friend := fmt.Sprintf("friend-%d", i)
		e.signUp(app.SignUpInput{Code: string(ref), FriendID: friend, At: start.Add(time.Duration(i) * time.Minute)})
		e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-"+friend, friend, 2000, start.Add(time.Duration(i+1)*time.Hour))
	}
	var got []int64
	for i := range 3 {
		for _, rw := range e.rewards(e.referral(fmt.Sprintf("friend-%d", i)).ID) {
			if rw.Role == reward.RoleReferrer {
				got = append(got, rw.Spec.Points)
			}
		}
	}
	if fmt.Sprint(got) != "[500 1000 1000]" {
		t.Errorf("referrer rewards = %v, want [500 1000 1000]", got)
	}
	var view app.ReferrerView
	if err := e.tx(func(t *app.Tx) error {
		var err error
		view, err = e.a.CustomerReferrals(e.ctx, t, "anna", "", 2, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(view.Friends) != 2 || view.NextPage == "" {
		t.Fatalf("first page = %d friends, next %q; want 2 and a next page", len(view.Friends), view.NextPage)
	}
	if len(view.Milestones) != 1 || view.Milestones[0].Conversions != 3 || view.Milestones[0].Next.MinConversions != 5 {
		t.Errorf("milestones = %+v, want 3 conversions with the next step at 5", view.Milestones)
	}
	if p := view.Friends[0].Progress; p.Status != referral.FriendRewardPending || !p.PendingUntil.Equal(start.Add(3*time.Hour+14*day)) {
		t.Errorf("newest friend progress = %s until %s, want reward_pending until %s", p.Status, p.PendingUntil, start.Add(3*time.Hour+14*day))
	}
}

func TestAFriendIsReferredOnceAndASecondCodeIsRejectedAsAlreadyReferred(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(nil)
	anna, cleo := e.code(c.ID, "anna"), e.code(c.ID, "cleo")
	first := e.signUp(app.SignUpInput{Code: string(anna), FriendID: "ben"})
	again := e.signUp(app.SignUpInput{Code: string(anna), FriendID: "ben"})
	if again.Referral.ID != first.Referral.ID {
		t.Errorf("repeated sign-up = %q, want the stored referral %q", again.Referral.ID, first.Referral.ID)
	}
	other := e.signUp(app.SignUpInput{Code: string(cleo), FriendID: "ben"})
	if other.Rejection == nil || other.Rejection.Reason != rejection.AlreadyReferred {
		t.Errorf("sign-up with a second code = %+v, want already_referred", other)
	}
	if r := e.referral("ben"); r.ReferrerID != "anna" {
		t.Errorf("referrer = %s, want anna (unchanged)", r.ReferrerID)
	}
	unknown := e.signUp(app.SignUpInput{Code: "NOSUCH99", FriendID: "dora"})
	if unknown.Rejection == nil || unknown.Rejection.Reason != rejection.UnknownCode {
		t.Errorf("sign-up with an unknown code = %+v, want unknown_code", unknown)
	}
}

func TestACustomerHasOneCodePerCampaignAndVanityCodesAreUnique(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(nil)
	first, second := e.code(c.ID, "anna"), e.code(c.ID, "anna")
	if first != second || len(first) != code.Length {
		t.Errorf("codes = %s and %s, want one generated code asked for twice", first, second)
	}
	issue := func(in app.IssueCodeInput) (app.IssuedCode, error) {
		var out app.IssuedCode
		err := e.tx(func(t *app.Tx) error {
			var err error
			out, err = e.a.IssueCode(e.ctx, t, in)
			return err
		})
		return out, err
	}
	v, err := issue(app.IssueCodeInput{CampaignID: c.ID, CustomerID: "ben", Vanity: "ben-rocks"})
	if err != nil || v.Code != "BENROCKS" || v.ShareURL != "https://shop.example/r/BENROCKS" {
		t.Fatalf("vanity code = %+v, %v; want BENROCKS with its link", v, err)
	}
	if _, err := issue(app.IssueCodeInput{CampaignID: c.ID, CustomerID: "cleo", Vanity: "BenRocks"}); !errors.Is(err, code.ErrTaken) {
		t.Errorf("another customer's request for BENROCKS = %v, want ErrTaken", err)
	}
	p, err := issue(app.IssueCodeInput{CampaignID: c.ID, PartnerID: "influencer-1", Vanity: "GLOW20",
		Partner: &code.PartnerTerms{PartnerReward: reward.Points(2000), FriendReward: reward.Points(400)}})
	if err != nil || p.OwnerKind != code.OwnerPartner {
		t.Fatalf("partner code = %+v, %v", p, err)
	}
	e.signUp(app.SignUpInput{Code: "glow20", FriendID: "dora"})
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-dora", "dora", 2000, start.Add(time.Hour))
	got := map[reward.Role]int64{}
	for _, rw := range e.rewards(e.referral("dora").ID) {
		got[rw.Role] = rw.Spec.Points
	}
	if got[reward.RolePartner] != 2000 || got[reward.RoleFriend] != 400 {
		t.Errorf("partner referral rewards = %v, want partner 2000 and friend 400", got)
	}
	var st app.CampaignStats
	if err := e.tx(func(t *app.Tx) error {
		var err error
		st, err = e.a.Stats(e.ctx, t, c.ID, time.Time{}, time.Time{}, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(st.Top) != 1 || st.Top[0].ID != "influencer-1" || !st.Top[0].Partner {
		t.Errorf("top referrers = %+v, want influencer-1 marked as a partner", st.Top)
	}
}

func TestStatsShowTheFunnelAndTopReferrers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(nil)
	anna, cleo := e.code(c.ID, "anna"), e.code(c.ID, "cleo")
	for i, code := range []code.Code{anna, anna, anna, cleo} {
		if err := e.tx(func(t *app.Tx) error {
			_, err := e.a.RecordClick(e.ctx, t, app.ClickInput{Code: string(code), DeviceID: fmt.Sprint("d", i), At: start})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	e.signUp(app.SignUpInput{Code: string(anna), FriendID: "f1"})
	e.signUp(app.SignUpInput{Code: string(anna), FriendID: "f2"})
	e.signUp(app.SignUpInput{Code: string(cleo), FriendID: "cleo"}) // self-referral
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "o1", "f1", 3000, start.Add(time.Hour))
	if _, err := e.a.PayDue(e.ctx, start.Add(20*day), 100); err != nil {
		t.Fatal(err)
	}
	var st app.CampaignStats
	if err := e.tx(func(t *app.Tx) error {
		var err error
		st, err = e.a.Stats(e.ctx, t, c.ID, time.Time{}, time.Time{}, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f := st.Funnel
	if f.Clicks != 4 || f.SignUps != 3 || f.Conversions != 1 || f.Rejected != 1 || f.RewardsPaid != 2 || f.CostPoints != 800 || f.ConversionRate != 0.25 || f.ViralCoefficient != 0.5 {
		t.Errorf("funnel = %+v; want 4 clicks, 3 sign-ups, 1 conversion, 1 rejection, 2 rewards, 800 points, rate 0.25, k 0.5", f)
	}
	if len(st.Top) != 2 || st.Top[0].ID != "anna" || st.Top[0].Conversions != 1 || st.Top[0].CostPoints != 500 {
		t.Errorf("top referrers = %+v, want anna first with 1 conversion and 500 points", st.Top)
	}
}

func TestDiscountRewardsDrawCouponsFromTheirPoolAndWaitWhenItIsEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	coupon := reward.Spec{Kind: reward.KindFixedDiscount, Amount: money.New(1000, "EUR"), CouponPool: "welcome-10"}
	c := e.activeCampaign(func(p *campaign.NewParams) {
		p.ReferrerReward = campaign.Plan{Base: reward.Points(500)}
		p.FriendReward = coupon
		p.Currency = "EUR"
		p.Caps.BudgetMoney = money.New(5000, "EUR")
	})
	if err := e.tx(func(t *app.Tx) error { _, err := t.Store().AddCoupons(e.ctx, "welcome-10", "WELCOME-A"); return err }); err != nil {
		t.Fatal(err)
	}
	ref := e.code(c.ID, "anna")
	for i, friend := range []string{"ben", "cleo"} {
		e.signUp(app.SignUpInput{Code: string(ref), FriendID: friend})
		e.order(commercev1.OrderEvent_KIND_COMPLETED, "o-"+friend, friend, 3000, start.Add(time.Duration(i+1)*time.Hour))
	}
	if n, err := e.a.PayDue(e.ctx, start.Add(20*day), 100); err != nil || n != 3 {
		t.Fatalf("paid = %d, %v; want 3 (two referrer rewards and one coupon)", n, err)
	}
	coupons := map[string]string{}
	for _, ev := range e.published() {
		if rw := ev.GetReferralRewarded(); rw != nil && rw.GetCouponCode() != "" {
			coupons[rw.GetBeneficiaryCustomerId()] = rw.GetCouponCode()
			if rw.GetDiscount().GetAmountMinor() != 1000 {
				t.Errorf("coupon discount = %v, want 1000 EUR", rw.GetDiscount())
			}
		}
	}
	if len(coupons) != 1 || (coupons["ben"] != "WELCOME-A" && coupons["cleo"] != "WELCOME-A") {
		t.Fatalf("coupons = %v, want WELCOME-A given to exactly one friend", coupons)
	}
	// The pool is refilled; the waiting reward is paid on the next run.
	if err := e.tx(func(t *app.Tx) error { _, err := t.Store().AddCoupons(e.ctx, "welcome-10", "WELCOME-B"); return err }); err != nil {
		t.Fatal(err)
	}
	if n, err := e.a.PayDue(e.ctx, start.Add(21*day), 100); err != nil || n != 1 {
		t.Fatalf("paid after the refill = %d, %v; want 1", n, err)
	}
	var spent int64
	if err := e.pool.QueryRow(e.ctx, "SELECT spent_money_minor FROM campaigns WHERE id = $1", c.ID).Scan(&spent); err != nil {
		t.Fatal(err)
	}
	if spent != 2000 {
		t.Errorf("money budget spent = %d, want 2000 (two coupons)", spent)
	}
}

func TestReferrerEligibilityFollowsSegmentTierAndOrderEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.activeCampaign(func(p *campaign.NewParams) {
		p.Eligibility = campaign.Eligibility{Segments: []string{"vip"}, Tiers: []string{"gold"}, RequireOrder: true}
	})
	ref := e.code(c.ID, "anna")
	apply := func(fn func(t *app.Tx) error) {
		t.Helper()
		if err := e.tx(fn); err != nil {
			t.Fatal(err)
		}
	}
	apply(func(t *app.Tx) error {
		return e.a.HandleSegmentation(e.ctx, t, &segmentationeventsv1.SegmentationEvent{Event: &segmentationeventsv1.SegmentationEvent_SegmentEntered{
			SegmentEntered: &segmentationeventsv1.SegmentEntered{SegmentId: "vip", CustomerId: "anna"}}})
	})
	apply(func(t *app.Tx) error {
		return e.a.HandleLoyalty(e.ctx, t, &loyaltyeventsv1.LoyaltyEvent{Event: &loyaltyeventsv1.LoyaltyEvent_TierChanged{
			TierChanged: &loyaltyeventsv1.TierChanged{CustomerId: "anna", TierId: "gold"}}})
	})
	e.order(commercev1.OrderEvent_KIND_COMPLETED, "anna-order", "anna", 1000, start.Add(-day))
	if got := e.signUp(app.SignUpInput{Code: string(ref), FriendID: "ben"}); got.Referral.Stage != referral.StageSignedUp {
		t.Fatalf("eligible referrer's friend = %s (%v), want signed_up", got.Referral.Stage, got.Referral.Rejection)
	}
	apply(func(t *app.Tx) error {
		return e.a.HandleSegmentation(e.ctx, t, &segmentationeventsv1.SegmentationEvent{Event: &segmentationeventsv1.SegmentationEvent_SegmentExited{
			SegmentExited: &segmentationeventsv1.SegmentExited{SegmentId: "vip", CustomerId: "anna"}}})
	})
	got := e.signUp(app.SignUpInput{Code: string(ref), FriendID: "cleo"})
	if got.Referral.Rejection == nil || got.Referral.Rejection.Reason != rejection.ReferrerIneligible || got.Referral.Rejection.Evidence["requirement"] != "segment" {
		t.Errorf("friend after the referrer left the segment = %+v, want referrer_ineligible on segment", got.Referral.Rejection)
	}
}

func TestACouponIsDrawnOncePerReward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var first, again, other string
	err := e.tx(func(t *app.Tx) error {
		s := t.Store()
		if _, err := s.AddCoupons(e.ctx, "pool", "A1", "A2"); err != nil {
			return err
		}
		var err error
		if first, err = s.DrawCoupon(e.ctx, "pool", "reward-1"); err != nil {
			return err
		}
		if again, err = s.DrawCoupon(e.ctx, "pool", "reward-1"); err != nil {
			return err
		}
		if other, err = s.DrawCoupon(e.ctx, "pool", "reward-2"); err != nil {
			return err
		}
		_, err = s.DrawCoupon(e.ctx, "pool", "reward-3")
		if !errors.Is(err, reward.ErrPoolEmpty) {
			return fmt.Errorf("third reward's draw = %v, want ErrPoolEmpty", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first != again || first == other || first == "" || other == "" {
		t.Errorf("draws = %q, %q (same reward), %q (another); want the same code twice and a different one", first, again, other)
	}
}
