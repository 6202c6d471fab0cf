package contract_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
)

// recorder is a gRPC server that answers every RPC with an empty response
// and remembers the request it got, keyed by the test-id metadata the
// gateway forwards from the Test-Id header.
type recorder struct {
	mu   sync.Mutex
	seen map[string]call
}

type call struct {
	method string
	req    proto.Message
}

func (r *recorder) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(
		protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", ".")))
	if err != nil {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	md := d.(protoreflect.MethodDescriptor)
	req := dynamicpb.NewMessage(md.Input())
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	meta, _ := metadata.FromIncomingContext(stream.Context())
	if ids := meta.Get("test-id"); len(ids) == 1 {
		r.mu.Lock()
		r.seen[ids[0]] = call{method: method, req: req}
		r.mu.Unlock()
	}
	return stream.SendMsg(dynamicpb.NewMessage(md.Output()))
}

func (r *recorder) call(id string) (call, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.seen[id]
	return c, ok
}

// startGateway serves all four services' grpc-gateway handlers in front of a
// recorder over real TCP, as pkg/server will in production.
func startGateway(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{seen: map[string]call{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(rec.handle))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// Since grpc-gateway v2.33 only permanent HTTP headers (and
	// Authorization) become metadata by default; forward the test's own.
	mux := runtime.NewServeMux(runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
		if key == "Test-Id" {
			return "test-id", true
		}
		return runtime.DefaultHeaderMatcher(key)
	}))
	ctx := context.Background()
	for name, register := range map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		"loyalty":        loyaltyv1.RegisterLoyaltyServiceHandler,
		"referral":       referralv1.RegisterReferralServiceHandler,
		"recommendation": recommendationv1.RegisterRecommendationServiceHandler,
		"segmentation":   segmentationv1.RegisterSegmentationServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			t.Fatalf("register %s gateway: %v", name, err)
		}
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs, rec
}

func TestTheArchitecturesRESTSurfaceRoutesToItsRPCs(t *testing.T) {
	t.Parallel()
	hs, rec := startGateway(t)
	tests := []struct {
		name    string
		verb    string
		path    string
		body    string
		wantRPC string
		wantReq string // protojson of the request the RPC must receive
	}{
		// Loyalty.
		{"a member is read by customer id", "GET", "/v1/loyalty/members/c-1", "",
			"/loyalty.v1.LoyaltyService/GetMember", `{"customerId":"c-1"}`},
		{"transactions are paged", "GET", "/v1/loyalty/members/c-1/transactions?pageSize=20&pageToken=p2", "",
			"/loyalty.v1.LoyaltyService/ListTransactions", `{"customerId":"c-1","pageSize":20,"pageToken":"p2"}`},
		{"a redemption spends on a reward", "POST", "/v1/loyalty/members/c-1/redemptions", `{"idempotencyKey":"k","rewardId":"r-1"}`,
			"/loyalty.v1.LoyaltyService/Redeem", `{"customerId":"c-1","idempotencyKey":"k","rewardId":"r-1"}`},
		{"a hold reserves points", "POST", "/v1/loyalty/members/c-1/holds", `{"idempotencyKey":"k","points":"50","ttl":"900s"}`,
			"/loyalty.v1.LoyaltyService/CreateHold", `{"customerId":"c-1","idempotencyKey":"k","points":"50","ttl":"900s"}`},
		{"a hold is captured", "POST", "/v1/loyalty/holds/h-1:capture", `{"idempotencyKey":"k","customerId":"c-1"}`,
			"/loyalty.v1.LoyaltyService/CaptureHold", `{"holdId":"h-1","idempotencyKey":"k","customerId":"c-1"}`},
		{"a hold is released", "POST", "/v1/loyalty/holds/h-1:release", `{"idempotencyKey":"k"}`,
			"/loyalty.v1.LoyaltyService/ReleaseHold", `{"holdId":"h-1","idempotencyKey":"k"}`},
		{"an adjustment credits points", "POST", "/v1/loyalty/members/c-1/adjustments", `{"idempotencyKey":"k","points":"-5","reason":"ADJUSTMENT_REASON_CORRECTION"}`,
			"/loyalty.v1.LoyaltyService/CreateAdjustment", `{"customerId":"c-1","idempotencyKey":"k","points":"-5","reason":"ADJUSTMENT_REASON_CORRECTION"}`},
		{"earning is a custom method on the member", "POST", "/v1/loyalty/members/c-1:earn", `{"idempotencyKey":"k","orderId":"o-1"}`,
			"/loyalty.v1.LoyaltyService/Earn", `{"customerId":"c-1","idempotencyKey":"k","orderId":"o-1"}`},
		{"rewards are listed", "GET", "/v1/loyalty/rewards", "", "/loyalty.v1.LoyaltyService/ListRewards", `{}`},
		{"a reward is created", "POST", "/v1/loyalty/rewards", `{"idempotencyKey":"k","reward":{"name":"Mug"}}`,
			"/loyalty.v1.LoyaltyService/CreateReward", `{"idempotencyKey":"k","reward":{"name":"Mug"}}`},
		{"a reward is updated", "PATCH", "/v1/loyalty/rewards/r-1", `{"idempotencyKey":"k","reward":{"name":"Cup"},"updateMask":"name"}`,
			"/loyalty.v1.LoyaltyService/UpdateReward", `{"idempotencyKey":"k","reward":{"rewardId":"r-1","name":"Cup"},"updateMask":"name"}`},
		{"earning rules are listed", "GET", "/v1/loyalty/earning-rules", "", "/loyalty.v1.LoyaltyService/ListEarningRules", `{}`},
		{"an earning rule is read", "GET", "/v1/loyalty/earning-rules/e-1", "", "/loyalty.v1.LoyaltyService/GetEarningRule", `{"ruleId":"e-1"}`},
		{"tiers are listed", "GET", "/v1/loyalty/tiers", "", "/loyalty.v1.LoyaltyService/ListTiers", `{}`},
		{"a tier is created", "POST", "/v1/loyalty/tiers", `{"idempotencyKey":"k","tier":{"name":"Gold"}}`,
			"/loyalty.v1.LoyaltyService/CreateTier", `{"idempotencyKey":"k","tier":{"name":"Gold"}}`},
		// Referral.
		{"a campaign is created", "POST", "/v1/referral/campaigns", `{"idempotencyKey":"k","campaign":{"name":"Give 10"}}`,
			"/referral.v1.ReferralService/CreateCampaign", `{"idempotencyKey":"k","campaign":{"name":"Give 10"}}`},
		{"campaigns are listed", "GET", "/v1/referral/campaigns?status=CAMPAIGN_STATUS_ACTIVE", "",
			"/referral.v1.ReferralService/ListCampaigns", `{"status":"CAMPAIGN_STATUS_ACTIVE"}`},
		{"a campaign is read", "GET", "/v1/referral/campaigns/cp-1", "", "/referral.v1.ReferralService/GetCampaign", `{"campaignId":"cp-1"}`},
		{"a campaign is activated", "POST", "/v1/referral/campaigns/cp-1:activate", `{"idempotencyKey":"k"}`,
			"/referral.v1.ReferralService/ActivateCampaign", `{"campaignId":"cp-1","idempotencyKey":"k"}`},
		{"a campaign is paused", "POST", "/v1/referral/campaigns/cp-1:pause", `{"idempotencyKey":"k"}`,
			"/referral.v1.ReferralService/PauseCampaign", `{"campaignId":"cp-1","idempotencyKey":"k"}`},
		{"a customer gets a code", "POST", "/v1/referral/campaigns/cp-1/codes", `{"idempotencyKey":"k","customerId":"c-1"}`,
			"/referral.v1.ReferralService/CreateReferralCode", `{"campaignId":"cp-1","idempotencyKey":"k","customerId":"c-1"}`},
		{"a click is recorded", "POST", "/v1/referral/codes/ANNA7K/clicks", `{"idempotencyKey":"k","deviceId":"d"}`,
			"/referral.v1.ReferralService/RecordClick", `{"code":"ANNA7K","idempotencyKey":"k","deviceId":"d"}`},
		{"a sign-up is attributed", "POST", "/v1/referral/attributions", `{"idempotencyKey":"k","code":"ANNA7K","customerId":"c-2"}`,
			"/referral.v1.ReferralService/CreateAttribution", `{"idempotencyKey":"k","code":"ANNA7K","customerId":"c-2"}`},
		{"a campaign's funnel is read", "GET", "/v1/referral/campaigns/cp-1/stats", "",
			"/referral.v1.ReferralService/GetCampaignStats", `{"campaignId":"cp-1"}`},
		{"a customer's referrals are listed", "GET", "/v1/referral/customers/c-1/referrals", "",
			"/referral.v1.ReferralService/ListCustomerReferrals", `{"customerId":"c-1"}`},
		// Recommendation.
		{"recommendations take the documented query parameters", "GET",
			"/v1/recommendations?customerId=c-1&productIds=p-1&productIds=p-2&placement=PLACEMENT_CART&strategy=STRATEGY_CROSS_SELL&limit=5", "",
			"/recommendation.v1.RecommendationService/GetRecommendations",
			`{"customerId":"c-1","productIds":["p-1","p-2"],"placement":"PLACEMENT_CART","strategy":"STRATEGY_CROSS_SELL","limit":5}`},
		{"feedback is recorded", "POST", "/v1/recommendations/feedback", `{"idempotencyKey":"k","feedback":[{"kind":"FEEDBACK_KIND_CLICK","productId":"p-1"}]}`,
			"/recommendation.v1.RecommendationService/RecordFeedback", `{"idempotencyKey":"k","feedback":[{"kind":"FEEDBACK_KIND_CLICK","productId":"p-1"}]}`},
		{"products are upserted in a batch", "POST", "/v1/catalog/products:batchUpsert", `{"idempotencyKey":"k","products":[{"productId":"p-1"}]}`,
			"/recommendation.v1.RecommendationService/BatchUpsertProducts", `{"idempotencyKey":"k","products":[{"productId":"p-1"}]}`},
		// Segmentation.
		{"a segment is created", "POST", "/v1/segments", `{"idempotencyKey":"k","segment":{"name":"VIP","rule":"true"}}`,
			"/segmentation.v1.SegmentationService/CreateSegment", `{"idempotencyKey":"k","segment":{"name":"VIP","rule":"true"}}`},
		{"segments are listed", "GET", "/v1/segments", "", "/segmentation.v1.SegmentationService/ListSegments", `{}`},
		{"a segment is read", "GET", "/v1/segments/s-1", "", "/segmentation.v1.SegmentationService/GetSegment", `{"segmentId":"s-1"}`},
		{"a segment is updated", "PATCH", "/v1/segments/s-1", `{"idempotencyKey":"k","segment":{"rule":"false"}}`,
			"/segmentation.v1.SegmentationService/UpdateSegment", `{"idempotencyKey":"k","segment":{"segmentId":"s-1","rule":"false"}}`},
		{"a segment is deleted", "DELETE", "/v1/segments/s-1?idempotencyKey=k", "",
			"/segmentation.v1.SegmentationService/DeleteSegment", `{"segmentId":"s-1","idempotencyKey":"k"}`},
		{"a rule is previewed", "POST", "/v1/segments:preview", `{"rule":"true"}`,
			"/segmentation.v1.SegmentationService/PreviewSegment", `{"rule":"true"}`},
		{"a segment's members are listed", "GET", "/v1/segments/s-1/members", "",
			"/segmentation.v1.SegmentationService/ListSegmentMembers", `{"segmentId":"s-1"}`},
		{"a customer's profile is read", "GET", "/v1/customers/c-1/profile", "",
			"/segmentation.v1.SegmentationService/GetCustomerProfile", `{"customerId":"c-1"}`},
		{"an event is tracked", "POST", "/v1/events:track", `{"idempotencyKey":"k","customerId":"c-1","event":{"kind":"KIND_VIEW","productId":"p-1"}}`,
			"/segmentation.v1.SegmentationService/Track", `{"idempotencyKey":"k","customerId":"c-1","event":{"kind":"KIND_VIEW","productId":"p-1"}}`},
		{"a customer is identified", "POST", "/v1/customers:identify", `{"idempotencyKey":"k","customerId":"c-1","anonymousId":"a-1"}`,
			"/segmentation.v1.SegmentationService/Identify", `{"idempotencyKey":"k","customerId":"c-1","anonymousId":"a-1"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprint(i)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.verb, hs.URL+tt.path, body)
			if err != nil {
				t.Fatalf("new request: %v", err)
			}
			req.Header.Set("Test-Id", id)
			resp, err := hs.Client().Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.verb, tt.path, err)
			}
			got, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: expected 200, got %d %s", tt.verb, tt.path, resp.StatusCode, got)
			}
			c, ok := rec.call(id)
			if !ok {
				t.Fatalf("%s %s: expected a call of %s, got none", tt.verb, tt.path, tt.wantRPC)
			}
			if c.method != tt.wantRPC {
				t.Fatalf("%s %s: expected RPC %s, got %s", tt.verb, tt.path, tt.wantRPC, c.method)
			}
			want := dynamicpb.NewMessage(c.req.ProtoReflect().Descriptor())
			if err := protojson.Unmarshal([]byte(tt.wantReq), want); err != nil {
				t.Fatalf("bad wantReq %s: %v", tt.wantReq, err)
			}
			if !proto.Equal(c.req, want) {
				t.Errorf("%s %s: expected request %s, got %s", tt.verb, tt.path, tt.wantReq, protojson.Format(c.req))
			}
		})
	}
}

func TestAnUnknownEnumInAQueryIsABadRequest(t *testing.T) {
	t.Parallel()
	hs, _ := startGateway(t)
	resp, err := hs.Client().Get(hs.URL + "/v1/recommendations?customerId=c-1&strategy=MAGIC")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown strategy: expected 400, got %d %s", resp.StatusCode, body)
	}
}
