// Package outbox is the transactional outbox: a service writes its state
// change and the events announcing it in one database transaction (Add), and
// a Relay publishes those events to Kafka afterwards. Nothing is lost when
// Kafka is down: the events wait in the table and go out when it is back.
//
// # Order
//
// The relay publishes in commit order. A deferred trigger numbers each
// transaction's rows while it commits, under a transaction-scoped advisory
// lock, so the numbers follow the order in which commits become visible (see
// migrations/00001_outbox.sql). Ordering by transaction id (xid8) instead
// would give the order in which transactions first wrote anything, which
// differs from commit order whenever a transaction writes early (an
// idempotency key, say) and commits late; two transactions serialised by a
// row lock on one customer could then have their events published in the
// wrong order. The price is that committing transactions that wrote events
// take turns for the duration of their commit.
//
// # Delivery
//
// Each row is published once in normal operation. A crash between Kafka's
// acknowledgement and the delete of the rows publishes them again, so
// delivery is at least once and consumers dedupe by event id (the inbox in
// package consumer does). Rows are deleted only after Kafka acknowledged
// them; on Kafka errors the relay backs off and retries the same batch, so a
// later event never overtakes an earlier one.
//
// Only one relay works per database at a time (a session advisory lock on a
// dedicated connection); other replicas wait as standbys and take over when
// the connection of the active one goes away.
//
// # Metrics
//
// Through the global otel.Meter, with the attribute db.namespace (the
// database): the gauges outbox.backlog (rows waiting) and
// outbox.oldest_pending_age (seconds), and the counters outbox.published and
// outbox.publish.failures (failed Kafka write attempts).
package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations creates the outbox table; add it to a service's migration sets.
var Migrations = postgres.MigrationSet{Name: "outbox", FS: postgres.Sub(migrationFiles, "migrations")}

// Channel is the LISTEN/NOTIFY channel a commit with new outbox rows
// notifies.
const Channel = "outbox"

// header is how a Kafka header is stored in the headers jsonb column. All
// headers the events package writes are text.
type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Add writes evs to the outbox inside tx, so they are published if and only
// if tx commits. The trace context of ctx goes into the events' headers, so
// consumers continue the trace of the request that changed the state.
func Add(ctx context.Context, tx pgx.Tx, evs ...events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	topics := make([]string, 0, len(evs))
	keys := make([]*string, 0, len(evs))
	headers := make([]string, 0, len(evs))
	payloads := make([][]byte, 0, len(evs))
	for _, ev := range evs {
		km, err := events.Encode(ctx, ev)
		if err != nil {
			return fmt.Errorf("outbox: add: %w", err)
		}
		hs := make([]header, 0, len(km.Headers))
		for _, h := range km.Headers {
			hs = append(hs, header{Key: h.Key, Value: string(h.Value)})
		}
		hj, err := json.Marshal(hs)
		if err != nil {
			return fmt.Errorf("outbox: add %s: encode headers: %w", km.Topic, err)
		}
		var key *string
		if km.Key != nil {
			k := string(km.Key)
			key = &k
		}
		topics = append(topics, km.Topic)
		keys = append(keys, key)
		headers = append(headers, string(hj))
		payloads = append(payloads, km.Value)
	}
	// One statement for all events: one round trip, and the statement-level
	// notify trigger wakes the relay once. WITH ORDINALITY keeps the ids in
	// the order of evs.
	_, err := tx.Exec(ctx, `
		INSERT INTO outbox (topic, key, headers, payload)
		SELECT topic, key, headers::jsonb, payload
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY AS e(topic, key, headers, payload, n)
		ORDER BY n`, topics, keys, headers, payloads)
	if err != nil {
		return fmt.Errorf("outbox: add %d events: %w", len(evs), err)
	}
	return nil
}

// toKafka rebuilds the Kafka message stored in an outbox row.
func toKafka(topic string, key *string, headersJSON []byte, payload []byte) (kafka.Message, error) {
	var hs []header
	if err := json.Unmarshal(headersJSON, &hs); err != nil {
		return kafka.Message{}, fmt.Errorf("outbox: decode headers: %w", err)
	}
	km := kafka.Message{Topic: topic, Value: payload, Headers: make([]kafka.Header, 0, len(hs))}
	for _, h := range hs {
		km.Headers = append(km.Headers, kafka.Header{Key: h.Key, Value: []byte(h.Value)})
	}
	if key != nil {
		km.Key = []byte(*key)
	}
	return km, nil
}
