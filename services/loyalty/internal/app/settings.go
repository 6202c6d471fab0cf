package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// Settings are the program settings a marketer edits at runtime (the
// console's "edit the base earning rate"). The environment (LOYALTY_*)
// seeds them once; after that the database row is the truth.
type Settings struct {
	BaseRate           earning.Rate     `json:"base_rate"`
	ExcludedSKUs       []string         `json:"excluded_skus"`
	ExcludedCategories []string         `json:"excluded_categories"`
	MinOrderValue      int64            `json:"min_order_value"`
	ReturnWindow       time.Duration    `json:"return_window"`
	Conversion         money.Conversion `json:"conversion"`
}

// SettingsRecord is the stored settings with their version.
type SettingsRecord struct {
	Settings
	// Version moves with every change; replicas compare it to their copy.
	Version   int64
	UpdatedAt time.Time
	UpdatedBy string
}

// MaxExclusions bounds each exclusion list, so one settings row stays small
// and every earn's exclusion check stays cheap.
const MaxExclusions = 1000

// Validate checks the settings against the program currency; violations
// name the API fields.
func (s Settings) Validate(currency string) error {
	var v validation.Collector
	v.Nest("base_rate", s.BaseRate.Validate())
	v.Check(s.BaseRate.Per.Currency == currency, "base_rate.per.currency", "must be the program currency %s, got %q", currency, s.BaseRate.Per.Currency)
	v.Check(len(s.ExcludedSKUs) <= MaxExclusions, "excluded_skus", "must hold at most %d SKUs, got %d", MaxExclusions, len(s.ExcludedSKUs))
	for i, sku := range s.ExcludedSKUs {
		if sku == "" || len(sku) > 128 {
			v.Add(fmt.Sprintf("excluded_skus[%d]", i), "must be 1 to 128 characters")
			break
		}
	}
	v.Check(len(s.ExcludedCategories) <= MaxExclusions, "excluded_categories", "must hold at most %d categories, got %d", MaxExclusions, len(s.ExcludedCategories))
	for i, c := range s.ExcludedCategories {
		if c == "" || len(c) > 256 {
			v.Add(fmt.Sprintf("excluded_categories[%d]", i), "must be 1 to 256 characters")
			break
		}
	}
	v.Check(s.MinOrderValue >= 0, "min_order_value.amount_minor", "must not be negative, got %d", s.MinOrderValue)
	v.Check(s.ReturnWindow >= 0 && s.ReturnWindow <= 366*24*time.Hour, "return_window", "must be within 0 and 366 days, got %s", s.ReturnWindow)
	v.Nest("redemption_rate", s.Conversion.Validate())
	v.Check(s.Conversion.Value.Currency == currency, "redemption_rate.value.currency", "must be the program currency %s, got %q", currency, s.Conversion.Value.Currency)
	return v.Err()
}

// seedSettings are the settings the environment configured.
func (c Config) seedSettings() Settings {
	return Settings{BaseRate: c.Program.BaseRate, ExcludedSKUs: slices.Clone(c.Program.ExcludedSKUs),
		ExcludedCategories: slices.Clone(c.Program.ExcludedCategories), MinOrderValue: c.Program.MinOrderValue,
		ReturnWindow: c.Program.ReturnWindow, Conversion: c.Conversion}
}

// settingsCache is one replica's copy of the settings. Commands read the
// row again when the copy is older than the refresh interval (so a change
// on another replica applies within it without a query per request);
// consumer batches always read it, since one read per batch of orders is
// free in comparison.
type settingsCache struct {
	mu      sync.Mutex
	rec     SettingsRecord
	loaded  bool
	fetched time.Time
}

// DefaultSettingsRefresh is how stale a replica's copy of the program
// settings may be for a request before it reads them again.
const DefaultSettingsRefresh = time.Second

// WithSettingsRefresh sets how long a replica uses its copy of the program
// settings before reading them again (0 reads them in every transaction).
func WithSettingsRefresh(d time.Duration) Option { return func(a *App) { a.settingsRefresh = d } }

func (a *App) cachedSettings() (SettingsRecord, bool) {
	a.settings.mu.Lock()
	defer a.settings.mu.Unlock()
	return a.settings.rec, a.settings.loaded
}

// loadSettings makes the unit use the current settings: the cached copy
// when it is fresh (and force is false), else the stored row, seeded from
// the environment when there is none yet.
func (u *Unit) loadSettings(ctx context.Context, force bool) error {
	a := u.a
	a.settings.mu.Lock()
	rec, fresh := a.settings.rec, a.settings.loaded && time.Since(a.settings.fetched) < a.settingsRefresh
	a.settings.mu.Unlock()
	if fresh && !force {
		u.set = rec
		return nil
	}
	rec, err := readSettings(ctx, sqlc.New(u.tx), a.cfg, u.now)
	if err != nil {
		return err
	}
	a.remember(rec)
	u.set = rec
	return nil
}

func (a *App) remember(rec SettingsRecord) {
	a.settings.mu.Lock()
	defer a.settings.mu.Unlock()
	if !a.settings.loaded || rec.Version >= a.settings.rec.Version {
		a.settings.rec = rec
	}
	a.settings.loaded, a.settings.fetched = true, time.Now()
}

func readSettings(ctx context.Context, q *sqlc.Queries, cfg Config, now time.Time) (SettingsRecord, error) {
	row, err := q.GetProgramSettings(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		b, err := json.Marshal(cfg.seedSettings())
		if err != nil {
			return SettingsRecord{}, fmt.Errorf("encode program settings: %w", err)
		}
		if err := q.SeedProgramSettings(ctx, sqlc.SeedProgramSettingsParams{Spec: b, UpdatedAt: now}); err != nil {
			return SettingsRecord{}, fmt.Errorf("seed program settings: %w", err)
		}
		row, err = q.GetProgramSettings(ctx)
		if err != nil {
			return SettingsRecord{}, fmt.Errorf("program settings: %w", err)
		}
	} else if err != nil {
		return SettingsRecord{}, fmt.Errorf("program settings: %w", err)
	}
	s, err := decode[Settings](row.Spec, "program settings")
	if err != nil {
		return SettingsRecord{}, err
	}
	return SettingsRecord{Settings: s, Version: row.Version, UpdatedAt: row.UpdatedAt.UTC(), UpdatedBy: row.UpdatedBy}, nil
}

// refreshSettings brings the replica's copy up to date for a read outside
// a command (member views, reports), at most once per refresh interval.
func (a *App) refreshSettings(ctx context.Context) error {
	a.settings.mu.Lock()
	fresh := a.settings.loaded && time.Since(a.settings.fetched) < a.settingsRefresh
	a.settings.mu.Unlock()
	if fresh {
		return nil
	}
	return a.InTx(ctx, func(*Unit) error { return nil })
}

// program is the earning program with the unit's settings applied.
func (u *Unit) program() earning.Program {
	p := u.a.cfg.Program
	s := u.set.Settings
	p.BaseRate, p.ExcludedSKUs, p.ExcludedCategories = s.BaseRate, s.ExcludedSKUs, s.ExcludedCategories
	p.MinOrderValue, p.ReturnWindow = s.MinOrderValue, s.ReturnWindow
	return p
}

// conversion is what points are worth, by the replica's current settings.
func (a *App) conversion() money.Conversion {
	if rec, ok := a.cachedSettings(); ok {
		return rec.Conversion
	}
	return a.cfg.Conversion
}

// Program returns the current program settings.
func (u *Unit) Program() SettingsRecord { return u.set }

// UpdateProgram replaces the settings by the result of fn on the current
// ones, under the row's lock, and bumps their version; actor is the
// marketer's subject.
func (u *Unit) UpdateProgram(ctx context.Context, actor string, fn func(*Settings) error) (SettingsRecord, error) {
	if _, err := readSettings(ctx, u.st.Q, u.a.cfg, u.now); err != nil { // seeds the row if needed
		return SettingsRecord{}, err
	}
	row, err := u.st.Q.LockProgramSettings(ctx)
	if err != nil {
		return SettingsRecord{}, fmt.Errorf("lock program settings: %w", err)
	}
	s, err := decode[Settings](row.Spec, "program settings")
	if err != nil {
		return SettingsRecord{}, err
	}
	if err := fn(&s); err != nil {
		return SettingsRecord{}, err
	}
	if err := s.Validate(u.a.cfg.Program.Currency); err != nil {
		return SettingsRecord{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return SettingsRecord{}, fmt.Errorf("encode program settings: %w", err)
	}
	if err := u.st.Q.UpdateProgramSettings(ctx, sqlc.UpdateProgramSettingsParams{Spec: b, UpdatedAt: u.now, UpdatedBy: actor}); err != nil {
		return SettingsRecord{}, fmt.Errorf("update program settings: %w", err)
	}
	rec := SettingsRecord{Settings: s, Version: row.Version + 1, UpdatedAt: u.now, UpdatedBy: actor}
	u.set = rec
	// This replica forgets its copy, so its next request reads the new
	// row (after this transaction commits) instead of waiting for the
	// refresh interval.
	u.a.settings.mu.Lock()
	u.a.settings.fetched = time.Time{}
	u.a.settings.mu.Unlock()
	return rec, nil
}

// Program reads the current program settings (seeding them on first use).
func (a *App) Program(ctx context.Context) (SettingsRecord, error) {
	var rec SettingsRecord
	err := a.InTx(ctx, func(u *Unit) error {
		if err := u.loadSettings(ctx, true); err != nil {
			return err
		}
		rec = u.set
		return nil
	})
	return rec, err
}
