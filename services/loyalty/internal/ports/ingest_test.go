package ports_test

import (
	"context"
	"testing"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

// Order batches read the lots only of members with a deficit or a debt
// (the others' accounts are restored around a stand-in for their lots);
// every member's entries, lots and balance must come out as if all lots had
// been read, and the members' older lots must still be spent first.
func TestAnOrderBatchCreditsMembersWithAndWithoutDebtExactly(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_DEBT_POLICY": "allow_negative"})
	ctx := context.Background()
	// c-old has 70 points in two lots; c-neg goes negative: 100 earned,
	// 80 spent, the order refunded (balance -80, a deficit of 80).
	s.credit(t, "c-old", 30)
	s.credit(t, "c-old", 40)
	s.send(t, orderMessage(t, order("o-neg", "c-neg", line("l1", "a", 1, 10000))))
	s.waitFor(t, "the first order earned", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-neg')")
	if _, err := s.client.Redeem(customer(t, "c-neg"), &loyaltyv1.RedeemRequest{CustomerId: "c-neg", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 80}}); err != nil {
		t.Fatalf("spend: %v", err)
	}
	s.send(t, orderMessage(t, &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: "o-neg", CustomerId: "c-neg"}))
	s.waitFor(t, "the cancellation applied", "SELECT cancelled FROM orders WHERE order_id = 'o-neg'")
	if b := s.member(t, "c-neg").GetBalance().GetAvailable(); b != -80 {
		t.Fatalf("expected -80 available after the cancellation, got %d", b)
	}

	// One send: the consumer takes these as one batch or a few.
	s.send(t,
		orderMessage(t, order("o-a", "c-old", line("l1", "a", 1, 2000))), // 20
		orderMessage(t, order("o-b", "c-neg", line("l1", "a", 1, 5000))), // 50, all of it settles the deficit
		orderMessage(t, order("o-c", "c-new", line("l1", "a", 1, 1500))), // 15
		orderMessage(t, order("o-a", "c-old", line("l1", "a", 1, 2000))), // the same order again
		orderMessage(t, order("o-d", "c-old", line("l1", "a", 2, 2500))), // 50
		orderMessage(t, order("o-e", "c-neg", line("l1", "a", 1, 4000))), // 40: 30 settle, 10 left
		orderMessage(t, order("o-f", "c-new", line("l1", "a", 1, 500))),  // 5
	)
	s.waitFor(t, "the batch earned", "SELECT count(*) = 7 FROM orders")
	s.assertLedger(t)
	for _, c := range []struct {
		member                     string
		wantAvailable, wantEntries int64
	}{
		{"c-old", 140, 4},
		{"c-neg", 10, 5}, // settling a deficit writes no entry
		{"c-new", 20, 2},
	} {
		m := s.member(t, c.member)
		if m.GetBalance().GetAvailable() != c.wantAvailable {
			t.Errorf("%s: expected %d available, got %d", c.member, c.wantAvailable, m.GetBalance().GetAvailable())
		}
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM entries WHERE member_id = $1", c.member).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.wantEntries {
			t.Errorf("%s: expected %d entries, got %d", c.member, c.wantEntries, n)
		}
	}
	var lots, stray int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE order_id = '' AND source = 'accrual') FROM lots WHERE member_id = 'c-old'").
		Scan(&lots, &stray); err != nil {
		t.Fatal(err)
	}
	if lots != 4 || stray != 0 {
		t.Errorf("c-old: expected 4 lots (2 adjustments, 2 orders) and no other, got %d (%d without an order)", lots, stray)
	}
	// Every point is in a real lot: spending all 140 empties them all.
	if _, err := s.client.Redeem(customer(t, "c-old"), &loyaltyv1.RedeemRequest{CustomerId: "c-old", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 140}}); err != nil {
		t.Fatalf("spend all 140: %v", err)
	}
	var left int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(sum(remaining), 0) FROM lots WHERE member_id = 'c-old'").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("c-old: expected every lot spent, %d points left", left)
	}
	s.assertLedger(t)
}
