package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// metrics collects what the relays record through the global meter.
var metrics = sdkmetric.NewManualReader()

func TestMain(m *testing.M) {
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics)))
	pgtest.Main(m)
}

const topic = "test.events.v1"

// testTimeout bounds waiting for something that must happen; it is not an
// assertion about speed.
const testTimeout = 60 * time.Second

// event is the n-th test event. All share one key, so they share a
// partition and their order on the topic is the publish order.
func event(n int64) events.Event {
	return events.Event{Topic: topic, Source: "outbox-test", Subject: "customer-1", Payload: wrapperspb.Int64(n)}
}

func addInTx(t *testing.T, pool *pgxpool.Pool, evs ...events.Event) {
	t.Helper()
	err := postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error { return outbox.Add(t.Context(), tx, evs...) })
	if err != nil {
		t.Fatalf("add %d events: %v", len(evs), err)
	}
}

// startRelay runs a relay until the returned stop is called (or the test
// ends) and returns it.
func startRelay(t *testing.T, pool *pgxpool.Pool, brokers []string, o outbox.RelayOptions) (*outbox.Relay, func()) {
	t.Helper()
	w := events.NewWriter(brokers)
	r := outbox.NewRelay(pool, w, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay Run: expected nil after cancel, got %v", err)
			}
			_ = w.Close()
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// received is one message read back from the topic.
type received struct {
	id  string
	seq int64
}

// readUntil reads the topic from the start with a fresh consumer group until
// it has seen the message with sequence number last, and returns everything
// read in order.
func readUntil(t *testing.T, brokers []string, last int64) []received {
	t.Helper()
	return readUntilDone(t, brokers, func(got []received) bool { return got[len(got)-1].seq == last })
}

// readUntilSeen reads the topic from the start until every one of want has
// been read: events of different keys sit on different partitions, which
// the reader may deliver in either order.
func readUntilSeen(t *testing.T, brokers []string, want ...int64) []received {
	t.Helper()
	return readUntilDone(t, brokers, func(got []received) bool {
		return !slices.ContainsFunc(want, func(w int64) bool {
			return !slices.ContainsFunc(got, func(r received) bool { return r.seq == w })
		})
	})
}

// readUntilDone reads the topic from the start, in a new consumer group,
// until done says the messages read so far are enough.
func readUntilDone(t *testing.T, brokers []string, done func([]received) bool) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: fmt.Sprintf("reader-%d", time.Now().UnixNano()), GroupTopics: []string{topic},
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	var got []received
	for {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d messages %v: %v", len(got), got, err)
		}
		m, err := events.Parse(km)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		var v wrapperspb.Int64Value
		if err := m.Decode(&v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		got = append(got, received{id: m.ID, seq: v.Value})
		if done(got) {
			return got
		}
	}
}

func seqs(rs []received) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.seq
	}
	return out
}

// assertOnceInOrder checks that got holds exactly the sequence numbers
// 0..n-1 in order, each once, with distinct event ids.
func assertOnceInOrder(t *testing.T, got []received, n int64) {
	t.Helper()
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i)
	}
	if !slices.Equal(seqs(got), want) {
		t.Fatalf("expected sequence 0..%d once each in order, got %v", n-1, seqs(got))
	}
	ids := map[string]bool{}
	for _, r := range got {
		if ids[r.id] {
			t.Fatalf("event id %s published twice", r.id)
		}
		ids[r.id] = true
	}
}

func pending(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatalf("count outbox: %v", err)
	}
	return n
}

// eventually polls cond until it holds, failing after testTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("expected %s within %v; it did not happen", what, testTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventFor is the n-th test event of the customer subject, keyed by it.
func eventFor(subject string, n int64) events.Event {
	ev := event(n)
	ev.Subject = subject
	return ev
}

func begin(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

func commit(t *testing.T, tx pgx.Tx) {
	t.Helper()
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// waitingForKeyLock reports how many sessions of pool's database wait for
// an advisory lock.
func waitingForKeyLock(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	err := pool.QueryRow(t.Context(), `
		SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil {
		t.Fatalf("count lock waiters: %v", err)
	}
	return n
}

// Two transactions write an event with the same key. Whatever order they
// began in or wrote other things in, the event of the one that commits
// first is published first.
func TestEventsOfOneKeyArePublishedInCommitOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, pool *pgxpool.Pool)
		want []int64
	}{
		{
			name: "when the transaction that began and wrote first commits last, its event is published last",
			run: func(t *testing.T, pool *pgxpool.Pool) {
				ctx := t.Context()
				txA := begin(t, pool)
				// A writes first: it gets the older transaction id,
				// which commit order must not depend on.
				if _, err := txA.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
					t.Fatal(err)
				}
				txB := begin(t, pool)
				if err := outbox.Add(ctx, txB, event(2)); err != nil {
					t.Fatal(err)
				}
				commit(t, txB)
				if err := outbox.Add(ctx, txA, event(1)); err != nil {
					t.Fatal(err)
				}
				commit(t, txA)
			},
			want: []int64{2, 1},
		},
		{
			name: "when a second writer of the key adds while the first is open, it waits and is published after the first",
			run: func(t *testing.T, pool *pgxpool.Pool) {
				ctx := t.Context()
				txA := begin(t, pool)
				if err := outbox.Add(ctx, txA, event(1)); err != nil {
					t.Fatal(err)
				}
				txB := begin(t, pool)
				added := make(chan error, 1)
				go func() { added <- outbox.Add(ctx, txB, event(2)) }()
				eventually(t, "the second writer to wait for the key lock", func() bool { return waitingForKeyLock(t, pool) == 1 })
				select {
				case err := <-added:
					t.Fatalf("expected the second Add to wait for the first transaction, it returned %v", err)
				default:
				}
				commit(t, txA)
				if err := <-added; err != nil {
					t.Fatalf("second Add after the first commit: %v", err)
				}
				commit(t, txB)
			},
			want: []int64{1, 2},
		},
		{
			name: "when the first writer of the key rolls back, the waiting second writer's event is published alone",
			run: func(t *testing.T, pool *pgxpool.Pool) {
				ctx := t.Context()
				txA := begin(t, pool)
				if err := outbox.Add(ctx, txA, event(1)); err != nil {
					t.Fatal(err)
				}
				txB := begin(t, pool)
				added := make(chan error, 1)
				go func() { added <- outbox.Add(ctx, txB, event(2)) }()
				eventually(t, "the second writer to wait for the key lock", func() bool { return waitingForKeyLock(t, pool) == 1 })
				if err := txA.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
				if err := <-added; err != nil {
					t.Fatalf("second Add after the first rolled back: %v", err)
				}
				commit(t, txB)
			},
			want: []int64{2},
		},
		{
			name: "when a batch of many keys is added while a writer of one of them is open, it waits and is published after it",
			run: func(t *testing.T, pool *pgxpool.Pool) {
				ctx := t.Context()
				txA := begin(t, pool)
				if err := outbox.Add(ctx, txA, event(1)); err != nil {
					t.Fatal(err)
				}
				txB := begin(t, pool)
				added := make(chan error, 1)
				go func() { added <- outbox.Add(ctx, txB, manyKeys(event(2))...) }()
				eventually(t, "the batch to wait for the open writer", func() bool { return waitingForKeyLock(t, pool) == 1 })
				commit(t, txA)
				if err := <-added; err != nil {
					t.Fatalf("batch Add after the first commit: %v", err)
				}
				commit(t, txB)
			},
			want: []int64{1, 2},
		},
		{
			name: "when a writer of one key adds while a batch of many keys is open, it waits and is published after the batch",
			run: func(t *testing.T, pool *pgxpool.Pool) {
				ctx := t.Context()
				txB := begin(t, pool)
				if err := outbox.Add(ctx, txB, manyKeys(event(1))...); err != nil {
					t.Fatal(err)
				}
				txA := begin(t, pool)
				added := make(chan error, 1)
				go func() { added <- outbox.Add(ctx, txA, event(2)) }()
				eventually(t, "the writer to wait for the open batch", func() bool { return waitingForKeyLock(t, pool) == 1 })
				commit(t, txB)
				if err := <-added; err != nil {
					t.Fatalf("Add after the batch committed: %v", err)
				}
				commit(t, txA)
			},
			want: []int64{1, 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.NewDB(t, outbox.Migrations)
			broker := kafkatest.NewBroker(t, topic)
			tc.run(t, pool)
			addInTx(t, pool, event(3))

			startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{})
			// Only the events of customer-1 (numbers below 1000) share a
			// partition, so only their order is defined.
			got := slices.DeleteFunc(seqs(readUntil(t, broker.Addrs(), 3)), func(n int64) bool { return n >= 1000 })
			want := append(slices.Clone(tc.want), 3)
			if !slices.Equal(got, want) {
				t.Errorf("expected publish order %v, got %v", want, got)
			}
		})
	}
}

// manyKeys returns ev followed by events for 300 other customers, more keys
// than Add locks one by one; their numbers start at 1000.
func manyKeys(ev events.Event) []events.Event {
	evs := []events.Event{ev}
	for i := int64(0); i < 300; i++ {
		evs = append(evs, eventFor(fmt.Sprintf("other-%d", i), 1000+i))
	}
	return evs
}

// A transaction holding key A open delays neither the writers of key B nor
// the publishing of their events; its own event, which drew the smaller
// sequence number, is still published once it commits.
func TestAnOpenTransactionDoesNotHoldUpEventsOfOtherKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{})

	txA := begin(t, pool)
	if err := outbox.Add(ctx, txA, eventFor("customer-a", 1)); err != nil {
		t.Fatal(err)
	}
	// If B's Add waited for A, this would never return: the transaction
	// is bounded so that a wait fails the test instead of hanging it.
	bctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	err := postgres.InTx(bctx, pool, func(tx pgx.Tx) error { return outbox.Add(bctx, tx, eventFor("customer-b", 2)) })
	if err != nil {
		t.Fatalf("add key B while key A is open: expected no wait, got %v", err)
	}
	got := seqs(readUntil(t, broker.Addrs(), 2))
	if !slices.Equal(got, []int64{2}) {
		t.Fatalf("expected only key B's event published while A is open, got %v", got)
	}
	eventually(t, "key B's row to be deleted", func() bool { return pending(t, pool) == 0 })

	commit(t, txA)
	got = seqs(readUntilSeen(t, broker.Addrs(), 1, 2))
	slices.Sort(got)
	if !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("expected both events once after A commits, got %v", got)
	}
	eventually(t, "the outbox to be empty", func() bool { return pending(t, pool) == 0 })
}

// Transactions adding overlapping sets of keys in different orders, many at
// a time, take the key locks in one global order and so never deadlock, and
// each key's events are published in the order their transactions
// committed. The commit order per key is recorded independently of the
// outbox: after Add, each transaction increments a per-key counter row,
// whose row lock makes the counter values follow commit order.
func TestConcurrentWritersOfOverlappingKeysNeitherDeadlockNorReorder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	if _, err := pool.Exec(ctx, `
		CREATE TABLE key_counter (key text PRIMARY KEY, n int NOT NULL);
		CREATE TABLE observed (value bigint PRIMARY KEY, key text NOT NULL, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	keys := []string{"k0", "k1", "k2", "k3"}
	const writers, txsEach = 6, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txsEach {
				if err := writeObserved(ctx, pool, w, i, keys); err != nil {
					errs <- fmt.Errorf("writer %d tx %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("expected concurrent writers to succeed without deadlocks, got %v", err)
	}

	want := map[string][]int64{}
	rows, err := pool.Query(ctx, `SELECT key, value FROM observed ORDER BY key, n`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			key   string
			value int64
		)
		if err := rows.Scan(&key, &value); err != nil {
			t.Fatal(err)
		}
		want[key] = append(want[key], value)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	const total = writers * txsEach * 3
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 7})
	eventually(t, "the outbox to be empty", func() bool { return pending(t, pool) == 0 })
	got := readKeyed(t, broker.Addrs(), total)
	for _, k := range keys {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("key %s: expected publish order (commit order) %v, got %v", k, want[k], got[k])
		}
	}
}

// writeObserved is transaction i of writer w: it adds an event for three of
// keys, listed in an order that differs between writers, then records each
// event's place in its key's commit order. No retry: a deadlock fails the
// test.
func writeObserved(ctx context.Context, pool *pgxpool.Pool, w, i int, keys []string) error {
	ks := []string{keys[(w+i)%4], keys[(w+i+1)%4], keys[(w+i+2)%4]}
	if w%2 == 1 {
		slices.Reverse(ks)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var evs []events.Event
	values := map[string]int64{}
	for j, k := range ks {
		values[k] = int64(w*10000 + i*10 + j)
		evs = append(evs, eventFor(k, values[k]))
	}
	if err := outbox.Add(ctx, tx, evs...); err != nil {
		return err
	}
	slices.Sort(ks)
	for _, k := range ks {
		_, err := tx.Exec(ctx, `
			WITH c AS (
				INSERT INTO key_counter AS kc VALUES ($1, 1)
				ON CONFLICT (key) DO UPDATE SET n = kc.n + 1
				RETURNING n)
			INSERT INTO observed SELECT $2, $1, n FROM c`, k, values[k])
		if err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// readKeyed reads n messages from the topic with a fresh consumer group and
// returns their sequence numbers per key, in partition (and so per-key)
// order.
func readKeyed(t *testing.T, brokers []string, n int) map[string][]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: fmt.Sprintf("reader-%d", time.Now().UnixNano()), GroupTopics: []string{topic},
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer func() { _ = r.Close() }()
	got := map[string][]int64{}
	for i := 0; i < n; i++ {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d of %d messages: %v", i, n, err)
		}
		var v wrapperspb.Int64Value
		m, err := events.Parse(km)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if err := m.Decode(&v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		got[m.Key] = append(got[m.Key], v.Value)
	}
	return got
}

func TestRelayPublishesEachEventOnceAcrossARestart(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)

	const before, after = 300, 100
	for i := int64(0); i < before; i += 10 {
		evs := make([]events.Event, 0, 10)
		for j := i; j < i+10; j++ {
			evs = append(evs, event(j))
		}
		addInTx(t, pool, evs...)
	}
	_, stop := startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 3})
	eventually(t, "the relay to publish something", func() bool { return pending(t, pool) < before })
	stop()
	left := pending(t, pool)
	t.Logf("relay stopped with %d of %d events left", left, before)

	for i := int64(before); i < before+after; i++ {
		addInTx(t, pool, event(i))
	}
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 50})
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), before+after-1), before+after)
	eventually(t, "the outbox to be empty", func() bool { return pending(t, pool) == 0 })
}

func TestRelayKeepsEventsThroughABrokerOutageAndPublishesThemOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	relay, _ := startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})

	addInTx(t, pool, event(0))
	eventually(t, "the first event to be published", func() bool { return pending(t, pool) == 0 })

	broker.Close()
	const during = 20
	for i := int64(1); i <= during; i++ {
		addInTx(t, pool, event(i))
	}
	eventually(t, "the backlog to report the waiting events", func() bool { return relay.Backlog() == during })
	if n := pending(t, pool); n != during {
		t.Fatalf("expected %d events kept in the outbox while the broker is down, got %d", during, n)
	}
	if got, ok := backlogMetric(t, pool); !ok || got != during {
		t.Errorf("outbox.backlog gauge: expected %d, got %d (reported: %v)", during, got, ok)
	}

	if err := broker.Reopen(); err != nil {
		t.Fatalf("reopen broker: %v", err)
	}
	addInTx(t, pool, event(during+1))
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), during+1), during+2)
	eventually(t, "the backlog to drain", func() bool { return relay.Backlog() == 0 })
}

// backlogMetric reads the outbox.backlog gauge of pool's database.
func backlogMetric(t *testing.T, pool *pgxpool.Pool) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	db := pool.Config().ConnConfig.Database
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "outbox.backlog" {
				continue
			}
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok {
				t.Fatalf("outbox.backlog: expected an int64 gauge, got %T", m.Data)
			}
			for _, dp := range g.DataPoints {
				if v, ok := dp.Attributes.Value("db.namespace"); ok && v.AsString() == db {
					return dp.Value, true
				}
			}
		}
	}
	return 0, false
}

func TestTwoRelaysOnOneDatabasePublishEachEventOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 5})
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 5})

	const n = 200
	for i := int64(0); i < n; i++ {
		addInTx(t, pool, event(i))
	}
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), n-1), n)
}

func TestRolledBackEventsAreNeverPublished(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{})

	addInTx(t, pool, event(0))
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Add(t.Context(), tx, event(99)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	addInTx(t, pool, event(1))
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), 1), 2)
}

// syncBuffer is a bytes.Buffer safe for the relay's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAnIdleRelayKeepsItsSessionThroughManyPollTimeouts(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	var logs syncBuffer
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{
		PollInterval: 5 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	addInTx(t, pool, event(0))
	eventually(t, "the first event to be published", func() bool { return pending(t, pool) == 0 })
	// Let dozens of notification waits time out: each must leave the
	// connection, its LISTEN and its lock usable.
	time.Sleep(300 * time.Millisecond)
	addInTx(t, pool, event(1))
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), 1), 2)
	if got := strings.Count(logs.String(), "outbox relay active"); got != 1 {
		t.Errorf("expected the relay to become active once and stay, it did %d times; logs:\n%s", got, logs.String())
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("expected no errors from an idle relay, got logs:\n%s", logs.String())
	}
}

// The events of one transaction keep the order they were added in, across
// several Add calls and across relay batches, and a transaction that
// commits later follows all of them.
func TestEventsOfOneTransactionKeepTheirOrderAcrossAddsAndBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewDB(t, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic)
	var first, second []events.Event
	for n := int64(0); n < 60; n++ {
		first = append(first, event(n))
	}
	for n := int64(60); n < 70; n++ {
		second = append(second, event(n))
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Three Adds in one transaction: 25, then 1, then 34 events.
	for _, part := range [][]events.Event{first[:25], first[25:26], first[26:]} {
		if err := outbox.Add(ctx, tx, part...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	addInTx(t, pool, second...)
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{BatchSize: 7})
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), 69), 70)
}

// A database created with the first migration, with committed events
// waiting and a transaction still writing one while the upgrade runs, keeps
// all of them publishable, in order, after migration 00002.
func TestUpgradingAFilledOutboxKeepsItsEventsPublishableInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	first, err := fs.ReadFile(outbox.Migrations.FS, "00001_outbox.sql")
	if err != nil {
		t.Fatalf("read migration 00001: %v", err)
	}
	old := postgres.MigrationSet{Name: outbox.Migrations.Name, FS: fstest.MapFS{"00001_outbox.sql": {Data: first}}}
	url := pgtest.NewDBURL(t, old)
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	broker := kafkatest.NewBroker(t, topic)

	const committed = 5
	for i := int64(0); i < committed; i++ {
		addInTx(t, pool, event(i))
	}
	inFlight := begin(t, pool)
	if err := outbox.Add(ctx, inFlight, event(committed)); err != nil {
		t.Fatal(err)
	}
	migrated := make(chan error, 1)
	go func() { migrated <- postgres.Migrate(ctx, url, outbox.Migrations) }()
	// The migration waits for the writing transaction; the old trigger
	// numbers its row when it commits.
	eventually(t, "the migration to wait for the open transaction", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = 'outbox'::regclass AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		return err == nil && n > 0
	})
	commit(t, inFlight)
	if err := <-migrated; err != nil {
		t.Fatalf("migrate to the latest version: %v", err)
	}
	var unnumbered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE commit_seq IS NULL`).Scan(&unnumbered); err != nil {
		t.Fatal(err)
	}
	if unnumbered != 0 {
		t.Fatalf("expected every row numbered after the upgrade, got %d without a number", unnumbered)
	}

	addInTx(t, pool, event(committed+1))
	startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{})
	assertOnceInOrder(t, readUntil(t, broker.Addrs(), committed+1), committed+2)
}

// BenchmarkCommitToKafka measures how long an event takes from its commit
// until Kafka acknowledged it and the relay deleted its row, with the
// default poll intervals: while events keep coming, and after the outbox was
// idle for longer than the relay's one-second fast-poll window. Run it with
// e.g. -benchtime 20x.
func BenchmarkCommitToKafka(b *testing.B) {
	for _, bc := range []struct {
		name string
		idle time.Duration
	}{
		{"while busy", 0},
		{"after 1.5s idle", 1500 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := b.Context()
			pool := pgtest.NewDB(b, outbox.Migrations)
			broker := kafkatest.NewBroker(b, topic)
			w := events.NewWriter(broker.Addrs())
			defer func() { _ = w.Close() }()
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- outbox.NewRelay(pool, w, outbox.RelayOptions{}).Run(rctx) }()
			defer func() { cancel(); <-done }()

			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				time.Sleep(bc.idle)
				err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, event(int64(i))) })
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				for {
					var n int
					if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						break
					}
					time.Sleep(200 * time.Microsecond)
				}
				lat = append(lat, time.Since(t1))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkConcurrentWriters measures transactions per second of 8
// concurrent writers that each commit one event per transaction, every
// writer with its own key (as different customers' requests do): the cost
// the outbox adds to services' write throughput.
func BenchmarkConcurrentWriters(b *testing.B) {
	ctx := b.Context()
	const writers = 8
	url := pgtest.NewDBURL(b, outbox.Migrations)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err := postgres.Connect(ctx, url+sep+"pool_max_conns=10")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var next atomic.Int64
	b.SetParallelism(writers / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		subject := fmt.Sprintf("customer-%d", next.Add(1))
		for pb.Next() {
			err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, eventFor(subject, 1)) })
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
