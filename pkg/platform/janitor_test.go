package platform

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestJanitorDeletesOnlyRowsPastTheirRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t, consumer.Migrations, idempotency.Migrations)
	// Two rows of each table: one a month old, one fresh.
	for _, q := range []string{
		`INSERT INTO consumer_inbox (consumer_group, event_id, topic, partition, "offset", processed_at) VALUES ('g', 'old', 't', 0, 1, now() - interval '30 days'), ('g', 'new', 't', 0, 2, now())`,
		`INSERT INTO idempotency_keys (scope, key, request_hash, response, created_at) VALUES ('s', 'old', '\x00', '\x00', now() - interval '30 days'), ('s', 'new', '\x00', '\x00', now())`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	j := janitor{pool: pool, inboxAge: 7 * 24 * time.Hour, idempotencyAge: 7 * 24 * time.Hour, interval: time.Hour, log: slog.Default()}
	inbox, keys, err := j.sweep(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if inbox != 1 || keys != 1 {
		t.Errorf("sweep deleted %d inbox rows and %d keys, want 1 and 1", inbox, keys)
	}
	for table, col := range map[string]string{"consumer_inbox": "event_id", "idempotency_keys": "key"} {
		var left string
		if err := pool.QueryRow(ctx, "SELECT string_agg("+col+", ',') FROM "+table).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != "new" {
			t.Errorf("%s keeps %q, want only the fresh row", table, left)
		}
	}
}
