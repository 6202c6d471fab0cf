package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
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
		if v.Value == last {
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

func TestRelayPublishesInCommitOrderNotInsertOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		commitFirst string // "a" or "b"; a inserts first
		want        []int64
	}{
		{"when the later insert commits first, it is published first", "b", []int64{2, 1}},
		{"when the earlier insert commits first, it is published first", "a", []int64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			pool := pgtest.NewDB(t, outbox.Migrations)
			broker := kafkatest.NewBroker(t, topic)

			txA, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = txA.Rollback(ctx) }()
			if err := outbox.Add(ctx, txA, event(1)); err != nil {
				t.Fatal(err)
			}
			txB, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = txB.Rollback(ctx) }()
			if err := outbox.Add(ctx, txB, event(2)); err != nil {
				t.Fatal(err)
			}
			first, second := txA, txB
			if tc.commitFirst == "b" {
				first, second = txB, txA
			}
			if err := first.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := second.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			addInTx(t, pool, event(3))

			startRelay(t, pool, broker.Addrs(), outbox.RelayOptions{})
			got := seqs(readUntil(t, broker.Addrs(), 3))
			want := append(slices.Clone(tc.want), 3)
			if !slices.Equal(got, want) {
				t.Errorf("expected publish order %v, got %v", want, got)
			}
		})
	}
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
