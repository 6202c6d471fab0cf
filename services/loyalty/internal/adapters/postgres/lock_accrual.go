package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
)

// unloadedLotID names the stand-in lot of an account restored without its
// lots (LockAccountsForAccrual). It is never written: it is neither new nor
// changed, so Batch.AddAccount leaves it out.
const unloadedLotID = "(unloaded lots)"

// LockAccountsForAccrual locks the members like LockAccounts, for a batch
// of orders that only credits them. Reading every open lot of every member
// was the largest read of an order batch (a member with a year of orders
// has dozens), yet a credit needs none of them: it adds a lot and moves the
// balance. Only a member with a deficit or a debt has their lots read, as a
// credit then settles from them. Every other account stands in one
// placeholder lot for its open lots (their sum, which the member row's
// balance is when there is no deficit), so the ledger's balance invariant
// holds and each entry's balance_after is exact.
//
// Accounts restored that way may only be credited, and their Balances, Lots
// and ExpiringWithin are not the member's: the caller computes no balances.
func (s *Store) LockAccountsForAccrual(ctx context.Context, ids []string, idSource ledger.IDSource, now time.Time) (map[string]*Locked, error) {
	got, err := s.Q.LockMembersForAccrual(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(got.Members) < len(ids) {
		if err := s.Q.EnsureMembers(ctx, sqlc.EnsureMembersParams{Ids: ids, EnrolledAt: now}); err != nil {
			return nil, fmt.Errorf("enrol members: %w", err)
		}
		if got, err = s.Q.LockMembersForAccrual(ctx, ids); err != nil {
			return nil, err
		}
	}
	return restoreLocked(got, ids, idSource, true)
}
