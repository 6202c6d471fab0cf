package postgres

import (
	"context"
	"fmt"
	"math"
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
	held := make(map[string]int64, len(got.Held))
	for _, r := range got.Held {
		held[r.MemberID] = r.Held
	}
	lotsOf := map[string][]ledger.Lot{}
	for _, l := range got.Lots {
		src, err := ledger.ParseEntryType(l.Source)
		if err != nil {
			return nil, fmt.Errorf("lot %s: %w", l.ID, err)
		}
		lotsOf[l.MemberID] = append(lotsOf[l.MemberID], ledger.Lot{ID: l.ID, MemberID: l.MemberID, EntryID: l.EntryID, Source: src,
			OrderID: l.OrderID, PartnerID: l.PartnerID, Points: l.Points, Remaining: l.Remaining, EarnedAt: l.EarnedAt.UTC(),
			PendingUntil: tv(l.PendingUntil), ExpiresAt: tv(l.ExpiresAt)})
	}
	locked := make(map[string]*Locked, len(got.Members))
	for _, r := range got.Members {
		m, err := memberFrom(r.CustomerID, r.Balance, r.Deficit, r.Debt, r.LifetimePoints, r.OrdersCount, r.LastActivity, r.Tier, r.TierID, r.Segments, r.EnrolledAt)
		if err != nil {
			return nil, err
		}
		m.Held = held[r.CustomerID]
		lots := lotsOf[r.CustomerID]
		if m.State.Deficit == 0 && m.State.Debt == 0 {
			// Without a deficit the balance is the sum of the open lots;
			// the placeholder carries it (it never expires and is never
			// spent: nothing but credits touch this account).
			lots = nil
			if m.State.Balance > 0 {
				lots = []ledger.Lot{{ID: unloadedLotID, MemberID: r.CustomerID, Source: ledger.TypeAccrual, Points: math.MaxInt64,
					Remaining: m.State.Balance}}
			}
		}
		a, err := ledger.Restore(m.State, lots, idSource)
		if err != nil {
			return nil, fmt.Errorf("restore account %s: %w", r.CustomerID, err)
		}
		locked[r.CustomerID] = &Locked{Account: a, Member: m}
	}
	for _, id := range ids {
		if locked[id] == nil {
			return nil, fmt.Errorf("member %s was not enrolled: %w", id, ErrNotFound)
		}
	}
	return locked, nil
}
