package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

var statusNames = [...]string{"unspecified", "draft", "active", "paused", "archived"}

// StatusName is how a configuration status (earning.Status, reward.Status,
// which share values) is stored.
func StatusName(s int) string {
	if s >= 0 && s < len(statusNames) {
		return statusNames[s]
	}
	return "unspecified"
}

// Record is a piece of program configuration with its bookkeeping.
type Record[T any] struct {
	Value     T
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RuleRecord is an earning rule with what its budget has awarded.
type RuleRecord struct {
	Record[earning.Rule]
	BudgetUsed int64
}

type ruleRow = RuleRecord

// TierConfig is a tier as configured: the domain tier plus what the program
// measures. All tiers of a program share one measure and window (the ladder
// compares members on one scale); CreateTier refuses a tier that differs.
type TierConfig struct {
	Tier         tier.Tier
	Measure      tier.Measure
	WindowMonths int
	// Currency of spend thresholds.
	Currency string
}

type ladderConfig struct {
	ladder tier.Ladder
	ok     bool
}

// Page asks for one page of a list.
type Page struct {
	Size  int
	After string
}

func decode[T any](b []byte, what string) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", what, err)
	}
	return v, nil
}

// --- rewards

// CreateReward adds a reward to the catalog.
func (u *Unit) CreateReward(ctx context.Context, r reward.Reward) (Record[reward.Reward], error) {
	r.ID = newID()
	if r.CouponValidity == 0 {
		r.CouponValidity = u.a.cfg.CouponValidity
	}
	if err := r.Validate(); err != nil {
		return Record[reward.Reward]{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Record[reward.Reward]{}, fmt.Errorf("encode reward: %w", err)
	}
	if err := u.st.Q.InsertReward(ctx, sqlc.InsertRewardParams{ID: r.ID, Status: StatusName(int(r.Status)), Spec: b, CreatedAt: u.now}); err != nil {
		return Record[reward.Reward]{}, fmt.Errorf("insert reward: %w", err)
	}
	return Record[reward.Reward]{Value: r, CreatedAt: u.now, UpdatedAt: u.now}, nil
}

// UpdateReward replaces a reward by the result of fn on its current value.
func (u *Unit) UpdateReward(ctx context.Context, id string, fn func(*reward.Reward) error) (Record[reward.Reward], error) {
	row, err := u.st.Q.LockReward(ctx, id)
	if err != nil {
		return Record[reward.Reward]{}, notFound(err, "reward "+id)
	}
	r, err := decode[reward.Reward](row.Spec, "reward "+id)
	if err != nil {
		return Record[reward.Reward]{}, err
	}
	if err := fn(&r); err != nil {
		return Record[reward.Reward]{}, err
	}
	r.ID = id
	if err := r.Validate(); err != nil {
		return Record[reward.Reward]{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Record[reward.Reward]{}, fmt.Errorf("encode reward: %w", err)
	}
	if err := u.st.Q.UpdateReward(ctx, sqlc.UpdateRewardParams{ID: id, Status: StatusName(int(r.Status)), Spec: b, UpdatedAt: u.now}); err != nil {
		return Record[reward.Reward]{}, fmt.Errorf("update reward %s: %w", id, err)
	}
	return Record[reward.Reward]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: u.now}, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Reward reads one reward.
func (a *App) Reward(ctx context.Context, id string) (Record[reward.Reward], error) {
	row, err := sqlc.New(a.pool).GetReward(ctx, id)
	if err != nil {
		return Record[reward.Reward]{}, notFound(err, "reward "+id)
	}
	r, err := decode[reward.Reward](row.Spec, "reward "+id)
	return Record[reward.Reward]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}, err
}

// Rewards lists the catalog by id; status 0 lists every status.
func (a *App) Rewards(ctx context.Context, status reward.Status, p Page) ([]Record[reward.Reward], error) {
	st := ""
	if status != 0 {
		st = StatusName(int(status))
	}
	rows, err := sqlc.New(a.pool).ListRewards(ctx, sqlc.ListRewardsParams{After: p.After, Status: st, Lim: int32(p.Size)})
	if err != nil {
		return nil, fmt.Errorf("list rewards: %w", err)
	}
	out := make([]Record[reward.Reward], len(rows))
	for i, row := range rows {
		r, err := decode[reward.Reward](row.Spec, "reward "+row.ID)
		if err != nil {
			return nil, err
		}
		out[i] = Record[reward.Reward]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
	}
	return out, nil
}

// --- earning rules

// CreateRule adds an earning rule.
func (u *Unit) CreateRule(ctx context.Context, r earning.Rule) (RuleRecord, error) {
	r.ID = newID()
	if err := r.Validate(u.a.cfg.Program.Currency); err != nil {
		return RuleRecord{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return RuleRecord{}, fmt.Errorf("encode rule: %w", err)
	}
	if err := u.st.Q.InsertRule(ctx, sqlc.InsertRuleParams{ID: r.ID, Status: StatusName(int(r.Status)), Spec: b, CreatedAt: u.now}); err != nil {
		return RuleRecord{}, fmt.Errorf("insert rule: %w", err)
	}
	return RuleRecord{Record: Record[earning.Rule]{Value: r, CreatedAt: u.now, UpdatedAt: u.now}}, nil
}

// UpdateRule replaces a rule by the result of fn on its current value.
func (u *Unit) UpdateRule(ctx context.Context, id string, fn func(*earning.Rule) error) (RuleRecord, error) {
	row, err := u.st.Q.GetRule(ctx, id)
	if err != nil {
		return RuleRecord{}, notFound(err, "earning rule "+id)
	}
	r, err := decode[earning.Rule](row.Spec, "rule "+id)
	if err != nil {
		return RuleRecord{}, err
	}
	if err := fn(&r); err != nil {
		return RuleRecord{}, err
	}
	r.ID = id
	if err := r.Validate(u.a.cfg.Program.Currency); err != nil {
		return RuleRecord{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return RuleRecord{}, fmt.Errorf("encode rule: %w", err)
	}
	if err := u.st.Q.UpdateRule(ctx, sqlc.UpdateRuleParams{ID: id, Status: StatusName(int(r.Status)), Spec: b, UpdatedAt: u.now}); err != nil {
		return RuleRecord{}, fmt.Errorf("update rule %s: %w", id, err)
	}
	return RuleRecord{Record: Record[earning.Rule]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: u.now}, BudgetUsed: row.BudgetUsed}, nil
}

func ruleFrom(row sqlc.EarningRule) (RuleRecord, error) {
	r, err := decode[earning.Rule](row.Spec, "rule "+row.ID)
	return RuleRecord{Record: Record[earning.Rule]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}, BudgetUsed: row.BudgetUsed}, err
}

// Rule reads one earning rule.
func (a *App) Rule(ctx context.Context, id string) (RuleRecord, error) {
	row, err := sqlc.New(a.pool).GetRule(ctx, id)
	if err != nil {
		return RuleRecord{}, notFound(err, "earning rule "+id)
	}
	return ruleFrom(row)
}

// Rules lists earning rules by id; status 0 lists every status.
func (a *App) Rules(ctx context.Context, status earning.Status, p Page) ([]RuleRecord, error) {
	st := ""
	if status != 0 {
		st = StatusName(int(status))
	}
	rows, err := sqlc.New(a.pool).ListRules(ctx, sqlc.ListRulesParams{After: p.After, Status: st, Lim: int32(p.Size)})
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := make([]RuleRecord, len(rows))
	for i, row := range rows {
		if out[i], err = ruleFrom(row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (u *Unit) activeRules(ctx context.Context) ([]ruleRow, error) {
	if u.rulesSet {
		return u.rules, nil
	}
	rows, err := u.st.Q.ActiveRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("active rules: %w", err)
	}
	u.rules = make([]ruleRow, len(rows))
	for i, row := range rows {
		if u.rules[i], err = ruleFrom(row); err != nil {
			return nil, err
		}
	}
	u.rulesSet = true
	return u.rules, nil
}

// --- tiers

// CreateTier adds a tier; the ladder must stay valid with it.
func (u *Unit) CreateTier(ctx context.Context, t TierConfig) (Record[TierConfig], error) {
	t.Tier.ID = newID()
	if err := u.checkLadder(ctx, t); err != nil {
		return Record[TierConfig]{}, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return Record[TierConfig]{}, fmt.Errorf("encode tier: %w", err)
	}
	if err := u.st.Q.InsertTier(ctx, sqlc.InsertTierParams{ID: t.Tier.ID, Rank: t.Tier.Rank, Spec: b, CreatedAt: u.now}); err != nil {
		return Record[TierConfig]{}, fmt.Errorf("insert tier: %w", err)
	}
	u.ladder = nil
	return Record[TierConfig]{Value: t, CreatedAt: u.now, UpdatedAt: u.now}, nil
}

// UpdateTier replaces a tier by the result of fn on its current value.
func (u *Unit) UpdateTier(ctx context.Context, id string, fn func(*TierConfig) error) (Record[TierConfig], error) {
	row, err := u.st.Q.GetTier(ctx, id)
	if err != nil {
		return Record[TierConfig]{}, notFound(err, "tier "+id)
	}
	t, err := decode[TierConfig](row.Spec, "tier "+id)
	if err != nil {
		return Record[TierConfig]{}, err
	}
	if err := fn(&t); err != nil {
		return Record[TierConfig]{}, err
	}
	t.Tier.ID = id
	if err := u.checkLadder(ctx, t); err != nil {
		return Record[TierConfig]{}, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return Record[TierConfig]{}, fmt.Errorf("encode tier: %w", err)
	}
	if err := u.st.Q.UpdateTier(ctx, sqlc.UpdateTierParams{ID: id, Rank: t.Tier.Rank, Spec: b, UpdatedAt: u.now}); err != nil {
		return Record[TierConfig]{}, fmt.Errorf("update tier %s: %w", id, err)
	}
	u.ladder = nil
	return Record[TierConfig]{Value: t, CreatedAt: row.CreatedAt, UpdatedAt: u.now}, nil
}

// checkLadder validates the ladder the tiers would form with t in it.
func (u *Unit) checkLadder(ctx context.Context, t TierConfig) error {
	all, err := tiers(ctx, u.st.Q)
	if err != nil {
		return err
	}
	var v validation.Collector
	list := []tier.Tier{t.Tier}
	for _, o := range all {
		if o.Value.Tier.ID == t.Tier.ID {
			continue
		}
		v.Check(o.Value.Measure == t.Measure, "tier.measure", "must match the program's other tiers")
		v.Check(o.Value.WindowMonths == t.WindowMonths, "tier.window_months", "must match the program's other tiers (%d)", o.Value.WindowMonths)
		list = append(list, o.Value.Tier)
	}
	if err := v.Err(); err != nil {
		return err
	}
	if _, err := tier.NewLadder(t.Measure, t.WindowMonths, list); err != nil {
		var ve *validation.Error
		if errors.As(err, &ve) {
			// The ladder names tiers by id; the caller sent one tier.
			var c validation.Collector
			c.Nest("tier", err)
			return c.Err()
		}
		return err
	}
	return nil
}

func tiers(ctx context.Context, q *sqlc.Queries) ([]Record[TierConfig], error) {
	rows, err := q.ListTiers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tiers: %w", err)
	}
	out := make([]Record[TierConfig], len(rows))
	for i, row := range rows {
		t, err := decode[TierConfig](row.Spec, "tier "+row.ID)
		if err != nil {
			return nil, err
		}
		out[i] = Record[TierConfig]{Value: t, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
	}
	return out, nil
}

// Tiers lists the tiers by rank.
func (a *App) Tiers(ctx context.Context) ([]Record[TierConfig], error) {
	return tiers(ctx, sqlc.New(a.pool))
}

// Tier reads one tier.
func (a *App) Tier(ctx context.Context, id string) (Record[TierConfig], error) {
	row, err := sqlc.New(a.pool).GetTier(ctx, id)
	if err != nil {
		return Record[TierConfig]{}, notFound(err, "tier "+id)
	}
	t, err := decode[TierConfig](row.Spec, "tier "+id)
	return Record[TierConfig]{Value: t, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}, err
}

func ladderOf(ts []Record[TierConfig]) (*ladderConfig, error) {
	if len(ts) == 0 {
		return &ladderConfig{}, nil
	}
	list := make([]tier.Tier, len(ts))
	for i, t := range ts {
		list[i] = t.Value.Tier
	}
	l, err := tier.NewLadder(ts[0].Value.Measure, ts[0].Value.WindowMonths, list)
	if err != nil {
		return nil, fmt.Errorf("tier ladder: %w", err)
	}
	return &ladderConfig{ladder: l, ok: true}, nil
}

func (u *Unit) tierLadder(ctx context.Context) (*ladderConfig, error) {
	if u.ladder != nil {
		return u.ladder, nil
	}
	ts, err := tiers(ctx, u.st.Q)
	if err != nil {
		return nil, err
	}
	l, err := ladderOf(ts)
	if err != nil {
		return nil, err
	}
	u.ladder = l
	return l, nil
}
