package ports_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/auth"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestARefundOfAPartnerOrderIsChargedToThatPartnerInTheSettlement(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	fuel := as(t, "fuel-co", auth.RolePartner)
	hotel := as(t, "hotel-co", auth.RolePartner)
	if _, err := s.client.Earn(fuel, &loyaltyv1.EarnRequest{CustomerId: "c-ps", IdempotencyKey: key(), OrderId: "fuel-1",
		Lines: []*commercev1.OrderLine{line("l1", "diesel", 2, 2000)}}); err != nil {
		t.Fatalf("fuel partner earn: %v", err)
	}
	if _, err := s.client.Earn(hotel, &loyaltyv1.EarnRequest{CustomerId: "c-ps", IdempotencyKey: key(), OrderId: "hotel-1",
		Lines: []*commercev1.OrderLine{line("l1", "night", 1, 5000)}}); err != nil {
		t.Fatalf("hotel partner earn: %v", err)
	}
	if _, err := s.client.Redeem(hotel, &loyaltyv1.RedeemRequest{CustomerId: "c-ps", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 5}}); err != nil {
		t.Fatalf("redeem at the hotel: %v", err)
	}
	// One of the two litres of diesel is refunded: half the fuel partner's
	// 40 points come back, charged to the fuel partner, not the hotel.
	refund := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: "fuel-1", CustomerId: "c-ps", RefundId: "rf-fuel",
		RefundedLines: []*commercev1.RefundedLine{{LineId: "l1", Quantity: 1, Amount: eur(2000)}}}
	s.send(t, orderMessage(t, refund), orderMessage(t, refund))
	s.waitFor(t, "the refund applied", "SELECT 'rf-fuel' = ANY(refund_ids) FROM orders WHERE order_id = 'fuel-1'")

	got, err := s.client.GetPartnerSettlement(marketer(t), &loyaltyv1.GetPartnerSettlementRequest{})
	if err != nil {
		t.Fatalf("settlement: %v", err)
	}
	want := []*loyaltyv1.PartnerSettlement{
		{PartnerId: "fuel-co", IssuedPoints: 40, ReversedPoints: 20, NetPoints: 20, NetValue: eur(20)},
		{PartnerId: "hotel-co", IssuedPoints: 50, RedeemedPoints: 5, NetPoints: 45, NetValue: eur(45)},
	}
	if !slices.EqualFunc(got.GetPartners(), want, func(a, b *loyaltyv1.PartnerSettlement) bool { return proto.Equal(a, b) }) {
		t.Errorf("expected settlement %v, got %v", want, got.GetPartners())
	}
	s.assertLedger(t)
}
