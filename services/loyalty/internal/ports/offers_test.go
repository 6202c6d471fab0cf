package ports_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func (s *stack) rule(t testing.TB, r *loyaltyv1.EarningRule) string {
	t.Helper()
	resp, err := s.client.CreateEarningRule(marketer(t), &loyaltyv1.CreateEarningRuleRequest{IdempotencyKey: key(), Rule: r})
	if err != nil {
		t.Fatalf("create rule %s: %v", r.GetName(), err)
	}
	return resp.GetRule().GetRuleId()
}

func (s *stack) reward(t testing.TB, r *loyaltyv1.Reward) string {
	t.Helper()
	resp, err := s.client.CreateReward(marketer(t), &loyaltyv1.CreateRewardRequest{IdempotencyKey: key(), Reward: r})
	if err != nil {
		t.Fatalf("create reward %s: %v", r.GetName(), err)
	}
	return resp.GetReward().GetRewardId()
}

func TestMemberOffersShowWhatTheMemberGetsRightNow(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	silver := s.tier(t, "Silver", 1, 100)
	s.tier(t, "Gold", 2, 1000)
	order := loyaltyv1.EarningTrigger_EARNING_TRIGGER_ORDER
	s.rule(t, &loyaltyv1.EarningRule{Name: "everyone", Trigger: order, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 5}})
	s.rule(t, &loyaltyv1.EarningRule{Name: "silver double", Trigger: order, Award: &loyaltyv1.EarningRule_MultiplierPercent{MultiplierPercent: 200},
		Target: &loyaltyv1.RuleTarget{TierIds: []string{silver.GetTierId()}}})
	s.rule(t, &loyaltyv1.EarningRule{Name: "vip only", Trigger: order, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 50},
		Target: &loyaltyv1.RuleTarget{SegmentIds: []string{"vip"}}})
	s.rule(t, &loyaltyv1.EarningRule{Name: "ended", Trigger: order, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 50},
		StartsAt: timestamppb.New(s.clock.Now().Add(-48 * time.Hour)), EndsAt: timestamppb.New(s.clock.Now().Add(-24 * time.Hour))})
	s.rule(t, &loyaltyv1.EarningRule{Name: "draft", Trigger: order, Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 50},
		Status: loyaltyv1.ConfigStatus_CONFIG_STATUS_DRAFT})
	s.reward(t, &loyaltyv1.Reward{Name: "cheap", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "mug", PointsCost: 50})
	once := s.reward(t, &loyaltyv1.Reward{Name: "once", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "pen", PointsCost: 10, PerMemberLimit: 1})
	s.reward(t, &loyaltyv1.Reward{Name: "dear", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "bike", PointsCost: 5000})
	s.reward(t, &loyaltyv1.Reward{Name: "gold lounge", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "lounge", PointsCost: 1,
		TierIds: []string{"no-such-tier"}})

	// 100.00 EUR: base 100 + everyone 5 (not Silver yet when it earns).
	s.earn(t, "c-offers", "o-1", line("l1", "a", 1, 10000))
	if _, err := s.client.Redeem(customer(t, "c-offers"), &loyaltyv1.RedeemRequest{CustomerId: "c-offers", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_RewardId{RewardId: once}}); err != nil {
		t.Fatalf("redeem once: %v", err)
	}
	// Eleven and a half months on, the 95 points left expire within 30 days.
	s.clock.Advance(350 * 24 * time.Hour)

	got, err := s.client.GetMemberOffers(customer(t, "c-offers"), &loyaltyv1.GetMemberOffersRequest{CustomerId: "c-offers"})
	if err != nil {
		t.Fatalf("get offers: %v", err)
	}
	if got.GetMember().GetTier().GetTierName() != "Silver" || !slices.Equal(got.GetPerks(), []string{"Silver perks"}) {
		t.Errorf("expected Silver with its perks, got %v perks %v", got.GetMember().GetTier(), got.GetPerks())
	}
	var campaigns []string
	for _, c := range got.GetCampaigns() {
		campaigns = append(campaigns, c.GetName())
	}
	slices.Sort(campaigns)
	if want := []string{"everyone", "silver double"}; !slices.Equal(campaigns, want) {
		t.Errorf("expected campaigns %v (not the segment-targeted, ended or draft ones), got %v", want, campaigns)
	}
	type offer struct {
		name       string
		affordable bool
		short      int64
		reason     string
	}
	var offers []offer
	for _, r := range got.GetRewards() {
		offers = append(offers, offer{r.GetReward().GetName(), r.GetAffordable(), r.GetPointsShort(), r.GetUnavailableReason()})
	}
	want := []offer{{"cheap", true, 0, ""}, {"once", false, 0, "member_limit"}, {"dear", false, 5000 - 95, "not_enough_points"}}
	if !slices.Equal(offers, want) {
		t.Errorf("expected rewards %v (affordable first, the other tier's hidden), got %v", want, offers)
	}
	exp := got.GetMember().GetExpiringPoints()
	if len(exp) != 1 || exp[0].GetPoints() != 95 {
		t.Errorf("expected 95 points expiring soon, got %v", exp)
	}
	if got.GetMember().GetBalance().GetAvailable() != 95 {
		t.Errorf("expected 95 available, got %v", got.GetMember().GetBalance())
	}
}

func TestMemberOffersAreForTheMemberTheirServicesAndMarketersOnly(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	s.reward(t, &loyaltyv1.Reward{Name: "cheap", Type: loyaltyv1.RewardType_REWARD_TYPE_FREE_PRODUCT, ProductId: "mug", PointsCost: 50})
	s.credit(t, "c-own", 60)
	tests := []struct {
		name string
		tok  string
		id   string
		want int
	}{
		{"the member reads their own offers", token(t, "c-own", auth.RoleCustomer), "c-own", http.StatusOK},
		{"a marketer reads any member's offers", token(t, "m-1", auth.RoleMarketer), "c-own", http.StatusOK},
		{"a service reads any member's offers", token(t, "pos", auth.RoleService), "c-own", http.StatusOK},
		{"another customer cannot", token(t, "c-eve", auth.RoleCustomer), "c-own", http.StatusForbidden},
		{"a partner cannot", token(t, "fuel-co", auth.RolePartner), "c-own", http.StatusForbidden},
		{"an over-long customer id is a bad request", token(t, "m-1", auth.RoleMarketer), strings.Repeat("x", 200), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.addrs.HTTP+"/v1/loyalty/members/"+tt.id+"/offers", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tt.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.want {
				t.Fatalf("expected HTTP %d, got %d (%v)", tt.want, resp.StatusCode, body)
			}
			if tt.want == http.StatusOK {
				rewards, _ := body["rewards"].([]any)
				if len(rewards) != 1 || rewards[0].(map[string]any)["affordable"] != true {
					t.Errorf("expected the 50-point reward affordable on 60 points, got %v", body)
				}
			}
		})
	}
	if _, err := s.client.GetMemberOffers(service(t), &loyaltyv1.GetMemberOffersRequest{}); code(err) != codes.InvalidArgument || !slices.Contains(badFields(err), "customer_id") {
		t.Errorf("expected a missing customer_id to be InvalidArgument naming it, got %v", err)
	}
	unknown, err := s.client.GetMemberOffers(service(t), &loyaltyv1.GetMemberOffersRequest{CustomerId: "c-new"})
	if err != nil || len(unknown.GetRewards()) != 1 || unknown.GetRewards()[0].GetPointsShort() != 50 {
		t.Errorf("expected a customer never seen to get the catalog 50 points short, got %v, %v", unknown, err)
	}
}
