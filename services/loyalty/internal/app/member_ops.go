package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// ErrTransfersDisabled: the program does not allow members to transfer
// points (FailedPrecondition).
var ErrTransfersDisabled = errors.New("this program does not allow point transfers")

// Transferred is both sides of a transfer and the sender's balance after it.
type Transferred struct {
	ID       string
	Sent     ledger.Entry
	Received []ledger.Entry
	Balance  Balance
}

// Transfer moves points from one member to another. Both members are
// locked in id order (so two opposite transfers cannot deadlock), the
// receiver gets the sender's lots' expiry dates, and both sides commit with
// their events in one transaction. Transferred points do not count toward
// tiers (they were earned by someone else).
func (u *Unit) Transfer(ctx context.Context, from, to string, points int64) (Transferred, error) {
	if !u.a.cfg.TransfersEnabled {
		return Transferred{}, ErrTransfersDisabled
	}
	var v validation.Collector
	v.Check(points > 0, "points", "must be positive, got %d", points)
	v.Check(to != "" && to != from, "to_customer_id", "must name another member")
	if err := v.Err(); err != nil {
		return Transferred{}, err
	}
	ids := []string{from, to}
	if to < from {
		ids = []string{to, from}
	}
	locked, err := u.st.LockAccounts(ctx, ids, nil, newID, u.now)
	if err != nil {
		return Transferred{}, fmt.Errorf("lock %s and %s: %w", from, to, err)
	}
	src, dst := locked[from], locked[to]
	tr, sent, err := src.Account.TransferOut(to, points, u.now)
	if err != nil {
		return Transferred{}, err
	}
	received, err := dst.Account.TransferIn(tr, u.now)
	if err != nil {
		return Transferred{}, err
	}
	if err := u.st.SaveAccount(ctx, src.Account, 0, 0); err != nil {
		return Transferred{}, err
	}
	if err := u.st.SaveAccount(ctx, dst.Account, 0, 0); err != nil {
		return Transferred{}, err
	}
	for _, a := range []*ledger.Account{src.Account, dst.Account} {
		if err := u.publish(ctx, a.Changes().Entries, eventInfo{}); err != nil {
			return Transferred{}, err
		}
	}
	bal, err := u.balance(src.Account, src.Member)
	return Transferred{ID: tr.ID, Sent: sent, Received: received, Balance: bal}, err
}

// reviewAt is when the job must look at a member's tier again: the end of
// the qualification window, of an override or of a paid membership,
// whichever comes first.
func reviewAt(s tier.Status) time.Time {
	at := s.RequalifyAt
	earlier := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if s.Override != nil {
		earlier(s.Override.ExpiresAt)
	}
	if s.Subscription != nil {
		earlier(s.Subscription.PaidUntil)
	}
	return at
}

// TierResult is a member's tier progress after a tier command.
type TierResult struct {
	Progress tier.Progress
	Measure  tier.Measure
}

// OverrideTier puts a member on a tier until expiresAt whatever their
// measure (a marketer's decision: a VIP, a complaint, a demotion for
// abuse). The scheduled review ends it at expiresAt, when the member's
// qualified tier applies again.
func (u *Unit) OverrideTier(ctx context.Context, memberID, tierID string, expiresAt time.Time, reason, actor string) (TierResult, error) {
	lc, err := u.tierLadder(ctx)
	if err != nil {
		return TierResult{}, err
	}
	if !lc.ok {
		return TierResult{}, validation.Field("tier_id", "the program has no tiers")
	}
	m, err := u.st.LockMember(ctx, memberID, u.now)
	if err != nil {
		return TierResult{}, err
	}
	next, change, err := lc.ladder.SetOverride(m.Tier, tier.Override{TierID: tierID, ExpiresAt: expiresAt, Reason: reason, Actor: actor}, u.now)
	if err != nil {
		return TierResult{}, err
	}
	return u.saveTier(ctx, lc.ladder, memberID, next, change)
}

// saveTier stores a changed tier status with its next review date and
// announces the change.
func (u *Unit) saveTier(ctx context.Context, l tier.Ladder, memberID string, next tier.Status, change *tier.Change) (TierResult, error) {
	eff, _ := l.Effective(next, u.now)
	if err := u.st.SaveTier(ctx, memberID, next, eff.ID, reviewAt(next)); err != nil {
		return TierResult{}, err
	}
	if change != nil {
		if err := u.publishTier(ctx, memberID, change, eff.Name, reviewAt(next)); err != nil {
			return TierResult{}, err
		}
	}
	n, err := u.measure(ctx, u.st.Q, l, memberID, u.now)
	if err != nil {
		return TierResult{}, err
	}
	return TierResult{Progress: l.Progress(next, n, u.now), Measure: l.Measure}, nil
}

// Subscribe grants a member a paid membership tier until paidUntil (a
// subscription system's payment event); a renewal before the lapse extends
// it. The scheduled review ends it at paidUntil, when the member's qualified
// tier applies again.
func (u *Unit) Subscribe(ctx context.Context, memberID, tierID string, paidUntil time.Time) (TierResult, error) {
	lc, err := u.tierLadder(ctx)
	if err != nil {
		return TierResult{}, err
	}
	if !lc.ok {
		return TierResult{}, validation.Field("tier_id", "the program has no tiers")
	}
	m, err := u.st.LockMember(ctx, memberID, u.now)
	if err != nil {
		return TierResult{}, err
	}
	next, change, err := lc.ladder.Subscribe(m.Tier, tierID, paidUntil, u.now)
	if err != nil {
		return TierResult{}, err
	}
	return u.saveTier(ctx, lc.ladder, memberID, next, change)
}
