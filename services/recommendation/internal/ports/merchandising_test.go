package ports_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/postgres"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

var marketerClaims = auth.Claims{Subject: "marketer-1", Roles: []auth.Role{auth.RoleMarketer}}

// marketer returns a client of svc with a marketer's token.
func marketer(t *testing.T, svc *running) recommendationv1.RecommendationServiceClient {
	t.Helper()
	return clientAs(t, svc, marketerClaims)
}

// clientAs returns a client of svc whose calls and streams carry c's token.
func clientAs(t *testing.T, svc *running, c auth.Claims) recommendationv1.RecommendationServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(svc.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(withToken(c)), grpc.WithStreamInterceptor(streamToken(c)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return recommendationv1.NewRecommendationServiceClient(conn)
}

func streamToken(c auth.Claims) grpc.StreamClientInterceptor {
	c.ExpiresAt = time.Now().Add(24 * time.Hour)
	tok, err := auth.Sign(secret, c)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if err != nil {
			return nil, err
		}
		return streamer(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), desc, cc, method, opts...)
	}
}

// violations returns the fields an InvalidArgument error names.
func violations(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func expectInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("%s: code %v (%v), want InvalidArgument", what, status.Code(err), err)
		return
	}
	if fs := violations(err); !slices.Contains(fs, field) {
		t.Errorf("%s: violations name %v, want %q", what, fs, field)
	}
}

func trendingFirst(t *testing.T, c recommendationv1.RecommendationServiceClient, customer string) string {
	t.Helper()
	items := crossSell(t, c, &recommendationv1.GetRecommendationsRequest{CustomerId: customer, Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 3}).GetItems()
	if len(items) == 0 {
		return ""
	}
	return items[0].GetProductId()
}

func TestMerchandisingRulesApplyOnEveryReplica(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	one := s.start()
	two := s.start()
	m := marketer(t, one)
	upsert(t, one.client, product{id: "MA"}, product{id: "MB"}, product{id: "MC", category: "Garden/Seeds"})
	// MA sells best, then MB, then MC.
	s.publish(topics.CommerceOrders, "x", order("m1", "x1", t0, "MA"), order("m2", "x2", t0, "MA"), order("m3", "x3", t0, "MA"),
		order("m4", "x4", t0, "MB"), order("m5", "x5", t0, "MB"), order("m6", "x6", t0, "MC"))
	s.publish(topics.SegmentationEvents, "vip-1", &segmentationeventsv1.SegmentationEvent{Event: &segmentationeventsv1.SegmentationEvent_SegmentEntered{
		SegmentEntered: &segmentationeventsv1.SegmentEntered{SegmentId: "vip", CustomerId: "vip-1", OccurredAt: timestamppb.New(t0)}}})
	for _, svc := range []*running{one, two} {
		eventually(t, 90*time.Second, "MA first on both replicas", func() (bool, string) {
			items := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "vip-1", Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 3}).GetItems()
			return len(items) == 3 && items[0].GetProductId() == "MA" && items[2].GetProductId() == "MC", fmt.Sprint(ids(items))
		})
	}
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	eventually(t, 90*time.Second, "vip-1 stored in the segment", func() (bool, string) {
		n := count(t, pool, "SELECT count(*) FROM customer_segments WHERE member AND segment_id = 'vip'")
		return n == 1, fmt.Sprint(n)
	})

	// A category boost created on one replica applies on the other.
	create := &recommendationv1.CreateMerchandisingRuleRequest{IdempotencyKey: "rule-1", Rule: &recommendationv1.MerchandisingRule{
		Name: "Push seeds", Kind: recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_BOOST, Categories: []string{"Garden"}, Multiplier: 50,
	}}
	created, err := m.CreateMerchandisingRule(context.Background(), create)
	if err != nil {
		t.Fatalf("CreateMerchandisingRule: %v", err)
	}
	rule := created.GetRule()
	if rule.GetRuleId() == "" || rule.GetCreateTime() == nil || rule.GetMultiplier() != 50 {
		t.Errorf("created rule = %v, want an id, a create time and multiplier 50", rule)
	}
	again, err := m.CreateMerchandisingRule(context.Background(), create)
	if err != nil || again.GetRule().GetRuleId() != rule.GetRuleId() {
		t.Errorf("a retry with the same key = %v, %v; want the first rule %s", again, err, rule.GetRuleId())
	}
	eventually(t, 30*time.Second, "the boosted MC first on the other replica", func() (bool, string) {
		got := trendingFirst(t, two.client, "x9")
		return got == "MC", got
	})
	// A replica started now loads the stored rule before it serves.
	three := s.start()
	if got := trendingFirst(t, three.client, "x9"); got != "MC" {
		t.Errorf("a new replica serves %s first, want the boosted MC", got)
	}
	three.stop()

	// A segment-targeted boost lifts MB for the segment's member only.
	vip, err := m.CreateMerchandisingRule(context.Background(), &recommendationv1.CreateMerchandisingRuleRequest{IdempotencyKey: "rule-2", Rule: &recommendationv1.MerchandisingRule{
		Name: "VIPs see MB", Kind: recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_BOOST, ProductIds: []string{"MB"}, SegmentId: "vip", Multiplier: 100,
	}})
	if err != nil {
		t.Fatalf("CreateMerchandisingRule(vip): %v", err)
	}
	eventually(t, 30*time.Second, "MB first for the VIP on the other replica", func() (bool, string) {
		got := trendingFirst(t, two.client, "vip-1")
		return got == "MB", got
	})
	if got := trendingFirst(t, two.client, "x9"); got != "MC" {
		t.Errorf("a customer outside the segment sees %s first, want MC (the category boost only)", got)
	}

	// Pausing the category boost through the mask, then deleting the VIP
	// rule, restores the sales order on the other replica.
	_, err = m.UpdateMerchandisingRule(context.Background(), &recommendationv1.UpdateMerchandisingRuleRequest{IdempotencyKey: "pause-1",
		Rule: &recommendationv1.MerchandisingRule{RuleId: rule.GetRuleId(), Paused: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"paused"}}})
	if err != nil {
		t.Fatalf("UpdateMerchandisingRule: %v", err)
	}
	if _, err := m.DeleteMerchandisingRule(context.Background(), &recommendationv1.DeleteMerchandisingRuleRequest{IdempotencyKey: "del-1", RuleId: vip.GetRule().GetRuleId()}); err != nil {
		t.Fatalf("DeleteMerchandisingRule: %v", err)
	}
	eventually(t, 30*time.Second, "MA first again for everyone", func() (bool, string) {
		a, b := trendingFirst(t, two.client, "x9"), trendingFirst(t, two.client, "vip-1")
		return a == "MA" && b == "MA", a + " " + b
	})
	list, err := m.ListMerchandisingRules(context.Background(), &recommendationv1.ListMerchandisingRulesRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rs := list.GetRules(); len(rs) != 1 || rs[0].GetRuleId() != rule.GetRuleId() || !rs[0].GetPaused() || rs[0].GetName() != "Push seeds" || list.GetNextPageToken() != "" {
		t.Errorf("rules = %v, want only the paused category boost, its name kept, on one page", list)
	}
	if _, err := m.DeleteMerchandisingRule(context.Background(), &recommendationv1.DeleteMerchandisingRuleRequest{IdempotencyKey: "del-2", RuleId: "no-such-rule"}); status.Code(err) != codes.NotFound {
		t.Errorf("deleting an unknown rule: %v, want NotFound", err)
	}

	// Invalid rules name the field; a storefront may not manage rules.
	boost := recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_BOOST
	for _, c := range []struct {
		name  string
		rule  *recommendationv1.MerchandisingRule
		key   string
		field string
	}{
		{"a boost without a multiplier", &recommendationv1.MerchandisingRule{Name: "x", Kind: boost, ProductIds: []string{"MA"}}, "k1", "rule.multiplier"},
		{"a boost selecting nothing", &recommendationv1.MerchandisingRule{Name: "x", Kind: boost, Multiplier: 2}, "k2", "rule.product_ids"},
		{"a rule without a name", &recommendationv1.MerchandisingRule{Kind: boost, ProductIds: []string{"MA"}, Multiplier: 2}, "k3", "rule.name"},
		{"a rule without a kind", &recommendationv1.MerchandisingRule{Name: "x", ProductIds: []string{"MA"}, Multiplier: 2}, "k4", "rule.kind"},
		{"a malformed product id", &recommendationv1.MerchandisingRule{Name: "x", Kind: boost, ProductIds: []string{"not ok"}, Multiplier: 2}, "k5", "rule.product_ids[0]"},
		{"an end before the start", &recommendationv1.MerchandisingRule{Name: "x", Kind: boost, ProductIds: []string{"MA"}, Multiplier: 2,
			StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(-time.Hour))}, "k6", "rule.end_time"},
		{"a margin boost with a multiplier", &recommendationv1.MerchandisingRule{Name: "x", Kind: recommendationv1.MerchandisingRuleKind_MERCHANDISING_RULE_KIND_MARGIN_BOOST, Multiplier: 2}, "k7", "rule.multiplier"},
		{"no idempotency key", &recommendationv1.MerchandisingRule{Name: "x", Kind: boost, ProductIds: []string{"MA"}, Multiplier: 2}, "", "idempotency_key"},
	} {
		_, err := m.CreateMerchandisingRule(context.Background(), &recommendationv1.CreateMerchandisingRuleRequest{IdempotencyKey: c.key, Rule: c.rule})
		expectInvalid(t, c.name, err, c.field)
	}
	if _, err := one.client.ListMerchandisingRules(context.Background(), &recommendationv1.ListMerchandisingRulesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a storefront listing rules: %v, want PermissionDenied", err)
	}

	// Over REST, as the console calls it.
	body := `{"idempotencyKey":"rest-1","rule":{"name":"Margin first","kind":"MERCHANDISING_RULE_KIND_MARGIN_BOOST","marginWeight":1.5}}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+one.addrs.HTTP+"/v1/recommendations/rules", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token(t, marketerClaims))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Rule struct {
			RuleID       string  `json:"ruleId"`
			MarginWeight float64 `json:"marginWeight"`
		} `json:"rule"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || out.Rule.RuleID == "" || out.Rule.MarginWeight != 1.5 {
		t.Fatalf("REST create = %d %+v %v, want 200 with the margin rule", resp.StatusCode, out, err)
	}
	rest := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+one.addrs.HTTP+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token(t, marketerClaims))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := rest(http.MethodPatch, "/v1/recommendations/rules/"+out.Rule.RuleID, `{"idempotencyKey":"rest-2","rule":{"marginWeight":3},"updateMask":"marginWeight"}`); code != http.StatusOK || !strings.Contains(body, `"marginWeight":3`) || !strings.Contains(body, `"name":"Margin first"`) {
		t.Errorf("REST patch = %d %s, want 200 with weight 3 and the name kept", code, body)
	}
	if code, body := rest(http.MethodPatch, "/v1/recommendations/rules/"+out.Rule.RuleID, `{"idempotencyKey":"rest-3","rule":{"marginWeight":30},"updateMask":"marginWeight"}`); code != http.StatusBadRequest || !strings.Contains(body, "rule.margin_weight") {
		t.Errorf("REST patch out of range = %d %s, want 400 naming rule.margin_weight", code, body)
	}
	if code, body := rest(http.MethodDelete, "/v1/recommendations/rules/"+out.Rule.RuleID+"?idempotencyKey=rest-4", ""); code != http.StatusOK {
		t.Errorf("REST delete = %d %s, want 200", code, body)
	}
	if code, body := rest(http.MethodGet, "/v1/recommendations/rules", ""); code != http.StatusOK || strings.Contains(body, out.Rule.RuleID) {
		t.Errorf("REST list after delete = %d %s, want 200 without the deleted rule", code, body)
	}
}

// variantOf asks for a cart list and returns the variant the customer was
// assigned to.
func variantOf(t *testing.T, c recommendationv1.RecommendationServiceClient, customer string) *recommendationv1.GetRecommendationsResponse {
	t.Helper()
	return crossSell(t, c, &recommendationv1.GetRecommendationsRequest{CustomerId: customer, ProductIds: []string{"XA"}, Placement: recommendationv1.Placement_PLACEMENT_CART, Limit: 2})
}

func TestExperimentsFromTheAPIAssignStablyAndCountRealFeedback(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_EXPERIMENTS": `[{"ID":"env-test","Placement":"email","Variants":[{"Name":"a","Weight":1},{"Name":"b","Weight":1}]}]`})
	one := s.start()
	two := s.start()
	m := marketer(t, one)
	upsert(t, one.client, product{id: "XA"}, product{id: "XB"}, product{id: "XC"})
	s.publish(topics.CommerceOrders, "x", order("x1", "y1", t0, "XA", "XB"), order("x2", "y2", t0, "XC"))
	eventually(t, 90*time.Second, "the orders folded", func() (bool, string) {
		items := crossSell(t, two.client, &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"XA"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 2}).GetItems()
		return len(items) == 2 && items[0].GetProductId() == "XB", fmt.Sprint(ids(items))
	})

	x := &recommendationv1.Experiment{ExperimentId: "cart-ab", Name: "Cart: trending vs default", Placement: recommendationv1.Placement_PLACEMENT_CART,
		Variants: []*recommendationv1.ExperimentVariant{
			{Name: "control", Weight: 50},
			{Name: "trending", Weight: 50, Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Params: map[string]string{"max_per_category": "1"}},
		}}
	created, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-1", Experiment: x})
	if err != nil {
		t.Fatalf("CreateExperiment: %v", err)
	}
	if got := created.GetExperiment(); got.GetState() != recommendationv1.ExperimentState_EXPERIMENT_STATE_DRAFT || got.GetStartTime() != nil {
		t.Errorf("created = %v, want a draft without a start time", got)
	}
	if v := variantOf(t, one.client, "c-0").GetVariant(); v != "" {
		t.Errorf("a draft assigned variant %q, want none", v)
	}
	start := &recommendationv1.UpdateExperimentRequest{IdempotencyKey: "x-start", Experiment: &recommendationv1.Experiment{ExperimentId: "cart-ab", State: recommendationv1.ExperimentState_EXPERIMENT_STATE_RUNNING},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}}}
	started, err := m.UpdateExperiment(context.Background(), start)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if got := started.GetExperiment(); got.GetState() != recommendationv1.ExperimentState_EXPERIMENT_STATE_RUNNING || got.GetStartTime() == nil || len(got.GetVariants()) != 2 {
		t.Errorf("started = %v, want running with a start time and both variants", got)
	}
	eventually(t, 30*time.Second, "the other replica assigns variants", func() (bool, string) {
		v := variantOf(t, two.client, "c-0").GetVariant()
		return v != "", v
	})

	// Assignment is stable across requests and replicas, and both arms get
	// customers (40 customers all in one arm has probability 2^-39).
	assigned := map[string]string{}
	perVariant := map[string]int{}
	for i := range 40 {
		c := fmt.Sprintf("c-%d", i)
		r1, r2 := variantOf(t, one.client, c), variantOf(t, two.client, c)
		if r1.GetVariant() == "" || r1.GetVariant() != r2.GetVariant() || r1.GetVariant() != variantOf(t, one.client, c).GetVariant() {
			t.Fatalf("customer %s: variants %q and %q, want the same non-empty variant every time", c, r1.GetVariant(), r2.GetVariant())
		}
		if r1.GetVariant() == "trending" && r1.GetStrategy() != recommendationv1.Strategy_STRATEGY_TRENDING {
			t.Errorf("customer %s in trending was served %v", c, r1.GetStrategy())
		}
		assigned[c] = r1.GetVariant()
		perVariant[r1.GetVariant()]++
		// Every customer sees the list; every third clicks its first item,
		// every fifth adds it to the cart.
		fb := []*recommendationv1.Feedback{{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_IMPRESSION, ProductId: r1.GetItems()[0].GetProductId(), RecommendationId: r1.GetRecommendationId(), Placement: recommendationv1.Placement_PLACEMENT_CART}}
		if i%3 == 0 {
			fb = append(fb, &recommendationv1.Feedback{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_CLICK, ProductId: r1.GetItems()[0].GetProductId(), RecommendationId: r1.GetRecommendationId(), Placement: recommendationv1.Placement_PLACEMENT_CART})
		}
		if i%5 == 0 {
			fb = append(fb, &recommendationv1.Feedback{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_ADD_TO_CART, ProductId: r1.GetItems()[0].GetProductId(), RecommendationId: r1.GetRecommendationId(), Placement: recommendationv1.Placement_PLACEMENT_CART})
		}
		if _, err := two.client.RecordFeedback(context.Background(), &recommendationv1.RecordFeedbackRequest{IdempotencyKey: "fb-" + c, CustomerId: c, Feedback: fb}); err != nil {
			t.Fatalf("RecordFeedback: %v", err)
		}
	}
	if perVariant["control"] == 0 || perVariant["trending"] == 0 {
		t.Errorf("assignments %v, want customers in both variants", perVariant)
	}
	want := map[string][3]int64{}
	for i := range 40 {
		v := assigned[fmt.Sprintf("c-%d", i)]
		w := want[v]
		w[0]++
		if i%3 == 0 {
			w[1]++
		}
		if i%5 == 0 {
			w[2]++
		}
		want[v] = w
	}

	// Stopping ends assignment; the results stay readable and count exactly
	// the feedback recorded above.
	stop := &recommendationv1.UpdateExperimentRequest{IdempotencyKey: "x-stop", Experiment: &recommendationv1.Experiment{ExperimentId: "cart-ab", State: recommendationv1.ExperimentState_EXPERIMENT_STATE_STOPPED},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}}}
	if _, err := m.UpdateExperiment(context.Background(), stop); err != nil {
		t.Fatalf("stop: %v", err)
	}
	eventually(t, 30*time.Second, "the other replica stops assigning", func() (bool, string) {
		v := variantOf(t, two.client, "c-1").GetVariant()
		return v == "", v
	})
	results, err := m.GetExperimentResults(context.Background(), &recommendationv1.GetExperimentResultsRequest{ExperimentId: "cart-ab"})
	if err != nil {
		t.Fatalf("GetExperimentResults: %v", err)
	}
	if vs := results.GetVariants(); len(vs) != 2 || vs[0].GetVariant() != "control" || vs[1].GetVariant() != "trending" {
		t.Fatalf("results = %v, want control then trending", results)
	}
	for _, v := range results.GetVariants() {
		w := want[v.GetVariant()]
		if v.GetImpressions() != w[0] || v.GetClicks() != w[1] || v.GetConversions() != w[2] {
			t.Errorf("%s: %d impressions, %d clicks, %d conversions; want %v", v.GetVariant(), v.GetImpressions(), v.GetClicks(), v.GetConversions(), w)
		}
		if w[0] > 0 && v.GetCtr() != float64(w[1])/float64(w[0]) {
			t.Errorf("%s: CTR %v, want %v", v.GetVariant(), v.GetCtr(), float64(w[1])/float64(w[0]))
		}
	}

	// Restarted with all traffic on the treatment: weights move customers,
	// the names stay.
	restart := &recommendationv1.UpdateExperimentRequest{IdempotencyKey: "x-restart", Experiment: &recommendationv1.Experiment{ExperimentId: "cart-ab",
		State: recommendationv1.ExperimentState_EXPERIMENT_STATE_RUNNING, Variants: []*recommendationv1.ExperimentVariant{{Name: "control", Weight: 0}, {Name: "trending", Weight: 1, Strategy: recommendationv1.Strategy_STRATEGY_TRENDING}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state", "variants"}}}
	restarted, err := m.UpdateExperiment(context.Background(), restart)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := restarted.GetExperiment(); got.GetEndTime() != nil || !got.GetStartTime().AsTime().Equal(started.GetExperiment().GetStartTime().AsTime()) {
		t.Errorf("restarted = %v, want the first start time kept and the stop time cleared", got)
	}
	eventually(t, 30*time.Second, "everyone in trending on the other replica", func() (bool, string) {
		for i := range 40 {
			if v := variantOf(t, two.client, fmt.Sprintf("c-%d", i)).GetVariant(); v != "trending" {
				return false, fmt.Sprintf("c-%d in %q", i, v)
			}
		}
		return true, ""
	})

	// Listing shows the stored and the operator's experiments; the
	// operator's are read-only.
	list, err := m.ListExperiments(context.Background(), &recommendationv1.ListExperimentsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	next, err := m.ListExperiments(context.Background(), &recommendationv1.ListExperimentsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := list.GetExperiments(), next.GetExperiments(); len(a) != 1 || len(b) != 1 || a[0].GetExperimentId() != "cart-ab" || b[0].GetExperimentId() != "env-test" ||
		!b[0].GetManagedByEnvironment() || a[0].GetManagedByEnvironment() || next.GetNextPageToken() != "" {
		t.Errorf("pages = %v then %v, want cart-ab then the read-only env-test", list, next)
	}
	got, err := m.GetExperiment(context.Background(), &recommendationv1.GetExperimentRequest{ExperimentId: "cart-ab"})
	if err != nil || got.GetExperiment().GetVariants()[1].GetStrategy() != recommendationv1.Strategy_STRATEGY_TRENDING || got.GetExperiment().GetName() != x.GetName() {
		t.Errorf("GetExperiment = %v, %v; want cart-ab as updated", got, err)
	}

	for _, c := range []struct {
		name string
		call func() error
		code codes.Code
		// field is the violation InvalidArgument names.
		field string
	}{
		{"an id that is taken", func() error {
			_, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-2", Experiment: x})
			return err
		}, codes.AlreadyExists, ""},
		{"the operator's id", func() error {
			y := &recommendationv1.Experiment{ExperimentId: "env-test", Variants: x.GetVariants()}
			_, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-3", Experiment: y})
			return err
		}, codes.AlreadyExists, ""},
		{"changing the operator's experiment", func() error {
			_, err := m.UpdateExperiment(context.Background(), &recommendationv1.UpdateExperimentRequest{IdempotencyKey: "x-4", Experiment: &recommendationv1.Experiment{ExperimentId: "env-test", State: recommendationv1.ExperimentState_EXPERIMENT_STATE_STOPPED}})
			return err
		}, codes.FailedPrecondition, ""},
		{"renaming a started experiment's variants", func() error {
			_, err := m.UpdateExperiment(context.Background(), &recommendationv1.UpdateExperimentRequest{IdempotencyKey: "x-5",
				Experiment: &recommendationv1.Experiment{ExperimentId: "cart-ab", Variants: []*recommendationv1.ExperimentVariant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"variants"}}})
			return err
		}, codes.InvalidArgument, "experiment.variants"},
		{"one variant", func() error {
			_, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-6", Experiment: &recommendationv1.Experiment{ExperimentId: "solo", Variants: x.GetVariants()[:1]}})
			return err
		}, codes.InvalidArgument, "experiment.variants"},
		{"an unknown placement", func() error {
			_, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-7", Experiment: &recommendationv1.Experiment{ExperimentId: "where", Placement: 42, Variants: x.GetVariants()}})
			return err
		}, codes.InvalidArgument, "experiment.placement"},
		{"an unknown parameter", func() error {
			y := &recommendationv1.Experiment{ExperimentId: "params", Variants: []*recommendationv1.ExperimentVariant{{Name: "a", Weight: 1}, {Name: "b", Weight: 1, Params: map[string]string{"alpha": "1"}}}}
			_, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-8", Experiment: y})
			return err
		}, codes.InvalidArgument, "experiment.variants[1].params"},
		{"an unknown experiment", func() error {
			_, err := m.GetExperiment(context.Background(), &recommendationv1.GetExperimentRequest{ExperimentId: "nope"})
			return err
		}, codes.NotFound, ""},
		{"a storefront creating one", func() error {
			_, err := one.client.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "x-9", Experiment: x})
			return err
		}, codes.PermissionDenied, ""},
	} {
		err := c.call()
		if c.field != "" {
			expectInvalid(t, c.name, err, c.field)
			continue
		}
		if status.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}

func TestAHomeExperimentWithoutAnIdGetsOneAndRunsOnlyOnHomeRequests(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	m := marketer(t, svc)
	upsert(t, svc.client, product{id: "HA"}, product{id: "HB"})
	created, err := m.CreateExperiment(context.Background(), &recommendationv1.CreateExperimentRequest{IdempotencyKey: "home-1", Experiment: &recommendationv1.Experiment{
		Name: "Home", Placement: recommendationv1.Placement_PLACEMENT_HOME, State: recommendationv1.ExperimentState_EXPERIMENT_STATE_RUNNING,
		Variants: []*recommendationv1.ExperimentVariant{{Name: "control", Weight: 0}, {Name: "treatment", Weight: 1}},
	}})
	if err != nil {
		t.Fatalf("CreateExperiment: %v", err)
	}
	x := created.GetExperiment()
	if x.GetExperimentId() == "" || x.GetPlacement() != recommendationv1.Placement_PLACEMENT_HOME || x.GetState() != recommendationv1.ExperimentState_EXPERIMENT_STATE_RUNNING {
		t.Fatalf("created %v, want a generated id, the home placement, running", x)
	}
	for _, c := range []struct {
		placement recommendationv1.Placement
		want      string
	}{
		{recommendationv1.Placement_PLACEMENT_HOME, "treatment"},
		{recommendationv1.Placement_PLACEMENT_UNSPECIFIED, "treatment"},
		{recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, ""},
	} {
		resp := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "h1", ProductIds: []string{"HA"}, Placement: c.placement, Limit: 1})
		if resp.GetVariant() != c.want {
			t.Errorf("%v: variant %q, want %q", c.placement, resp.GetVariant(), c.want)
		}
	}
	got, err := m.GetExperiment(context.Background(), &recommendationv1.GetExperimentRequest{ExperimentId: x.GetExperimentId()})
	if err != nil || got.GetExperiment().GetPlacement() != recommendationv1.Placement_PLACEMENT_HOME {
		t.Errorf("GetExperiment = %v, %v; want the home experiment", got, err)
	}
}

func TestExportStreamsTheListsOfEverySegmentMember(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	m := marketer(t, svc)
	upsert(t, svc.client, product{id: "EA"}, product{id: "EB"}, product{id: "EC"})
	s.publish(topics.CommerceOrders, "x", order("e1", "x1", t0, "EA", "EB"), order("e2", "x2", t0, "EC"))
	members := []string{"m-1", "m-2", "m-3"}
	for _, c := range append(slices.Clone(members), "outsider") {
		seg := "news"
		if c == "outsider" {
			seg = "other"
		}
		s.publish(topics.SegmentationEvents, c, &segmentationeventsv1.SegmentationEvent{Event: &segmentationeventsv1.SegmentationEvent_SegmentEntered{
			SegmentEntered: &segmentationeventsv1.SegmentEntered{SegmentId: seg, CustomerId: c, OccurredAt: timestamppb.New(t0)}}})
	}
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	eventually(t, 90*time.Second, "members stored and orders folded", func() (bool, string) {
		n := count(t, pool, "SELECT count(*) FROM customer_segments WHERE member")
		items := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 3}).GetItems()
		return n == 4 && len(items) == 3, fmt.Sprint(n, ids(items))
	})

	stream, err := m.ExportRecommendations(context.Background(), &recommendationv1.ExportRecommendationsRequest{SegmentId: "news", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		r, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Recv: %v", err)
			}
			break
		}
		got = append(got, r.GetCustomerId())
		if len(r.GetItems()) != 2 || r.GetRecommendationId() == "" {
			t.Errorf("%s: %d items, id %q; want 2 items and an id", r.GetCustomerId(), len(r.GetItems()), r.GetRecommendationId())
		}
	}
	if !slices.Equal(got, members) {
		t.Errorf("exported %v, want the members %v in id order", got, members)
	}

	// REST streams newline-delimited JSON, one line per member.
	req, _ := http.NewRequest(http.MethodGet, "http://"+svc.addrs.HTTP+"/v1/recommendations/export?segmentId=news&limit=1&strategy=STRATEGY_TRENDING", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, marketerClaims))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Result struct {
				CustomerID string `json:"customerId"`
				Items      []struct {
					ProductID string `json:"productId"`
				} `json:"items"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if len(line.Result.Items) != 1 || line.Result.Items[0].ProductID != "EA" && line.Result.Items[0].ProductID != "EB" {
			t.Errorf("%s: items %v, want the single bestseller", line.Result.CustomerID, line.Result.Items)
		}
		lines = append(lines, line.Result.CustomerID)
	}
	if resp.StatusCode != http.StatusOK || !slices.Equal(lines, members) {
		t.Errorf("REST export = %d %v, want 200 with a line per member %v", resp.StatusCode, lines, members)
	}

	for _, c := range []struct {
		name string
		c    recommendationv1.RecommendationServiceClient
		req  *recommendationv1.ExportRecommendationsRequest
		code codes.Code
	}{
		{"limit 0", m, &recommendationv1.ExportRecommendationsRequest{SegmentId: "news"}, codes.InvalidArgument},
		{"a malformed segment id", m, &recommendationv1.ExportRecommendationsRequest{SegmentId: "not ok", Limit: 1}, codes.InvalidArgument},
		{"a storefront token", clientAs(t, svc, serviceClaims), &recommendationv1.ExportRecommendationsRequest{SegmentId: "news", Limit: 1}, codes.PermissionDenied},
	} {
		stream, err := c.c.ExportRecommendations(context.Background(), c.req)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}
