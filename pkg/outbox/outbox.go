// Package outbox is the transactional outbox: a service writes its state
// change and the events announcing it in one database transaction (Add), and
// a Relay publishes those events to Kafka afterwards. Nothing is lost when
// Kafka is down: the events wait in the table and go out when it is back.
//
// # Order
//
// Kafka keeps order only within a partition, and the writer picks the
// partition by message key, so the order consumers can rely on is per topic
// and key. The outbox guarantees exactly that, and nothing more:
//
//   - events with the same topic and key written by different transactions
//     are published in the order those transactions committed;
//   - the events of one transaction are published in the order they were
//     added, across several Add calls;
//   - events with different keys (or no key, which the writer spreads over
//     partitions anyway) have no order relative to each other.
//
// Add first takes a transaction-scoped advisory lock on every distinct
// (topic, key) of its events (class keyLockClass, hashtext(topic/key), in
// the two-int4 key space that never overlaps the bigint locks other code
// takes), in ascending lock order (after a shared all-keys lock, see below),
// and then inserts the rows; each row draws
// commit_seq from a sequence at insert (the column default). The relay
// publishes in (commit_seq, id) order. Why that keeps per-key commit order:
// every writer of key K holds K's lock from before it draws its numbers
// until its commit is visible (PostgreSQL releases transaction locks only
// after the commit has been recorded and made visible). So for two
// transactions T1 and T2 writing K, one of them, say T1, gets the lock
// first; T2 waits until T1 has committed or rolled back and draws its
// numbers only after that. The sequence is not transactional and hands out
// increasing numbers in call order, so T2's rows of K have larger numbers
// than T1's, and T2 commits after T1: per key, number order is commit order.
// Within one transaction the rows draw numbers in insert order. Two keys
// whose hashes collide share a lock: their writers take turns needlessly,
// which costs time but never order.
//
// Why the relay never publishes a later event of a key before an earlier
// one, nor loses one: a relay query sees the rows of the transactions that
// had committed when its snapshot was taken. If it sees T2's row of K, T2
// had committed, so T1 (which committed before T2 drew its numbers) had
// too, and T1's rows are either visible in the same snapshot, ordered
// before T2's, or already published and deleted. Numbers are drawn at
// insert, not at commit, so a smaller number of another key can become
// visible after the relay has published larger ones; that is harmless
// because the relay keeps no watermark: it reads whatever is visible, in
// number order, and deletes exactly the rows it published, by id. A row that
// becomes visible later is found by the next poll.
//
// Each key lock is an entry in PostgreSQL's shared lock table, which holds
// about max_locks_per_transaction × max_connections entries for the whole
// server; a batch of thousands of keys could exhaust it ("out of shared
// memory"). So every Add also takes a shared lock on one all-keys lock
// (class allKeysLockClass), and an Add with more than maxKeyLocks distinct
// keys instead takes that lock exclusively and no key locks. The argument
// above holds unchanged: a large writer conflicts with every other writer of
// events, so it draws its numbers after every writer that held a key lock
// has committed, and others draw theirs after it commits. Large batches
// (order ingestion, scheduled jobs) therefore take turns with all other
// writers between their Add and their commit; add their events last.
//
// Transactions that write different keys never wait for each other, and no
// transaction waits for anything at commit. Writers of the same key take
// turns, which they usually do anyway (they change the same customer's
// rows). A transaction that writes several keys in several Add calls can
// deadlock with one that takes the same locks in the other order, or with a
// row lock it holds; PostgreSQL detects that and aborts one of them with
// 40P01, which postgres.InTx retries. Call Add once per transaction, with
// all events, when you can.
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
// Writers do not notify the relay (a NOTIFY would serialise their commits
// again): the relay polls, immediately again while it finds full batches,
// every few milliseconds while it finds rows and for a second after that,
// and at RelayOptions.PollInterval when the outbox has been idle longer.
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

// Channel was the LISTEN/NOTIFY channel commits with new outbox rows
// notified.
//
// Deprecated: writers no longer notify (it serialised their commits) and
// the relay polls; nothing is sent on this channel.
const Channel = "outbox"

// keyLockClass is the first key of the transaction-scoped advisory locks Add
// takes per (topic, key); the second is hashtext(topic || '/' || key). The
// two-int4 key space never collides with the bigint locks of the relay or
// of services, and the class differs from the other two-key classes in use.
const keyLockClass int32 = 0x6f78

// allKeysLockClass is the class of the one advisory lock (second key 0) that
// every Add holds shared and an Add of more than maxKeyLocks keys holds
// exclusively instead of the key locks.
const allKeysLockClass int32 = 0x6f79

// maxKeyLocks is the most distinct keys an Add locks one by one; see the
// package documentation.
const maxKeyLocks = 256

// lockAllKeysSharedSQL and lockAllKeysSQL take the all-keys lock shared or
// exclusively.
const (
	lockAllKeysSharedSQL = `SELECT pg_advisory_xact_lock_shared($1, 0)`
	lockAllKeysSQL       = `SELECT pg_advisory_xact_lock($1, 0)`
)

// lockKeysSQL locks the given topic/key strings in ascending lock order, so
// two transactions locking overlapping sets in one Add cannot deadlock. The
// sorted subquery is not flattened into the outer query (it has ORDER BY),
// so the locks are taken in its order.
const lockKeysSQL = `
	SELECT pg_advisory_xact_lock($1, h)
	FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS s`

// insertSQL inserts all events in one statement. WITH ORDINALITY and ORDER
// BY n make ids and commit_seq numbers follow the order of the events.
const insertSQL = `
	INSERT INTO outbox (topic, key, headers, payload)
	SELECT topic, key, headers::jsonb, payload
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY AS e(topic, key, headers, payload, n)
	ORDER BY n`

// header is how a Kafka header is stored in the headers jsonb column. All
// headers the events package writes are text.
type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Add writes evs to the outbox inside tx, so they are published if and only
// if tx commits. The trace context of ctx goes into the events' headers, so
// consumers continue the trace of the request that changed the state.
//
// Add holds a lock on each (topic, key) of evs until tx ends: another
// transaction adding events with one of those keys waits in Add until tx
// commits or rolls back. That is what keeps per-key commit order (see the
// package documentation); keep the time between Add and commit short.
//
// Add's statements are one pgx batch (locks, then insert), sent through
// tx.SendBatch. A transaction wrapper may hold that batch back and send it
// in the same pipeline as COMMIT (loyalty's Redeem does): the locks are
// still taken before the insert draws its numbers and held until the
// commit is visible, so the order argument is unchanged, and the locks are
// held for less time.
func Add(ctx context.Context, tx pgx.Tx, evs ...events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	topics := make([]string, 0, len(evs))
	keys := make([]*string, 0, len(evs))
	headers := make([]string, 0, len(evs))
	payloads := make([][]byte, 0, len(evs))
	var (
		lockKeys []string
		seen     = map[string]bool{}
	)
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
			// Events without a key are spread over partitions by the
			// writer and so have no order to keep: they take no lock.
			if lk := km.Topic + "/" + k; !seen[lk] {
				seen[lk] = true
				lockKeys = append(lockKeys, lk)
			}
		}
		topics = append(topics, km.Topic)
		keys = append(keys, key)
		headers = append(headers, string(hj))
		payloads = append(payloads, km.Value)
	}
	// Lock and insert in one round trip. The insert must run after the
	// locks are held, so that its numbers are drawn after every earlier
	// writer of these keys has committed; statements of a batch run in
	// order.
	var b pgx.Batch
	switch {
	case len(lockKeys) > maxKeyLocks:
		b.Queue(lockAllKeysSQL, allKeysLockClass)
	case len(lockKeys) > 0:
		// The all-keys lock first, then the key locks in ascending
		// order: one order for every Add, so transactions that call Add
		// once cannot deadlock with each other in it.
		b.Queue(lockAllKeysSharedSQL, allKeysLockClass)
		b.Queue(lockKeysSQL, keyLockClass, lockKeys)
	}
	b.Queue(insertSQL, topics, keys, headers, payloads)
	br := tx.SendBatch(ctx, &b)
	for range b.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("outbox: lock %d keys: %w", len(lockKeys), err)
		}
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("outbox: add %d events: %w", len(evs), err)
	}
	if err := br.Close(); err != nil {
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
