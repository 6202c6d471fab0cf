package ports_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
)

func (s *stack) pointsReport(t testing.TB, req *loyaltyv1.GetPointsReportRequest) *loyaltyv1.GetPointsReportResponse {
	t.Helper()
	r, err := s.client.GetPointsReport(marketer(t), req)
	if err != nil {
		t.Fatalf("points report: %v", err)
	}
	return r
}

func TestReportsShowLiabilityBreakageAndPartnerSettlement(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_JOB_INTERVAL": "50ms"})
	partner := as(t, "fuel-co", auth.RolePartner)
	begin := s.clock.Now()
	if _, err := s.client.Earn(partner, &loyaltyv1.EarnRequest{CustomerId: "c-r1", IdempotencyKey: key(), OrderId: "fuel-1",
		Lines: []*commercev1.OrderLine{line("l1", "diesel", 1, 4000)}}); err != nil {
		t.Fatalf("partner earn: %v", err)
	}
	s.earn(t, "c-r2", "o-1", line("l1", "a", 1, 10000))
	if _, err := s.client.Redeem(partner, &loyaltyv1.RedeemRequest{CustomerId: "c-r1", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 10}}); err != nil {
		t.Fatalf("redeem at the partner: %v", err)
	}
	if _, err := s.client.CreateHold(service(t), &loyaltyv1.CreateHoldRequest{CustomerId: "c-r2", IdempotencyKey: key(), Points: 30,
		OrderId: "cart-1"}); err != nil {
		t.Fatalf("hold: %v", err)
	}
	s.clock.Advance(time.Minute)

	got := s.pointsReport(t, &loyaltyv1.GetPointsReportRequest{})
	want := &loyaltyv1.GetPointsReportResponse{AvailablePoints: 100, HeldPoints: 30, OutstandingPoints: 130,
		OutstandingValue: eur(130), MembersWithPoints: 2, IssuedPoints: 140, RedeemedPoints: 10}
	got.StartTime, got.EndTime = nil, nil
	if !proto.Equal(got, want) {
		t.Errorf("expected the liability before expiry to be %v, got %v", want, got)
	}

	settle, err := s.client.GetPartnerSettlement(marketer(t), &loyaltyv1.GetPartnerSettlementRequest{})
	if err != nil {
		t.Fatalf("settlement: %v", err)
	}
	wantP := []*loyaltyv1.PartnerSettlement{{PartnerId: "fuel-co", IssuedPoints: 40, RedeemedPoints: 10, NetPoints: 30, NetValue: eur(30)}}
	if !slices.EqualFunc(settle.GetPartners(), wantP, func(a, b *loyaltyv1.PartnerSettlement) bool { return proto.Equal(a, b) }) {
		t.Errorf("expected settlement %v, got %v", wantP, settle.GetPartners())
	}
	before, err := s.client.GetPartnerSettlement(marketer(t), &loyaltyv1.GetPartnerSettlementRequest{
		StartTime: timestamppb.New(begin.Add(-48 * time.Hour)), EndTime: timestamppb.New(begin.Add(-24 * time.Hour))})
	if err != nil || len(before.GetPartners()) != 0 {
		t.Errorf("expected no partner activity in the period before, got %v, %v", before.GetPartners(), err)
	}

	// Thirteen months on the hold has lapsed and every point has expired:
	// 130 points of breakage against 10 redeemed.
	s.clock.Advance(13 * 30 * 24 * time.Hour)
	eventually(t, "every point to expire", func() (bool, string) {
		r := s.pointsReport(t, &loyaltyv1.GetPointsReportRequest{})
		return r.GetExpiredPoints() == 130 && r.GetOutstandingPoints() == 0, r.String()
	})
	after := s.pointsReport(t, &loyaltyv1.GetPointsReportRequest{})
	if after.GetBreakageRateBps() != 9285 || after.GetIssuedPoints() != 140 || after.GetMembersWithPoints() != 0 {
		t.Errorf("expected a breakage rate of 9285 bps (130 of 140) with 140 issued and no member with points, got %v", after)
	}
	// The period names which flows count: only the expiry falls in the last day.
	lastDay := s.pointsReport(t, &loyaltyv1.GetPointsReportRequest{StartTime: timestamppb.New(s.clock.Now().Add(-24 * time.Hour))})
	if lastDay.GetIssuedPoints() != 0 || lastDay.GetExpiredPoints() != 130 {
		t.Errorf("expected only the 130 expired points in the last day, got %v", lastDay)
	}
	s.assertLedger(t)
}

func TestReportsShowWhatEachRuleAwardedAndTheCampaignLiftOverItsHoldout(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	ruleID := s.rule(t, &loyaltyv1.EarningRule{Name: "Bonus", Trigger: loyaltyv1.EarningTrigger_EARNING_TRIGGER_ORDER,
		Award: &loyaltyv1.EarningRule_BonusPoints{BonusPoints: 5}, HoldoutPercent: 50})
	// Treated members order twice, held-out members once: a lift of +100%
	// in orders and in spend.
	var treated, held int64
	for i := range 20 {
		id := fmt.Sprint("c-lift-", i)
		orders := 2
		if earning.InHoldout(ruleID, id, 50) {
			orders, held = 1, held+1
		} else {
			treated++
		}
		for o := range orders {
			s.earn(t, id, fmt.Sprintf("%s-o%d", id, o), line("l1", "a", 1, 1000))
		}
	}
	if treated == 0 || held == 0 {
		t.Fatalf("expected both groups to have members, got %d treated and %d held out", treated, held)
	}
	s.clock.Advance(time.Hour)

	totals, err := s.client.ListRuleTotals(marketer(t), &loyaltyv1.ListRuleTotalsRequest{})
	if err != nil {
		t.Fatalf("rule totals: %v", err)
	}
	want := &loyaltyv1.RuleTotal{RuleId: ruleID, Name: "Bonus", Points: 5 * 2 * treated, Members: treated}
	if len(totals.GetTotals()) != 1 || !proto.Equal(totals.GetTotals()[0], want) {
		t.Errorf("expected totals [%v], got %v", want, totals.GetTotals())
	}

	lift, err := s.client.GetHoldoutLift(marketer(t), &loyaltyv1.GetHoldoutLiftRequest{RuleId: ruleID})
	if err != nil {
		t.Fatalf("lift: %v", err)
	}
	wantT := &loyaltyv1.GroupOutcome{Members: treated, Purchasers: treated, Orders: 2 * treated, Spend: eur(2000 * treated)}
	wantH := &loyaltyv1.GroupOutcome{Members: held, Purchasers: held, Orders: held, Spend: eur(1000 * held)}
	if !proto.Equal(lift.GetTreated(), wantT) || !proto.Equal(lift.GetHeldOut(), wantH) {
		t.Errorf("expected treated %v and held out %v, got %v and %v", wantT, wantH, lift.GetTreated(), lift.GetHeldOut())
	}
	if lift.OrdersLiftBps == nil || lift.GetOrdersLiftBps() != 10000 || lift.SpendLiftBps == nil || lift.GetSpendLiftBps() != 10000 {
		t.Errorf("expected +10000 bps lift in orders and spend, got %v and %v", lift.OrdersLiftBps, lift.SpendLiftBps)
	}
	if _, err := s.client.GetHoldoutLift(marketer(t), &loyaltyv1.GetHoldoutLiftRequest{RuleId: "no-such-rule"}); code(err) != codes.NotFound {
		t.Errorf("expected the lift of an unknown rule to be NotFound, got %v", err)
	}
}

func TestReportsAreForMarketersAndNameBadFields(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	now := s.clock.Now()
	tests := []struct {
		name       string
		path       string
		tok        string
		want       int
		wantFields []string
	}{
		{"a marketer reads the points report", "/v1/loyalty/reports/points", token(t, "m-1", auth.RoleMarketer), http.StatusOK, nil},
		{"a marketer reads the rule totals", "/v1/loyalty/reports/rules", token(t, "m-1", auth.RoleMarketer), http.StatusOK, nil},
		{"a marketer reads the partner settlement", "/v1/loyalty/reports/partners?partnerId=fuel-co", token(t, "m-1", auth.RoleMarketer), http.StatusOK, nil},
		{"a customer cannot read reports", "/v1/loyalty/reports/points", token(t, "c-1", auth.RoleCustomer), http.StatusForbidden, nil},
		{"a partner cannot read the settlement", "/v1/loyalty/reports/partners", token(t, "fuel-co", auth.RolePartner), http.StatusForbidden, nil},
		{"a period ending before it starts is a bad request", "/v1/loyalty/reports/points?startTime=" + now.Format(time.RFC3339) +
			"&endTime=" + now.Add(-time.Hour).Format(time.RFC3339), token(t, "m-1", auth.RoleMarketer), http.StatusBadRequest, []string{"end_time"}},
		{"a lift period ending before it starts is a bad request", "/v1/loyalty/reports/rules/r-1/lift?startTime=" + now.Format(time.RFC3339) +
			"&endTime=" + now.Format(time.RFC3339), token(t, "m-1", auth.RoleMarketer), http.StatusBadRequest, []string{"end_time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.addrs.HTTP+tt.path, nil)
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
			for _, f := range tt.wantFields {
				if b, _ := json.Marshal(body); !json.Valid(b) || !containsField(body, f) {
					t.Errorf("expected the error to name %s, got %v", f, body)
				}
			}
		})
	}
}

// containsField reports whether a REST error body's BadRequest names field.
func containsField(body map[string]any, field string) bool {
	details, _ := body["details"].([]any)
	for _, d := range details {
		vs, _ := d.(map[string]any)["fieldViolations"].([]any)
		for _, v := range vs {
			if v.(map[string]any)["field"] == field {
				return true
			}
		}
	}
	return false
}
