package ports_test

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestConcurrentRedemptionsSucceedExactlyAsOftenAsTheBalanceCovers(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-race", 37)
	ctx := customer(t, "c-race")
	var wg sync.WaitGroup
	results := make(chan codes.Code, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.client.Redeem(ctx, &loyaltyv1.RedeemRequest{CustomerId: "c-race", IdempotencyKey: key(),
				Target: &loyaltyv1.RedeemRequest_Points{Points: 1}})
			results <- code(err)
		}()
	}
	wg.Wait()
	close(results)
	got := map[codes.Code]int{}
	for c := range results {
		got[c]++
	}
	if got[codes.OK] != 37 || got[codes.FailedPrecondition] != 163 {
		t.Errorf("expected 37 OK and 163 FailedPrecondition, got %v", got)
	}
	if b := s.member(t, "c-race").GetBalance().GetAvailable(); b != 0 {
		t.Errorf("expected the balance to be 0 after the race, got %d", b)
	}
	s.assertLedger(t)
}

func TestARetryWithTheSameKeyReturnsTheFirstAnswerAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-retry", 100)
	ctx := customer(t, "c-retry")
	req := &loyaltyv1.RedeemRequest{CustomerId: "c-retry", IdempotencyKey: "checkout-42", Target: &loyaltyv1.RedeemRequest_Points{Points: 30}}
	first, err := s.client.Redeem(ctx, req)
	if err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	second, err := s.client.Redeem(ctx, req)
	if err != nil {
		t.Fatalf("retried redeem: %v", err)
	}
	if !proto.Equal(first, second) {
		t.Errorf("expected the retry to return the first answer\nfirst:  %v\nsecond: %v", first, second)
	}
	other := proto.Clone(req).(*loyaltyv1.RedeemRequest)
	other.Target = &loyaltyv1.RedeemRequest_Points{Points: 31}
	if _, err := s.client.Redeem(ctx, other); code(err) != codes.AlreadyExists {
		t.Errorf("expected the same key with another body to be AlreadyExists, got %v", err)
	}
	if b := s.member(t, "c-retry").GetBalance().GetAvailable(); b != 70 {
		t.Errorf("expected one redemption of 30 to leave 70, got %d", b)
	}
	s.assertLedger(t)
}

func TestInvalidRequestsAreRejectedNamingTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-bad", 50)
	ctx := customer(t, "c-bad")
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"a negative amount", func() error {
			_, err := s.client.Redeem(ctx, &loyaltyv1.RedeemRequest{CustomerId: "c-bad", IdempotencyKey: key(), Target: &loyaltyv1.RedeemRequest_Points{Points: -5}})
			return err
		}, "points"},
		{"an unknown reward", func() error {
			_, err := s.client.Redeem(ctx, &loyaltyv1.RedeemRequest{CustomerId: "c-bad", IdempotencyKey: key(), Target: &loyaltyv1.RedeemRequest_RewardId{RewardId: "no-such-reward"}})
			return err
		}, "reward_id"},
		{"a missing idempotency key", func() error {
			_, err := s.client.Redeem(ctx, &loyaltyv1.RedeemRequest{CustomerId: "c-bad", Target: &loyaltyv1.RedeemRequest_Points{Points: 5}})
			return err
		}, "idempotency_key"},
		{"an oversized page", func() error {
			_, err := s.client.ListTransactions(ctx, &loyaltyv1.ListTransactionsRequest{CustomerId: "c-bad", PageSize: 501})
			return err
		}, "page_size"},
		{"a hold beyond the longest TTL", func() error {
			_, err := s.client.CreateHold(ctx, &loyaltyv1.CreateHoldRequest{CustomerId: "c-bad", IdempotencyKey: key(), Points: 5, Ttl: durationpb.New(48 * time.Hour)})
			return err
		}, "ttl"},
		{"an adjustment without a reason", func() error {
			_, err := s.client.CreateAdjustment(marketer(t), &loyaltyv1.CreateAdjustmentRequest{CustomerId: "c-bad", IdempotencyKey: key(), Points: 5})
			return err
		}, "reason"},
		{"a reward without a cost", func() error {
			_, err := s.client.CreateReward(marketer(t), &loyaltyv1.CreateRewardRequest{IdempotencyKey: key(), Reward: &loyaltyv1.Reward{
				Name: "Mug", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "mug"}})
			return err
		}, "reward.points_cost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if code(err) != codes.InvalidArgument {
				t.Fatalf("expected InvalidArgument, got %v", err)
			}
			fields := badFields(err)
			found := false
			for _, f := range fields {
				found = found || f == c.field
			}
			if !found {
				t.Errorf("expected a violation naming %q, got %v (%v)", c.field, fields, err)
			}
		})
	}
	m := s.member(t, "c-bad")
	if m.GetBalance().GetAvailable() != 50 || m.GetBalance().GetHeld() != 0 {
		t.Errorf("expected the rejected requests to leave 50 available and nothing held, got %v", m.GetBalance())
	}
	s.assertLedger(t)
}

func TestALotExpiringBetweenAHoldAndItsCaptureIsHonouredAtCapture(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_EXPIRY": "fixed", "LOYALTY_EXPIRY_MONTHS": "1"})
	s.credit(t, "c-hold", 100) // expires in one month
	ctx := customer(t, "c-hold")
	s.clock.Advance(31*24*time.Hour - 10*time.Minute) // March has 31 days
	h, err := s.client.CreateHold(ctx, &loyaltyv1.CreateHoldRequest{CustomerId: "c-hold", IdempotencyKey: key(), Points: 60, Ttl: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	if b := h.GetBalance(); b.GetAvailable() != 40 || b.GetHeld() != 60 {
		t.Fatalf("expected 40 available and 60 held after the hold, got %v", b)
	}
	s.clock.Advance(30 * time.Minute) // the lot expires; the hold is still live
	c, err := s.client.CaptureHold(ctx, &loyaltyv1.CaptureHoldRequest{HoldId: h.GetHold().GetHoldId(), CustomerId: "c-hold", IdempotencyKey: key()})
	if err != nil {
		t.Fatalf("expected the capture of points reserved while valid to succeed, got %v", err)
	}
	if c.GetHold().GetStatus() != loyaltyv1.HoldStatus_HOLD_STATUS_CAPTURED || c.GetHold().GetCapturedPoints() != 60 {
		t.Errorf("expected the hold captured with 60 points, got %v", c.GetHold())
	}
	if b := c.GetBalance(); b.GetAvailable() != 0 || b.GetHeld() != 0 {
		t.Errorf("expected nothing left (the unheld 40 expired), got %v", b)
	}
	// A second capture of the same hold is refused.
	if _, err := s.client.CaptureHold(ctx, &loyaltyv1.CaptureHoldRequest{HoldId: h.GetHold().GetHoldId(), CustomerId: "c-hold", IdempotencyKey: key()}); code(err) != codes.FailedPrecondition {
		t.Errorf("expected capturing a captured hold to be FailedPrecondition, got %v", err)
	}
	s.assertLedger(t)
}

func TestAReleasedHoldReturnsItsPointsAndAnotherCustomerCannotTouchIt(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-rel", 80)
	h, err := s.client.CreateHold(customer(t, "c-rel"), &loyaltyv1.CreateHoldRequest{CustomerId: "c-rel", IdempotencyKey: key(), Points: 80})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	if _, err := s.client.Redeem(customer(t, "c-rel"), &loyaltyv1.RedeemRequest{CustomerId: "c-rel", IdempotencyKey: key(), Target: &loyaltyv1.RedeemRequest_Points{Points: 1}}); code(err) != codes.FailedPrecondition {
		t.Errorf("expected held points to be unspendable, got %v", err)
	}
	if _, err := s.client.ReleaseHold(customer(t, "c-other"), &loyaltyv1.ReleaseHoldRequest{HoldId: h.GetHold().GetHoldId(), CustomerId: "c-other", IdempotencyKey: key()}); code(err) != codes.NotFound {
		t.Errorf("expected another customer's release to be NotFound, got %v", err)
	}
	r, err := s.client.ReleaseHold(customer(t, "c-rel"), &loyaltyv1.ReleaseHoldRequest{HoldId: h.GetHold().GetHoldId(), CustomerId: "c-rel", IdempotencyKey: key()})
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	if r.GetBalance().GetAvailable() != 80 || r.GetHold().GetStatus() != loyaltyv1.HoldStatus_HOLD_STATUS_RELEASED {
		t.Errorf("expected 80 available and the hold released, got %v / %v", r.GetBalance(), r.GetHold().GetStatus())
	}
	s.assertLedger(t)
}
