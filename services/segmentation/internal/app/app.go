// Package app holds the segmentation service's commands and queries: it
// applies commerce, loyalty and referral events to customer profiles,
// keeps segment membership current (announcing every change through the
// outbox in the same transaction), and runs the scheduled passes (time-based
// re-evaluation, RFM scoring, CLV fitting, abandoned carts).
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/outbox"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// Source is the envelope source of every event the service publishes.
const Source = "segmentation"

// Config is the service's own configuration, read from the environment.
type Config struct {
	// Currency is the reporting currency of monetary traits (ISO 4217).
	Currency string `env:"SEGMENTATION_CURRENCY" envDefault:"EUR"`
	// AbandonCartAfter is how long a cart stays untouched and unbought
	// before it counts as abandoned.
	AbandonCartAfter time.Duration `env:"ABANDON_CART_AFTER" envDefault:"1h"`
	// RecomputeEvery is the period of the scheduled re-evaluation of
	// time-dependent segments (and of segments not yet fully evaluated).
	RecomputeEvery time.Duration `env:"RECOMPUTE_EVERY" envDefault:"1h"`
	// ScoreEvery is the period of RFM scoring and CLV fitting.
	ScoreEvery time.Duration `env:"SCORE_EVERY" envDefault:"24h"`
	// CartCheckEvery is how often open carts are checked for abandonment.
	CartCheckEvery time.Duration `env:"CART_CHECK_EVERY" envDefault:"1m"`
	// RecomputeBatch is how many profiles one recompute transaction covers.
	RecomputeBatch int `env:"RECOMPUTE_BATCH" envDefault:"2000"`
}

// Validate reports settings the service cannot start with.
func (c Config) Validate() error {
	var errs []error
	if err := c.traits().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("SEGMENTATION_CURRENCY/ABANDON_CART_AFTER: %w", err))
	}
	if c.RecomputeEvery < time.Second || c.ScoreEvery < time.Second || c.CartCheckEvery < time.Second {
		errs = append(errs, errors.New("RECOMPUTE_EVERY, SCORE_EVERY and CART_CHECK_EVERY must be at least 1s"))
	}
	if c.RecomputeBatch < 1 || c.RecomputeBatch > 100_000 {
		errs = append(errs, fmt.Errorf("RECOMPUTE_BATCH must be within 1..100000, got %d", c.RecomputeBatch))
	}
	return errors.Join(errs...)
}

func (c Config) traits() profile.Config {
	t := profile.DefaultConfig(c.Currency)
	t.AbandonCartAfter = c.AbandonCartAfter
	return t
}

// DefaultConfig is the configuration with every default applied.
func DefaultConfig() Config {
	return Config{Currency: "EUR", AbandonCartAfter: time.Hour, RecomputeEvery: time.Hour, ScoreEvery: 24 * time.Hour, CartCheckEvery: time.Minute, RecomputeBatch: 2000}
}

// App is the service's application layer.
type App struct {
	pool     *pgxpool.Pool
	cfg      Config
	traits   profile.Config
	compiler *segment.Compiler
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	versions map[string]int64 // segment versions the cached graph was built from
	graph    *segment.Graph
	names    map[string]string
	rules    map[string]cachedRule
	model    *clv.Model
	modelAt  time.Time
	modelGot time.Time

	// cache holds every profile's snapshot for previews (cache.go).
	cache profileCache
}

type cachedRule struct {
	version int64
	rule    *segment.Rule
}

// Option adjusts an App.
type Option func(*App)

// WithClock makes the App read time from now instead of the wall clock, so
// tests can place events and evaluations at chosen times.
func WithClock(now func() time.Time) Option { return func(a *App) { a.now = now } }

// New builds the application layer on a migrated database.
func New(pool *pgxpool.Pool, cfg Config, log *slog.Logger, opts ...Option) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := segment.NewCompiler()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	a := &App{pool: pool, cfg: cfg, traits: cfg.traits(), compiler: c, log: log, now: time.Now, rules: map[string]cachedRule{}}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Compiler returns the rule compiler, for validation in the ports layer.
func (a *App) Compiler() *segment.Compiler { return a.compiler }

// Now returns the App's current time (the injected clock in tests).
func (a *App) Now() time.Time { return a.now().UTC() }

// loadGraph returns the compiled segment graph, rebuilt only when a segment
// was created, changed or deleted since the last call.
func (a *App) loadGraph(ctx context.Context, q *sqlc.Queries) (*segment.Graph, map[string]string, error) {
	vs, err := q.SegmentVersions(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read segment versions: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	same := a.graph != nil && len(vs) == len(a.versions)
	for _, v := range vs {
		if a.versions[v.SegmentID] != v.Version {
			same = false
		}
	}
	if same {
		return a.graph, a.names, nil
	}
	segs, err := q.AllSegments(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read segments: %w", err)
	}
	rules := make(map[string]*segment.Rule, len(segs))
	names := make(map[string]string, len(segs))
	versions := make(map[string]int64, len(segs))
	for _, s := range segs {
		c, ok := a.rules[s.SegmentID]
		if !ok || c.version != s.Version {
			r, err := a.compiler.Compile(s.Rule)
			if err != nil {
				return nil, nil, fmt.Errorf("compile stored segment %s: %w", s.SegmentID, err)
			}
			c = cachedRule{version: s.Version, rule: r}
			a.rules[s.SegmentID] = c
		}
		rules[s.SegmentID] = c.rule
		names[s.SegmentID] = s.Name
		versions[s.SegmentID] = s.Version
	}
	g, err := segment.NewGraph(rules)
	if err != nil {
		return nil, nil, fmt.Errorf("stored segments: %w", err)
	}
	a.graph, a.names, a.versions = g, names, versions
	return g, names, nil
}

// currentModel returns the latest fitted CLV model (nil before the first
// fit), re-read from the database at most once a minute.
func (a *App) currentModel(ctx context.Context, q *sqlc.Queries) (*clv.Model, error) {
	a.mu.Lock()
	if time.Since(a.modelGot) < time.Minute {
		m := a.model
		a.mu.Unlock()
		return m, nil
	}
	a.mu.Unlock()
	row, err := q.LatestModel(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		a.mu.Lock()
		a.modelGot = time.Now()
		a.mu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read clv model: %w", err)
	}
	var m clv.Model
	if err := json.Unmarshal(row.Model, &m); err != nil {
		return nil, fmt.Errorf("decode clv model: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.model, a.modelAt, a.modelGot = &m, row.FittedAt, time.Now()
	return a.model, nil
}

// forgetModel makes the next currentModel read the database.
func (a *App) forgetModel() {
	a.mu.Lock()
	a.modelGot = time.Time{}
	a.mu.Unlock()
}

// rfmScore is the stored population score of a profile.
func rfmScore(r, f, m int32, group string) profile.RFMScore {
	return profile.RFMScore{R: int(r), F: int(f), M: int(m), Group: group}
}

// applyChanges stores membership changes, adjusts segment sizes and adds
// SegmentEntered/SegmentExited to the outbox, all in tx, so each change is
// announced exactly once.
func applyChanges(ctx context.Context, tx pgx.Tx, changes []segment.Change, names map[string]string, deleted bool) error {
	if len(changes) == 0 {
		return nil
	}
	q := sqlc.New(tx)
	var in, out sqlc.EnterSegmentsParams
	delta := map[string]int64{}
	evs := make([]events.Event, 0, len(changes))
	for _, c := range changes {
		at := timestamppb.New(c.At)
		var payload *segev.SegmentationEvent
		if c.Entered {
			in.SegmentIds = append(in.SegmentIds, c.SegmentID)
			in.CustomerIds = append(in.CustomerIds, c.CustomerID)
			in.EnteredAt = append(in.EnteredAt, c.At)
			delta[c.SegmentID]++
			payload = &segev.SegmentationEvent{Event: &segev.SegmentationEvent_SegmentEntered{SegmentEntered: &segev.SegmentEntered{
				SegmentId: c.SegmentID, SegmentName: names[c.SegmentID], CustomerId: c.CustomerID, OccurredAt: at}}}
		} else {
			out.SegmentIds = append(out.SegmentIds, c.SegmentID)
			out.CustomerIds = append(out.CustomerIds, c.CustomerID)
			delta[c.SegmentID]--
			payload = &segev.SegmentationEvent{Event: &segev.SegmentationEvent_SegmentExited{SegmentExited: &segev.SegmentExited{
				SegmentId: c.SegmentID, SegmentName: names[c.SegmentID], CustomerId: c.CustomerID, SegmentDeleted: deleted, OccurredAt: at}}}
		}
		evs = append(evs, events.Event{Topic: topics.SegmentationEvents, Source: Source, Subject: c.CustomerID, Key: c.CustomerID, Time: c.At, Payload: payload})
	}
	if len(in.SegmentIds) > 0 {
		if err := q.EnterSegments(ctx, in); err != nil {
			return fmt.Errorf("store segment entries: %w", err)
		}
	}
	if len(out.SegmentIds) > 0 && !deleted {
		if err := q.ExitSegments(ctx, sqlc.ExitSegmentsParams{SegmentIds: out.SegmentIds, CustomerIds: out.CustomerIds}); err != nil {
			return fmt.Errorf("store segment exits: %w", err)
		}
	}
	if !deleted {
		var d sqlc.AddSegmentSizesParams
		for id, n := range delta {
			d.Ids, d.Deltas = append(d.Ids, id), append(d.Deltas, n)
		}
		if err := q.AddSegmentSizes(ctx, d); err != nil {
			return fmt.Errorf("update segment sizes: %w", err)
		}
	}
	if err := outbox.Add(ctx, tx, evs...); err != nil {
		return fmt.Errorf("announce membership changes: %w", err)
	}
	return nil
}

// membershipsOf returns the stored memberships of the given customers.
func membershipsOf(ctx context.Context, q *sqlc.Queries, ids []string) (map[string]map[string]bool, error) {
	rows, err := q.MembershipsOf(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	out := make(map[string]map[string]bool, len(ids))
	for _, r := range rows {
		m := out[r.CustomerID]
		if m == nil {
			m = map[string]bool{}
			out[r.CustomerID] = m
		}
		m[r.SegmentID] = true
	}
	return out, nil
}
