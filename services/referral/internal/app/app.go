// Package app holds the referral service's commands and queries. Each runs
// in one database transaction (a Tx) that also carries the events it
// announces, written to the transactional outbox before the commit, so a
// state change and its events are never apart. The ports layer wraps the
// same transaction around idempotency keys and the consumer inbox.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referraleventsv1 "github.com/affinity-platform/affinity/proto/referral/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	store "github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

// Source is the event source of everything the service publishes.
const Source = "referral"

// ErrCampaignClosed is returned when a paused or ended campaign is asked to
// issue a code; ports map it to FailedPrecondition.
var ErrCampaignClosed = errors.New("campaign does not issue codes in its current state")

// Config are the app's settings.
type Config struct {
	// Fraud are the fraud rule thresholds.
	Fraud fraud.Policy
	// Now is the clock; time.Now when nil. Tests pass a fixed clock.
	Now func() time.Time
	// Rand is the randomness codes are drawn from; crypto/rand when nil.
	Rand io.Reader
}

// App runs the referral service's commands and queries.
type App struct {
	pool *pgxpool.Pool
	cfg  Config
}

// New returns an App on pool.
func New(pool *pgxpool.Pool, cfg Config) *App {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &App{pool: pool, cfg: cfg}
}

// Now is the app's clock, truncated to microseconds because PostgreSQL
// stores no finer, so a value reads back equal to what was written.
func (a *App) Now() time.Time { return a.cfg.Now().UTC().Truncate(time.Microsecond) }

// Tx is one unit of work: a database transaction, the store on it and the
// events to publish when it commits.
type Tx struct {
	tx     pgx.Tx
	store  *store.Store
	events []events.Event
}

// Pgx is the underlying transaction, for the idempotency record.
func (t *Tx) Pgx() pgx.Tx { return t.tx }

// Store is the storage inside the transaction.
func (t *Tx) Store() *store.Store { return t.store }

// emit queues a referral event keyed by the customer it is about.
func (t *Tx) emit(subject string, ev *referraleventsv1.ReferralEvent) {
	t.events = append(t.events, events.Event{Topic: topics.ReferralEvents, Source: Source, Subject: subject, Payload: ev})
}

// flush writes the queued events to the outbox.
func (t *Tx) flush(ctx context.Context) error {
	if len(t.events) == 0 {
		return nil
	}
	if err := outbox.Add(ctx, t.tx, t.events...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	t.events = nil
	return nil
}

// InTx runs fn in a transaction (retried on serialization failures and
// deadlocks) and writes its events to the outbox before committing.
func (a *App) InTx(ctx context.Context, fn func(t *Tx) error) error {
	return postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		return a.Within(ctx, tx, fn)
	})
}

// Within runs fn in a transaction the caller owns (a consumer batch) and
// writes its events to the outbox in it.
func (a *App) Within(ctx context.Context, tx pgx.Tx, fn func(t *Tx) error) error {
	t := &Tx{tx: tx, store: store.New(tx)}
	if err := fn(t); err != nil {
		return err
	}
	return t.flush(ctx)
}

func pbTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func pbMoney(m money.Money) *commercev1.Money {
	if m.IsZero() {
		return nil
	}
	return &commercev1.Money{AmountMinor: m.Minor, Currency: m.Currency}
}
