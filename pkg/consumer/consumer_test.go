package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// metrics collects what the runners record through the global meter.
var metrics = sdkmetric.NewManualReader()

func TestMain(m *testing.M) {
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics)))
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	pgtest.Main(m)
}

const (
	topic = "test.orders.v1"
	group = "test-group"
	dlq   = group + ".dlq"
)

// testTimeout bounds waiting for something that must happen; it is not an
// assertion about speed.
const testTimeout = 60 * time.Second

// effects is the table the test handlers write their side effects to.
var effects = postgres.MigrationSet{Name: "consumer_test", FS: fstest.MapFS{
	"00001_effects.sql": {Data: []byte(`-- +goose Up
CREATE TABLE effects (
    n          bigserial PRIMARY KEY,
    event_id   text   NOT NULL,
    subject    text   NOT NULL,
    seq        bigint NOT NULL,
    batch_size int    NOT NULL
);
-- +goose Down
DROP TABLE effects;
`)},
}}

// recordEffects is a handler body: one effects row per message.
func recordEffects(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
	for _, m := range msgs {
		var v wrapperspb.Int64Value
		if err := m.Decode(&v); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO effects (event_id, subject, seq, batch_size) VALUES ($1, $2, $3, $4)`,
			m.ID, m.Subject, v.Value, len(msgs)); err != nil {
			return fmt.Errorf("insert effect: %w", err)
		}
	}
	return nil
}

func event(id, subject string, seq int64) events.Event {
	return events.Event{ID: id, Topic: topic, Source: "consumer-test", Subject: subject, Payload: wrapperspb.Int64(seq)}
}

func publish(t *testing.T, brokers []string, msgs ...kafka.Message) {
	t.Helper()
	w := events.NewWriter(brokers)
	defer func() { _ = w.Close() }()
	if err := w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatalf("publish %d messages: %v", len(msgs), err)
	}
}

func encode(t *testing.T, evs ...events.Event) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, 0, len(evs))
	for _, ev := range evs {
		km, err := events.Encode(context.Background(), ev)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		out = append(out, km)
	}
	return out
}

func testOptions(brokers []string) Options {
	return Options{Brokers: brokers, GroupID: group, Topics: []string{topic}, BatchWait: 20 * time.Millisecond,
		Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
}

// start runs r until the test ends and returns a channel with Run's result.
func start(t *testing.T, r *Runner) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, errCrash) {
				t.Errorf("Run: expected nil after cancel, got %v", err)
			}
		default:
			// Run already returned and its result was taken by the test.
		}
	})
	return done
}

var errCrash = errors.New("simulated crash before the offset commit")

func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

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

// effectsPerEvent maps event id to how many effects rows it has.
func effectsPerEvent(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT event_id, count(*) FROM effects GROUP BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestARoundTripThroughTheConsumerGroupHandlesEveryEventOnceInPartitionOrder(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)
	const customers, perCustomer = 5, 20
	var evs []events.Event
	for i := range perCustomer {
		for c := range customers {
			evs = append(evs, event("", "customer-"+strconv.Itoa(c), int64(i)))
		}
	}
	publish(t, broker.Addrs(), encode(t, evs...)...)
	start(t, New(pool, testOptions(broker.Addrs()), recordEffects))

	eventually(t, "every event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) >= customers*perCustomer })
	for id, n := range effectsPerEvent(t, pool) {
		if n != 1 {
			t.Errorf("event %s: expected 1 effect, got %d", id, n)
		}
	}
	rows, err := pool.Query(t.Context(), `SELECT subject, seq FROM effects ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	order := map[string][]int64{}
	for rows.Next() {
		var s string
		var q int64
		if err := rows.Scan(&s, &q); err != nil {
			t.Fatal(err)
		}
		order[s] = append(order[s], q)
	}
	for s, got := range order {
		if !slices.IsSorted(got) || len(got) != perCustomer {
			t.Errorf("%s: expected sequence 0..%d in order, got %v", s, perCustomer-1, got)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM consumer_inbox WHERE consumer_group = $1 AND dead_letter_error IS NULL`, group); n != customers*perCustomer {
		t.Errorf("inbox: expected %d processed ids, got %d", customers*perCustomer, n)
	}
}

func TestTheHandlerReceivesBatchesOfManyMessagesInOneTransaction(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)
	var evs []events.Event
	for i := range 200 {
		evs = append(evs, event("", "customer-"+strconv.Itoa(i%7), int64(i)))
	}
	publish(t, broker.Addrs(), encode(t, evs...)...)
	o := testOptions(broker.Addrs())
	o.BatchSize, o.BatchWait = 50, 200*time.Millisecond
	start(t, New(pool, o, recordEffects))

	eventually(t, "every event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) >= 200 })
	maxBatch := count(t, pool, `SELECT max(batch_size) FROM effects`)
	if maxBatch <= 1 || maxBatch > 50 {
		t.Errorf("expected batches of more than 1 and at most 50 messages, got a largest batch of %d", maxBatch)
	}
}

func TestARedeliveredEventHasNoSecondEffect(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)

	// The same event published twice, as a producer retry or an outbox
	// relay crash between Kafka's ack and its delete would do.
	dup := event("0193d1a0-0000-7000-8000-00000000d0d0", "customer-1", 0)
	msgs := encode(t, dup, event("", "customer-2", 1), dup, event("", "customer-1", 2))
	publish(t, broker.Addrs(), msgs[:2]...)
	publish(t, broker.Addrs(), msgs[2:]...)

	// The first runner commits its transaction and "crashes" before it
	// commits the offsets, so Kafka delivers the batch again.
	first := New(pool, testOptions(broker.Addrs()), recordEffects)
	first.beforeCommit = func() error { return errCrash }
	if err := <-start(t, first); !errors.Is(err, errCrash) {
		t.Fatalf("first runner: expected the simulated crash, got %v", err)
	}
	handledFirst := effectsPerEvent(t, pool)
	if len(handledFirst) == 0 {
		t.Fatal("expected the first runner to have handled a batch before the crash")
	}

	var mu sync.Mutex
	var seenAgain []string
	second := New(pool, testOptions(broker.Addrs()), func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		mu.Lock()
		for _, m := range msgs {
			if handledFirst[m.ID] > 0 {
				seenAgain = append(seenAgain, m.ID)
			}
		}
		mu.Unlock()
		return recordEffects(ctx, tx, msgs)
	})
	start(t, second)
	publish(t, broker.Addrs(), encode(t, event("", "customer-3", 99))...)
	eventually(t, "the last event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects WHERE seq = 99`) == 1 })

	mu.Lock()
	defer mu.Unlock()
	if len(seenAgain) > 0 {
		t.Errorf("expected no redelivered event to reach the handler again, got %v", seenAgain)
	}
	got := effectsPerEvent(t, pool)
	if len(got) != 4 {
		t.Errorf("expected effects for 4 distinct events, got %d: %v", len(got), got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s: expected 1 effect, got %d", id, n)
		}
	}
}

func TestHandlerWritesRollBackWithTheInboxRowsOnError(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)
	var evs []events.Event
	for i := range 10 {
		evs = append(evs, event("", "customer-1", int64(i)))
	}
	publish(t, broker.Addrs(), encode(t, evs...)...)

	// Every call writes its effects, and the first three then fail. Had
	// their inbox rows survived, the retries would skip those messages and
	// their effects would be missing; had their effects survived, they
	// would be doubled.
	var calls atomic.Int64
	o := testOptions(broker.Addrs())
	o.MaxAttempts = 10
	start(t, New(pool, o, func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		if err := recordEffects(ctx, tx, msgs); err != nil {
			return err
		}
		if calls.Add(1) <= 3 {
			return errors.New("transient failure after writing")
		}
		return nil
	}))

	eventually(t, "every event to be handled", func() bool {
		return count(t, pool, `SELECT count(*) FROM consumer_inbox`) == 10 && count(t, pool, `SELECT count(*) FROM effects`) >= 10
	})
	if calls.Load() <= 3 {
		t.Fatalf("expected more than 3 handler calls, got %d", calls.Load())
	}
	got := effectsPerEvent(t, pool)
	if len(got) != 10 {
		t.Errorf("expected effects for 10 events, got %d", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s: expected 1 effect after rolled back attempts, got %d", id, n)
		}
	}
}

func TestPoisonMessagesLandOnTheDeadLetterTopicAndTheRestIsProcessed(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic, dlq)

	var evs []events.Event
	for i := range 9 {
		subject := "customer-1"
		switch i {
		case 4:
			subject = "poison"
		case 7:
			subject = "panic"
		}
		evs = append(evs, event("", subject, int64(i)))
	}
	msgs := encode(t, evs...)
	poisonID := string(msgs[4].Headers[0].Value)
	panicID := string(msgs[7].Headers[0].Value)
	// Two messages that can never be decoded: an unknown content type, and
	// bytes that are not the topic's payload type.
	badType := encode(t, event("", "customer-1", 100))[0]
	for i, h := range badType.Headers {
		if h.Key == events.HeaderContentType {
			badType.Headers[i].Value = []byte("text/csv")
		}
	}
	badPayload := encode(t, event("", "customer-1", 101))[0]
	badPayload.Value = []byte{0xff, 0xff, 0xff}
	publish(t, broker.Addrs(), append(msgs, badType, badPayload)...)

	o := testOptions(broker.Addrs())
	o.MaxAttempts, o.BatchSize, o.BatchWait = 2, 20, 200*time.Millisecond
	o.Payloads = map[string]proto.Message{topic: &wrapperspb.Int64Value{}}
	start(t, New(pool, o, func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		if err := recordEffects(ctx, tx, msgs); err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Subject {
			case "poison":
				return errors.New("cannot apply poison")
			case "panic":
				panic("handler bug")
			}
		}
		return nil
	}))

	dead := readDeadLetters(t, broker.Addrs(), 4)
	eventually(t, "the other events to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) >= 7 })

	got := effectsPerEvent(t, pool)
	if got[poisonID] != 0 || got[panicID] != 0 {
		t.Errorf("poison events: expected their effects rolled back, got %d and %d", got[poisonID], got[panicID])
	}
	if len(got) != 7 {
		t.Errorf("expected effects for the 7 good events, got %d", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s: expected 1 effect, got %d", id, n)
		}
	}

	wantErrs := map[string]string{
		poisonID:                            "cannot apply poison",
		panicID:                             "handler panicked: handler bug",
		string(badType.Headers[0].Value):    `content-type="text/csv"`,
		string(badPayload.Headers[0].Value): "as protobuf",
	}
	for _, d := range dead {
		want, ok := wantErrs[d.header(events.HeaderID)]
		if !ok {
			t.Errorf("unexpected dead letter %s", d.header(events.HeaderID))
			continue
		}
		delete(wantErrs, d.header(events.HeaderID))
		if e := d.header(HeaderDLQError); !strings.Contains(e, want) {
			t.Errorf("dead letter %s: expected error containing %q, got %q", d.header(events.HeaderID), want, e)
		}
		if g := d.header(HeaderDLQGroup); g != group {
			t.Errorf("dead letter group header: expected %q, got %q", group, g)
		}
		if g := d.header(HeaderDLQTopic); g != topic {
			t.Errorf("dead letter topic header: expected %q, got %q", topic, g)
		}
		if _, err := strconv.Atoi(d.header(HeaderDLQPartition)); err != nil {
			t.Errorf("dead letter partition header: expected a number, got %q", d.header(HeaderDLQPartition))
		}
		if _, err := strconv.ParseInt(d.header(HeaderDLQOffset), 10, 64); err != nil {
			t.Errorf("dead letter offset header: expected a number, got %q", d.header(HeaderDLQOffset))
		}
		n := count(t, pool, `SELECT count(*) FROM consumer_inbox WHERE event_id = $1 AND dead_letter_error IS NOT NULL`, d.header(events.HeaderID))
		if n != 1 {
			t.Errorf("dead letter %s: expected an inbox record so it is not processed again, got %d", d.header(events.HeaderID), n)
		}
	}
	if len(wantErrs) > 0 {
		t.Errorf("expected dead letters for %v, they are missing", wantErrs)
	}
}

type deadLetter struct{ kafka.Message }

func (d deadLetter) header(k string) string {
	for _, h := range d.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func readDeadLetters(t *testing.T, brokers []string, n int) []deadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "dlq-reader", GroupTopics: []string{dlq},
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	var out []deadLetter
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters after %d of %d: %v", len(out), n, err)
		}
		out = append(out, deadLetter{m})
	}
	return out
}

func TestEventsFromTheOutboxReachTheHandlerOnceEvenWhenPublishedTwice(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects, outbox.Migrations)
	broker := kafkatest.NewBroker(t, topic, dlq)

	add := func(evs ...events.Event) {
		t.Helper()
		if err := postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error { return outbox.Add(t.Context(), tx, evs...) }); err != nil {
			t.Fatal(err)
		}
	}
	again := event("0193d1a0-0000-7000-8000-0000000a9a19", "customer-1", 1)
	add(event("", "customer-1", 0), again)
	// What a relay crash between Kafka's ack and the delete leaves behind:
	// the same event in the outbox a second time.
	add(again, event("", "customer-2", 2))
	add(event("", "customer-1", 3))

	w := events.NewWriter(broker.Addrs())
	t.Cleanup(func() { _ = w.Close() })
	relay := outbox.NewRelay(pool, w, outbox.RelayOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-relayDone })
	start(t, New(pool, testOptions(broker.Addrs()), recordEffects))

	eventually(t, "the last event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects WHERE seq = 3`) == 1 })
	eventually(t, "the duplicate to reach the consumer", func() bool {
		return count(t, pool, `SELECT count(*) FROM consumer_inbox`) == 4 && relay.Backlog() == 0
	})
	got := effectsPerEvent(t, pool)
	if len(got) != 4 || got[again.ID] != 1 {
		t.Errorf("expected 4 events with one effect each (the twice-published one included), got %v", got)
	}
}

func TestMetricsCountProcessedMessagesAndReportLagPerPartition(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic)
	const n = 30
	var evs []events.Event
	for i := range n {
		evs = append(evs, event("", "customer-"+strconv.Itoa(i%4), int64(i)))
	}
	publish(t, broker.Addrs(), encode(t, evs...)...)
	o := testOptions(broker.Addrs())
	// A group of its own: the counters are process-wide and -count=N
	// reruns this test in the same process.
	o.GroupID = fmt.Sprintf("metrics-group-%d", time.Now().UnixNano())
	o.DeadLetterTopic = ""
	start(t, New(pool, o, recordEffects))
	eventually(t, "every event to be handled", func() bool { return count(t, pool, `SELECT count(*) FROM effects`) >= n })

	groupAttr := attribute.String("messaging.consumer.group.name", o.GroupID)
	var processed int64
	lags := map[int64]int64{}
	// Offsets (and so lag) are committed just after the transaction, so
	// the metrics settle shortly after the effects are visible.
	eventually(t, "consumer.processed to count every event and consumer.lag to be 0 on every partition read", func() bool {
		var rm metricdata.ResourceMetrics
		if err := metrics.Collect(t.Context(), &rm); err != nil {
			t.Fatalf("collect metrics: %v", err)
		}
		processed, lags = 0, map[int64]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					if m.Name != "consumer.processed" {
						continue
					}
					for _, dp := range d.DataPoints {
						if v, ok := dp.Attributes.Value(groupAttr.Key); ok && v == groupAttr.Value {
							processed += dp.Value
						}
					}
				case metricdata.Gauge[int64]:
					if m.Name != "consumer.lag" {
						continue
					}
					for _, dp := range d.DataPoints {
						if v, ok := dp.Attributes.Value(groupAttr.Key); !ok || v != groupAttr.Value {
							continue
						}
						p, _ := dp.Attributes.Value("messaging.destination.partition.id")
						lags[p.AsInt64()] = dp.Value
					}
				}
			}
		}
		if processed != n || len(lags) == 0 {
			return false
		}
		for _, lag := range lags {
			if lag != 0 {
				return false
			}
		}
		return true
	})
}

func TestTheHandlerRunsInAChildOfTheProducersSpan(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations, effects)
	broker := kafkatest.NewBroker(t, topic)
	ctx, producer := otel.Tracer("producer").Start(context.Background(), "publish")
	km, err := events.Encode(ctx, event("", "customer-1", 0))
	producer.End()
	if err != nil {
		t.Fatal(err)
	}
	publish(t, broker.Addrs(), km)

	o := testOptions(broker.Addrs())
	o.GroupID, o.DeadLetterTopic = "trace-group", "trace-group.dlq"
	got := make(chan trace.SpanContext, 10)
	start(t, New(pool, o, func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}))
	select {
	case sc := <-got:
		want := producer.SpanContext()
		if sc.TraceID() != want.TraceID() {
			t.Errorf("handler span: expected trace %s (the producer's), got %s", want.TraceID(), sc.TraceID())
		}
		if sc.SpanID() == want.SpanID() || !sc.IsValid() {
			t.Errorf("handler span: expected a new child span, got %s", sc.SpanID())
		}
	case <-time.After(testTimeout):
		t.Fatalf("expected the handler to be called within %v", testTimeout)
	}
}

func TestPruneInboxDeletesOnlyOldRows(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, Migrations)
	_, err := pool.Exec(t.Context(), `
		INSERT INTO consumer_inbox (consumer_group, event_id, topic, partition, "offset", processed_at) VALUES
			('g', 'old', 't', 0, 1, now() - interval '8 days'),
			('g', 'new', 't', 0, 2, now() - interval '1 hour')`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := PruneInbox(t.Context(), pool, 7*24*time.Hour)
	if err != nil {
		t.Fatalf("PruneInbox: %v", err)
	}
	if n != 1 {
		t.Errorf("expected 1 row pruned, got %d", n)
	}
	if left := count(t, pool, `SELECT count(*) FROM consumer_inbox WHERE event_id = 'new'`); left != 1 {
		t.Errorf("expected the recent row to stay, got %d", left)
	}
}
