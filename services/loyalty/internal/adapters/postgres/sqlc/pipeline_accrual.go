package sqlc

// This file is written by hand (sqlc leaves it alone), like pipeline.go.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LockMembersForAccrual is LockMembersWithLots for an order batch: it locks
// the members and reads their active hold points, but reads open lots only
// of the members with a deficit or a debt (MembersInDebtOpenLots), in one
// round trip. The lots come back as MembersOpenLotsRow.
func (q *Queries) LockMembersForAccrual(ctx context.Context, ids []string) (LockedMembers, error) {
	sender, ok := q.db.(interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	})
	if !ok {
		return LockedMembers{}, fmt.Errorf("lock members for accrual: %T cannot send batches", q.db)
	}
	b := &pgx.Batch{}
	b.Queue(lockMembers, ids)
	b.Queue(membersHeld, ids)
	b.Queue(membersInDebtOpenLots, ids)
	res := sender.SendBatch(ctx, b)
	defer res.Close()
	var out LockedMembers
	var err error
	if out.Members, err = collect(res, func(r pgx.Rows, i *LockMembersRow) error {
		return r.Scan(&i.CustomerID, &i.Balance, &i.Deficit, &i.Debt, &i.LifetimePoints, &i.OrdersCount, &i.LastActivity,
			&i.Tier, &i.TierID, &i.Segments, &i.EnrolledAt)
	}); err != nil {
		return out, fmt.Errorf("lock members: %w", err)
	}
	if out.Held, err = collect(res, func(r pgx.Rows, i *MembersHeldRow) error { return r.Scan(&i.MemberID, &i.Held) }); err != nil {
		return out, fmt.Errorf("members' holds: %w", err)
	}
	if out.Lots, err = collect(res, func(r pgx.Rows, i *MembersOpenLotsRow) error {
		return r.Scan(&i.ID, &i.MemberID, &i.EntryID, &i.Source, &i.OrderID, &i.PartnerID, &i.Points, &i.Remaining, &i.EarnedAt,
			&i.PendingUntil, &i.ExpiresAt)
	}); err != nil {
		return out, fmt.Errorf("indebted members' lots: %w", err)
	}
	return out, nil
}
