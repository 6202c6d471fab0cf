package ports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func (s *stack) earn(t testing.TB, customerID, orderID string, lines ...*commercev1.OrderLine) *loyaltyv1.EarnResponse {
	t.Helper()
	resp, err := s.client.Earn(service(t), &loyaltyv1.EarnRequest{CustomerId: customerID, IdempotencyKey: key(), OrderId: orderID,
		Channel: commercev1.Channel_CHANNEL_WEB, Lines: lines, OrderedAt: timestamppb.New(s.clock.Now())})
	if err != nil {
		t.Fatalf("earn %s for %s: %v", orderID, customerID, err)
	}
	return resp
}

func (s *stack) tier(t testing.TB, name string, rank int32, threshold int64) *loyaltyv1.Tier {
	t.Helper()
	resp, err := s.client.CreateTier(marketer(t), &loyaltyv1.CreateTierRequest{IdempotencyKey: key(), Tier: &loyaltyv1.Tier{
		Name: name, Rank: rank, Measure: loyaltyv1.QualifyingMeasure_QUALIFYING_MEASURE_POINTS_EARNED, ThresholdPoints: threshold,
		WindowMonths: 12, DowngradePolicy: loyaltyv1.DowngradePolicy_DOWNGRADE_POLICY_ONE_TIER,
		Benefits: &loyaltyv1.TierBenefits{Perks: []string{name + " perks"}}}})
	if err != nil {
		t.Fatalf("create tier %s: %v", name, err)
	}
	return resp.GetTier()
}

func TestTiersUpgradeAtOnceAndDowngradeOnlyAtTheEndOfTheWindow(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_JOB_INTERVAL": "50ms", "LOYALTY_EXPIRY": "never"})
	s.tier(t, "Silver", 1, 100)
	s.tier(t, "Gold", 2, 500)

	s.earn(t, "c-tier", "o-1", line("l1", "a", 1, 60000)) // 600 points
	m := s.member(t, "c-tier")
	if m.GetTier().GetTierName() != "Gold" || m.GetTier().GetQualifyingPoints() != 600 {
		t.Fatalf("expected an immediate upgrade to Gold on 600 points, got %v", m.GetTier())
	}
	requalify := m.GetTier().GetRequalifyAt().AsTime()

	s.clock.Advance(180 * 24 * time.Hour)
	s.earn(t, "c-tier", "o-2", line("l1", "a", 1, 15000)) // 150 points, inside the next window
	if m := s.member(t, "c-tier"); m.GetTier().GetTierName() != "Gold" {
		t.Fatalf("expected Gold to hold inside the window, got %v", m.GetTier())
	}

	// Past the review date the first 600 points have left the window: the
	// 150 left support Silver, one tier down.
	s.clock.Advance(requalify.Sub(s.clock.Now()) + 24*time.Hour)
	eventually(t, "the review to move the member to Silver", func() (bool, string) {
		tier := s.member(t, "c-tier").GetTier()
		return tier.GetTierName() == "Silver", tier.String()
	})
	m = s.member(t, "c-tier")
	if m.GetTier().GetQualifyingPoints() != 150 || m.GetTier().GetNextTierName() != "Gold" || m.GetTier().GetPointsToNextTier() != 350 {
		t.Errorf("expected 150 qualifying points and 350 to Gold, got %v", m.GetTier())
	}
	s.assertLedger(t)
}

func TestEarningRulesStackRecordWhichRulesEarnedAndRespectCaps(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	rules := []*loyaltyv1.EarningRule{
		{Name: "Double garden", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_ORDER, Award: &loyaltyv1.EarningRule_MultiplierPercent{MultiplierPercent: 200},
			Target: &loyaltyv1.RuleTarget{Categories: []string{"garden"}}},
		{Name: "Welcome", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_FIRST_ORDER, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 25}},
		{Name: "Capped bonus", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_ORDER, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 10},
			Cap: &loyaltyv1.RuleCap{MaxPointsPerMember: 15}},
	}
	ids := map[string]string{}
	for _, r := range rules {
		resp, err := s.client.CreateEarningRule(marketer(t), &loyaltyv1.CreateEarningRuleRequest{IdempotencyKey: key(), Rule: r})
		if err != nil {
			t.Fatalf("create rule %s: %v", r.GetName(), err)
		}
		ids[r.GetName()] = resp.GetRule().GetRuleId()
	}
	garden := &commercev1.OrderLine{LineId: "g", Sku: "rake", Quantity: 1, UnitPrice: eur(1000), CategoryPath: []string{"garden", "tools"}}
	other := line("o", "book", 1, 1000)
	first := s.earn(t, "c-rules", "o-1", garden, other)
	// base 20 + double garden 10 + welcome 25 + capped bonus 10
	if first.GetPoints() != 65 {
		t.Errorf("expected the first order to earn 65, got %d", first.GetPoints())
	}
	got := first.GetTransactions()[0].GetRuleIds()
	for _, want := range []string{"base", ids["Double garden"], ids["Welcome"], ids["Capped bonus"]} {
		if !slices.Contains(got, want) {
			t.Errorf("expected the accrual to name rule %s, got %v", want, got)
		}
	}
	second := s.earn(t, "c-rules", "o-2", garden, other)
	// base 20 + double garden 10 + capped bonus 5 (cap 15 reached); no welcome
	if second.GetPoints() != 35 {
		t.Errorf("expected the second order to earn 35, got %d", second.GetPoints())
	}
	if _, err := s.client.Earn(service(t), &loyaltyv1.EarnRequest{CustomerId: "c-rules", IdempotencyKey: key(), OrderId: "o-1",
		Lines: []*commercev1.OrderLine{other}}); code(err) != codes.AlreadyExists {
		t.Errorf("expected earning an order twice to be AlreadyExists, got %v", err)
	}
	s.assertLedger(t)
}

func TestRewardsAreRedeemedWithinStockAndPerMemberLimits(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	stock := int64(1)
	created, err := s.client.CreateReward(marketer(t), &loyaltyv1.CreateRewardRequest{IdempotencyKey: key(), Reward: &loyaltyv1.Reward{
		Name: "5 EUR off", Type: loyaltyv1.RewardType_REWARD_TYPE_FIXED_DISCOUNT, PointsCost: 40, Discount: eur(500), Stock: &stock, PerMemberLimit: 1}})
	if err != nil {
		t.Fatalf("create reward: %v", err)
	}
	id := created.GetReward().GetRewardId()
	s.credit(t, "c-a", 100)
	s.credit(t, "c-b", 100)
	redeem := func(c string) (*loyaltyv1.RedeemResponse, error) {
		return s.client.Redeem(customer(t, c), &loyaltyv1.RedeemRequest{CustomerId: c, IdempotencyKey: key(), Target: &loyaltyv1.RedeemRequest_RewardId{RewardId: id}})
	}
	r, err := redeem("c-a")
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	if r.GetRedemption().GetCouponCode() == "" || r.GetRedemption().GetValue().GetAmountMinor() != 500 || r.GetBalance().GetAvailable() != 60 {
		t.Errorf("expected a 5 EUR coupon for 40 points leaving 60, got %v", r)
	}
	if _, err := redeem("c-b"); code(err) != codes.FailedPrecondition {
		t.Errorf("expected the sold-out reward to be FailedPrecondition, got %v", err)
	}
	more := int64(5)
	if _, err := s.client.UpdateReward(marketer(t), &loyaltyv1.UpdateRewardRequest{IdempotencyKey: key(),
		Reward: &loyaltyv1.Reward{RewardId: id, Stock: &more}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stock"}}}); err != nil {
		t.Fatalf("restock: %v", err)
	}
	if _, err := redeem("c-a"); code(err) != codes.FailedPrecondition {
		t.Errorf("expected a second redemption past the per-member limit to be FailedPrecondition, got %v", err)
	}
	if _, err := redeem("c-b"); err != nil {
		t.Errorf("expected the restocked reward to be redeemable, got %v", err)
	}
	got, err := s.client.GetReward(customer(t, "c-a"), &loyaltyv1.GetRewardRequest{RewardId: id})
	if err != nil || got.GetReward().GetStock() != 4 || got.GetReward().GetName() != "5 EUR off" {
		t.Errorf("expected the reward to keep its name with 4 left, got %v, %v", got.GetReward(), err)
	}
	s.assertLedger(t)
}

func TestTheRESTSurfaceLetsCustomersSeeAndSpendOnlyTheirOwnPoints(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.credit(t, "c-web", 120)
	base := "http://" + s.addrs.HTTP
	var idemHeader string
	call := func(method, path, tok string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if idemHeader != "" {
			req.Header.Set("Idempotency-Key", idemHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	own := token(t, "c-web", auth.RoleCustomer)
	other := token(t, "c-eve", auth.RoleCustomer)
	mk := token(t, "m-1", auth.RoleMarketer)
	reward := map[string]any{"idempotencyKey": "r-1", "reward": map[string]any{"name": "Tote bag", "type": "REWARD_TYPE_FREE_PRODUCT", "productId": "tote", "pointsCost": "50"}}
	cases := []struct {
		name, method, path, tok string
		body                    any
		want                    int
	}{
		{"a customer reads their own member view", "GET", "/v1/loyalty/members/c-web", own, nil, 200},
		{"a customer cannot read another member", "GET", "/v1/loyalty/members/c-web", other, nil, 403},
		{"a call without a token is unauthenticated", "GET", "/v1/loyalty/members/c-web", "", nil, 401},
		{"a customer cannot spend another's points", "POST", "/v1/loyalty/members/c-web/redemptions", other, map[string]any{"idempotencyKey": "x", "points": "10"}, 403},
		{"a customer spends their own points", "POST", "/v1/loyalty/members/c-web/redemptions", own, map[string]any{"idempotencyKey": "x", "points": "20"}, 200},
		{"a customer cannot configure rewards", "POST", "/v1/loyalty/rewards", own, reward, 403},
		{"a marketer configures rewards", "POST", "/v1/loyalty/rewards", mk, reward, 200},
		{"a customer cannot adjust points", "POST", "/v1/loyalty/members/c-web/adjustments", own, map[string]any{"idempotencyKey": "a", "points": "500", "reason": "ADJUSTMENT_REASON_GOODWILL"}, 403},
		{"a bad field is a 400", "GET", "/v1/loyalty/members/c-web/transactions?pageSize=9999", own, nil, 400},
	}
	for _, c := range cases {
		code, body := call(c.method, c.path, c.tok, c.body)
		if code != c.want {
			t.Errorf("%s: expected HTTP %d, got %d (%v)", c.name, c.want, code, body)
		}
	}
	code, body := call("GET", "/v1/loyalty/members/c-web", own, nil)
	bal, _ := body["member"].(map[string]any)["balance"].(map[string]any)
	if code != 200 || bal["available"] != "100" {
		t.Errorf("expected 100 points left after spending 20 over REST, got %d %v", code, body)
	}
	// The key may come as a header instead of a body field; a retry with it
	// returns the first redemption and spends nothing more.
	idemHeader = "header-key-1"
	_, first := call("POST", "/v1/loyalty/members/c-web/redemptions", own, map[string]any{"points": "10"})
	_, again := call("POST", "/v1/loyalty/members/c-web/redemptions", own, map[string]any{"points": "10"})
	idemHeader = ""
	if first["redemption"] == nil || fmt.Sprint(first["redemption"]) != fmt.Sprint(again["redemption"]) {
		t.Errorf("expected the header-keyed retry to return the first redemption, got %v then %v", first, again)
	}
	if _, body := call("GET", "/v1/loyalty/members/c-web", own, nil); body["member"].(map[string]any)["balance"].(map[string]any)["available"] != "90" {
		t.Errorf("expected one header-keyed redemption of 10 to leave 90, got %v", body)
	}
	code, body = call("GET", "/v1/loyalty/members/c-web/transactions?pageSize=1", own, nil)
	txs, _ := body["transactions"].([]any)
	if code != 200 || len(txs) != 1 || body["nextPageToken"] == "" {
		t.Errorf("expected one transaction and a next page token, got %d %v", code, body)
	}
	s.assertLedger(t)
}

func TestAPartnerEarnsForItselfOnly(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	partner := as(t, "fuel-co", auth.RolePartner)
	req := &loyaltyv1.EarnRequest{CustomerId: "c-coal", IdempotencyKey: key(), OrderId: "fuel-1",
		Lines: []*commercev1.OrderLine{line("l1", "diesel", 1, 4000)}}
	if _, err := s.client.Earn(partner, req); err != nil {
		t.Fatalf("partner earn: %v", err)
	}
	var pid string
	if err := s.pool.QueryRow(t.Context(), "SELECT partner_id FROM entries WHERE order_id = 'fuel-1' AND type = 'accrual'").Scan(&pid); err != nil || pid != "fuel-co" {
		t.Errorf("expected the accrual recorded for partner fuel-co, got %q (%v)", pid, err)
	}
	other := &loyaltyv1.EarnRequest{CustomerId: "c-coal", IdempotencyKey: key(), OrderId: "fuel-2", PartnerId: "hotel-co",
		Lines: []*commercev1.OrderLine{line("l1", "diesel", 1, 4000)}}
	if _, err := s.client.Earn(partner, other); code(err) != codes.InvalidArgument {
		t.Errorf("expected a partner naming another partner to be InvalidArgument, got %v", err)
	}
	if _, err := s.client.Earn(customer(t, "c-coal"), req); code(err) != codes.PermissionDenied {
		t.Errorf("expected a customer asking to earn to be PermissionDenied, got %v", err)
	}
	if b := s.member(t, "c-coal").GetBalance().GetAvailable(); b != 40 {
		t.Errorf("expected 40 points from the partner's transaction, got %d", b)
	}
	s.assertLedger(t)
}
