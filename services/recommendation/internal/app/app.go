// Package app holds the recommendation service's commands and queries. It
// owns the in-memory models (catalog index, co-occurrence, trending) that
// every request reads, and keeps them equal to the database: writes (order,
// product and interaction events, the catalog API, feedback) commit to
// PostgreSQL first, and a tailer folds the committed catalog changes and
// baskets into memory in commit order. Every replica tails the same tables,
// so all replicas converge on the same models, and a restart rebuilds them by
// replaying what is stored.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/affinity-platform/affinity/pkg/postgres"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/experiment"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// Config is the service's own settings, read from the environment.
type Config struct {
	// CartThresholdMinor and CartThresholdCurrency are the free-delivery
	// threshold cart top-up aims for; 0 switches cart top-up off.
	CartThresholdMinor    int64  `env:"RECO_CART_THRESHOLD_MINOR" envDefault:"0"`
	CartThresholdCurrency string `env:"RECO_CART_THRESHOLD_CURRENCY" envDefault:"EUR"`
	// MaxPerCategory is the default diversity cap per leaf category (0 = none).
	MaxPerCategory int `env:"RECO_MAX_PER_CATEGORY" envDefault:"0"`
	// UpsellMinRatio and UpsellMaxRatio are the upsell price band.
	UpsellMinRatio float64 `env:"RECO_UPSELL_MIN_RATIO" envDefault:"1.1"`
	UpsellMaxRatio float64 `env:"RECO_UPSELL_MAX_RATIO" envDefault:"2"`
	// MarginBoost multiplies scores by 1 + MarginBoost × margin/price.
	MarginBoost float64 `env:"RECO_MARGIN_BOOST" envDefault:"0.2"`
	// TrendingPrior and AnchorDiversity tune cross-sell and personalized
	// ranking (see recommend.Config).
	TrendingPrior   float64 `env:"RECO_TRENDING_PRIOR" envDefault:"4"`
	AnchorDiversity float64 `env:"RECO_ANCHOR_DIVERSITY" envDefault:"0.7"`
	// CrossSellLatentWeight, CrossSellHistoryWeight and
	// CrossSellHistoryItems tune cross-sell's blend with the latent model
	// and the customer's purchases as a second source (see
	// recommend.CrossSellConfig).
	CrossSellLatentWeight  float64 `env:"RECO_CROSS_SELL_LATENT_WEIGHT" envDefault:"6"`
	CrossSellHistoryWeight float64 `env:"RECO_CROSS_SELL_HISTORY_WEIGHT" envDefault:"0.2"`
	CrossSellHistoryItems  int     `env:"RECO_CROSS_SELL_HISTORY_ITEMS" envDefault:"50"`
	// BoostsJSON and ExperimentsJSON are the marketers' boosts and A/B
	// experiments (JSON lists of recommend.Boost and experiment.Experiment).
	BoostsJSON      string `env:"RECO_BOOSTS" envDefault:"[]"`
	ExperimentsJSON string `env:"RECO_EXPERIMENTS" envDefault:"[]"`
	// RecentEvents is how many of a customer's newest interactions a
	// request reads.
	RecentEvents int `env:"RECO_RECENT_EVENTS" envDefault:"200"`
	// PollInterval is how often committed changes are folded into memory:
	// the delay between an order event's commit and the answers it changes.
	PollInterval time.Duration `env:"RECO_POLL_INTERVAL" envDefault:"100ms"`
	// RefreshInterval re-ranks every neighbour list, folding in popularity
	// drift that incremental updates do not touch.
	RefreshInterval time.Duration `env:"RECO_REFRESH_INTERVAL" envDefault:"5m"`
	// TrendingHalfLife is how fast popularity fades.
	TrendingHalfLife time.Duration `env:"RECO_TRENDING_HALF_LIFE" envDefault:"72h"`
	// SnapshotInterval is how often the co-occurrence model is snapshotted
	// to the database, so a start folds only the orders after the snapshot
	// (0 switches snapshots off: a start replays every order).
	SnapshotInterval time.Duration `env:"RECO_SNAPSHOT_INTERVAL" envDefault:"10m"`
	// ReplenishInterval is how often the buy-again reminders are scanned
	// (0 switches the scan off).
	ReplenishInterval time.Duration `env:"RECO_REPLENISH_INTERVAL" envDefault:"1h"`
	// LatentInterval is how often the latent-factor model is retrained
	// from the customer states (0 switches the model off: personalized
	// and cross-sell rank by co-occurrence alone).
	LatentInterval time.Duration `env:"RECO_LATENT_INTERVAL" envDefault:"1h"`
	// AnswerCacheTTL and AnswerCacheSize bound the cache of first pages
	// answered to visitors without state of their own (see
	// recommend.Config; a TTL of 0 switches it off).
	AnswerCacheTTL  time.Duration `env:"RECO_ANSWER_CACHE_TTL" envDefault:"5s"`
	AnswerCacheSize int           `env:"RECO_ANSWER_CACHE_SIZE" envDefault:"20000"`
}

// Validate reports unusable settings, naming the variable.
func (c Config) Validate() error {
	var errs []error
	if c.RecentEvents < 1 || c.RecentEvents > 10000 {
		errs = append(errs, fmt.Errorf("RECO_RECENT_EVENTS must be within 1..10000, got %d", c.RecentEvents))
	}
	if c.PollInterval < time.Millisecond {
		errs = append(errs, fmt.Errorf("RECO_POLL_INTERVAL must be at least 1ms, got %s", c.PollInterval))
	}
	if c.RefreshInterval < time.Second {
		errs = append(errs, fmt.Errorf("RECO_REFRESH_INTERVAL must be at least 1s, got %s", c.RefreshInterval))
	}
	if c.TrendingHalfLife <= 0 {
		errs = append(errs, fmt.Errorf("RECO_TRENDING_HALF_LIFE must be positive, got %s", c.TrendingHalfLife))
	}
	if _, err := c.engineConfig(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.experiments(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) engineConfig() (recommend.Config, error) {
	ec := recommend.DefaultConfig()
	ec.MaxPerCategory = c.MaxPerCategory
	ec.UpsellMinRatio, ec.UpsellMaxRatio = c.UpsellMinRatio, c.UpsellMaxRatio
	ec.MarginBoost = c.MarginBoost
	ec.TrendingPrior, ec.AnchorDiversity = c.TrendingPrior, c.AnchorDiversity
	ec.CrossSell.LatentWeight, ec.CrossSell.HistoryWeight, ec.CrossSell.HistoryItems = c.CrossSellLatentWeight, c.CrossSellHistoryWeight, c.CrossSellHistoryItems
	ec.AnswerCacheTTL, ec.AnswerCacheSize = c.AnswerCacheTTL, c.AnswerCacheSize
	if c.CartThresholdMinor > 0 {
		ec.CartThreshold = catalog.Money{Minor: c.CartThresholdMinor, Currency: c.CartThresholdCurrency}
	}
	if err := json.Unmarshal([]byte(c.BoostsJSON), &ec.Boosts); err != nil {
		return ec, fmt.Errorf("RECO_BOOSTS is not a JSON list of boosts: %w", err)
	}
	if err := ec.Validate(); err != nil {
		return ec, fmt.Errorf("recommendation settings (RECO_*): %w", err)
	}
	return ec, nil
}

func (c Config) experiments() ([]experiment.Experiment, error) {
	var xs []experiment.Experiment
	if err := json.Unmarshal([]byte(c.ExperimentsJSON), &xs); err != nil {
		return nil, fmt.Errorf("RECO_EXPERIMENTS is not a JSON list of experiments: %w", err)
	}
	for i, x := range xs {
		if err := x.Validate(); err != nil {
			return nil, fmt.Errorf("RECO_EXPERIMENTS[%d]: %w", i, err)
		}
		for j, v := range x.Variants {
			if v.Strategy != "" {
				if _, err := recommend.ParseStrategy(v.Strategy); err != nil {
					return nil, fmt.Errorf("RECO_EXPERIMENTS[%d].variants[%d]: %w", i, j, err)
				}
			}
		}
	}
	return xs, nil
}

// DefaultConfig is the configuration with every default, for tests and tools.
func DefaultConfig() Config {
	return Config{
		CartThresholdCurrency: "EUR", UpsellMinRatio: 1.1, UpsellMaxRatio: 2, MarginBoost: 0.2, TrendingPrior: 4, AnchorDiversity: 0.7,
		CrossSellLatentWeight: 6, CrossSellHistoryWeight: 0.2, CrossSellHistoryItems: 50,
		BoostsJSON: "[]", ExperimentsJSON: "[]", RecentEvents: 200, PollInterval: 100 * time.Millisecond,
		RefreshInterval: 5 * time.Minute, TrendingHalfLife: 72 * time.Hour, ReplenishInterval: time.Hour,
		SnapshotInterval: 10 * time.Minute, LatentInterval: time.Hour,
		AnswerCacheTTL: 5 * time.Second, AnswerCacheSize: 20_000,
	}
}

// App is the recommendation service's application layer.
type App struct {
	pool      *pgxpool.Pool
	cfg       Config
	log       *slog.Logger
	engine    *recommend.Engine
	catalog   *catalog.Index
	bought    *cooccur.Model
	board     *trending.Board
	customers *customerStates
	// latent is the latent-factor model, retrained by RunLatent.
	latent *latent.Holder
	// baseConfig is the engine configuration from the environment, to
	// which the marketer's stored rules are added (ReloadMerchandising).
	baseConfig recommend.Config
	// envExperiments are RECO_EXPERIMENTS, served beside stored ones.
	envExperiments []experiment.Experiment
	// merch is the marketer's configuration serving reads; merchMu
	// serializes reloads, which own the fields after it.
	merch        atomic.Pointer[merchState]
	merchMu      sync.Mutex
	merchVersion int64
	merchNext    time.Time
	merchRules   []recommend.Rule
	// Now is the clock; tests may replace it before serving.
	Now func() time.Time

	// mu serializes catch-up, which advances the watermarks, and
	// snapshots, which must see a model and watermark that agree.
	mu                    sync.Mutex
	productSeq, basketSeq int64
	// customerSeq is the newest customer change reloaded into customers.
	customerSeq int64
	// snapshotSeq is the watermark of the snapshot the model was restored
	// from: baskets up to it are already counted and only feed trending.
	snapshotSeq int64
}

// boughtSnapshot names the co-occurrence model's snapshot.
const boughtSnapshot = "bought"

// New builds the models from the database (replaying every stored catalog
// change and basket) and returns an App ready to serve.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ec, _ := cfg.engineConfig()
	xs, _ := cfg.experiments()
	bought, snapSeq, err := restoreBought(ctx, pool, log)
	if err != nil {
		return nil, err
	}
	// A fixed epoch keeps trending scores reproducible across restarts.
	board, err := trending.New(trending.Config{HalfLife: cfg.TrendingHalfLife, TopK: 500}, time.Unix(0, 0).UTC())
	if err != nil {
		return nil, fmt.Errorf("trending board: %w", err)
	}
	idx := catalog.NewIndex()
	lat := &latent.Holder{}
	engine, err := recommend.NewEngine(ec, recommend.Models{Catalog: idx, Bought: bought, Trending: board, Latent: lat})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	a := &App{pool: pool, cfg: cfg, log: log, engine: engine, catalog: idx, bought: bought, board: board, baseConfig: ec, envExperiments: xs, Now: time.Now,
		customers: newCustomerStates(), snapshotSeq: snapSeq, latent: lat}
	if err := a.ReloadMerchandising(ctx, true); err != nil {
		return nil, err
	}
	if cfg.LatentInterval > 0 {
		if err := a.restoreLatent(ctx); err != nil {
			return nil, err
		}
		if err := a.restoreCoView(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	// The watermark is read before the states: a change committed while
	// they load is reloaded once more by the first catch-up, never missed.
	s := store.New(pool)
	if a.customerSeq, err = s.CustomerChangeWatermark(ctx); err != nil {
		return nil, err
	}
	if err := a.customers.loadAll(ctx, s, cfg.RecentEvents); err != nil {
		return nil, err
	}
	if err := a.CatchUp(ctx); err != nil {
		return nil, err
	}
	st := bought.Stats()
	log.Info("models loaded", "products", idx.Len(), "customers", a.customers.len(), "baskets", st.Baskets, "items", st.Items, "pairs", st.Pairs, "took", time.Since(start).String())
	return a, nil
}

// Tx runs fn in a transaction (retried on serialization failures).
func (a *App) Tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return postgres.InTx(ctx, a.pool, fn)
}

const catchUpBatch = 5000

// CatchUp folds every committed catalog change, basket and customer change
// not yet in memory, catalog first so that baskets find their products'
// categories.
func (a *App) CatchUp(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := store.New(a.pool)
	for {
		ps, seq, err := s.ProductsAfter(ctx, a.productSeq, catchUpBatch)
		if err != nil {
			return err
		}
		for _, p := range ps {
			a.catalog.Upsert(p)
		}
		a.productSeq = seq
		if len(ps) < catchUpBatch {
			break
		}
	}
	// Customers before baskets: a basket counts on the trending boards of
	// the segments its buyer is in when it is folded.
	for {
		cs, err := s.CustomerChangesAfter(ctx, a.customerSeq, catchUpBatch)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			break
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.CustomerID
		}
		if err := a.customers.reload(ctx, s, ids, a.cfg.RecentEvents); err != nil {
			return err
		}
		a.customerSeq = cs[len(cs)-1].Seq
		if len(cs) < catchUpBatch {
			break
		}
	}
	for {
		bs, err := s.BasketsAfter(ctx, a.basketSeq, catchUpBatch)
		if err != nil {
			return err
		}
		for _, b := range bs {
			a.fold(b)
			a.basketSeq = b.Seq
		}
		if len(bs) < catchUpBatch {
			return nil
		}
	}
}

// fold adds one basket to the co-occurrence model and the trending boards
// (the whole shop, every category level of each product, and each segment
// the buyer belongs to when the basket is folded).
func (a *App) fold(b store.Basket) {
	if b.Seq > a.snapshotSeq {
		a.bought.Observe(b.Items, b.History, b.Weight)
	}
	var segments []string
	if b.CustomerID != "" {
		if c, ok := a.customers.get(b.CustomerID); ok {
			segments = c.Segments
		}
	}
	for _, id := range b.Items {
		a.board.Add(trending.GlobalKey, id, b.Weight, b.At)
		if p, ok := a.catalog.Get(id); ok {
			for _, k := range trending.CategoryKeys(p.CategoryPath) {
				a.board.Add(k, id, b.Weight, b.At)
			}
		}
		for _, sg := range segments {
			a.board.Add(trending.SegmentKey(sg), id, b.Weight, b.At)
		}
	}
}

// Run keeps the models current until ctx ends: it folds committed changes
// every PollInterval and re-ranks all neighbours every RefreshInterval.
func (a *App) Run(ctx context.Context) error {
	unregister, err := a.registerMetrics()
	if err != nil {
		return err
	}
	defer unregister()
	poll := time.NewTicker(a.cfg.PollInterval)
	defer poll.Stop()
	refresh := time.NewTicker(a.cfg.RefreshInterval)
	defer refresh.Stop()
	// The neighbour lists are ranked in the background after the start's
	// catch-up and re-ranked after each refresh, so requests find them
	// ranked instead of ranking them on first use.
	rank, ranked := a.startRanker(ctx)
	defer func() { <-ranked }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if err := a.CatchUp(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("fold committed changes", "err", err)
			}
			if err := a.ReloadMerchandising(ctx, false); err != nil && ctx.Err() == nil {
				a.log.Warn("reload merchandising rules and experiments", "err", err)
			}
		case <-refresh.C:
			a.bought.Refresh()
			select {
			case rank <- struct{}{}:
			default: // a ranking is already due
			}
		}
	}
}

// registerMetrics publishes the answer cache's lookups (by result, hit or
// miss) and size on the process's meter (Prometheus on the admin port).
func (a *App) registerMetrics() (unregister func(), err error) {
	m := otel.Meter("github.com/affinity-platform/affinity/services/recommendation/internal/app")
	lookups, err := m.Int64ObservableCounter("recommendation.answer_cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Lookups of first pages for visitors without state, by result (hit or miss)."))
	if err != nil {
		return nil, fmt.Errorf("answer cache lookups counter: %w", err)
	}
	entries, err := m.Int64ObservableGauge("recommendation.answer_cache.entries", metric.WithUnit("{answer}"),
		metric.WithDescription("Answers held by the answer cache."))
	if err != nil {
		return nil, fmt.Errorf("answer cache entries gauge: %w", err)
	}
	hit, miss := metric.WithAttributes(attribute.String("result", "hit")), metric.WithAttributes(attribute.String("result", "miss"))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := a.engine.AnswerCacheStats()
		o.ObserveInt64(lookups, int64(st.Hits), hit)
		o.ObserveInt64(lookups, int64(st.Misses), miss)
		o.ObserveInt64(entries, int64(st.Entries))
		return nil
	}, lookups, entries)
	if err != nil {
		return nil, fmt.Errorf("register answer cache metrics: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}

// Catalog returns the in-memory catalog index.
func (a *App) Catalog() *catalog.Index { return a.catalog }

// ModelStats summarises the co-occurrence model.
func (a *App) ModelStats() cooccur.Stats { return a.bought.Stats() }

// restoreBought returns the co-occurrence model from the newest snapshot and
// its watermark, or an empty model and 0 when there is none or it cannot be
// read (then every basket is replayed, which gives the same model).
func restoreBought(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*cooccur.Model, int64, error) {
	cfg := cooccur.DefaultConfig()
	meta, data, ok, err := store.New(pool).LoadSnapshot(ctx, boughtSnapshot)
	if err != nil {
		return nil, 0, err
	}
	if ok {
		m, err := cooccur.Restore(bytes.NewReader(data), cfg)
		if err == nil {
			log.Info("co-occurrence snapshot restored", "watermark", meta.Watermark, "taken_at", meta.TakenAt, "bytes", len(data))
			return m, meta.Watermark, nil
		}
		log.Warn("co-occurrence snapshot unusable; replaying every order", "err", err)
	}
	m, err := cooccur.New(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("co-occurrence model: %w", err)
	}
	return m, 0, nil
}

// Snapshot stores the co-occurrence model with the last basket folded into
// it. Folding waits while the model is written out; serving does not.
func (a *App) Snapshot(ctx context.Context) error {
	var buf bytes.Buffer
	a.mu.Lock()
	meta := cooccur.SnapshotMeta{Name: boughtSnapshot, TakenAt: a.Now(), Watermark: a.basketSeq}
	err := a.bought.Snapshot(&buf)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if meta.Watermark == 0 {
		return nil // nothing folded yet
	}
	return store.New(a.pool).SaveSnapshot(ctx, meta, buf.Bytes())
}

// RunSnapshots snapshots the model every SnapshotInterval until ctx ends.
func (a *App) RunSnapshots(ctx context.Context) error {
	if a.cfg.SnapshotInterval <= 0 {
		return nil
	}
	t := time.NewTicker(a.cfg.SnapshotInterval)
	defer t.Stop()
	last := int64(-1)
	snap := func(ctx context.Context) {
		a.mu.Lock()
		seq := a.basketSeq
		a.mu.Unlock()
		if seq == last {
			return // nothing new since the last snapshot
		}
		start := time.Now()
		if err := a.Snapshot(ctx); err != nil {
			a.log.Warn("co-occurrence snapshot", "err", err)
			return
		}
		last = seq
		a.log.Debug("co-occurrence snapshot saved", "watermark", seq, "took", time.Since(start).String())
	}
	for {
		select {
		case <-ctx.Done():
			// A last snapshot on shutdown makes the next start (a rolling
			// update) fold almost nothing. The database is still open:
			// the platform closes it after the workers return.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			snap(final)
			cancel()
			return nil
		case <-t.C:
			snap(ctx)
		}
	}
}
