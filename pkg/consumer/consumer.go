// Package consumer runs Kafka consumers the way every Affinity service needs
// them: a consumer group, a handler that receives batches of events inside a
// database transaction, an inbox of processed event ids written in that same
// transaction (so a redelivered event has no second effect), retries with
// backoff, a dead-letter topic for poison messages, and Kafka offsets
// committed only after the transaction committed.
//
// # Delivery
//
// Kafka delivers at least once: after a crash between the database commit and
// the offset commit, or a rebalance, messages come again. Their ids are then
// in the inbox, so the handler never sees them twice. The inbox key is the
// ce_id header; a message without one (a foreign producer) is keyed by
// "kafka:<topic>/<partition>/<offset>", which still absorbs redelivery of that
// same message.
//
// # Poison messages
//
// A message whose envelope or payload cannot be decoded goes straight to the
// dead-letter topic. When the handler fails a batch MaxAttempts times, the
// runner splits the batch in halves and retries each (in order, so
// per-partition order holds) until the single failing message is found; that
// message goes to the dead-letter topic with headers naming the error, the
// group and where it came from, is recorded in the inbox so it is not
// processed again, and the runner moves on. While the database is
// unreachable the runner keeps retrying instead, so an outage does not empty
// a topic into the dead-letter topic.
//
// A handler can also route a single message it cannot process to the
// dead-letter topic without failing its batch: it calls Reject with the
// context it was given (see Reject).
//
// # Offset commits
//
// Offsets are committed only for batches whose transaction committed. By
// default they are committed asynchronously, every CommitInterval (1s), and
// once more when the runner stops, so a batch does not wait for a commit
// round trip to the broker. After a crash the messages of the last interval
// come again and the inbox skips them; this is why asynchronous commits are
// safe here. A negative CommitInterval commits synchronously after every
// batch.
//
// The dead-letter topic is per group by default ("<group>.dlq"), so the
// messages of one consumer can be inspected and replayed into that consumer
// alone without touching other groups reading the same topic.
//
// # Metrics
//
// Through the global otel.Meter, all with messaging.consumer.group.name:
// consumer.processed, consumer.duplicates, consumer.failed (handler
// attempts), consumer.dead_lettered, consumer.batch.size, and the gauge
// consumer.lag per messaging.destination.name and
// messaging.destination.partition.id: the partition's high-water mark minus
// the next offset to read, taken from the last committed batch (kafka-go's
// Reader.Stats reports one lag for a whole group reader, not per partition).
package consumer

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/affinity-platform/affinity/pkg/backoff"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations creates the inbox table; add it to the migration sets of every
// service that consumes events.
var Migrations = postgres.MigrationSet{Name: "consumer", FS: postgres.Sub(migrationFiles, "migrations")}

// Headers added to a message forwarded to the dead-letter topic. The original
// headers and value are kept unchanged.
const (
	HeaderDLQError     = "dlq_error"
	HeaderDLQGroup     = "dlq_group"
	HeaderDLQTopic     = "dlq_topic"
	HeaderDLQPartition = "dlq_partition"
	HeaderDLQOffset    = "dlq_offset"
	HeaderDLQTime      = "dlq_time"
)

// Handler processes a batch of new (never processed by this group) messages
// inside tx. Returning an error rolls back everything it wrote together with
// the batch's inbox rows, and the batch is retried.
type Handler func(ctx context.Context, tx pgx.Tx, msgs []events.Message) error

// Options configures a Runner. Zero values get the defaults in the comments.
type Options struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// Security is the TLS and SASL of every connection (zero: plaintext).
	Security events.Security
	// GroupID is the consumer group; it also scopes the inbox.
	GroupID string
	// Topics are read with one group reader.
	Topics []string
	// BatchSize is the most messages handed to the handler at once
	// (default 100).
	BatchSize int
	// BatchWait is how long to wait for more messages after the first one
	// of a batch arrived (default 50ms). It adds to every event's latency
	// when traffic is light; latency-sensitive consumers set a few ms (a
	// busy topic fills batches by itself).
	BatchWait time.Duration
	// BatchGap ends a batch early when no further message arrives within
	// it (default 1ms; negative: wait the whole BatchWait). Messages that
	// are already fetched arrive within microseconds, so a backlog still
	// fills whole batches, while a steady trickle is handled one message
	// at a time instead of each waiting out BatchWait.
	BatchGap time.Duration
	// CommitInterval is how often the offsets of handled batches are
	// committed to Kafka (default 1s; they are also committed when the
	// runner stops). Negative: synchronously after every batch, which adds
	// a broker round trip to each batch.
	CommitInterval time.Duration
	// MaxAttempts is how often a failing batch is tried before the runner
	// looks for the poison message in it (default 5).
	MaxAttempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff (defaults 200ms and 30s).
	Backoff, MaxBackoff time.Duration
	// DeadLetterTopic receives poison messages (default "<GroupID>.dlq").
	// Run tries to create it with the broker's default settings and only
	// logs when it cannot (in production an operator usually owns topics).
	DeadLetterTopic string
	// Payloads optionally maps a topic to its payload type; a message that
	// does not decode into it goes straight to the dead-letter topic
	// instead of reaching the handler.
	Payloads map[string]proto.Message
	// Logger receives failures and dead letters (default slog.Default()).
	Logger *slog.Logger
	// HeartbeatInterval is how often a group member heartbeats, which is
	// also how soon it notices a rebalance (default 500ms; kafka-go's own
	// default is 3s). Members that start together join one after another,
	// and until the first one rejoins every partition stays with it: with
	// 3s, a backlog was mostly consumed by one member while the others
	// waited.
	HeartbeatInterval time.Duration
}

// Runner consumes Options.Topics and feeds the handler. Create it with New.
type Runner struct {
	pool *pgxpool.Pool
	o    Options
	h    Handler
	log  *slog.Logger

	meter        metric.Meter
	tracer       trace.Tracer
	processed    metric.Int64Counter
	duplicates   metric.Int64Counter
	failed       metric.Int64Counter
	deadLettered metric.Int64Counter
	batches      metric.Int64Histogram

	lagMu sync.Mutex
	lag   map[topicPartition]int64

	// dlq is the dead-letter writer of the running Run.
	dlq *kafka.Writer

	// beforeCommit runs after a batch's transaction committed and before its
	// offsets are committed; tests use it to simulate a crash in between.
	beforeCommit func() error
}

type topicPartition struct {
	topic     string
	partition int
}

// New returns a runner; Run starts it.
func New(pool *pgxpool.Pool, o Options, h Handler) *Runner {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 50 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BatchGap == 0 {
		o.BatchGap = time.Millisecond
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(30*time.Second, o.Backoff)
	}
	if o.DeadLetterTopic == "" {
		o.DeadLetterTopic = o.GroupID + ".dlq"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 500 * time.Millisecond
	}
	r := &Runner{
		pool:   pool,
		o:      o,
		h:      h,
		log:    o.Logger.With("component", "consumer", "group", o.GroupID),
		meter:  otel.Meter("github.com/affinity-platform/affinity/pkg/consumer"),
		tracer: otel.Tracer("github.com/affinity-platform/affinity/pkg/consumer"),
		lag:    map[topicPartition]int64{},
	}
	// Instrument creation fails only for invalid names (constants here);
	// the no-op instruments returned alongside keep the runner working.
	r.processed, _ = r.meter.Int64Counter("consumer.processed", metric.WithUnit("{message}"),
		metric.WithDescription("Messages handled and committed."))
	r.duplicates, _ = r.meter.Int64Counter("consumer.duplicates", metric.WithUnit("{message}"),
		metric.WithDescription("Redelivered messages skipped because the inbox already had their id."))
	r.failed, _ = r.meter.Int64Counter("consumer.failed", metric.WithUnit("{attempt}"),
		metric.WithDescription("Failed attempts to handle a batch."))
	r.deadLettered, _ = r.meter.Int64Counter("consumer.dead_lettered", metric.WithUnit("{message}"),
		metric.WithDescription("Messages sent to the dead-letter topic."))
	r.batches, _ = r.meter.Int64Histogram("consumer.batch.size", metric.WithUnit("{message}"),
		metric.WithDescription("Messages per handled batch."))
	return r
}

// Run consumes until ctx is cancelled, then returns nil. It returns an error
// only for invalid options or when Kafka cannot be set up.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.o.Brokers) == 0 || r.o.GroupID == "" || len(r.o.Topics) == 0 {
		return errors.New("consumer: Brokers, GroupID and Topics are required")
	}
	if r.h == nil {
		return errors.New("consumer: handler is nil")
	}
	lagGauge, err := r.meter.Int64ObservableGauge("consumer.lag", metric.WithUnit("{message}"),
		metric.WithDescription("Messages behind the end of each partition after the last committed batch."))
	if err != nil {
		return fmt.Errorf("consumer: lag gauge: %w", err)
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.lagMu.Lock()
		defer r.lagMu.Unlock()
		for tp, n := range r.lag {
			o.ObserveInt64(lagGauge, n, metric.WithAttributes(
				attribute.String("messaging.consumer.group.name", r.o.GroupID),
				attribute.String("messaging.destination.name", tp.topic),
				attribute.Int("messaging.destination.partition.id", tp.partition)))
		}
		return nil
	}, lagGauge)
	if err != nil {
		return fmt.Errorf("consumer: register lag gauge: %w", err)
	}
	defer func() { _ = reg.Unregister() }()

	if err := r.o.Security.EnsureTopics(ctx, r.o.Brokers, events.TopicSpec{Name: r.o.DeadLetterTopic}); err != nil {
		r.log.WarnContext(ctx, "could not ensure the dead-letter topic; it must exist before a poison message arrives",
			"topic", r.o.DeadLetterTopic, "error", err)
	}

	dlq := r.o.Security.Writer(r.o.Brokers)
	defer func() { _ = dlq.Close() }()
	r.dlq = dlq
	commitInterval := max(r.o.CommitInterval, 0)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     r.o.Brokers,
		Dialer:      r.o.Security.Dialer(),
		GroupID:     r.o.GroupID,
		GroupTopics: r.o.Topics,
		StartOffset: kafka.FirstOffset,
		MinBytes:    1,
		MaxBytes:    10 << 20,
		// With MinBytes 1 the broker answers as soon as a record arrives,
		// so this long poll adds no latency. It must stay long: kafka-go
		// asks the broker for 3/4 of MaxWait and drops the connection
		// (then pauses ReadBackoffMin, 100 ms, and redials) if the answer
		// does not arrive within MaxWait, so a short MaxWait on a busy host
		// turns scheduling delays into 100 ms stalls.
		MaxWait:           time.Second,
		HeartbeatInterval: r.o.HeartbeatInterval,
		// Offsets are handed to the reader only after the database commit;
		// with an interval the reader commits them in the background and
		// once more when it is closed.
		CommitInterval: commitInterval,
	})
	defer func() {
		if err := reader.Close(); err != nil {
			r.log.WarnContext(ctx, "closing the reader (final offset commit) failed; the last messages will be redelivered and skipped", "error", err)
		}
	}()

	for {
		batch, err := r.fetchBatch(ctx, reader)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.ErrorContext(ctx, "fetch failed; retrying", "error", err)
			if !backoff.Sleep(ctx, r.o.Backoff) {
				return nil
			}
			continue
		}
		if err := r.process(ctx, dlq, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if r.beforeCommit != nil {
			if err := r.beforeCommit(); err != nil {
				return err
			}
		}
		if err := reader.CommitMessages(ctx, batch...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The effects are committed; the messages come again and the
			// inbox skips them.
			r.log.WarnContext(ctx, "offset commit failed; messages will be redelivered and skipped", "error", err)
			continue
		}
		r.recordLag(batch)
	}
}

// fetchBatch blocks for the first message, then collects more until the
// batch is full, BatchWait passed, or no message came within BatchGap.
func (r *Runner) fetchBatch(ctx context.Context, reader *kafka.Reader) ([]kafka.Message, error) {
	first, err := reader.FetchMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("consumer: fetch: %w", err)
	}
	batch := []kafka.Message{first}
	deadline := time.Now().Add(r.o.BatchWait)
	for len(batch) < r.o.BatchSize {
		wait := time.Until(deadline)
		if r.o.BatchGap > 0 {
			wait = min(wait, r.o.BatchGap)
		}
		if wait <= 0 {
			break
		}
		// A fetch cut short by the deadline leaves its message in the
		// reader's queue for the next batch.
		wctx, cancel := context.WithTimeout(ctx, wait)
		m, err := reader.FetchMessage(wctx)
		cancel()
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

func (r *Runner) recordLag(batch []kafka.Message) {
	r.lagMu.Lock()
	defer r.lagMu.Unlock()
	for _, m := range batch {
		r.lag[topicPartition{m.Topic, m.Partition}] = max(m.HighWaterMark-m.Offset-1, 0)
	}
}

// process handles one fetched batch completely: every message ends up
// handled, skipped as a duplicate, or dead-lettered. It returns an error only
// when ctx ends.
func (r *Runner) process(ctx context.Context, dlq *kafka.Writer, batch []kafka.Message) error {
	good := make([]events.Message, 0, len(batch))
	for _, km := range batch {
		m, err := events.Parse(km)
		if err == nil {
			err = r.check(m)
		}
		if err != nil {
			if err := r.deadLetter(ctx, dlq, m, err); err != nil {
				return err
			}
			continue
		}
		good = append(good, m)
	}
	return r.handle(ctx, dlq, good)
}

// check rejects messages the handler could never process.
func (r *Runner) check(m events.Message) error {
	if !events.SupportedContentType(m.ContentType) {
		return fmt.Errorf("consumer: header %s=%q is not supported: %w", events.HeaderContentType, m.ContentType, events.ErrUnsupportedContentType)
	}
	if p, ok := r.o.Payloads[m.Topic]; ok && p != nil {
		if err := m.Decode(p.ProtoReflect().New().Interface()); err != nil {
			return err
		}
	}
	return nil
}

// handle runs msgs through the handler with retries, and bisects a batch that
// keeps failing to find and dead-letter the poison message.
func (r *Runner) handle(ctx context.Context, dlq *kafka.Writer, msgs []events.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for {
		lastErr, err := r.attempt(ctx, msgs)
		if err != nil || lastErr == nil {
			return err
		}
		if len(msgs) > 1 {
			mid := len(msgs) / 2
			if err := r.handle(ctx, dlq, msgs[:mid]); err != nil {
				return err
			}
			return r.handle(ctx, dlq, msgs[mid:])
		}
		// One message keeps failing. Condemn it only if the database
		// answers; otherwise the failure is probably the outage, so the
		// message gets another round of attempts.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = r.pool.Ping(pctx)
		cancel()
		if err == nil {
			return r.deadLetter(ctx, dlq, msgs[0], lastErr)
		}
		if !r.retryWait(ctx, "database unreachable; not dead-lettering", err, r.o.MaxAttempts) {
			return ctx.Err()
		}
	}
}

// attempt tries msgs up to MaxAttempts times. It returns the handler's last
// error when every attempt failed, or a non-nil err when ctx ended.
// Failures of the inbox bookkeeping (the database) do not count as attempts.
func (r *Runner) attempt(ctx context.Context, msgs []events.Message) (lastErr, err error) {
	for attempt := 0; attempt < r.o.MaxAttempts; {
		err := r.handleTx(ctx, msgs)
		if err == nil {
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var he *handlerError
		if errors.As(err, &he) {
			attempt++
			lastErr = he.err
			r.failed.Add(ctx, 1, metric.WithAttributes(attribute.String("messaging.consumer.group.name", r.o.GroupID)))
			r.log.WarnContext(ctx, "handler failed", "error", he.err, "attempt", attempt, "messages", len(msgs))
			if attempt == r.o.MaxAttempts {
				break
			}
		} else {
			r.log.ErrorContext(ctx, "inbox transaction failed; retrying", "error", err)
		}
		if !backoff.Sleep(ctx, backoff.Delay(r.o.Backoff, r.o.MaxBackoff, attempt-1)) {
			return nil, ctx.Err()
		}
	}
	return lastErr, nil
}

// handlerError marks an error returned by the handler, as opposed to one from
// the inbox bookkeeping.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "consumer: handler: " + e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// inboxID is the key a message is deduplicated by.
func inboxID(m events.Message) string {
	if m.ID != "" {
		return m.ID
	}
	return "kafka:" + m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
}

// handleTx inserts the batch's ids into the inbox and hands the messages
// whose ids were new to the handler, all in one transaction.
func (r *Runner) handleTx(ctx context.Context, msgs []events.Message) error {
	ctx, span := r.startSpan(ctx, msgs)
	defer span.End()
	var fresh, rejected []events.Message
	var causes []error
	err := postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		ids := make([]string, 0, len(msgs))
		topics := make([]string, 0, len(msgs))
		partitions := make([]int32, 0, len(msgs))
		offsets := make([]int64, 0, len(msgs))
		seen := make(map[string]bool, len(msgs))
		for _, m := range msgs {
			id := inboxID(m)
			if seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
			topics = append(topics, m.Topic)
			partitions = append(partitions, int32(m.Partition))
			offsets = append(offsets, m.Offset)
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO consumer_inbox (consumer_group, event_id, topic, partition, "offset")
			SELECT $1, id, topic, part, off
			FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) AS u(id, topic, part, off)
			ON CONFLICT DO NOTHING
			RETURNING event_id`, r.o.GroupID, ids, topics, partitions, offsets)
		if err != nil {
			return fmt.Errorf("consumer: insert inbox ids: %w", err)
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("consumer: insert inbox ids: %w", err)
		}
		isNew := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			isNew[id] = true
		}
		fresh = fresh[:0]
		for _, m := range msgs {
			if id := inboxID(m); isNew[id] {
				fresh = append(fresh, m)
				delete(isNew, id) // a second copy in the same batch is a duplicate
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		rs := newRejections(fresh)
		if err := r.callHandler(context.WithValue(ctx, rejectionsKey{}, rs), tx, fresh); err != nil {
			return &handlerError{err: err}
		}
		rejected, causes = rs.list()
		return r.rejectInTx(ctx, tx, rejected, causes)
	})
	if err != nil {
		span.RecordError(err)
		return err
	}
	attrs := metric.WithAttributes(attribute.String("messaging.consumer.group.name", r.o.GroupID))
	r.processed.Add(ctx, int64(len(fresh)), attrs)
	if d := len(msgs) - len(fresh); d > 0 {
		r.duplicates.Add(ctx, int64(d), attrs)
	}
	if len(fresh) > 0 {
		r.batches.Record(ctx, int64(len(fresh)), attrs)
	}
	for i, m := range rejected {
		r.deadLettered.Add(ctx, 1, metric.WithAttributes(
			attribute.String("messaging.consumer.group.name", r.o.GroupID),
			attribute.String("messaging.destination.name", m.Topic)))
		r.log.WarnContext(ctx, "message rejected by the handler and dead-lettered", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "event_id", m.ID, "dead_letter_topic", r.o.DeadLetterTopic, "error", causes[i])
	}
	return nil
}

// rejectInTx writes the messages the handler rejected to the dead-letter
// topic and records the cause in their inbox rows, in tx. A failed write
// fails the transaction as an infrastructure error (retried, not counted
// as a handler attempt).
func (r *Runner) rejectInTx(ctx context.Context, tx pgx.Tx, msgs []events.Message, causes []error) error {
	if len(msgs) == 0 {
		return nil
	}
	if r.dlq == nil {
		return errors.New("consumer: no dead-letter writer (the runner is not running)")
	}
	kms := make([]kafka.Message, len(msgs))
	ids := make([]string, len(msgs))
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		texts[i] = causes[i].Error()
		kms[i] = r.deadLetterMessage(m, texts[i])
		ids[i] = inboxID(m)
	}
	if err := r.dlq.WriteMessages(ctx, kms...); err != nil {
		return fmt.Errorf("consumer: write rejected messages to %s: %w", r.o.DeadLetterTopic, err)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE consumer_inbox i SET dead_letter_error = u.cause
		FROM unnest($2::text[], $3::text[]) AS u(id, cause)
		WHERE i.consumer_group = $1 AND i.event_id = u.id`, r.o.GroupID, ids, texts); err != nil {
		return fmt.Errorf("consumer: record rejected messages: %w", err)
	}
	return nil
}

// callHandler runs the handler and turns a panic into an error, so a
// message that crashes the handler is retried and dead-lettered like any
// other poison message instead of taking the service down in a loop.
func (r *Runner) callHandler(ctx context.Context, tx pgx.Tx, msgs []events.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return r.h(ctx, tx, msgs)
}

// startSpan starts the span of one handler attempt. A batch whose messages
// share one producer span becomes its child; otherwise the producer spans
// are linked (a span has one parent). Handlers wanting a child span per
// message start one from Message.Context.
func (r *Runner) startSpan(ctx context.Context, msgs []events.Message) (context.Context, trace.Span) {
	var (
		links  []trace.Link
		parent trace.SpanContext
		shared = true
	)
	for i, m := range msgs {
		sc := trace.SpanContextFromContext(m.Context(context.Background()))
		if !sc.IsValid() {
			shared = false
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
		if i == 0 {
			parent = sc
		} else if !sc.Equal(parent) {
			shared = false
		}
	}
	if shared && parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return r.tracer.Start(ctx, "consume "+msgs[0].Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.consumer.group.name", r.o.GroupID),
			attribute.Int("messaging.batch.message_count", len(msgs))))
}

// deadLetter forwards m to the dead-letter topic and records it in the inbox
// so it is not processed again. A message already in the inbox was handled
// or dead-lettered before (this is a redelivery) and is skipped. Kafka and
// database failures are retried until ctx ends; a crash between the two
// steps dead-letters the message twice, which is harmless.
func (r *Runner) deadLetter(ctx context.Context, dlq *kafka.Writer, m events.Message, cause error) error {
	id := inboxID(m)
	for attempt := 0; ; attempt++ {
		var done bool
		err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM consumer_inbox WHERE consumer_group = $1 AND event_id = $2)`,
			r.o.GroupID, id).Scan(&done)
		if err == nil {
			if done {
				r.duplicates.Add(ctx, 1, metric.WithAttributes(attribute.String("messaging.consumer.group.name", r.o.GroupID)))
				return nil
			}
			break
		}
		if !r.retryWait(ctx, "dead-letter inbox lookup failed", err, attempt) {
			return ctx.Err()
		}
	}
	causeText := "unknown error"
	if cause != nil {
		causeText = cause.Error()
	}
	km := r.deadLetterMessage(m, causeText)
	for attempt := 0; ; attempt++ {
		err := dlq.WriteMessages(ctx, km)
		if err == nil {
			break
		}
		if !r.retryWait(ctx, "dead-letter write failed", err, attempt) {
			return ctx.Err()
		}
	}
	for attempt := 0; ; attempt++ {
		_, err := r.pool.Exec(ctx, `
			INSERT INTO consumer_inbox (consumer_group, event_id, topic, partition, "offset", dead_letter_error)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING`, r.o.GroupID, id, m.Topic, m.Partition, m.Offset, causeText)
		if err == nil {
			break
		}
		if !r.retryWait(ctx, "dead-letter inbox record failed", err, attempt) {
			return ctx.Err()
		}
	}
	r.deadLettered.Add(ctx, 1, metric.WithAttributes(
		attribute.String("messaging.consumer.group.name", r.o.GroupID),
		attribute.String("messaging.destination.name", m.Topic)))
	r.log.ErrorContext(ctx, "message dead-lettered", "topic", m.Topic, "partition", m.Partition,
		"offset", m.Offset, "event_id", m.ID, "dead_letter_topic", r.o.DeadLetterTopic, "error", causeText)
	return nil
}

// deadLetterMessage is m as it goes to the dead-letter topic: the original
// key, value and headers plus headers naming the cause and the origin.
func (r *Runner) deadLetterMessage(m events.Message, causeText string) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+6)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQError, Value: []byte(causeText)},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(r.o.GroupID)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: HeaderDLQTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	km := kafka.Message{Topic: r.o.DeadLetterTopic, Value: m.Value, Headers: headers}
	if m.Key != "" {
		km.Key = []byte(m.Key)
	}
	return km
}

// retryWait logs err and waits the backoff for attempt; false means ctx ended.
func (r *Runner) retryWait(ctx context.Context, msg string, err error, attempt int) bool {
	if ctx.Err() != nil {
		return false
	}
	r.log.ErrorContext(ctx, msg+"; retrying", "error", err, "attempt", attempt+1)
	return backoff.Sleep(ctx, backoff.Delay(r.o.Backoff, r.o.MaxBackoff, attempt-1))
}

// PruneInbox deletes inbox rows older than age and returns how many. Run it
// now and then with an age far beyond any possible redelivery (days).
func PruneInbox(ctx context.Context, pool *pgxpool.Pool, age time.Duration) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM consumer_inbox WHERE processed_at < now() - $1::float8 * interval '1 second'`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("consumer: prune inbox: %w", err)
	}
	return tag.RowsAffected(), nil
}
