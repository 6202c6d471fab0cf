package sqlc

// This file is written by hand (sqlc leaves it alone): it sends three of the
// generated queries in one network round trip.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LockedMembers is what LockMembersWithLots read: the locked member rows,
// their active hold points and their open (plus the named extra) lots.
type LockedMembers struct {
	Members []LockMembersRow
	Held    []MembersHeldRow
	Lots    []MembersOpenLotsRow
}

// LockMembersWithLots runs LockMembers, then MembersHeld and
// MembersOpenLots, as three statements pipelined in one round trip. They
// stay separate statements, so under READ COMMITTED the later ones take
// their snapshot after the first got its locks and see what the previous
// lock holder committed. It needs a connection or transaction that can send
// batches (pgx.Tx can).
func (q *Queries) LockMembersWithLots(ctx context.Context, arg MembersOpenLotsParams) (LockedMembers, error) {
	sender, ok := q.db.(batchSender)
	if !ok {
		var out LockedMembers
		var err error
		if out.Members, err = q.LockMembers(ctx, arg.Ids); err != nil {
			return out, err
		}
		if out.Held, err = q.MembersHeld(ctx, arg.Ids); err != nil {
			return out, err
		}
		out.Lots, err = q.MembersOpenLots(ctx, arg)
		return out, err
	}
	if len(arg.Ids) == 1 {
		return lockOneMember(ctx, sender, arg.Ids[0], arg.Extra)
	}
	return lockMembersAnd(ctx, sender, arg.Ids, membersOpenLots, arg.Ids, arg.Extra)
}

// lockOneMember is lockMembersAnd for one member (a redemption, a hold),
// with the single-member statements LockMember, ActiveHoldsPoints and
// MemberOpenLots (OpenLots when extra lots are named). Their generic plans
// find the member and their lots by index whatever the tables' statistics
// say: the = ANY($1) forms, planned while the tables were small (a fresh
// database, before the first ANALYZE), got cached sequential scans of
// members and lots, which grew slower with every redemption as the tables
// filled with dead row versions (one scan of each table per redemption in
// the benchmark).
func lockOneMember(ctx context.Context, sender batchSender, id string, extra []string) (LockedMembers, error) {
	b := &pgx.Batch{}
	b.Queue(lockMember, id)
	b.Queue(activeHoldsPoints, id)
	if len(extra) == 0 {
		b.Queue(memberOpenLots, id)
	} else {
		b.Queue(openLots, id, extra)
	}
	res := sender.SendBatch(ctx, b)
	defer res.Close()
	var out LockedMembers
	var err error
	if out.Members, err = collect(res, scanLockedMember); err != nil {
		return out, fmt.Errorf("lock member: %w", err)
	}
	if out.Held, err = collect(res, func(r pgx.Rows, i *MembersHeldRow) error {
		i.MemberID = id
		return r.Scan(&i.Held)
	}); err != nil {
		return out, fmt.Errorf("member's holds: %w", err)
	}
	if out.Lots, err = collect(res, scanOpenLot); err != nil {
		return out, fmt.Errorf("member's lots: %w", err)
	}
	return out, nil
}

func scanLockedMember(r pgx.Rows, i *LockMembersRow) error {
	return r.Scan(&i.CustomerID, &i.Balance, &i.Deficit, &i.Debt, &i.LifetimePoints, &i.OrdersCount, &i.LastActivity,
		&i.Tier, &i.TierID, &i.Segments, &i.EnrolledAt)
}

func scanOpenLot(r pgx.Rows, i *MembersOpenLotsRow) error {
	return r.Scan(&i.ID, &i.MemberID, &i.EntryID, &i.Source, &i.OrderID, &i.PartnerID, &i.Points, &i.Remaining, &i.EarnedAt,
		&i.PendingUntil, &i.ExpiresAt)
}

// batchSender is a connection or transaction that can send batches.
type batchSender interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}

// lockMembersAnd sends LockMembers, MembersHeld and one lots query (whose
// rows are MembersOpenLotsRow) in one round trip and reads the three.
func lockMembersAnd(ctx context.Context, sender batchSender, ids []string, lotsSQL string, lotsArgs ...any) (LockedMembers, error) {
	b := &pgx.Batch{}
	b.Queue(lockMembers, ids)
	b.Queue(membersHeld, ids)
	b.Queue(lotsSQL, lotsArgs...)
	res := sender.SendBatch(ctx, b)
	defer res.Close()
	var out LockedMembers
	var err error
	if out.Members, err = collect(res, scanLockedMember); err != nil {
		return out, fmt.Errorf("lock members: %w", err)
	}
	if out.Held, err = collect(res, func(r pgx.Rows, i *MembersHeldRow) error { return r.Scan(&i.MemberID, &i.Held) }); err != nil {
		return out, fmt.Errorf("members' holds: %w", err)
	}
	if out.Lots, err = collect(res, scanOpenLot); err != nil {
		return out, fmt.Errorf("members' lots: %w", err)
	}
	return out, nil
}

// collect reads the next result of a batch into rows of T.
func collect[T any](res pgx.BatchResults, scan func(pgx.Rows, *T) error) ([]T, error) {
	rows, err := res.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var i T
		if err := scan(rows, &i); err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}
