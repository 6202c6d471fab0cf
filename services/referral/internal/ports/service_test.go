package ports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/pkg/server"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/ports"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "referral-test-secret-referral-test-secret"

// stack is a running referral service on a fresh database and broker.
type stack struct {
	t       testing.TB
	ctx     context.Context
	addrs   server.Addrs
	brokers []string
	pool    *pgxpool.Pool
	app     *app.App
	client  referralv1.ReferralServiceClient

	mu  sync.Mutex
	now time.Time
}

func (s *stack) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func startStack(t testing.TB) *stack {
	t.Helper()
	return startStackEnv(t, nil)
}

// startStackEnv is startStack with extra environment settings.
func startStackEnv(t testing.TB, extra map[string]string) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{t: t, ctx: context.Background(), now: time.Now().UTC()}
	url := pgtest.NewDBURL(t)
	broker := kafkatest.NewBroker(t, topics.All()...)
	s.brokers = broker.Addrs()
	apps := make(chan *app.App, 1)
	svc, err := ports.NewService(ports.Options{Now: s.clock, OnApp: func(a *app.App) { apps <- a }})
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan server.Addrs, 1)
	svc.OnListen = func(a server.Addrs) { addrs <- a }
	env := map[string]string{
		"DATABASE_URL": url, "KAFKA_BROKERS": strings.Join(s.brokers, ","),
		"GRPC_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
		"JWT_HS256_SECRET": secret, "LOG_LEVEL": "error", "MIGRATE_ON_START": "true",
		// The test drives the worker's steps itself, at chosen times.
		"REFERRAL_WORKER_INTERVAL": "1h",
	}
	maps.Copy(env, extra)
	done := make(chan error, 1)
	go func() { done <- platform.RunEnv(ctx, nil, env, svc) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop within 30s")
		}
	})
	select {
	case s.addrs = <-addrs:
	case err := <-done:
		t.Fatalf("service stopped before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service did not listen within a minute")
	}
	s.app = <-apps
	conn, err := grpc.NewClient(s.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.client = referralv1.NewReferralServiceClient(conn)
	if s.pool, err = postgres.Connect(s.ctx, url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	return s
}

func token(t testing.TB, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Claims{Subject: sub, Roles: roles, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *stack) as(tok string) context.Context {
	return metadata.AppendToOutgoingContext(s.ctx, "authorization", "Bearer "+tok)
}

// rest calls the REST gateway and decodes the JSON answer into out (when
// not nil); it returns the HTTP status.
func (s *stack) rest(method, path, tok, idemKey string, body any, out proto.Message) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.ctx, method, "http://"+s.addrs.HTTP+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := protojson.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// publish writes commerce events to the broker as an order system would.
func (s *stack) publish(evs ...events.Event) {
	s.t.Helper()
	w := events.NewWriter(s.brokers)
	defer w.Close()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		m, err := events.Encode(s.ctx, ev)
		if err != nil {
			s.t.Fatal(err)
		}
		msgs[i] = m
	}
	if err := w.WriteMessages(s.ctx, msgs...); err != nil {
		s.t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing after a minute.
func (s *stack) eventually(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func orderEvent(kind commercev1.OrderEvent_Kind, orderID, customerID string, total int64, at time.Time) *commercev1.OrderEvent {
	return &commercev1.OrderEvent{
		Kind: kind, OrderId: orderID, CustomerId: customerID,
		Totals:    &commercev1.OrderTotals{Total: &commercev1.Money{AmountMinor: total, Currency: "EUR"}},
		OrderedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at),
	}
}

// The whole journey through the public surface: a marketer creates and
// activates a campaign over REST, a customer gets a code, a friend clicks and
// signs up, the friend's first order arrives on commerce.orders.v1 (twice,
// and redelivered), the hold passes, and exactly two ReferralRewarded events
// with stable ids reach referral.events.v1 for the loyalty service.
func TestTheReferralJourneyWorksOverRESTGRPCAndKafka(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, anna, ben := token(t, "mkt-1", auth.RoleMarketer), token(t, "anna", auth.RoleCustomer), token(t, "ben", auth.RoleCustomer)

	body := map[string]any{"campaign": map[string]any{
		"name":             "Give 300, get 500",
		"referrerReward":   map[string]any{"kind": "REWARD_KIND_POINTS", "points": 500},
		"friendReward":     map[string]any{"kind": "REWARD_KIND_POINTS", "points": 300},
		"conditions":       map[string]any{"attributionWindowDays": 30, "holdPeriodDays": 14},
		"shareUrlTemplate": "https://shop.example/r/{code}",
	}}
	var created, again referralv1.CreateCampaignResponse
	if code := s.rest("POST", "/v1/referral/campaigns", marketer, "create-1", body, &created); code != 200 {
		t.Fatalf("create campaign = HTTP %d, want 200", code)
	}
	if code := s.rest("POST", "/v1/referral/campaigns", marketer, "create-1", body, &again); code != 200 || again.Campaign.CampaignId != created.Campaign.CampaignId {
		t.Fatalf("retried create = HTTP %d campaign %q, want 200 and the first campaign %q", code, again.Campaign.GetCampaignId(), created.Campaign.CampaignId)
	}
	id := created.Campaign.CampaignId
	if code := s.rest("POST", "/v1/referral/campaigns", anna, "create-2", body, nil); code != 403 {
		t.Errorf("a customer creating a campaign = HTTP %d, want 403", code)
	}
	if code := s.rest("POST", "/v1/referral/campaigns/"+id+":activate", marketer, "act-1", map[string]any{}, nil); code != 200 {
		t.Fatalf("activate = HTTP %d, want 200", code)
	}

	var codeResp referralv1.CreateReferralCodeResponse
	if code := s.rest("POST", "/v1/referral/campaigns/"+id+"/codes", anna, "code-1", map[string]any{"customerId": "anna"}, &codeResp); code != 200 {
		t.Fatalf("anna's code = HTTP %d, want 200", code)
	}
	refCode := codeResp.Code.Code
	if want := "https://shop.example/r/" + refCode; codeResp.Code.ShareUrl != want {
		t.Errorf("share link = %q, want %q", codeResp.Code.ShareUrl, want)
	}
	if code := s.rest("POST", "/v1/referral/campaigns/"+id+"/codes", anna, "code-2", map[string]any{"customerId": "ben"}, nil); code != 403 {
		t.Errorf("anna asking for ben's code = HTTP %d, want 403", code)
	}

	var click referralv1.RecordClickResponse
	if code := s.rest("POST", "/v1/referral/codes/"+refCode+"/clicks", "", "click-1", map[string]any{"deviceId": "dev-ben"}, &click); code != 200 || click.ClickId == "" {
		t.Fatalf("anonymous click = HTTP %d (%v), want 200 with a click id", code, click.ClickId)
	}
	attr, err := s.client.CreateAttribution(s.as(ben), &referralv1.CreateAttributionRequest{
		IdempotencyKey: "signup-ben", Code: strings.ToLower(refCode), CustomerId: "ben", DeviceId: "dev-ben",
	})
	if err != nil {
		t.Fatalf("attribution: %v", err)
	}
	if a := attr.Attribution; a.Status != referralv1.ReferralStatus_REFERRAL_STATUS_SIGNED_UP || a.ClickId != click.ClickId || a.ReferrerCustomerId != "anna" {
		t.Fatalf("attribution = %v, want signed up from anna's click %s", a, click.ClickId)
	}

	// The order arrives, is redelivered with the same event id, and sent
	// again with a new id; a later order of ben's marks the end.
	now := s.clock()
	order := events.Event{ID: "order-event-1", Topic: topics.CommerceOrders, Source: "shop", Subject: "ben",
		Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 4999, now)}
	s.publish(order, order)
	order.ID = "order-event-2"
	s.publish(order, events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: "ben",
		Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-2", "ben", 1000, now.Add(time.Minute))})
	s.eventually("the last order to be consumed", func() bool {
		var n int
		return s.pool.QueryRow(s.ctx, "SELECT count(*) FROM orders WHERE order_id = 'o-2'").Scan(&n) == nil && n == 1
	})

	var mine referralv1.ListCustomerReferralsResponse
	if code := s.rest("GET", "/v1/referral/customers/anna/referrals", anna, "", nil, &mine); code != 200 {
		t.Fatalf("anna's referrals = HTTP %d", code)
	}
	if len(mine.Referrals) != 1 || mine.Referrals[0].Status != referralv1.ReferralStatus_REFERRAL_STATUS_CONVERTED || mine.Referrals[0].RewardPendingUntil == nil {
		t.Fatalf("anna's referrals = %v, want one converted, reward pending", mine.Referrals)
	}
	if code := s.rest("GET", "/v1/referral/customers/anna/referrals", ben, "", nil, nil); code != 403 {
		t.Errorf("ben reading anna's referrals = HTTP %d, want 403", code)
	}

	if n, err := s.app.PayDue(s.ctx, now.Add(15*24*time.Hour), 100); err != nil || n != 2 {
		t.Fatalf("PayDue after the hold = %d, %v; want 2", n, err)
	}

	var stats referralv1.GetCampaignStatsResponse
	if code := s.rest("GET", "/v1/referral/campaigns/"+id+"/stats", marketer, "", nil, &stats); code != 200 {
		t.Fatalf("stats = HTTP %d", code)
	}
	if st := stats.Stats; st.Clicks != 1 || st.Signups != 1 || st.Conversions != 1 || st.RewardsPaid != 2 || st.PointsCost != 800 {
		t.Errorf("stats = %v; want 1 click, 1 sign-up, 1 conversion, 2 rewards, 800 points", st)
	}

	// What the loyalty service sees.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, GroupID: "loyalty-probe", Topic: topics.ReferralEvents, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var converted int
	rewarded := map[string]*referraleventsv1.ReferralRewarded{}
	readCtx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	for len(rewarded) < 2 {
		km, err := r.ReadMessage(readCtx)
		if err != nil {
			t.Fatalf("reading referral events (got %d rewards): %v", len(rewarded), err)
		}
		m, err := events.Parse(km)
		if err != nil {
			t.Fatal(err)
		}
		var ev referraleventsv1.ReferralEvent
		if err := m.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.GetReferralConverted() != nil {
			converted++
		}
		if rw := ev.GetReferralRewarded(); rw != nil {
			rewarded[rw.GetBeneficiaryCustomerId()] = rw
			if m.Key != rw.GetBeneficiaryCustomerId() {
				t.Errorf("ReferralRewarded keyed %q, want the beneficiary %q", m.Key, rw.GetBeneficiaryCustomerId())
			}
		}
	}
	if converted != 1 {
		t.Errorf("ReferralConverted events before the rewards = %d, want 1", converted)
	}
	if rewarded["anna"].GetPoints() != 500 || rewarded["ben"].GetPoints() != 300 || rewarded["anna"].GetRewardId() == rewarded["ben"].GetRewardId() {
		t.Errorf("rewards = %v, want anna 500 and ben 300 points with distinct ids", rewarded)
	}
}

func violations(err error) []string {
	st, _ := status.FromError(err)
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func (s *stack) rowCounts() string {
	s.t.Helper()
	var out []string
	for _, table := range []string{"campaigns", "codes", "clicks", "referrals", "rewards", "outbox", "idempotency_keys"} {
		var n int
		if err := s.pool.QueryRow(s.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	return strings.Join(out, " ")
}

func TestInvalidInputGetsInvalidArgumentNamingTheFieldAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, ben := s.as(token(t, "mkt", auth.RoleMarketer)), s.as(token(t, "ben", auth.RoleCustomer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "ok", ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	points := func(n int64) *referralv1.RewardSpec {
		return &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: n}
	}
	before := s.rowCounts()
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"a campaign without a name", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{ReferrerReward: points(10)}})
			return err
		}, "campaign.name"},
		{"a campaign without rewards", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{Name: "x"}})
			return err
		}, "campaign.referrer_reward"},
		{"a reward without a kind", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{Name: "x", FriendReward: &referralv1.RewardSpec{Points: 5}}})
			return err
		}, "campaign.friend_reward.kind"},
		{"a negative hold period", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: points(1), Conditions: &referralv1.CampaignConditions{HoldPeriodDays: -1}}})
			return err
		}, "campaign.conditions.hold_period_days"},
		{"amounts in two currencies", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: points(1),
				Conditions: &referralv1.CampaignConditions{MinOrderValue: &commercev1.Money{AmountMinor: 100, Currency: "EUR"}},
				Caps:       &referralv1.CampaignCaps{BudgetValue: &commercev1.Money{AmountMinor: 100, Currency: "USD"}}}})
			return err
		}, "campaign.caps.budget_money.currency"},
		{"a missing idempotency key", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: points(1)}})
			return err
		}, "idempotency_key"},
		{"a reserved vanity code", func() error {
			_, err := s.client.CreateReferralCode(ben, &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: id, CustomerId: "ben", VanityCode: "admin"})
			return err
		}, "vanity_code"},
		{"a malformed code in a click", func() error {
			_, err := s.client.RecordClick(s.ctx, &referralv1.RecordClickRequest{IdempotencyKey: "k", Code: "no/such code!", DeviceId: "d"})
			return err
		}, "code"},
		{"a click without device or IP", func() error {
			_, err := s.client.RecordClick(s.ctx, &referralv1.RecordClickRequest{IdempotencyKey: "k", Code: "ABCD2345"})
			return err
		}, "device_id"},
		{"an e-mail hash that is not a SHA-256", func() error {
			_, err := s.client.CreateAttribution(ben, &referralv1.CreateAttributionRequest{IdempotencyKey: "k", Code: "ABCD2345", CustomerId: "ben", EmailHash: "ben@example.com"})
			return err
		}, "email_hash"},
		{"a sign-up without code or device", func() error {
			_, err := s.client.CreateAttribution(ben, &referralv1.CreateAttributionRequest{IdempotencyKey: "k", CustomerId: "ben"})
			return err
		}, "code"},
		{"a page size over the limit", func() error {
			_, err := s.client.ListCampaigns(marketer, &referralv1.ListCampaignsRequest{PageSize: 501})
			return err
		}, "page_size"},
		{"a page token not issued by the service", func() error {
			_, err := s.client.ListCustomerReferrals(ben, &referralv1.ListCustomerReferralsRequest{CustomerId: "ben", PageToken: "garbage"})
			return err
		}, "page_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
			}
			found := false
			for _, f := range violations(err) {
				found = found || f == tc.field
			}
			if !found {
				t.Errorf("violations %v do not name %s", violations(err), tc.field)
			}
		})
	}
	if after := s.rowCounts(); after != before {
		t.Errorf("rows after the invalid calls = %s, want unchanged %s", after, before)
	}
}

func TestCallersGetTheCodesTheirSituationCalls(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, ben := s.as(token(t, "mkt", auth.RoleMarketer)), s.as(token(t, "ben", auth.RoleCustomer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "ok", ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"an unknown campaign", func() error {
			_, err := s.client.GetCampaign(marketer, &referralv1.GetCampaignRequest{CampaignId: "nope"})
			return err
		}, codes.NotFound},
		{"pausing a draft", func() error {
			_, err := s.client.PauseCampaign(marketer, &referralv1.PauseCampaignRequest{CampaignId: id, IdempotencyKey: "p1"})
			return err
		}, codes.FailedPrecondition},
		{"a key reused with another request", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{Name: "other", ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10}}})
			return err
		}, codes.AlreadyExists},
		{"a click on an unknown code", func() error {
			_, err := s.client.RecordClick(s.ctx, &referralv1.RecordClickRequest{IdempotencyKey: "k", Code: "ZZZZ9999", DeviceId: "d"})
			return err
		}, codes.NotFound},
		{"a customer creating a partner code", func() error {
			_, err := s.client.CreateReferralCode(ben, &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: id, PartnerId: "p", VanityCode: "GLOW20",
				PartnerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10}})
			return err
		}, codes.PermissionDenied},
		{"no token", func() error {
			_, err := s.client.GetCampaign(s.ctx, &referralv1.GetCampaignRequest{CampaignId: id})
			return err
		}, codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
		})
	}
}

// External producers may write protojson; a message no retry can fix goes
// to the dead-letter topic and does not hold back the ones behind it.
func TestJSONOrdersConvertAndAPoisonOrderIsDeadLetteredWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "json", ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: id, IdempotencyKey: "a1"}); err != nil {
		t.Fatal(err)
	}
	code, err := s.client.CreateReferralCode(s.as(token(t, "anna", auth.RoleCustomer)), &referralv1.CreateReferralCodeRequest{CampaignId: id, CustomerId: "anna", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateAttribution(s.as(token(t, "ben", auth.RoleCustomer)), &referralv1.CreateAttributionRequest{
		IdempotencyKey: "k", Code: code.Code.Code, CustomerId: "ben"}); err != nil {
		t.Fatal(err)
	}
	poison, err := events.Encode(s.ctx, events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: "ben",
		Payload: &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: "no-customer"}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := events.Encode(s.ctx, events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: "ben",
		Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 2500, s.clock())})
	if err != nil {
		t.Fatal(err)
	}
	if good.Value, err = protojson.Marshal(orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 2500, s.clock())); err != nil {
		t.Fatal(err)
	}
	for i, h := range good.Headers {
		if h.Key == events.HeaderContentType {
			good.Headers[i].Value = []byte(events.ContentTypeJSON)
		}
	}
	w := events.NewWriter(s.brokers)
	defer w.Close()
	if err := w.WriteMessages(s.ctx, poison, good); err != nil {
		t.Fatal(err)
	}
	s.eventually("ben's JSON order to convert", func() bool {
		var stage string
		return s.pool.QueryRow(s.ctx, "SELECT stage FROM referrals WHERE friend_id = 'ben'").Scan(&stage) == nil && stage == "converted"
	})
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, GroupID: "dlq-probe", Topic: "referral.dlq", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	readCtx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	km, err := r.ReadMessage(readCtx)
	if err != nil {
		t.Fatalf("reading the dead-letter topic: %v", err)
	}
	var dead commercev1.OrderEvent
	if err := proto.Unmarshal(km.Value, &dead); err != nil || dead.GetOrderId() != "no-customer" {
		t.Errorf("dead letter = %v (%v), want the order without a customer", dead.GetOrderId(), err)
	}
}

func TestOnlyPlatformSystemsMayDateASignUp(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "dates", ReferrerReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: "a1"}); err != nil {
		t.Fatal(err)
	}
	code, err := s.client.CreateReferralCode(s.as(token(t, "anna", auth.RoleCustomer)), &referralv1.CreateReferralCodeRequest{CampaignId: c.Campaign.CampaignId, CustomerId: "anna", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	past := timestamppb.New(s.clock().Add(-time.Hour).Truncate(time.Microsecond))
	cases := []struct {
		name     string
		ctx      context.Context
		friend   string
		honoured bool
	}{
		{"a friend's own token", s.as(token(t, "ben", auth.RoleCustomer)), "ben", false},
		{"a storefront's service token", s.as(token(t, "shop", auth.RoleService)), "cleo", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := s.client.CreateAttribution(tc.ctx, &referralv1.CreateAttributionRequest{
				IdempotencyKey: "k-" + tc.friend, Code: code.Code.Code, CustomerId: tc.friend, SignedUpAt: past})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Attribution.CreatedAt.AsTime().Equal(past.AsTime()); got != tc.honoured {
				t.Errorf("sign-up time %s with %s; want the given time honoured=%v", a.Attribution.CreatedAt.AsTime(), past.AsTime(), tc.honoured)
			}
		})
	}
}
