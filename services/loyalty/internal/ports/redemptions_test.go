package ports_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestAReversedRedemptionReturnsThePointsTheStockAndTheMemberLimit(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	stock := int64(1)
	rewardID := s.reward(t, &loyaltyv1.Reward{Name: "Tote", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "tote",
		PointsCost: 40, Stock: &stock, PerMemberLimit: 1})
	s.credit(t, "c-rv", 100)
	redeem := func() (*loyaltyv1.RedeemResponse, error) {
		return s.client.Redeem(customer(t, "c-rv"), &loyaltyv1.RedeemRequest{CustomerId: "c-rv", IdempotencyKey: key(),
			Target: &loyaltyv1.RedeemRequest_RewardId{RewardId: rewardID}})
	}
	r, err := redeem()
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	id := r.GetRedemption().GetRedemptionId()
	k := key()
	rev, err := s.client.ReverseRedemption(service(t), &loyaltyv1.ReverseRedemptionRequest{RedemptionId: id, IdempotencyKey: k, Reason: "order_cancelled"})
	if err != nil {
		t.Fatalf("reverse: %v", err)
	}
	if rev.GetRedemption().GetStatus() != loyaltyv1.RedemptionStatus_REDEMPTION_STATUS_REVERSED || rev.GetBalance().GetAvailable() != 100 ||
		rev.GetTransaction().GetPoints() != 40 {
		t.Errorf("expected a reversed redemption giving back 40 points to 100, got %v", rev)
	}
	again, err := s.client.ReverseRedemption(service(t), &loyaltyv1.ReverseRedemptionRequest{RedemptionId: id, IdempotencyKey: k, Reason: "order_cancelled"})
	if err != nil || again.GetTransaction().GetTransactionId() != rev.GetTransaction().GetTransactionId() {
		t.Errorf("expected the retry to return the first reversal, got %v, %v", again, err)
	}
	got, err := s.client.GetReward(marketer(t), &loyaltyv1.GetRewardRequest{RewardId: rewardID})
	if err != nil || got.GetReward().GetStock() != 1 {
		t.Errorf("expected the unit back in stock, got %v, %v", got.GetReward(), err)
	}
	if _, err := redeem(); err != nil {
		t.Errorf("expected the reversed redemption not to count against the per-member limit, got %v", err)
	}

	tests := []struct {
		name  string
		req   *loyaltyv1.ReverseRedemptionRequest
		as    string
		want  codes.Code
		field string
	}{
		{"a second reversal is refused", &loyaltyv1.ReverseRedemptionRequest{RedemptionId: id, Reason: "again"}, "service", codes.FailedPrecondition, ""},
		{"an unknown redemption is not found", &loyaltyv1.ReverseRedemptionRequest{RedemptionId: "no-such", Reason: "x"}, "service", codes.NotFound, ""},
		{"a missing reason names reason", &loyaltyv1.ReverseRedemptionRequest{RedemptionId: id}, "service", codes.InvalidArgument, "reason"},
		{"a customer cannot reverse", &loyaltyv1.ReverseRedemptionRequest{RedemptionId: id, Reason: "x"}, "customer", codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		ctx := service(t)
		if tt.as == "customer" {
			ctx = customer(t, "c-rv")
		}
		tt.req.IdempotencyKey = key()
		_, err := s.client.ReverseRedemption(ctx, tt.req)
		if code(err) != tt.want || (tt.field != "" && !slices.Contains(badFields(err), tt.field)) {
			t.Errorf("%s: expected %v naming %q, got %v", tt.name, tt.want, tt.field, err)
		}
	}
	s.assertLedger(t)
}

func TestReversingARedemptionOfExpiredPointsExpiresThemAgain(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-old", 50)
	r, err := s.client.Redeem(customer(t, "c-old"), &loyaltyv1.RedeemRequest{CustomerId: "c-old", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 20}})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	s.clock.Advance(13 * 30 * 24 * time.Hour) // past the 12-month expiry
	if _, err := s.client.ReverseRedemption(service(t), &loyaltyv1.ReverseRedemptionRequest{RedemptionId: r.GetRedemption().GetRedemptionId(),
		IdempotencyKey: key(), Reason: "late correction"}); err != nil {
		t.Fatalf("reverse: %v", err)
	}
	txs, err := s.client.ListTransactions(service(t), &loyaltyv1.ListTransactionsRequest{CustomerId: "c-old",
		Types: []loyaltyv1.TransactionType{loyaltyv1.TransactionType_TRANSACTION_TYPE_EXPIRATION}})
	if err != nil {
		t.Fatal(err)
	}
	var expired int64
	for _, tx := range txs.GetTransactions() {
		expired -= tx.GetPoints()
	}
	if expired < 20 {
		t.Errorf("expected the 20 returned points of an expired lot to expire at once, got %d expired (%v)", expired, txs.GetTransactions())
	}
	s.assertLedger(t)
}

func TestCouponRewardsHandOutEachUploadedCodeOnce(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	coupon := s.reward(t, &loyaltyv1.Reward{Name: "Partner voucher", Type: loyaltyv1.RewardType_REWARD_TYPE_COUPON, PointsCost: 10})
	tote := s.reward(t, &loyaltyv1.Reward{Name: "Tote", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "tote", PointsCost: 10})
	members := make([]string, 6)
	for i := range members {
		members[i] = fmt.Sprint("c-coupon-", i)
		s.credit(t, members[i], 10)
	}
	redeem := func(m string) (*loyaltyv1.RedeemResponse, error) {
		return s.client.Redeem(customer(t, m), &loyaltyv1.RedeemRequest{CustomerId: m, IdempotencyKey: key(),
			Target: &loyaltyv1.RedeemRequest_RewardId{RewardId: coupon}})
	}
	if _, err := redeem(members[0]); code(err) != codes.FailedPrecondition {
		t.Errorf("expected a coupon reward with an empty pool to be FailedPrecondition, got %v", err)
	}
	up := func(codes ...string) (*loyaltyv1.AddCouponCodesResponse, error) {
		return s.client.AddCouponCodes(marketer(t), &loyaltyv1.AddCouponCodesRequest{RewardId: coupon, IdempotencyKey: key(), Codes: codes})
	}
	if r, err := up("A-1", "B-2", "C-3"); err != nil || r.GetAdded() != 3 || r.GetAvailable() != 3 {
		t.Errorf("expected 3 codes added, got %v, %v", r, err)
	}
	if r, err := up("C-3", "D-4"); err != nil || r.GetAdded() != 1 || r.GetTotal() != 4 {
		t.Errorf("expected the known code skipped and 4 in the pool, got %v, %v", r, err)
	}

	var mu sync.Mutex
	var issued []string
	var refused int
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := redeem(m)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				issued = append(issued, r.GetRedemption().GetCouponCode())
			case code(err) == codes.FailedPrecondition:
				refused++
			default:
				t.Errorf("expected success or FailedPrecondition, got %v", err)
			}
		}()
	}
	wg.Wait()
	slices.Sort(issued)
	if want := []string{"A-1", "B-2", "C-3", "D-4"}; !slices.Equal(issued, want) || refused != 2 {
		t.Errorf("expected each of %v issued once and 2 refused, got %v and %d refused", want, issued, refused)
	}

	bad := []struct {
		name  string
		req   *loyaltyv1.AddCouponCodesRequest
		want  codes.Code
		field string
	}{
		{"a reward that is not a coupon names reward_id", &loyaltyv1.AddCouponCodesRequest{RewardId: tote, Codes: []string{"X"}}, codes.InvalidArgument, "reward_id"},
		{"an unknown reward is not found", &loyaltyv1.AddCouponCodesRequest{RewardId: "no-such", Codes: []string{"X"}}, codes.NotFound, ""},
		{"no codes names codes", &loyaltyv1.AddCouponCodesRequest{RewardId: coupon}, codes.InvalidArgument, "codes"},
		{"a blank code names it", &loyaltyv1.AddCouponCodesRequest{RewardId: coupon, Codes: []string{"ok", " "}}, codes.InvalidArgument, "codes[1]"},
	}
	for _, tt := range bad {
		tt.req.IdempotencyKey = key()
		_, err := s.client.AddCouponCodes(marketer(t), tt.req)
		if code(err) != tt.want || (tt.field != "" && !slices.Contains(badFields(err), tt.field)) {
			t.Errorf("%s: expected %v naming %q, got %v", tt.name, tt.want, tt.field, err)
		}
	}
	if _, err := s.client.AddCouponCodes(customer(t, members[0]), &loyaltyv1.AddCouponCodesRequest{RewardId: coupon, IdempotencyKey: key(),
		Codes: []string{"MINE"}}); code(err) != codes.PermissionDenied {
		t.Errorf("expected a customer uploading codes to be PermissionDenied, got %v", err)
	}
	s.assertLedger(t)
}
