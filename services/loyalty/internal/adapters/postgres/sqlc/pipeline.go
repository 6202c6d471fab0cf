package sqlc

// This file is written by hand (sqlc leaves it alone): it sends two of the
// generated queries in one network round trip.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LockMembersWithLots runs LockMembers and then MembersLots as two
// statements pipelined in one round trip. They stay separate statements, so
// under READ COMMITTED the second takes its snapshot after the first got its
// locks and sees what the previous lock holder committed. It needs a
// connection or transaction that can send batches (pgx.Tx can).
func (q *Queries) LockMembersWithLots(ctx context.Context, ids []string, arg MembersLotsParams) ([]LockMembersRow, []MembersLotsRow, error) {
	sender, ok := q.db.(interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	})
	if !ok {
		members, err := q.LockMembers(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		lots, err := q.MembersLots(ctx, arg)
		return members, lots, err
	}
	b := &pgx.Batch{}
	b.Queue(lockMembers, ids)
	b.Queue(membersLots, arg.Extra, arg.Ids)
	res := sender.SendBatch(ctx, b)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("lock members: %w", err)
	}
	var members []LockMembersRow
	for rows.Next() {
		var i LockMembersRow
		if err := rows.Scan(&i.CustomerID, &i.Balance, &i.Deficit, &i.Debt, &i.LifetimePoints, &i.OrdersCount, &i.LastActivity,
			&i.Tier, &i.TierID, &i.Segments, &i.EnrolledAt); err != nil {
			rows.Close()
			return nil, nil, err
		}
		members = append(members, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("lock members: %w", err)
	}
	rows, err = res.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("members' lots: %w", err)
	}
	var lots []MembersLotsRow
	for rows.Next() {
		var i MembersLotsRow
		if err := rows.Scan(&i.CustomerID, &i.Held, &i.Lots); err != nil {
			rows.Close()
			return nil, nil, err
		}
		lots = append(lots, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("members' lots: %w", err)
	}
	return members, lots, nil
}
