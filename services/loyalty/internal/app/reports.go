package app

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// Period is a report's [Start, End); a zero Start is the beginning of the
// program and a zero End is now.
type Period struct {
	Start, End time.Time
}

func (a *App) resolve(p Period) (Period, error) {
	if p.End.IsZero() {
		// "Until now" includes what was written at this very microsecond
		// (the database's precision).
		p.End = a.Now().Truncate(time.Microsecond).Add(time.Microsecond)
	}
	if p.Start.IsZero() {
		p.Start = time.Unix(0, 0).UTC()
	}
	if !p.Start.Before(p.End) {
		return p, validation.Field("end_time", "must be after start_time (%s), got %s", p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	return p, nil
}

// PointsReport is the program's points liability now and its points flows
// in a period.
type PointsReport struct {
	Period
	Available, Pending, Held, Outstanding, Debt int64
	OutstandingValue                            money.Money
	MembersWithPoints                           int64
	Issued, Redeemed, Expired, Reversed         int64
	// BreakageRateBPS is Expired / (Expired + Redeemed) in basis points.
	BreakageRateBPS int64
}

// PointsReport reads the liability and the period's flows from one
// snapshot, so the figures add up.
func (a *App) PointsReport(ctx context.Context, p Period) (PointsReport, error) {
	if err := a.refreshSettings(ctx); err != nil {
		return PointsReport{}, err
	}
	p, err := a.resolve(p)
	if err != nil {
		return PointsReport{}, err
	}
	r := PointsReport{Period: p}
	now := a.Now()
	err = pgx.BeginTxFunc(ctx, a.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := sqlc.New(tx)
		l, err := q.LiabilityTotals(ctx, now)
		if err != nil {
			return fmt.Errorf("liability: %w", err)
		}
		hd, err := q.HeldAndDebt(ctx)
		if err != nil {
			return fmt.Errorf("held and debt: %w", err)
		}
		f, err := q.PointsFlows(ctx, sqlc.PointsFlowsParams{StartTime: p.Start, EndTime: p.End})
		if err != nil {
			return fmt.Errorf("points flows: %w", err)
		}
		r.Available, r.Pending, r.MembersWithPoints, r.Held, r.Debt = l.Available, l.Pending, l.Members, hd.Held, hd.Debt
		r.Issued, r.Redeemed, r.Expired, r.Reversed = f.Issued, f.Redeemed, f.Expired, f.Reversed
		return nil
	})
	if err != nil {
		return PointsReport{}, err
	}
	r.Outstanding = r.Available + r.Pending + r.Held
	if r.OutstandingValue, err = ledger.Liability(r.Outstanding, a.conversion()); err != nil {
		return PointsReport{}, fmt.Errorf("liability value: %w", err)
	}
	if d := r.Expired + r.Redeemed; d > 0 && r.Expired > 0 {
		r.BreakageRateBPS = r.Expired * 10000 / d
	}
	return r, nil
}

// Settlement sums what each partner issued and what was redeemed with it in
// the period (one partner when partnerID is set), by partner id.
func (a *App) Settlement(ctx context.Context, p Period, partnerID string) (Period, []ledger.PartnerTotals, error) {
	if err := a.refreshSettings(ctx); err != nil {
		return p, nil, err
	}
	p, err := a.resolve(p)
	if err != nil {
		return p, nil, err
	}
	rows, err := sqlc.New(a.pool).PartnerFlows(ctx, sqlc.PartnerFlowsParams{StartTime: p.Start, EndTime: p.End, PartnerID: partnerID})
	if err != nil {
		return p, nil, fmt.Errorf("partner flows: %w", err)
	}
	out := make([]ledger.PartnerTotals, len(rows))
	for i, r := range rows {
		t := ledger.PartnerTotals{PartnerID: r.PartnerID, Issued: r.Issued, Redeemed: r.Redeemed, Reversed: r.Reversed}
		t.Net = t.Issued - t.Redeemed - t.Reversed
		v, err := a.conversion().ValueOf(max(t.Net, -t.Net))
		if err != nil {
			return p, nil, fmt.Errorf("value of %s's net points: %w", r.PartnerID, err)
		}
		if t.Net < 0 {
			v.Amount = -v.Amount
		}
		t.NetValue = v
		out[i] = t
	}
	return p, out, nil
}

// GroupOutcome is what one group of members bought in a period.
type GroupOutcome struct {
	Members, Purchasers, Orders, SpendMinor int64
}

// Lift compares the members a campaign treated with those it held out.
type Lift struct {
	Period
	RuleID         string
	HoldoutPercent int32
	Treated        GroupOutcome
	HeldOut        GroupOutcome
	// OrdersLiftBPS and SpendLiftBPS are the relative lift per member in
	// basis points; nil when the held-out group has nothing to compare to.
	OrdersLiftBPS, SpendLiftBPS *int64
}

// HoldoutLift splits every member enrolled before the period's end by the
// rule's stable holdout hash (the same one earning uses) and compares the
// groups' orders and spend in the period. The period defaults to the rule's
// schedule.
func (a *App) HoldoutLift(ctx context.Context, ruleID string, p Period) (Lift, error) {
	r, err := a.Rule(ctx, ruleID)
	if err != nil {
		return Lift{}, err
	}
	rule := r.Value
	if p.Start.IsZero() {
		p.Start = rule.StartsAt
	}
	if p.End.IsZero() && !rule.EndsAt.IsZero() && rule.EndsAt.Before(a.Now()) {
		p.End = rule.EndsAt
	}
	if p, err = a.resolve(p); err != nil {
		return Lift{}, err
	}
	rows, err := sqlc.New(a.pool).MemberOutcomes(ctx, sqlc.MemberOutcomesParams{StartTime: p.Start, EndTime: p.End})
	if err != nil {
		return Lift{}, fmt.Errorf("member outcomes: %w", err)
	}
	l := Lift{Period: p, RuleID: rule.ID, HoldoutPercent: rule.HoldoutPercent}
	for _, row := range rows {
		g := &l.Treated
		if earning.InHoldout(rule.ID, row.CustomerID, rule.HoldoutPercent) {
			g = &l.HeldOut
		}
		g.Members++
		g.Orders += row.Orders
		g.SpendMinor += row.Spend
		if row.Orders > 0 {
			g.Purchasers++
		}
	}
	l.OrdersLiftBPS = lift(l.Treated.Orders, l.Treated.Members, l.HeldOut.Orders, l.HeldOut.Members)
	l.SpendLiftBPS = lift(l.Treated.SpendMinor, l.Treated.Members, l.HeldOut.SpendMinor, l.HeldOut.Members)
	return l, nil
}

// lift is (treated per member / held-out per member - 1) in basis points.
// Floating point, because the integer cross product of a large program's
// spend and member counts would overflow int64.
func lift(treated, treatedMembers, held, heldMembers int64) *int64 {
	if treatedMembers == 0 || heldMembers == 0 || held == 0 {
		return nil
	}
	ratio := (float64(treated) / float64(treatedMembers)) / (float64(held) / float64(heldMembers))
	v := int64(math.Round(ratio*10000)) - 10000
	return &v
}
