package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	eventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
)

// Reversed is a reversed redemption and the member's balance after it.
type Reversed struct {
	Redemption Redemption
	Entry      ledger.Entry
	Balance    Balance
}

// ReverseRedemption undoes a redemption (an order cancelled before its
// discount was used, a reward that could not be delivered): the exact lots
// it drew from get their points back with their original expiry (those
// already past it expire at once), a limited reward gets its unit back,
// and the redemption is marked reversed. It runs under the redemption's
// and the member's row locks, so a redemption is reversed once.
func (u *Unit) ReverseRedemption(ctx context.Context, redemptionID, reason string) (Reversed, error) {
	row, err := u.st.Q.LockRedemption(ctx, redemptionID)
	if err != nil {
		return Reversed{}, notFound(err, "redemption "+redemptionID)
	}
	red := redemptionFrom(row)
	if row.Status == "reversed" {
		return Reversed{}, fmt.Errorf("redemption %s: %w", redemptionID, reward.ErrAlreadyReversed)
	}
	if row.EntryID == "" {
		// A challenge prize cost no points, so there is nothing to give
		// back: reversing it would only hand the member a second prize
		// after their next order.
		return Reversed{}, fmt.Errorf("redemption %s is a challenge prize: %w", redemptionID, ledger.ErrNotReversible)
	}
	er, err := u.st.Q.GetEntry(ctx, row.EntryID)
	if err != nil {
		return Reversed{}, notFound(err, "redemption entry "+row.EntryID)
	}
	orig, err := store.EntryFrom(er)
	if err != nil {
		return Reversed{}, err
	}
	lots := make([]string, len(orig.Draws))
	for i, d := range orig.Draws {
		lots[i] = d.LotID
	}
	acct, m, err := u.account(ctx, row.MemberID, lots)
	if err != nil {
		return Reversed{}, err
	}
	es, err := acct.Reverse(orig, reason, u.now)
	if err != nil {
		return Reversed{}, err
	}
	if row.RewardID != "" {
		if err := u.returnStock(ctx, row.RewardID); err != nil {
			return Reversed{}, err
		}
	}
	if err := u.st.Q.MarkRedemptionReversed(ctx, sqlc.MarkRedemptionReversedParams{ID: redemptionID, ReversedAt: tp(u.now), Reason: reason}); err != nil {
		return Reversed{}, fmt.Errorf("mark %s reversed: %w", redemptionID, err)
	}
	if err := u.st.SaveAccount(ctx, acct, 0, 0); err != nil {
		return Reversed{}, err
	}
	if err := u.publish(ctx, acct.Changes().Entries, eventInfo{reason: eventsv1.ReversalReason_REVERSAL_REASON_REDEMPTION_REVERSED,
		redemptionID: redemptionID, rewardID: row.RewardID}); err != nil {
		return Reversed{}, err
	}
	bal, err := u.balance(acct, m)
	red.Status, red.ReversedAt = "reversed", u.now
	return Reversed{Redemption: red, Entry: es[0], Balance: bal}, err
}

// returnStock gives a limited reward its unit back, under the reward's lock.
func (u *Unit) returnStock(ctx context.Context, rewardID string) error {
	rr, err := u.st.Q.LockReward(ctx, rewardID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // rewards are never deleted; nothing to return to if it were
	}
	if err != nil {
		return fmt.Errorf("reward %s: %w", rewardID, err)
	}
	rw, err := decode[reward.Reward](rr.Spec, "reward "+rewardID)
	if err != nil {
		return err
	}
	if rw.Stock == nil || rw.Type == reward.TypeCoupon {
		// A coupon code once issued is not put back in the pool: the
		// member has seen it, so the pool's stock stays as it is.
		return nil
	}
	rw.ReturnStock()
	b, err := json.Marshal(rw)
	if err != nil {
		return fmt.Errorf("encode reward: %w", err)
	}
	if err := u.st.Q.UpdateReward(ctx, sqlc.UpdateRewardParams{ID: rw.ID, Status: rr.Status, Spec: b, UpdatedAt: rr.UpdatedAt}); err != nil {
		return fmt.Errorf("return stock of %s: %w", rw.ID, err)
	}
	return nil
}

func redemptionFrom(r sqlc.Redemption) Redemption {
	out := Redemption{ID: r.ID, MemberID: r.MemberID, RewardID: r.RewardID, Points: r.Points, Value: money.New(r.ValueMinor, r.Currency),
		Code: r.CouponCode, ProductID: r.ProductID, EntryID: r.EntryID, CreatedAt: r.CreatedAt, Status: r.Status}
	if r.ValidUntil != nil {
		out.ValidUntil = *r.ValidUntil
	}
	if r.ReversedAt != nil {
		out.ReversedAt = *r.ReversedAt
	}
	return out
}

// MaxCouponUpload bounds one upload, so one request stays one short
// transaction; larger pools are uploaded in several requests.
const MaxCouponUpload = 10000

// CouponPool is the size of a coupon reward's pool after an upload.
type CouponPool struct {
	Added, Free, Total int64
}

// AddCoupons adds codes to a coupon reward's pool; codes already in it are
// skipped, so an upload can be retried or overlap an earlier one. A reward
// with limited stock gets the added codes as stock.
func (u *Unit) AddCoupons(ctx context.Context, rewardID string, codes []string) (CouponPool, error) {
	var v validation.Collector
	v.Check(len(codes) > 0 && len(codes) <= MaxCouponUpload, "codes", "must hold 1 to %d codes, got %d", MaxCouponUpload, len(codes))
	for i, c := range codes {
		if strings.TrimSpace(c) == "" || len(c) > 64 {
			v.Add(fmt.Sprintf("codes[%d]", i), "must be 1 to 64 characters")
			break
		}
	}
	if err := v.Err(); err != nil {
		return CouponPool{}, err
	}
	rr, err := u.st.Q.LockReward(ctx, rewardID)
	if err != nil {
		return CouponPool{}, notFound(err, "reward "+rewardID)
	}
	rw, err := decode[reward.Reward](rr.Spec, "reward "+rewardID)
	if err != nil {
		return CouponPool{}, err
	}
	if rw.Type != reward.TypeCoupon {
		return CouponPool{}, validation.Field("reward_id", "reward %s is not a coupon reward", rewardID)
	}
	n, err := u.st.Q.AddCouponCodes(ctx, sqlc.AddCouponCodesParams{RewardID: rewardID, UploadedAt: u.now, Codes: codes})
	if err != nil {
		return CouponPool{}, fmt.Errorf("add codes to %s: %w", rewardID, err)
	}
	if rw.Stock != nil && n > 0 {
		s := *rw.Stock + n
		rw.Stock = &s
		b, err := json.Marshal(rw)
		if err != nil {
			return CouponPool{}, fmt.Errorf("encode reward: %w", err)
		}
		if err := u.st.Q.UpdateReward(ctx, sqlc.UpdateRewardParams{ID: rw.ID, Status: rr.Status, Spec: b, UpdatedAt: u.now}); err != nil {
			return CouponPool{}, fmt.Errorf("stock of %s: %w", rw.ID, err)
		}
	}
	size, err := u.st.Q.CouponPoolSize(ctx, rewardID)
	if err != nil {
		return CouponPool{}, fmt.Errorf("pool of %s: %w", rewardID, err)
	}
	return CouponPool{Added: n, Free: size.Free, Total: size.Total}, nil
}

// takeCoupon takes a free code of the reward's pool for a redemption ("",
// nil when the pool is empty).
func (u *Unit) takeCoupon(ctx context.Context, rewardID, redemptionID string) (string, error) {
	code, err := u.st.Q.TakeCouponCode(ctx, rewardID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("coupon of %s: %w", rewardID, err)
	}
	if err := u.st.Q.IssueCouponCode(ctx, sqlc.IssueCouponCodeParams{RewardID: rewardID, Code: code, RedemptionID: pgtype.Text{String: redemptionID, Valid: true}, IssuedAt: tp(u.now)}); err != nil {
		return "", fmt.Errorf("issue coupon of %s: %w", rewardID, err)
	}
	return code, nil
}
