package app

import (
	"context"
	"fmt"

	store "github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
)

// owePrize records a completed challenge's catalog-reward prize that could
// not be issued now; grantOwedPrizes issues it once the reward has stock.
func (u *Unit) owePrize(ctx context.Context, rewardID, challengeID, memberID string, round int) error {
	if err := u.st.Q.OweChallengePrize(ctx, sqlc.OweChallengePrizeParams{ChallengeID: challengeID, MemberID: memberID, Round: int32(round),
		RewardID: rewardID, OwedSince: u.now}); err != nil {
		return fmt.Errorf("owe prize of challenge %s to %s: %w", challengeID, memberID, err)
	}
	return nil
}

// grantOwedPrizes issues owed challenge prizes, each reward's oldest first,
// while the reward has stock (and, for coupons, pool codes), up to limit in
// all. Each prize is issued the way the completion would have issued it
// (issueChallengeReward, under the reward's row lock) and its owed row is
// deleted in the same transaction; the redemption's derived id refuses a
// second prize for the same completion whatever happens above it. The job
// runs this under its advisory lock, and the owed rows are locked too, so
// replicas running the job at once never issue a prize twice.
func (u *Unit) grantOwedPrizes(ctx context.Context, limit int) (int, error) {
	rewards, err := u.st.Q.RewardsWithOwedPrizes(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewards with owed prizes: %w", err)
	}
	granted := 0
	for _, rewardID := range rewards {
		if granted >= limit {
			break
		}
		owed, err := u.st.Q.OwedPrizes(ctx, sqlc.OwedPrizesParams{RewardID: rewardID, Lim: int32(limit - granted)})
		if err != nil {
			return granted, fmt.Errorf("owed prizes of %s: %w", rewardID, err)
		}
		var issued []store.RedemptionRow
		for _, o := range owed {
			r, ok, err := u.issueChallengeReward(ctx, o.RewardID, o.ChallengeID, o.MemberID, int(o.Round))
			if err != nil {
				return granted, fmt.Errorf("owed prize of challenge %s to %s: %w", o.ChallengeID, o.MemberID, err)
			}
			if !ok {
				// Out of stock again: the rest of this reward's queue waits.
				break
			}
			if err := u.st.Q.SettleOwedPrize(ctx, sqlc.SettleOwedPrizeParams{ChallengeID: o.ChallengeID, MemberID: o.MemberID, Round: o.Round}); err != nil {
				return granted, fmt.Errorf("settle owed prize of challenge %s to %s: %w", o.ChallengeID, o.MemberID, err)
			}
			issued = append(issued, r)
		}
		if len(issued) > 0 {
			if err := u.st.Apply(ctx, &store.Batch{Redemptions: issued}); err != nil {
				return granted, err
			}
			granted += len(issued)
		}
	}
	return granted, nil
}
