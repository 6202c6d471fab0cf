package ports_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/localkafka"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/server"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/recommendation/internal/ports"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var serviceClaims = auth.Claims{Subject: "storefront", Roles: []auth.Role{auth.RoleService}}

const secret = "recommendation-test-secret-recommendation-test"

// stack is one test's database and broker, on which services are started
// and stopped (a restart reuses both).
type stack struct {
	t      testing.TB
	dbURL  string
	broker *localkafka.Broker
	env    map[string]string
	writer *kafka.Writer
}

func newStack(t testing.TB, env map[string]string) *stack {
	t.Helper()
	s := &stack{t: t, dbURL: pgtest.NewDBURL(t), broker: kafkatest.NewBroker(t, append(ports.ConsumedTopics, topics.RecommendationEvents)...)}
	s.env = map[string]string{
		"DATABASE_URL":            s.dbURL,
		"KAFKA_BROKERS":           strings.Join(s.broker.Addrs(), ","),
		"GRPC_ADDR":               "127.0.0.1:0",
		"HTTP_ADDR":               "127.0.0.1:0",
		"ADMIN_ADDR":              "127.0.0.1:0",
		"JWT_HS256_SECRET":        secret,
		"LOG_LEVEL":               "error",
		"MIGRATE_ON_START":        "true",
		"RECO_POLL_INTERVAL":      "50ms",
		"RECO_REPLENISH_INTERVAL": "0s",
	}
	for k, v := range env {
		s.env[k] = v
	}
	s.writer = events.NewWriter(s.broker.Addrs())
	t.Cleanup(func() { s.writer.Close() })
	return s
}

// migrate applies the service's migrations, for tests that seed tables
// before the service starts.
func (s *stack) migrate() {
	s.t.Helper()
	svc, err := ports.Service()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := platform.RunEnv(context.Background(), []string{"migrate"}, s.env, svc); err != nil {
		s.t.Fatalf("migrate: %v", err)
	}
}

// running is one started service.
type running struct {
	client recommendationv1.RecommendationServiceClient
	addrs  server.Addrs
	stop   func()
}

// start runs the service until the test ends or stop is called.
func (s *stack) start() *running {
	t := s.t
	t.Helper()
	svc, err := ports.Service()
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan server.Addrs, 1)
	svc.OnListen = func(a server.Addrs) { addrs <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- platform.RunEnv(ctx, nil, s.env, svc) }()
	var a server.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("service returned before listening: %v", err)
	// Generous: the serving benchmark replays 500,000 orders at start, which
	// takes over a minute on a busy 2-core machine; this bounds a hang.
	case <-time.After(5 * time.Minute):
		cancel()
		t.Fatal("service did not listen within 5 minutes")
	}
	conn, err := grpc.NewClient(a.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(withToken(auth.Claims{Subject: "storefront", Roles: []auth.Role{auth.RoleService}})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("service stopped with %v, want nil", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("service did not stop within 60s of cancel")
		}
	}
	t.Cleanup(stop)
	return &running{client: recommendationv1.NewRecommendationServiceClient(conn), addrs: a, stop: stop}
}

func token(t testing.TB, c auth.Claims) string {
	t.Helper()
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = time.Now().Add(time.Hour)
	}
	tok, err := auth.Sign(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func withToken(c auth.Claims) grpc.UnaryClientInterceptor {
	c.ExpiresAt = time.Now().Add(24 * time.Hour)
	tok, err := auth.Sign(secret, c)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err != nil {
			return err
		}
		return invoker(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), method, req, reply, cc, opts...)
	}
}

// publish writes events to the broker as an order system would.
func (s *stack) publish(topic, key string, payloads ...proto.Message) {
	s.t.Helper()
	ctx := context.Background()
	msgs := make([]kafka.Message, 0, len(payloads))
	for _, p := range payloads {
		m, err := events.Encode(ctx, events.Event{Topic: topic, Source: "test-shop", Subject: key, Payload: p})
		if err != nil {
			s.t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := s.writer.WriteMessages(ctx, msgs...); err != nil {
		s.t.Fatalf("publish to %s: %v", topic, err)
	}
}

// product is a catalog entry for tests.
type product struct {
	id, category string
	price        int64
	stock        commercev1.StockStatus
	durability   commercev1.Durability
	// margin is set on the product when positive.
	margin int64
}

func (p product) proto() *commercev1.Product {
	stock := p.stock
	if stock == 0 {
		stock = commercev1.StockStatus_STOCK_STATUS_IN_STOCK
	}
	d := p.durability
	if d == 0 {
		d = commercev1.Durability_DURABILITY_DURABLE
	}
	cat := p.category
	if cat == "" {
		cat = "Home/Misc"
	}
	out := &commercev1.Product{
		ProductId: p.id, Title: "Title " + p.id, CategoryPath: strings.Split(cat, "/"),
		Price: &commercev1.Money{AmountMinor: p.price + 1000, Currency: "EUR"}, StockStatus: stock, Durability: d,
	}
	if p.margin > 0 {
		out.Margin = &commercev1.Money{AmountMinor: p.margin, Currency: "EUR"}
	}
	return out
}

func upsert(t *testing.T, c recommendationv1.RecommendationServiceClient, ps ...product) {
	t.Helper()
	req := &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: fmt.Sprintf("upsert-%d", time.Now().UnixNano())}
	for _, p := range ps {
		req.Products = append(req.Products, p.proto())
	}
	if _, err := c.BatchUpsertProducts(context.Background(), req); err != nil {
		t.Fatalf("BatchUpsertProducts: %v", err)
	}
}

// order builds a completed order event.
func order(id, customer string, at time.Time, productIDs ...string) *commercev1.OrderEvent {
	ev := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: id, CustomerId: customer, OrderedAt: timestamppb.New(at)}
	for i, p := range productIDs {
		ev.Lines = append(ev.Lines, &commercev1.OrderLine{LineId: fmt.Sprint(i + 1), ProductId: p, Quantity: 1})
	}
	return ev
}

func ids(items []*recommendationv1.RecommendedItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.GetProductId()
	}
	return out
}

// eventually polls fn until it reports true or the deadline passes; the
// deadline is generous because it only bounds a failing test.
func eventually(t *testing.T, within time.Duration, what string, fn func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := fn()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s; last: %s", what, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
