package ports_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/server"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/ports"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "segmentation-test-secret-segmentation-test-secret"

// stack is the service running on a fresh database and broker.
type stack struct {
	t       testing.TB
	addrs   server.Addrs
	brokers []string
	client  segmentationv1.SegmentationServiceClient
	reader  *kafka.Reader
}

func startService(t testing.TB) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := pgtest.NewDBURL(t)
	broker := kafkatest.NewBroker(t, topics.All()...)
	svc, err := ports.Service()
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan server.Addrs, 1)
	svc.OnListen = func(a server.Addrs) { addrs <- a }
	env := map[string]string{
		"DATABASE_URL": url, "KAFKA_BROKERS": strings.Join(broker.Addrs(), ","),
		"GRPC_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
		"JWT_HS256_SECRET": secret, "LOG_LEVEL": "error", "MIGRATE_ON_START": "true",
	}
	done := make(chan error, 1)
	go func() { done <- platform.RunEnv(ctx, nil, env, svc) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("service stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("service did not stop within 30s of cancel")
		}
	})
	s := &stack{t: t, brokers: broker.Addrs()}
	select {
	case s.addrs = <-addrs:
	case err := <-done:
		t.Fatalf("service returned before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service did not listen within a minute")
	}
	conn, err := grpc.NewClient(s.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.client = segmentationv1.NewSegmentationServiceClient(conn)
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

func as(ctx context.Context, t testing.TB, sub string, roles ...auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token(t, sub, roles...))
}

// publish writes commerce events as a storefront or shop system would.
func (s *stack) publish(topic string, evs ...events.Event) {
	s.t.Helper()
	w := events.NewWriter(s.brokers)
	defer w.Close()
	var msgs []kafka.Message
	for _, ev := range evs {
		ev.Topic, ev.Source = topic, "shop"
		m, err := events.Encode(context.Background(), ev)
		if err != nil {
			s.t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		s.t.Fatal(err)
	}
}

// segmentationEvents reads the next want events the service published,
// failing after a minute. One reader serves the whole test, so each call
// continues where the previous one stopped.
func (s *stack) segmentationEvents(want int) []*segev.SegmentationEvent {
	s.t.Helper()
	if s.reader == nil {
		s.reader = kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: topics.SegmentationEvents, GroupID: "test", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
		s.t.Cleanup(func() { s.reader.Close() })
	}
	r := s.reader
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*segev.SegmentationEvent
	for len(out) < want {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			s.t.Fatalf("read segmentation events (have %d of %d): %v", len(out), want, err)
		}
		m, err := events.Parse(km)
		if err != nil {
			s.t.Fatal(err)
		}
		var e segev.SegmentationEvent
		if err := m.Decode(&e); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, &e)
	}
	return out
}

func completed(orderID, customer string, total int64, at time.Time) *commercev1.OrderEvent {
	m := &commercev1.Money{AmountMinor: total, Currency: "EUR"}
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: orderID, CustomerId: customer,
		Lines:  []*commercev1.OrderLine{{LineId: "1", Sku: "spade", CategoryPath: []string{"Garden", "Tools"}, Quantity: 1, UnitPrice: m}},
		Totals: &commercev1.OrderTotals{Total: m}, OrderedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at)}
}

func TestTheServiceKeepsSegmentsCurrentFromEventsOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := as(context.Background(), t, "mia", auth.RoleMarketer)

	created, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "k1",
		Segment: &segmentationv1.Segment{SegmentId: "big-spenders", Name: "Big spenders", Rule: `total_spend >= 10000`}})
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	if created.GetSegment().GetSegmentId() != "big-spenders" || created.GetSegment().GetEvaluatedAt() == nil {
		t.Errorf("created %v, want big-spenders evaluated", created.GetSegment())
	}
	again, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "k1",
		Segment: &segmentationv1.Segment{SegmentId: "big-spenders", Name: "Big spenders", Rule: `total_spend >= 10000`}})
	if err != nil || again.GetSegment().GetSegmentId() != "big-spenders" {
		t.Errorf("retry with the same key = %v, %v; want the first answer", again, err)
	}

	now := time.Now().UTC()
	s.publish(topics.CommerceOrders, events.Event{Subject: "c1", Key: "c1", Payload: completed("o1", "c1", 15000, now)})
	evs := s.segmentationEvents(1)
	if e := evs[0].GetSegmentEntered(); e.GetSegmentId() != "big-spenders" || e.GetCustomerId() != "c1" || e.GetSegmentName() != "Big spenders" {
		t.Fatalf("first event = %v, want SegmentEntered big-spenders for c1", evs[0])
	}

	// REST: the members and the customer's own profile.
	body := s.rest(http.MethodGet, "/v1/segments/big-spenders/members", token(t, "mia", auth.RoleMarketer), nil, http.StatusOK)
	if !strings.Contains(body, `"customerId":"c1"`) {
		t.Errorf("members over REST = %s, want c1", body)
	}
	body = s.rest(http.MethodGet, "/v1/customers/c1/profile", token(t, "c1", auth.RoleCustomer), nil, http.StatusOK)
	for _, want := range []string{`"orderCount":"1"`, `"amountMinor":"15000"`, `"segmentId":"big-spenders"`, `"favouriteCategories":["garden"]`} {
		if !strings.Contains(body, want) {
			t.Errorf("profile over REST lacks %s:\n%s", want, body)
		}
	}
	s.rest(http.MethodGet, "/v1/customers/c1/profile", token(t, "c2", auth.RoleCustomer), nil, http.StatusForbidden)

	// Raising the bar over REST recomputes the members: c1 leaves.
	patch := `{"idempotencyKey":"k2","segment":{"rule":"total_spend >= 20000"},"updateMask":"rule"}`
	body = s.rest(http.MethodPatch, "/v1/segments/big-spenders", token(t, "mia", auth.RoleMarketer), strings.NewReader(patch), http.StatusOK)
	if !strings.Contains(body, `"rule":"total_spend >= 20000"`) || !strings.Contains(body, `"name":"Big spenders"`) {
		t.Errorf("PATCH answered %s, want the new rule and the old name", body)
	}
	evs = s.segmentationEvents(1)
	if e := evs[0].GetSegmentExited(); e.GetSegmentId() != "big-spenders" || e.GetCustomerId() != "c1" || e.GetSegmentDeleted() {
		t.Errorf("second event = %v, want SegmentExited big-spenders for c1", evs[0])
	}

	// A storefront tracks a survey answer; it goes through the commerce
	// topic and lands in the profile.
	track := `{"idempotencyKey":"t1","customerId":"c1","event":{"kind":"KIND_SURVEY_ANSWER","survey":{"kind":"KIND_NPS","score":3}}}`
	s.rest(http.MethodPost, "/v1/events:track", token(t, "c1", auth.RoleCustomer), strings.NewReader(track), http.StatusOK)
	deadline := time.Now().Add(time.Minute)
	for {
		p, err := s.client.GetCustomerProfile(ctx, &segmentationv1.GetCustomerProfileRequest{CustomerId: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		if p.GetProfile().GetTraits().GetSatisfaction().GetNps().GetLatest() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracked NPS answer never reached the profile: %v", p.GetProfile().GetTraits())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) rest(method, path, tok string, body io.Reader, want int) string {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addrs.HTTP+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Errorf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return string(b)
}

func fieldViolations(err error) map[string]string {
	out := map[string]string{}
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] += v.GetDescription()
			}
		}
	}
	return out
}

func TestInvalidRequestsGetInvalidArgumentNamingTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := as(context.Background(), t, "mia", auth.RoleMarketer)
	seg := func(id, rule string) *segmentationv1.Segment {
		return &segmentationv1.Segment{SegmentId: id, Name: "x", Rule: rule}
	}
	cases := []struct {
		name  string
		call  func() error
		field string
		want  string
	}{
		{"a rule with a syntax error names line and column", func() error {
			_, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "a", Segment: seg("a", "order_count >= && true")})
			return err
		}, "segment.rule", "1:16"},
		{"a rule with an unknown variable names its position", func() error {
			_, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "b", Segment: seg("b", "order_count > 1 &&\n  spnd > 3")})
			return err
		}, "segment.rule", "2:3"},
		{"a rule referring to a missing segment", func() error {
			_, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "c", Segment: seg("c", `in_segment("nope")`)})
			return err
		}, "segment.rule", "nope"},
		{"a bad segment id", func() error {
			_, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "d", Segment: seg("Bad Id", "true")})
			return err
		}, "segment.segment_id", "lower-case"},
		{"a missing idempotency key", func() error {
			_, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{Segment: seg("e", "true")})
			return err
		}, "idempotency_key", "required"},
		{"a preview of a rule that is not a condition", func() error {
			_, err := s.client.PreviewSegment(ctx, &segmentationv1.PreviewSegmentRequest{Rule: "order_count + 1"})
			return err
		}, "rule", "bool"},
		{"a survey score off the scale", func() error {
			_, err := s.client.Track(as(context.Background(), t, "svc", auth.RoleService), &segmentationv1.TrackRequest{IdempotencyKey: "t", CustomerId: "c1",
				Event: &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_SURVEY_ANSWER, Survey: &commercev1.SurveyAnswer{Kind: commercev1.SurveyAnswer_KIND_NPS, Score: 11}}})
			return err
		}, "event.survey.score", "0..10"},
		{"an identify without a customer", func() error {
			_, err := s.client.Identify(as(context.Background(), t, "svc", auth.RoleService), &segmentationv1.IdentifyRequest{IdempotencyKey: "i"})
			return err
		}, "customer_id", "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
			}
			if v := fieldViolations(err); !strings.Contains(v[c.field], c.want) {
				t.Errorf("violations = %v, want %s mentioning %q", v, c.field, c.want)
			}
		})
	}
	list, err := s.client.ListSegments(ctx, &segmentationv1.ListSegmentsRequest{})
	if err != nil || len(list.GetSegments()) != 0 {
		t.Errorf("segments after invalid requests = %v, %v; want none", list.GetSegments(), err)
	}
	// Reusing a key with a different body is refused, not replayed.
	if _, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "k", Segment: seg("ok", "true")}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "k", Segment: seg("other", "true")})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("key reuse with another body: %v, want FailedPrecondition", err)
	}
	_, err = s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "k2", Segment: seg("ok", "false")})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("a second segment with the same id: %v, want AlreadyExists", err)
	}
}
