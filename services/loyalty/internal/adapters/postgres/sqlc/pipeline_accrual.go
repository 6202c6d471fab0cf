package sqlc

// This file is written by hand (sqlc leaves it alone), like pipeline.go.

import (
	"context"
	"fmt"
)

// LockMembersForAccrual is LockMembersWithLots for an order batch: it locks
// the members and reads their active hold points, but reads open lots only
// of the members with a deficit or a debt (MembersInDebtOpenLots), in one
// round trip. The lots come back as MembersOpenLotsRow.
func (q *Queries) LockMembersForAccrual(ctx context.Context, ids []string) (LockedMembers, error) {
	sender, ok := q.db.(batchSender)
	if !ok {
		return LockedMembers{}, fmt.Errorf("lock members for accrual: %T cannot send batches", q.db)
	}
	return lockMembersAnd(ctx, sender, ids, membersInDebtOpenLots, ids)
}
