// Package app holds the loyalty service's commands and queries. Each command
// runs in one PostgreSQL transaction that locks the member row, applies the
// domain rules (package domain/...), writes the entries, lots and rows they
// changed, and adds the events announcing the change to the outbox, so that
// state and events commit together or not at all. Mutating RPCs run through
// Do, which claims their idempotency key in that same transaction.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/events"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/postgres"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/challenge"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/recognition"
)

// Errors the ports map to gRPC codes, besides the domain's own.
var (
	// ErrNotFound: the member, hold, reward, rule or tier does not exist (NotFound).
	ErrNotFound = store.ErrNotFound
	// ErrOrderAlreadyEarned: the order earned points before (AlreadyExists).
	ErrOrderAlreadyEarned = errors.New("order already earned points")
	// ErrBudgetExhausted: a concurrent earn used the rule's budget first;
	// running the earn again computes it against the new budget (Aborted).
	ErrBudgetExhausted = errors.New("earning rule budget was spent concurrently")
)

// Config is the program's configuration that is not edited through the
// API: base earning, expiry, the points value and the debt policy.
type Config struct {
	Program    earning.Program
	Conversion money.Conversion
	DebtPolicy ledger.DebtPolicy
	// HoldTTL is how long a checkout hold lives when the caller gives no TTL.
	HoldTTL time.Duration
	// ExpiringWindow is how far ahead the member view lists expiring points.
	ExpiringWindow time.Duration
	// CouponValidity is how long an issued discount code can be used.
	CouponValidity time.Duration
	// TransfersEnabled lets members give points to other members.
	TransfersEnabled bool
	// Recognition pays birthdays, anniversaries and milestones (off when
	// every amount is zero and no milestone is set).
	Recognition recognition.Config
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v validation.Collector
	v.Nest("program", c.Program.Validate())
	v.Nest("conversion", c.Conversion.Validate())
	v.Check(c.Conversion.Value.Currency == c.Program.Currency, "conversion.value.currency", "must be the program currency %s", c.Program.Currency)
	v.Check(c.DebtPolicy == ledger.AllowNegative || c.DebtPolicy == ledger.CapAtZero, "debt_policy", "unknown policy %d", c.DebtPolicy)
	v.Check(c.HoldTTL > 0 && c.HoldTTL <= ledger.MaxHoldTTL, "hold_ttl", "must be within (0, %s]", ledger.MaxHoldTTL)
	v.Check(c.ExpiringWindow > 0, "expiring_window", "must be positive")
	v.Check(c.CouponValidity > 0, "coupon_validity", "must be positive")
	v.Nest("recognition", c.Recognition.Validate())
	return v.Err()
}

// Source is the ce_source of the events the service publishes.
const Source = "loyalty"

// App runs the commands and queries.
type App struct {
	pool  *pgxpool.Pool
	cfg   Config
	clock func() time.Time
	meter metric.MeterProvider
	// expiryRuns counts runs of the scheduled jobs by outcome; the Helm
	// chart's alerts and dashboard watch loyalty_expiry_runs_total.
	expiryRuns metric.Int64Counter
	// settings is this replica's copy of the program settings, read
	// again after settingsRefresh.
	settings        settingsCache
	settingsRefresh time.Duration
}

// Option changes how an App is built.
type Option func(*App)

// WithClock replaces the wall clock, so tests can cross expiry dates and tier
// windows without waiting.
func WithClock(now func() time.Time) Option { return func(a *App) { a.clock = now } }

// WithMeterProvider records the app's metrics through mp instead of the
// global provider, so a test can read them without racing other tests that
// install their own global provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(a *App) { a.meter = mp } }

// meterName scopes the service's instruments.
const meterName = "github.com/affinity-platform/affinity/services/loyalty"

// New returns an App on pool.
func New(pool *pgxpool.Pool, cfg Config, opts ...Option) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("loyalty program configuration: %w", err)
	}
	a := &App{pool: pool, cfg: cfg, clock: time.Now, settingsRefresh: DefaultSettingsRefresh}
	for _, o := range opts {
		o(a)
	}
	m := otel.Meter(meterName)
	if a.meter != nil {
		m = a.meter.Meter(meterName)
	}
	var err error
	a.expiryRuns, err = m.Int64Counter("loyalty.expiry.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Runs of the points-expiry job (expiry, lapsed holds, expiry warnings, tier reviews) by outcome."))
	if err != nil {
		return nil, fmt.Errorf("expiry runs counter: %w", err)
	}
	return a, nil
}

// Config returns the program configuration.
func (a *App) Config() Config { return a.cfg }

// Now is the app's clock, in UTC.
func (a *App) Now() time.Time { return a.clock().UTC() }

// Pool is the database pool, for the consumers and reports.
func (a *App) Pool() *pgxpool.Pool { return a.pool }

// Unit is one transaction's worth of work: the commands run on it.
type Unit struct {
	a   *App
	tx  pgx.Tx
	st  *store.Store
	now time.Time
	// rules and ladder are loaded once per transaction; a consumer batch
	// of many orders shares them.
	rules    []ruleRow
	rulesSet bool
	ladder   *ladderConfig
	// set is the program settings this transaction uses.
	set SettingsRecord
	// challenges are the active challenges, loaded once per transaction.
	challenges    []challenge.Challenge
	challengesSet bool
}

func newID() string {
	id, err := events.NewID()
	if err != nil {
		// crypto/rand failing means the platform is unusable; fall back to a
		// random id rather than panic.
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return fmt.Sprintf("%x", b)
	}
	return id
}

func (a *App) unit(tx pgx.Tx) *Unit {
	// PostgreSQL keeps microseconds; truncating here makes times read back
	// equal to the ones written.
	return &Unit{a: a, tx: tx, st: store.New(tx), now: a.Now().Truncate(time.Microsecond)}
}

// InTx runs fn in one transaction (retried on serialization failures and
// deadlocks, so fn must have no effects outside it).
func (a *App) InTx(ctx context.Context, fn func(*Unit) error) error {
	return postgres.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		p := &pipeTx{Tx: tx}
		u := a.unit(p)
		if err := u.loadSettings(ctx, false); err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		return p.flush(ctx)
	})
}

// InTxWith runs fn on an existing transaction (a consumer's batch). It
// reads the program settings first, so every batch earns by the settings
// current when it started, on every replica.
func (a *App) InTxWith(ctx context.Context, tx pgx.Tx, fn func(*Unit) error) error {
	u := a.unit(tx)
	if err := u.loadSettings(ctx, true); err != nil {
		return err
	}
	return fn(u)
}

// Key is a mutating request's idempotency key.
type Key struct {
	// Scope separates key spaces: the RPC and the acting subject.
	Scope string
	// Key is the client's retry key.
	Key string
	// Request is hashed so a reused key with another body is refused.
	Request proto.Message
}

// Do runs fn once per idempotency key, in one transaction with the key's
// claim: a retry with the same key and request returns the stored response
// without running fn, the same key with another request fails with
// idempotency.ErrKeyReused.
func Do[T proto.Message](ctx context.Context, a *App, k Key, fn func(context.Context, *Unit) (T, error)) (T, error) {
	var out T
	err := a.InTx(ctx, func(u *Unit) error {
		resp, _, err := idempotency.Do(ctx, u.tx, k.Scope, k.Key, k.Request, func() (T, error) {
			r, err := fn(ctx, u)
			// Storing the response is the last write and nobody reads
			// its result: it goes out with the unit's other held-back
			// writes, right before the commit.
			u.deferWrites()
			return r, err
		})
		if err != nil {
			return err
		}
		out = resp
		return nil
	})
	return out, err
}

// Now is the transaction's time.
func (u *Unit) Now() time.Time { return u.now }

// Balance is what a member sees of their points.
type Balance struct {
	Available, Pending, Held, Debt int64
	AvailableValue                 money.Money
}

// balance is the member's balance after the account's operations. Held
// points come from the locked member row plus the holds the operations
// placed (+) or closed (-), which saves a query per operation.
func (u *Unit) balance(acct *ledger.Account, m store.Member) (Balance, error) {
	held := m.Held
	for _, h := range acct.Changes().Holds {
		if h.Status == ledger.HoldActive {
			held += h.Points
		} else {
			held -= h.Points
		}
	}
	return u.a.balanceOf(acct.Balances(u.now), held)
}

func (a *App) balanceOf(b ledger.Balances, held int64) (Balance, error) {
	v, err := a.conversion().ValueOf(max(b.Available, 0))
	if err != nil {
		return Balance{}, err
	}
	return Balance{Available: b.Available, Pending: b.Pending, Held: held, Debt: b.Debt, AvailableValue: v}, nil
}
