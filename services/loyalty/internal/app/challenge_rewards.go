package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
)

// challengeRedemptionID is the id of the redemption that issues a
// challenge's catalog reward to a member for a round. It is derived, not
// random, so the redemptions primary key refuses a second prize for the
// same completion whatever happens above it, and the member's challenge
// view finds it.
func challengeRedemptionID(challengeID, memberID string, round int) string {
	return fmt.Sprintf("challenge:%s:%d:%s", challengeID, round, memberID)
}

// checkChallengeReward refuses a reward_id that names no catalog reward.
func (u *Unit) checkChallengeReward(ctx context.Context, rewardID string) error {
	if rewardID == "" {
		return nil
	}
	_, err := u.st.Q.GetReward(ctx, rewardID)
	if errors.Is(err, pgx.ErrNoRows) {
		return validation.Field("reward_id", "unknown reward %q", rewardID)
	}
	if err != nil {
		return fmt.Errorf("reward %s: %w", rewardID, err)
	}
	return nil
}

// issueChallengeReward issues a challenge's catalog reward to a member at
// no points cost, the way a redemption issues it: under the reward's row
// lock, taking a unit of limited stock and, for coupon rewards, a code of
// the pool. It reports false (and writes nothing) when the reward cannot be
// issued now (out of stock, empty pool, or gone); the completion stands and
// the member's view shows the reward as pending.
func (u *Unit) issueChallengeReward(ctx context.Context, rewardID, challengeID, memberID string, round int) (store.RedemptionRow, bool, error) {
	row, err := u.st.Q.LockReward(ctx, rewardID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RedemptionRow{}, false, nil
	}
	if err != nil {
		return store.RedemptionRow{}, false, fmt.Errorf("reward %s: %w", rewardID, err)
	}
	rw, err := decode[reward.Reward](row.Spec, "reward "+rewardID)
	if err != nil {
		return store.RedemptionRow{}, false, err
	}
	if err := rw.TakeStock(); errors.Is(err, reward.ErrOutOfStock) {
		return store.RedemptionRow{}, false, nil
	} else if err != nil {
		return store.RedemptionRow{}, false, fmt.Errorf("prize %s: %w", rewardID, err)
	}
	id := challengeRedemptionID(challengeID, memberID, round)
	code := ""
	if rw.Type == reward.TypeCoupon {
		if code, err = u.takeCoupon(ctx, rw.ID, id); err != nil {
			return store.RedemptionRow{}, false, err
		}
		if code == "" {
			return store.RedemptionRow{}, false, nil
		}
	} else if code, err = couponCode(); err != nil {
		return store.RedemptionRow{}, false, err
	}
	issued, err := rw.Issue(code, u.now)
	if err != nil {
		return store.RedemptionRow{}, false, fmt.Errorf("prize %s: %w", rewardID, err)
	}
	b, err := json.Marshal(rw)
	if err != nil {
		return store.RedemptionRow{}, false, fmt.Errorf("encode reward: %w", err)
	}
	if err := u.st.Q.UpdateReward(ctx, sqlc.UpdateRewardParams{ID: rw.ID, Status: row.Status, Spec: b, UpdatedAt: row.UpdatedAt}); err != nil {
		return store.RedemptionRow{}, false, fmt.Errorf("take stock of %s: %w", rw.ID, err)
	}
	// No ledger entry: the prize costs no points, so the redemption row is
	// the member's record of it (entry_id stays empty).
	return store.RedemptionRow{ID: id, MemberID: memberID, RewardID: rw.ID, ValueMinor: issued.Discount.Amount,
		Currency: issued.Discount.Currency, CouponCode: code, ProductID: issued.SKU, Status: "completed",
		ValidUntil: tp(issued.ExpiresAt), CreatedAt: u.now}, true, nil
}

// memberChallengeRedemptions are the prizes issued to the member, by
// redemption id.
func memberChallengeRedemptions(ctx context.Context, q *sqlc.Queries, memberID string) (map[string]Redemption, error) {
	rows, err := q.MemberChallengeRedemptions(ctx, memberID)
	if err != nil {
		return nil, fmt.Errorf("challenge prizes of %s: %w", memberID, err)
	}
	out := make(map[string]Redemption, len(rows))
	for _, r := range rows {
		out[r.ID] = redemptionFrom(r)
	}
	return out, nil
}
