package platform_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/pkg/server"
)

const topic = "widgets.v1"

// widgetMigrations are a stand-in for a service's own schema.
var widgetMigrations = postgres.MigrationSet{Name: "widgets", FS: fstest.MapFS{
	"00001_widgets.sql": {Data: []byte("-- +goose Up\nCREATE TABLE widgets (name text PRIMARY KEY);\n-- +goose Down\nDROP TABLE widgets;\n")},
}}

func env(dbURL string, brokers []string) map[string]string {
	return map[string]string{
		"DATABASE_URL":     dbURL,
		"KAFKA_BROKERS":    strings.Join(brokers, ","),
		"GRPC_ADDR":        "127.0.0.1:0",
		"HTTP_ADDR":        "127.0.0.1:0",
		"ADMIN_ADDR":       "127.0.0.1:0",
		"JWT_HS256_SECRET": "platform-test-secret-platform-test-secret",
		"LOG_LEVEL":        "error",
		"MIGRATE_ON_START": "true",
	}
}

func tables(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range names {
		got[n] = true
	}
	return got
}

func TestMigrateAppliesThePlatformAndServiceMigrationsToAFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	svc := platform.Service{Name: "widgets", Ports: platform.Ports{GRPC: 1, HTTP: 2, Admin: 3}, Migrations: []postgres.MigrationSet{widgetMigrations}}
	e := env(url, []string{"127.0.0.1:1"})
	for i := range 2 { // a second run finds nothing to do
		if err := platform.RunEnv(ctx, []string{"migrate"}, e, svc); err != nil {
			t.Fatalf("migrate run %d: %v", i+1, err)
		}
	}
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	got := tables(t, ctx, pool)
	for _, want := range []string{"widgets", "outbox", "idempotency_keys", "goose_widgets", "goose_outbox", "goose_consumer", "goose_idempotency"} {
		if !got[want] {
			t.Errorf("table %s missing after migrate; tables: %v", want, got)
		}
	}
}

func TestRunRefusesBadCommandsAndConfigurationNamingTheProblem(t *testing.T) {
	t.Parallel()
	svc := platform.Service{Name: "widgets", Ports: platform.Ports{GRPC: 1, HTTP: 2, Admin: 3}}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"an unknown command", []string{"frobnicate"}, env("postgres://x/y", []string{"b:1"}), "frobnicate"},
		{"no database URL", []string{"migrate"}, map[string]string{}, "DATABASE_URL"},
		{"a batch size out of range", []string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://x/y", "OUTBOX_BATCH_SIZE": "0"}, "OUTBOX_BATCH_SIZE"},
		{"a malformed duration", []string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://x/y", "SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := platform.RunEnv(context.Background(), c.args, c.env, svc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one naming %q", err, c.want)
			}
		})
	}
}

// A service built on the platform publishes through its outbox and consumes
// through its inbox with nothing but a Build function.
func TestServeRunsTheRelayConsumersAndHealthUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.NewDBURL(t)
	broker := kafkatest.NewBroker(t, topic)

	var pool *pgxpool.Pool
	addrs := make(chan server.Addrs, 1)
	svc := platform.Service{
		Name:       "widgets",
		Ports:      platform.Ports{GRPC: 1, HTTP: 2, Admin: 3},
		Migrations: []postgres.MigrationSet{widgetMigrations},
		OnListen:   func(a server.Addrs) { addrs <- a },
		Build: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			pool = d.Pool
			return platform.Parts{Consumers: []platform.Consumer{{
				Options: consumerOptions(),
				Handler: func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
					for _, m := range msgs {
						var name wrapperspb.StringValue
						if err := m.Decode(&name); err != nil {
							return err
						}
						if _, err := tx.Exec(ctx, "INSERT INTO widgets (name) VALUES ($1)", name.GetValue()); err != nil {
							return err
						}
					}
					return nil
				},
			}}}, nil
		},
	}
	done := make(chan error, 1)
	go func() { done <- platform.RunEnv(ctx, nil, env(url, broker.Addrs()), svc) }()

	var a server.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not listen within a minute")
	}
	conn, err := grpc.NewClient(a.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", hc.GetStatus(), err)
	}

	// The state change and its event commit together; the relay publishes
	// it, the consumer stores it.
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Add(ctx, tx, events.Event{Topic: topic, Source: "widgets", Subject: "w1", Payload: wrapperspb.String("sprocket")})
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM widgets WHERE name = 'sprocket'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event added to the outbox never reached the consumer")
		}
		time.Sleep(50 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
