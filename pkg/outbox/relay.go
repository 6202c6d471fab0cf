package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/affinity-platform/affinity/pkg/backoff"
)

// relayLockKey is the session advisory lock that elects the one active relay
// of a database. It is in the bigint key space, apart from Add's two-int4
// key locks, and differs from the commit lock of migration 00001 (no longer
// taken since 00002).
const relayLockKey int64 = 7310420935522189314

// activePoll is how long the relay waits between looks for a second after
// it last found rows, when more events are likely to follow soon; it bounds
// the event-to-Kafka delay under load. activeWindow is that second.
const (
	activePoll   = 5 * time.Millisecond
	activeWindow = time.Second
)

// backlogRefresh is how often the relay counts the outbox for the backlog
// gauges while it is publishing; counting a large backlog after every batch
// would cost more than the gauges are worth.
const backlogRefresh = time.Second

// writeTimeout bounds one Kafka write (with the writer's own retries) and the
// delete that follows it.
const writeTimeout = 30 * time.Second

// RelayOptions tunes a Relay. Zero values get the defaults in the comments.
type RelayOptions struct {
	// BatchSize is the most rows published per Kafka write (default 100).
	BatchSize int
	// PollInterval is how long an idle relay waits between looks at the
	// outbox once it has found nothing for a second (default 25ms). While
	// events flow it looks again at once after a non-empty batch and after
	// at most 5ms (or PollInterval, if smaller) otherwise. A standby tries to
	// take over every PollInterval, but at most once a second.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after Kafka or
	// database errors (defaults 100ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives errors and takeovers (default slog.Default()).
	Logger *slog.Logger
}

// Relay publishes outbox rows to Kafka, per key in commit order (see the
// package documentation). Create it with
// NewRelay and run it as a background worker; several replicas may run one
// each.
type Relay struct {
	pool *pgxpool.Pool
	w    *kafka.Writer
	o    RelayOptions
	log  *slog.Logger

	// lastRefresh is when the relay's session last counted the outbox; only
	// the Run goroutine uses it.
	lastRefresh time.Time

	backlog   atomic.Int64
	oldestAge atomic.Int64 // nanoseconds
	published metric.Int64Counter
	failures  metric.Int64Counter
	attrs     metric.MeasurementOption
	meter     metric.Meter
}

// NewRelay returns a relay that reads the outbox of pool's database and
// writes with w (normally events.NewWriter).
func NewRelay(pool *pgxpool.Pool, w *kafka.Writer, o RelayOptions) *Relay {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 25 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	db := pool.Config().ConnConfig.Database
	r := &Relay{
		pool:  pool,
		w:     w,
		o:     o,
		log:   o.Logger.With("component", "outbox.relay", "db", db),
		meter: otel.Meter("github.com/affinity-platform/affinity/pkg/outbox"),
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("db.namespace", db))),
	}
	r.backlog.Store(-1)
	// Instrument creation only fails for invalid names, which are constants
	// here; the no-op instruments returned alongside keep the relay working.
	r.published, _ = r.meter.Int64Counter("outbox.published", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events published to Kafka and removed from the outbox."))
	r.failures, _ = r.meter.Int64Counter("outbox.publish.failures", metric.WithUnit("{attempt}"),
		metric.WithDescription("Failed attempts to publish an outbox batch to Kafka."))
	return r
}

// Backlog returns the number of rows waiting in the outbox at the last look
// (-1 before the first look). The outbox.backlog gauge reports the same.
func (r *Relay) Backlog() int64 { return r.backlog.Load() }

// Run relays until ctx is cancelled, then returns nil. Database and Kafka
// errors are logged and retried with backoff; they do not end Run.
func (r *Relay) Run(ctx context.Context) error {
	backlog, err := r.meter.Int64ObservableGauge("outbox.backlog", metric.WithUnit("{event}"),
		metric.WithDescription("Events in the outbox waiting to be published."))
	if err != nil {
		return fmt.Errorf("outbox: backlog gauge: %w", err)
	}
	age, err := r.meter.Float64ObservableGauge("outbox.oldest_pending_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event waiting in the outbox."))
	if err != nil {
		return fmt.Errorf("outbox: age gauge: %w", err)
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if n := r.backlog.Load(); n >= 0 {
			o.ObserveInt64(backlog, n, r.attrs)
			o.ObserveFloat64(age, time.Duration(r.oldestAge.Load()).Seconds(), r.attrs)
		}
		return nil
	}, backlog, age)
	if err != nil {
		return fmt.Errorf("outbox: register gauges: %w", err)
	}
	defer func() { _ = reg.Unregister() }()

	for attempt := 0; ; attempt++ {
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.log.ErrorContext(ctx, "outbox relay session failed; retrying", "error", err)
		if !backoff.Sleep(ctx, backoff.Delay(r.o.MinBackoff, r.o.MaxBackoff, attempt+1)) {
			return nil
		}
	}
}

// session takes a dedicated connection, waits to become the active relay,
// and relays until an error. All relay queries run on the connection that
// holds the lock, so if it breaks, the lock and the relay's work end together.
func (r *Relay) session(ctx context.Context) error {
	pc, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("outbox: acquire connection: %w", err)
	}
	// Hijacked: the session lock must die with this connection, never be
	// handed back to the pool.
	conn := pc.Hijack()
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, relayLockKey).Scan(&ok); err != nil {
			return fmt.Errorf("outbox: try relay lock: %w", err)
		}
		if ok {
			break
		}
		r.refreshBacklog(ctx, conn)
		if !backoff.Sleep(ctx, max(r.o.PollInterval, time.Second)) {
			return ctx.Err()
		}
	}
	r.log.InfoContext(ctx, "outbox relay active")
	var lastFound time.Time
	for {
		n, err := r.relayBatch(ctx, conn)
		if err != nil {
			return err
		}
		now := time.Now()
		if n >= r.o.BatchSize {
			// A full batch: more rows are probably waiting.
			lastFound = now
			continue
		}
		if n > 0 {
			// A partial batch took what had committed. Looking again at
			// once finds a row or two: under a steady stream of small
			// transactions that costs a query, a Kafka write and a
			// delete per event or two, on the cores the writers need.
			// Waiting activePoll lets a batch gather instead.
			lastFound = now
		}
		wait := r.o.PollInterval
		if now.Sub(lastFound) < activeWindow {
			wait = min(wait, activePoll)
		}
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// relayBatch publishes the next batch in commit order and deletes it. It
// returns how many rows it published.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn) (int, error) {
	// No watermark: commit_seq is drawn at insert, so a row with a smaller
	// number (of another key) may become visible after larger ones were
	// published; each poll reads whatever is visible and the delete below
	// removes exactly the rows published, by id. The IS NOT NULL lets the
	// query use the partial index of migration 00001.
	rows, err := conn.Query(ctx, `
		SELECT id, topic, key, headers, payload
		FROM outbox
		WHERE commit_seq IS NOT NULL
		ORDER BY commit_seq, id
		LIMIT $1`, r.o.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("outbox: read batch: %w", err)
	}
	var (
		ids  []int64
		msgs []kafka.Message
	)
	for rows.Next() {
		var (
			id      int64
			topic   string
			key     *string
			headers []byte
			payload []byte
		)
		if err := rows.Scan(&id, &topic, &key, &headers, &payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: scan row: %w", err)
		}
		km, err := toKafka(topic, key, headers, payload)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: row %d: %w", id, err)
		}
		ids = append(ids, id)
		msgs = append(msgs, km)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox: read batch: %w", err)
	}
	if len(msgs) == 0 {
		// Every row has a number, so nothing visible is waiting: no need
		// to count.
		r.backlog.Store(0)
		r.oldestAge.Store(0)
		return 0, nil
	}

	// A batch that reached Kafka is finished even when ctx ends meanwhile,
	// so a graceful stop never leaves published rows behind to be published
	// again by the next relay.
	finish := context.WithoutCancel(ctx)
	pending := msgs
	for attempt := 0; ; attempt++ {
		wctx, cancel := context.WithTimeout(finish, writeTimeout)
		err := r.w.WriteMessages(wctx, pending...)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		r.failures.Add(ctx, 1, r.attrs)
		// Retry only what failed: partitions that took their messages keep
		// them, the rest go again in the same order.
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(pending) {
			var failed []kafka.Message
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, pending[i])
				}
			}
			if len(failed) > 0 {
				pending = failed
			}
		}
		r.log.WarnContext(ctx, "outbox publish failed; retrying the same batch",
			"error", err, "attempt", attempt+1, "pending", len(pending))
		r.maybeRefreshBacklog(ctx, conn)
		if !backoff.Sleep(ctx, backoff.Delay(r.o.MinBackoff, r.o.MaxBackoff, attempt+1)) {
			return 0, ctx.Err()
		}
	}
	dctx, cancel := context.WithTimeout(finish, writeTimeout)
	// The id range around the list makes the statement's generic plan a
	// primary-key scan whatever the statistics said when it was made: with
	// id = ANY($1) alone, a plan made while the table was small (a new
	// database) read the whole outbox, dead rows included, on every
	// batch, and the table only grows between vacuums.
	_, err = conn.Exec(dctx, `DELETE FROM outbox WHERE id BETWEEN $2 AND $3 AND id = ANY($1)`, ids, slices.Min(ids), slices.Max(ids))
	cancel()
	if err != nil {
		// Published but not deleted: the next session publishes these rows
		// again, which consumers absorb by event id.
		return 0, fmt.Errorf("outbox: delete %d published rows: %w", len(ids), err)
	}
	r.published.Add(ctx, int64(len(ids)), r.attrs)
	r.maybeRefreshBacklog(ctx, conn)
	return len(ids), nil
}

// maybeRefreshBacklog refreshes the backlog gauges if the last count is
// older than backlogRefresh.
func (r *Relay) maybeRefreshBacklog(ctx context.Context, conn *pgx.Conn) {
	if time.Since(r.lastRefresh) >= backlogRefresh {
		r.refreshBacklog(ctx, conn)
	}
}

// refreshBacklog records the outbox size and the age of its oldest row.
// Failures only leave the previous values in place.
func (r *Relay) refreshBacklog(ctx context.Context, conn *pgx.Conn) {
	var (
		n   int64
		age float64
	)
	err := conn.QueryRow(ctx, `
		SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM outbox`).Scan(&n, &age)
	r.lastRefresh = time.Now()
	if err != nil {
		return
	}
	r.backlog.Store(n)
	r.oldestAge.Store(int64(age * float64(time.Second)))
}
