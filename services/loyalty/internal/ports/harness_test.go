package ports_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/pkg/server"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/ports"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const secret = "loyalty-test-secret-loyalty-test-secret"

// clock is a settable time source, so tests cross expiry dates and tier
// windows without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stack is one loyalty service on its own database and broker.
type stack struct {
	client  loyaltyv1.LoyaltyServiceClient
	addrs   server.Addrs
	pool    *pgxpool.Pool
	brokers []string
	clock   *clock
	url     string
}

// start runs the service as `loyalty serve` would, on free ports, with env
// overriding the defaults.
func start(t testing.TB, env map[string]string) *stack { return startWith(t, env, nil) }

// startWith is start with a hook that runs against the broker before the
// service starts (the ingestion benchmark fills a topic first). The
// environment may set POOL_MAX_CONNS for the service's database pool.
func startWith(t testing.TB, env map[string]string, before func(brokers []string)) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// A second replica of a test's service shares its database (see
	// replica); everything else is its own.
	url := env[sharedDB]
	if url == "" {
		url = pgtest.NewDBURL(t)
	}
	env = maps.Clone(env)
	delete(env, sharedDB)
	broker := kafkatest.NewBroker(t, topics.All()...)
	if before != nil {
		before(broker.Addrs())
	}
	serviceURL := url
	if n := env["POOL_MAX_CONNS"]; n != "" {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		serviceURL = url + sep + "pool_max_conns=" + n
	}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	svc, err := ports.NewService(app.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(chan server.Addrs, 1)
	svc.OnListen = func(a server.Addrs) { addrs <- a }
	e := map[string]string{
		"DATABASE_URL":         serviceURL,
		"KAFKA_BROKERS":        strings.Join(broker.Addrs(), ","),
		"GRPC_ADDR":            "127.0.0.1:0",
		"HTTP_ADDR":            "127.0.0.1:0",
		"ADMIN_ADDR":           "127.0.0.1:0",
		"JWT_HS256_SECRET":     secret,
		"LOG_LEVEL":            "error",
		"MIGRATE_ON_START":     "true",
		"LOYALTY_JOB_INTERVAL": "1h",
	}
	for k, v := range env {
		e[k] = v
	}
	if serviceURL != url {
		// postgres.Migrate hands the URL to database/sql, which rejects
		// pgxpool's pool_* parameters; migrate on the plain URL first.
		m := maps.Clone(e)
		m["DATABASE_URL"] = url
		if err := platform.RunEnv(ctx, []string{"migrate"}, m, svc); err != nil {
			cancel()
			t.Fatalf("migrate: %v", err)
		}
		e["MIGRATE_ON_START"] = "false"
	}
	done := make(chan error, 1)
	go func() { done <- platform.RunEnv(ctx, nil, e, svc) }()
	var a server.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("service stopped before listening: %v", err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatal("service did not listen within 90s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("service did not stop within 60s of cancel")
		}
	})
	conn, err := grpc.NewClient(a.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &stack{client: loyaltyv1.NewLoyaltyServiceClient(conn), addrs: a, pool: pool, brokers: broker.Addrs(), clock: clk, url: url}
}

// sharedDB is the env key that makes startWith use an existing database.
const sharedDB = "TEST_SHARED_DATABASE_URL"

// replica starts another replica of s's service on s's database (with its
// own broker, so what it consumes is what the test sends to it).
func (s *stack) replica(t testing.TB, env map[string]string) *stack {
	e := maps.Clone(env)
	if e == nil {
		e = map[string]string{}
	}
	e[sharedDB] = s.url
	return start(t, e)
}

func token(t testing.TB, sub string, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Claims{Subject: sub, Roles: roles, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// as returns a context calling as sub with roles.
func as(t testing.TB, sub string, roles ...auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token(t, sub, roles...))
}

func marketer(t testing.TB) context.Context { return as(t, "marketer-1", auth.RoleMarketer) }
func service(t testing.TB) context.Context  { return as(t, "orders", auth.RoleService) }
func customer(t testing.TB, id string) context.Context {
	return as(t, id, auth.RoleCustomer)
}

var keys struct {
	mu sync.Mutex
	n  int
}

func key() string {
	keys.mu.Lock()
	defer keys.mu.Unlock()
	keys.n++
	return fmt.Sprintf("key-%d", keys.n)
}

// credit gives a member points by a manual adjustment.
func (s *stack) credit(t testing.TB, memberID string, points int64) {
	t.Helper()
	_, err := s.client.CreateAdjustment(marketer(t), &loyaltyv1.CreateAdjustmentRequest{CustomerId: memberID, IdempotencyKey: key(),
		Points: points, Reason: loyaltyv1.AdjustmentReason_ADJUSTMENT_REASON_GOODWILL, Note: "test credit"})
	if err != nil {
		t.Fatalf("credit %d points to %s: %v", points, memberID, err)
	}
}

func (s *stack) member(t testing.TB, id string) *loyaltyv1.Member {
	t.Helper()
	resp, err := s.client.GetMember(service(t), &loyaltyv1.GetMemberRequest{CustomerId: id})
	if err != nil {
		t.Fatalf("get member %s: %v", id, err)
	}
	return resp.GetMember()
}

// assertLedger checks the ledger's promise for every member: the balance is
// the sum of the member's entries, and equals their lots minus the deficit.
func (s *stack) assertLedger(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `
		SELECT m.customer_id, m.balance, COALESCE(e.sum, 0), COALESCE(l.sum, 0) - m.deficit
		FROM members m
		LEFT JOIN (SELECT member_id, sum(points) AS sum FROM entries GROUP BY member_id) e ON e.member_id = m.customer_id
		LEFT JOIN (SELECT member_id, sum(remaining) AS sum FROM lots GROUP BY member_id) l ON l.member_id = m.customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id                 string
		balance, sum, lots int64
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.balance, &x.sum, &x.lots)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.balance != r.sum || r.balance != r.lots {
			t.Errorf("member %s: expected balance %d to equal the sum of entries (%d) and of lots minus deficit (%d)", r.id, r.balance, r.sum, r.lots)
		}
	}
}

// badFields returns the fields an InvalidArgument error names.
func badFields(err error) []string {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func code(err error) codes.Code { return status.Code(err) }

// eventually polls cond until it holds or a minute passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected %s within a minute; last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
