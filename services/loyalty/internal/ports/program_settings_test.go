package ports_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/affinity-platform/affinity/pkg/auth"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
)

func TestProgramSettingsAreSeededFromTheEnvironmentAndReadableByEveryRole(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"LOYALTY_BASE_POINTS": "2", "LOYALTY_BASE_PER_MINOR": "150", "LOYALTY_ROUNDING": "half_up",
		"LOYALTY_EXCLUDED_SKUS": "gift-25", "LOYALTY_EXCLUDED_CATEGORIES": "shipping", "LOYALTY_MIN_ORDER_MINOR": "500",
		"LOYALTY_RETURN_WINDOW": "336h", "LOYALTY_REDEEM_POINTS": "200", "LOYALTY_REDEEM_VALUE_MINOR": "150"})
	want := &loyaltyv1.ProgramSettings{Currency: "EUR",
		BaseRate:     &loyaltyv1.EarnRate{Points: 2, Per: eur(150), Rounding: loyaltyv1.Rounding_ROUNDING_HALF_UP},
		ExcludedSkus: []string{"gift-25"}, ExcludedCategories: []string{"shipping"}, MinOrderValue: eur(500),
		ReturnWindow: durationpb.New(336 * 3600 * 1e9), RedemptionRate: &loyaltyv1.RedemptionRate{Points: 200, Value: eur(150)}, Version: 1}
	for _, role := range []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService, auth.RolePartner} {
		got, err := s.client.GetProgram(as(t, "someone", role), &loyaltyv1.GetProgramRequest{})
		if err != nil {
			t.Fatalf("get program as %s: %v", role, err)
		}
		p := got.GetProgram()
		p.UpdatedAt = nil
		if !proto.Equal(p, want) {
			t.Errorf("expected %s to read the seeded settings %v, got %v", role, want, p)
		}
	}
}

func TestAnUpdatedBaseRateAppliesToTheNextEarnOnEveryReplica(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	other := s.replica(t, nil)
	if e := s.earn(t, "c-ps1", "o-before", line("l1", "a", 1, 10000)); e.GetPoints() != 100 {
		t.Fatalf("expected 100 points at the seeded rate, got %d", e.GetPoints())
	}
	// The other replica has read (and cached) the old settings.
	if _, err := other.client.GetProgram(customer(t, "c-ps1"), &loyaltyv1.GetProgramRequest{}); err != nil {
		t.Fatal(err)
	}

	req := &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: &loyaltyv1.ProgramSettings{
		BaseRate:       &loyaltyv1.EarnRate{Points: 3, Per: eur(100)},
		RedemptionRate: &loyaltyv1.RedemptionRate{Points: 100, Value: eur(200)}}}
	first, err := s.client.UpdateProgram(marketer(t), req)
	if err != nil {
		t.Fatalf("update program: %v", err)
	}
	if p := first.GetProgram(); p.GetVersion() != 2 || p.GetUpdatedBy() != "marketer-1" || p.GetBaseRate().GetPoints() != 3 ||
		p.GetRedemptionRate().GetValue().GetAmountMinor() != 200 || !slices.Equal(p.GetExcludedCategories(), []string{"shipping", "gift-cards"}) {
		t.Errorf("expected version 2 by marketer-1 with 3 points per EUR, 100 points worth 2 EUR and the exclusions untouched, got %v", p)
	}
	retry, err := s.client.UpdateProgram(marketer(t), req)
	if err != nil || !proto.Equal(retry, first) {
		t.Errorf("expected the retry to return the first answer %v, got %v, %v", first, retry, err)
	}
	reused := proto.Clone(req).(*loyaltyv1.UpdateProgramRequest)
	reused.Program.BaseRate.Points = 9
	if _, err := s.client.UpdateProgram(marketer(t), reused); code(err) != codes.AlreadyExists && code(err) != codes.FailedPrecondition {
		t.Errorf("expected the key reused with another body to fail, got %v", err)
	}

	// This replica: the next RPC earn and redemption use the new settings.
	if e := s.earn(t, "c-ps1", "o-after", line("l1", "a", 1, 10000)); e.GetPoints() != 300 {
		t.Errorf("expected 300 points at the new rate, got %d", e.GetPoints())
	}
	red, err := s.client.Redeem(customer(t, "c-ps1"), &loyaltyv1.RedeemRequest{CustomerId: "c-ps1", IdempotencyKey: key(),
		Target: &loyaltyv1.RedeemRequest_Points{Points: 100}})
	if err != nil || red.GetRedemption().GetValue().GetAmountMinor() != 200 {
		t.Errorf("expected 100 points to be worth 200 cents now, got %v, %v", red.GetRedemption().GetValue(), err)
	}
	// The other replica: its consumer reads the settings per batch, so an
	// order it ingests earns at the new rate.
	other.send(t, orderMessage(t, order("o-other", "c-ps2", line("l1", "a", 2, 5000))))
	other.waitFor(t, "the order earned on the other replica", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = 'o-other')")
	if b := other.member(t, "c-ps2").GetBalance().GetAvailable(); b != 300 {
		t.Errorf("expected the other replica to earn 300 points at the new rate, got %d", b)
	}
	got, err := other.client.GetProgram(customer(t, "c-ps2"), &loyaltyv1.GetProgramRequest{})
	if err != nil || got.GetProgram().GetVersion() != 2 {
		t.Errorf("expected the other replica to read version 2, got %v, %v", got, err)
	}
	s.assertLedger(t)
}

func TestAnInvalidProgramUpdateNamesTheFieldAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	valid := func() *loyaltyv1.ProgramSettings {
		return &loyaltyv1.ProgramSettings{BaseRate: &loyaltyv1.EarnRate{Points: 1, Per: eur(100)}}
	}
	cases := []struct {
		name      string
		ctx       func() *loyaltyv1.UpdateProgramRequest
		wantCode  codes.Code
		wantField string
	}{
		{"zero base points", func() *loyaltyv1.UpdateProgramRequest {
			p := valid()
			p.BaseRate.Points = 0
			return &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: p}
		}, codes.InvalidArgument, "program.base_rate.points"},
		{"a rate in another currency", func() *loyaltyv1.UpdateProgramRequest {
			p := valid()
			p.BaseRate.Per = &commercev1.Money{AmountMinor: 100, Currency: "USD"}
			return &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: p}
		}, codes.InvalidArgument, "program.base_rate.per.currency"},
		{"a worthless redemption rate", func() *loyaltyv1.UpdateProgramRequest {
			return &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: &loyaltyv1.ProgramSettings{
				RedemptionRate: &loyaltyv1.RedemptionRate{Points: 100, Value: eur(0)}}}
		}, codes.InvalidArgument, "program.redemption_rate.value.amount_minor"},
		{"a negative minimum order", func() *loyaltyv1.UpdateProgramRequest {
			return &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: &loyaltyv1.ProgramSettings{MinOrderValue: eur(-1)}}
		}, codes.InvalidArgument, "program.min_order_value.amount_minor"},
		{"a read-only field in the mask", func() *loyaltyv1.UpdateProgramRequest {
			return &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: valid(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version"}}}
		}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"a missing key", func() *loyaltyv1.UpdateProgramRequest {
			return &loyaltyv1.UpdateProgramRequest{Program: valid()}
		}, codes.InvalidArgument, "idempotency_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.client.UpdateProgram(marketer(t), c.ctx())
			if code(err) != c.wantCode || !slices.Contains(badFields(err), c.wantField) {
				t.Errorf("expected %s naming %s, got %v (fields %v)", c.wantCode, c.wantField, err, badFields(err))
			}
		})
	}
	if _, err := s.client.UpdateProgram(customer(t, "c-1"), &loyaltyv1.UpdateProgramRequest{IdempotencyKey: key(), Program: valid()}); code(err) != codes.PermissionDenied {
		t.Errorf("expected a customer's update to be PermissionDenied, got %v", err)
	}
	got, err := s.client.GetProgram(marketer(t), &loyaltyv1.GetProgramRequest{})
	if err != nil || got.GetProgram().GetVersion() != 1 {
		t.Errorf("expected the settings unchanged at version 1, got %v, %v", got, err)
	}
}

func TestTheProgramAndChallengesAreReachableOverREST(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	call := func(method, path, tok, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.addrs.HTTP+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	mkt := token(t, "m-1", auth.RoleMarketer)
	tests := []struct {
		name, method, path, tok, body string
		want                          int
		check                         func(map[string]any) bool
	}{
		{"a customer reads the program", "GET", "/v1/loyalty/program", token(t, "c-1", auth.RoleCustomer), "", http.StatusOK,
			func(b map[string]any) bool { return b["program"].(map[string]any)["currency"] == "EUR" }},
		{"a marketer patches the base rate", "PATCH", "/v1/loyalty/program", mkt,
			`{"idempotencyKey":"k-1","program":{"baseRate":{"points":"5","per":{"amountMinor":"100","currency":"EUR"}}},"updateMask":"baseRate"}`,
			http.StatusOK, func(b map[string]any) bool { return b["program"].(map[string]any)["version"] == "2" }},
		{"a customer cannot patch it", "PATCH", "/v1/loyalty/program", token(t, "c-1", auth.RoleCustomer),
			`{"idempotencyKey":"k-2","program":{"minOrderValue":{"amountMinor":"1","currency":"EUR"}}}`, http.StatusForbidden, nil},
		{"a marketer creates a challenge", "POST", "/v1/loyalty/challenges", mkt,
			`{"idempotencyKey":"k-3","challenge":{"name":"Four cans","goal":"CHALLENGE_GOAL_ITEM_COUNT","target":"4","startsAt":"2026-02-01T00:00:00Z","endsAt":"2026-04-01T00:00:00Z","rewardPoints":"50"}}`,
			http.StatusOK, func(b map[string]any) bool { return b["challenge"].(map[string]any)["challengeId"] != "" }},
		{"a member lists their challenges", "GET", "/v1/loyalty/members/c-1/challenges", token(t, "c-1", auth.RoleCustomer), "", http.StatusOK,
			func(b map[string]any) bool { cs, _ := b["challenges"].([]any); return len(cs) == 1 }},
	}
	for _, tt := range tests {
		code, body := call(tt.method, tt.path, tt.tok, tt.body)
		if code != tt.want || (tt.check != nil && !tt.check(body)) {
			t.Errorf("%s: expected HTTP %d and a matching body, got %d %v", tt.name, tt.want, code, body)
		}
	}
}
