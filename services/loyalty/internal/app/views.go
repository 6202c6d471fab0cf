package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/offer"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// MemberView is a member's standing: balances, tier progress and points
// expiring soon.
type MemberView struct {
	MemberID       string
	Balance        Balance
	LifetimePoints int64
	HasTier        bool
	Progress       tier.Progress
	Measure        tier.Measure
	Expiring       []ledger.Expiring
	EnrolledAt     time.Time
	// balances are the ledger's split, which the offers answer starts from.
	balances ledger.Balances
}

// Member reads a member's view. A customer the program has not seen yet
// gets an empty view rather than NotFound: every customer is a member.
func (a *App) Member(ctx context.Context, memberID string) (MemberView, error) {
	if err := a.refreshSettings(ctx); err != nil {
		return MemberView{}, err
	}
	now := a.Now()
	var v MemberView
	err := a.readTx(ctx, func(st *store.Store) error {
		var err error
		v, _, _, err = a.memberIn(ctx, st, memberID, now)
		return err
	})
	return v, err
}

// readTx runs fn in a read-only snapshot, so a view never mixes states.
func (a *App) readTx(ctx context.Context, fn func(*store.Store) error) error {
	return pgx.BeginTxFunc(ctx, a.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(store.New(tx))
	})
}

// memberIn reads the member's view plus the stored member and the program's
// tier ladder (nil when the member has never been seen).
func (a *App) memberIn(ctx context.Context, st *store.Store, memberID string, now time.Time) (MemberView, *store.Member, *ladderConfig, error) {
	acct, m, err := st.ReadAccount(ctx, memberID)
	if err != nil {
		if isNotFound(err) {
			v := MemberView{MemberID: memberID, EnrolledAt: now}
			v.Balance, err = a.balanceOf(ledger.Balances{}, 0)
			return v, nil, nil, err
		}
		return MemberView{}, nil, nil, err
	}
	held, err := st.Q.ActiveHoldsPoints(ctx, memberID)
	if err != nil {
		return MemberView{}, nil, nil, fmt.Errorf("held points of %s: %w", memberID, err)
	}
	bal, err := a.balanceOf(acct.Balances(now), held)
	if err != nil {
		return MemberView{}, nil, nil, err
	}
	v := MemberView{MemberID: memberID, Balance: bal, LifetimePoints: m.LifetimePoints, EnrolledAt: m.EnrolledAt,
		Expiring: acct.ExpiringWithin(now, a.cfg.ExpiringWindow), balances: acct.Balances(now)}
	ts, err := tiers(ctx, st.Q)
	if err != nil {
		return MemberView{}, nil, nil, err
	}
	lc, err := ladderOf(ts)
	if err != nil || !lc.ok {
		return v, &m, lc, err
	}
	n, err := (&Unit{}).measure(ctx, st.Q, lc.ladder, memberID, now)
	if err != nil {
		return MemberView{}, nil, nil, err
	}
	v.HasTier, v.Measure = true, lc.ladder.Measure
	v.Progress = lc.ladder.Progress(m.Tier, n, now)
	return v, &m, lc, nil
}

// Offers is what a member gets right now: the member view plus the
// domain's answer (perks, campaigns, rewards), and the reward records by id
// for their bookkeeping times.
type Offers struct {
	View    MemberView
	Answer  offer.Answer
	Rewards map[string]Record[reward.Reward]
}

// MemberOffers answers "what does this member get right now" from one
// snapshot of the member and the program (domain/offer decides).
func (a *App) MemberOffers(ctx context.Context, memberID string) (Offers, error) {
	if err := a.refreshSettings(ctx); err != nil {
		return Offers{}, err
	}
	now := a.Now()
	var out Offers
	err := a.readTx(ctx, func(st *store.Store) error {
		v, m, lc, err := a.memberIn(ctx, st, memberID, now)
		if err != nil {
			return err
		}
		p := offer.Program{Conversion: a.conversion(), ExpiringWindow: a.cfg.ExpiringWindow}
		om := offer.Member{ID: memberID, Balances: v.balances, Expiring: v.Expiring, Measure: v.Progress.Measure, Redeemed: map[string]int64{}}
		if lc != nil && lc.ok {
			p.Ladder = lc.ladder
		}
		if m != nil {
			om.Tier, om.Segments = m.Tier, m.Segments
			counts, err := st.Q.MemberRedemptionCounts(ctx, memberID)
			if err != nil {
				return fmt.Errorf("redemptions of %s: %w", memberID, err)
			}
			for _, c := range counts {
				om.Redeemed[c.RewardID] = c.N
			}
		}
		rules, err := st.Q.ActiveRules(ctx)
		if err != nil {
			return fmt.Errorf("active rules: %w", err)
		}
		for _, row := range rules {
			r, err := ruleFrom(row)
			if err != nil {
				return err
			}
			p.Rules = append(p.Rules, r.Value)
		}
		rows, err := st.Q.ActiveRewards(ctx)
		if err != nil {
			return fmt.Errorf("active rewards: %w", err)
		}
		out.Rewards = make(map[string]Record[reward.Reward], len(rows))
		for _, row := range rows {
			r, err := decode[reward.Reward](row.Spec, "reward "+row.ID)
			if err != nil {
				return err
			}
			out.Rewards[r.ID] = Record[reward.Reward]{Value: r, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
			p.Rewards = append(p.Rewards, r)
		}
		ans, err := offer.ForMember(p, om, now)
		if err != nil {
			return fmt.Errorf("offers of %s: %w", memberID, err)
		}
		out.View, out.Answer = v, ans
		return nil
	})
	return out, err
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

// TransactionFilter narrows a member's history.
type TransactionFilter struct {
	Types      []ledger.EntryType
	Start, End time.Time
	// BeforeSeq continues a page: entries older than this position.
	BeforeSeq int64
	Size      int
}

// Transactions pages through a member's ledger, newest first; it returns
// the entries and the position to continue from (0 on the last page).
func (a *App) Transactions(ctx context.Context, memberID string, f TransactionFilter) ([]ledger.Entry, int64, error) {
	types := make([]string, len(f.Types))
	for i, t := range f.Types {
		types[i] = t.String()
	}
	before := f.BeforeSeq
	if before <= 0 {
		before = math.MaxInt64
	}
	start, end := f.Start, f.End
	if start.IsZero() {
		start = time.Unix(0, 0).UTC()
	}
	if end.IsZero() {
		end = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rows, err := sqlc.New(a.pool).ListEntries(ctx, sqlc.ListEntriesParams{MemberID: memberID, BeforeSeq: before, Types: types,
		StartTime: start, EndTime: end, Lim: int32(f.Size + 1)})
	if err != nil {
		return nil, 0, fmt.Errorf("transactions of %s: %w", memberID, err)
	}
	var next int64
	if len(rows) > f.Size {
		rows = rows[:f.Size]
		next = rows[len(rows)-1].Seq
	}
	out := make([]ledger.Entry, len(rows))
	for i, r := range rows {
		if out[i], err = store.EntryFrom(r); err != nil {
			return nil, 0, err
		}
	}
	return out, next, nil
}

// LedgerCheck compares a member's balance with the sum of their entries and
// the sum of their lots, the ledger's invariant; tests call it after every
// scenario and operators can call it on suspicion.
func (a *App) LedgerCheck(ctx context.Context, memberID string) error {
	q := sqlc.New(a.pool)
	m, err := store.New(a.pool).GetMember(ctx, memberID)
	if err != nil {
		return err
	}
	sum, err := q.LedgerSum(ctx, memberID)
	if err != nil {
		return fmt.Errorf("ledger sum of %s: %w", memberID, err)
	}
	if sum != m.State.Balance {
		return fmt.Errorf("member %s balance %d != sum of entries %d: %w", memberID, m.State.Balance, sum, ledger.ErrInvariant)
	}
	lots, err := store.New(a.pool).Lots(ctx, memberID, nil)
	if err != nil {
		return err
	}
	if _, err := ledger.Restore(m.State, lots, func() string { return "" }); err != nil {
		return err
	}
	return nil
}

// RuleTotal is what one earning rule awarded: the marketers' per-rule report.
type RuleTotal struct {
	RuleID  string
	Name    string
	Points  int64
	Members int64
}

// RuleTotals sums the points each rule awarded and to how many members.
// The base rate and tier multipliers are not rules and are not listed.
func (a *App) RuleTotals(ctx context.Context) ([]RuleTotal, error) {
	rows, err := sqlc.New(a.pool).RuleTotals(ctx)
	if err != nil {
		return nil, fmt.Errorf("rule totals: %w", err)
	}
	out := make([]RuleTotal, len(rows))
	for i, r := range rows {
		out[i] = RuleTotal{RuleID: r.RuleID, Points: r.Points, Members: r.Members}
		// Rules are few and reports rare: one lookup per rule is fine. A
		// rule id in rule_usage always names a rule (rules are never deleted).
		if rule, err := a.Rule(ctx, r.RuleID); err == nil {
			out[i].Name = rule.Value.Name
		} else if !isNotFound(err) {
			return nil, err
		}
	}
	return out, nil
}
