package ports_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

func TestAPaidMembershipEventGrantsThePaidTierUntilItLapses(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_JOB_INTERVAL": "50ms", "LOYALTY_EXPIRY": "never"})
	s.tier(t, "Silver", 1, 100)
	s.tier(t, "Gold", 2, 500)
	club, err := s.client.CreateTier(marketer(t), &loyaltyv1.CreateTierRequest{IdempotencyKey: key(), Tier: &loyaltyv1.Tier{
		Name: "Club", Rank: 3, Paid: true, Measure: loyaltyv1.QualifyingMeasure_QUALIFYING_MEASURE_POINTS_EARNED, WindowMonths: 12,
		Benefits: &loyaltyv1.TierBenefits{Perks: []string{"free delivery"}}}})
	if err != nil {
		t.Fatalf("create paid tier: %v", err)
	}
	if !club.GetTier().GetPaid() {
		t.Errorf("expected the tier to be stored as paid, got %v", club.GetTier())
	}
	s.earn(t, "c-club", "o-1", line("l1", "a", 1, 15000))
	if got := s.member(t, "c-club").GetTier().GetTierName(); got != "Silver" {
		t.Fatalf("expected Silver on 150 points, got %q", got)
	}
	paid := func(tierID, until string) kafka.Message {
		m, err := events.Encode(context.Background(), events.Event{Topic: topics.CommerceInteractions, Source: "billing", Subject: "c-club",
			Payload: &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_CUSTOM, CustomerId: "c-club", Name: ports.MembershipPaidEvent,
				Properties: map[string]string{"tier_id": tierID, "paid_until": until}}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	until := s.clock.Now().Add(30 * 24 * time.Hour)
	// Malformed payments (no date, a tier that is not paid) are skipped
	// without holding up the valid one behind them.
	s.send(t, paid(club.GetTier().GetTierId(), "next month"), paid("no-such-tier", until.Format(time.RFC3339)),
		paid(club.GetTier().GetTierId(), until.Format(time.RFC3339)))
	eventually(t, "the paid tier to apply", func() (bool, string) {
		tier := s.member(t, "c-club").GetTier()
		return tier.GetTierName() == "Club", tier.String()
	})
	if tier := s.member(t, "c-club").GetTier(); !tier.GetRequalifyAt().AsTime().Equal(until) {
		t.Errorf("expected the member view to show the membership ending %s, got %v", until, tier)
	}
	s.clock.Advance(31 * 24 * time.Hour)
	eventually(t, "the lapsed membership to return the member to Silver", func() (bool, string) {
		tier := s.member(t, "c-club").GetTier()
		return tier.GetTierName() == "Silver", tier.String()
	})
}
