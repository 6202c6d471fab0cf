package ports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

func TestTheExpiryJobWarnsThenExpiresDueLotsAndLapsedHolds(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_EXPIRY_MONTHS": "1", "LOYALTY_EXPIRY_WARN_BEFORE": "168h", "LOYALTY_JOB_INTERVAL": "50ms"})
	s.credit(t, "c-exp", 100) // expires 2026-04-01 12:00
	h, err := s.client.CreateHold(customer(t, "c-exp"), &loyaltyv1.CreateHoldRequest{CustomerId: "c-exp", IdempotencyKey: key(), Points: 30,
		Ttl: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}

	s.clock.Advance(2 * time.Hour) // the hold lapses
	eventually(t, "the lapsed hold to be expired by the job", func() (bool, string) {
		b := s.member(t, "c-exp").GetBalance()
		return b.GetAvailable() == 100 && b.GetHeld() == 0, b.String()
	})
	var status string
	if err := s.pool.QueryRow(context.Background(), "SELECT status FROM holds WHERE id = $1", h.GetHold().GetHoldId()).Scan(&status); err != nil || status != "expired" {
		t.Errorf("expected the hold to be expired, got %q (%v)", status, err)
	}

	s.clock.Advance(26 * 24 * time.Hour) // inside the week before expiry
	m := s.member(t, "c-exp")
	if len(m.GetExpiringPoints()) != 1 || m.GetExpiringPoints()[0].GetPoints() != 100 ||
		!m.GetExpiringPoints()[0].GetExpiresAt().AsTime().Equal(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("expected 100 points expiring on 2026-04-01 12:00, got %v", m.GetExpiringPoints())
	}
	s.waitFor(t, "the PointsWillExpire warning", "SELECT bool_and(warned_at IS NOT NULL) FROM lots WHERE member_id = 'c-exp'")

	s.clock.Advance(7 * 24 * time.Hour) // past expiry
	s.waitFor(t, "the expiration entry", "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = 'c-exp' AND type = 'expiration' AND points = -100)")
	if b := s.member(t, "c-exp").GetBalance(); b.GetAvailable() != 0 {
		t.Errorf("expected nothing left after expiry, got %v", b)
	}
	s.assertLedger(t)
}

func TestAReferralRewardIsCreditedOncePerRewardID(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	reward := func(id string, points int64) kafka.Message {
		ev := &referraleventsv1.ReferralEvent{Event: &referraleventsv1.ReferralEvent_ReferralRewarded{ReferralRewarded: &referraleventsv1.ReferralRewarded{
			RewardId: id, BeneficiaryCustomerId: "c-friend", Points: points}}}
		m, err := events.Encode(context.Background(), events.Event{Topic: topics.ReferralEvents, Source: "referral", Subject: "c-friend", Payload: ev})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// rw-1 delivered twice with different event ids, then rw-2 on the same
	// partition, so once rw-2 is in, both copies of rw-1 were handled.
	s.send(t, reward("rw-1", 250), reward("rw-1", 250), reward("rw-2", 5))
	s.waitFor(t, "the second reward credited", "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = 'c-friend' AND reference_id = 'rw-2')")
	if b := s.member(t, "c-friend").GetBalance().GetAvailable(); b != 255 {
		t.Errorf("expected 250 for rw-1 once plus 5 for rw-2, got %d", b)
	}
	s.assertLedger(t)
}

func TestBonusRulesPayOncePerMemberAndOccasion(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	for _, r := range []*loyaltyv1.EarningRule{
		{Name: "Welcome", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_SIGNUP, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 100}},
		{Name: "Review", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_PRODUCT_REVIEW, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 15}},
		{Name: "Newsletter", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_CUSTOM_EVENT, CustomEventName: "newsletter_signup",
			Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 20}},
	} {
		if _, err := s.client.CreateEarningRule(marketer(t), &loyaltyv1.CreateEarningRuleRequest{IdempotencyKey: key(), Rule: r}); err != nil {
			t.Fatalf("create rule %s: %v", r.GetName(), err)
		}
	}
	enc := func(topic string, payload proto.Message) kafka.Message {
		m, err := events.Encode(context.Background(), events.Event{Topic: topic, Source: "shop", Subject: "c-bonus", Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	signup := &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, Customer: &commercev1.Customer{CustomerId: "c-bonus"}}
	review := &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_CUSTOM, CustomerId: "c-bonus", Name: ports.ProductReviewEvent, ProductId: "p-1"}
	news := &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_CUSTOM, CustomerId: "c-bonus", Name: "newsletter_signup"}
	// Sign-up twice (a replayed identity), the same product reviewed twice,
	// then the newsletter event: 100 + 15 + 20.
	s.send(t, enc(topics.CommerceCustomers, signup), enc(topics.CommerceCustomers, signup))
	s.send(t, enc(topics.CommerceInteractions, review), enc(topics.CommerceInteractions, review), enc(topics.CommerceInteractions, news))
	eventually(t, "the bonuses credited", func() (bool, string) {
		b := s.member(t, "c-bonus").GetBalance().GetAvailable()
		return b == 135, fmt.Sprintf("available %d", b)
	})
	// A third review of the product, then another newsletter event on the
	// same topic and key (so processed after it): only the newsletter pays.
	s.send(t, enc(topics.CommerceInteractions, review), enc(topics.CommerceInteractions, news))
	eventually(t, "the second newsletter bonus", func() (bool, string) {
		b := s.member(t, "c-bonus").GetBalance().GetAvailable()
		return b >= 155, fmt.Sprintf("available %d", b)
	})
	if b := s.member(t, "c-bonus").GetBalance().GetAvailable(); b != 155 {
		t.Errorf("expected 135 + 20 for the second newsletter event and nothing for the repeated review, got %d", b)
	}
	s.assertLedger(t)
}

func TestUnderTheInactivityPolicyAllPointsLapseAfterMonthsWithoutActivity(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_EXPIRY": "inactivity", "LOYALTY_INACTIVITY_MONTHS": "6", "LOYALTY_JOB_INTERVAL": "50ms"})
	s.credit(t, "c-idle", 70)
	s.credit(t, "c-busy", 70)
	s.clock.Advance(150 * 24 * time.Hour)
	// Spending is activity: it moves c-busy's deadline out.
	if _, err := s.client.Redeem(customer(t, "c-busy"), &loyaltyv1.RedeemRequest{CustomerId: "c-busy", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 10}}); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	s.clock.Advance(40 * 24 * time.Hour) // c-idle: 190 days without activity
	s.waitFor(t, "c-idle's points to lapse", "SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = 'c-idle' AND type = 'expiration' AND points = -70)")
	if b := s.member(t, "c-idle").GetBalance().GetAvailable(); b != 0 {
		t.Errorf("expected the idle member's points to lapse, got %d", b)
	}
	if b := s.member(t, "c-busy").GetBalance().GetAvailable(); b != 60 {
		t.Errorf("expected the active member to keep 60 points, got %d", b)
	}
	s.assertLedger(t)
}
