package ports_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

// Redeem sends its idempotency claim in one batch with BEGIN and the member
// lock, and its stored answer with the COMMIT (app.DoPipelined); these
// check that the claim still serializes callers of one key.
func TestConcurrentRedeemsWithOneKeyRedeemOnceAndAllGetTheFirstAnswer(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-same-key", 100)
	ctx := customer(t, "c-same-key")
	req := &loyaltyv1.RedeemRequest{CustomerId: "c-same-key", IdempotencyKey: "checkout-7", Target: &loyaltyv1.RedeemRequest_Points{Points: 30}}
	const callers = 20
	resps := make([]*loyaltyv1.RedeemResponse, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = s.client.Redeem(ctx, req)
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: expected the redemption or its replay, got %v", i, errs[i])
		}
		if !proto.Equal(resps[i], resps[0]) {
			t.Errorf("caller %d: expected the first answer\nfirst: %v\ngot:   %v", i, resps[0], resps[i])
		}
	}
	if b := s.member(t, "c-same-key").GetBalance().GetAvailable(); b != 70 {
		t.Errorf("expected one redemption of 30 to leave 70, got %d", b)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM redemptions WHERE member_id = 'c-same-key'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("expected 1 redemption row, got %d", n)
	}
	s.assertLedger(t)
}

func TestAFailedRedeemLeavesItsKeyFreeForTheRetry(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-retry-later", 10)
	ctx := customer(t, "c-retry-later")
	req := &loyaltyv1.RedeemRequest{CustomerId: "c-retry-later", IdempotencyKey: "checkout-9", Target: &loyaltyv1.RedeemRequest_Points{Points: 25}}
	if _, err := s.client.Redeem(ctx, req); code(err) != codes.FailedPrecondition {
		t.Fatalf("expected FailedPrecondition for 25 points on a balance of 10, got %v", err)
	}
	s.credit(t, "c-retry-later", 20)
	got, err := s.client.Redeem(ctx, req)
	if err != nil {
		t.Fatalf("expected the retry to redeem once the balance covers it, got %v", err)
	}
	if b := got.GetBalance().GetAvailable(); b != 5 {
		t.Errorf("expected 30 - 25 = 5 left, got %d", b)
	}
	again, err := s.client.Redeem(ctx, req)
	if err != nil || !proto.Equal(again, got) {
		t.Errorf("expected a second retry to replay the answer %v, got %v (%v)", got, again, err)
	}
	s.assertLedger(t)
}
