package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres/pgdb"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

func decodeReferral(body []byte) (referral.Referral, error) {
	var r referral.Referral
	if err := json.Unmarshal(body, &r); err != nil {
		return referral.Referral{}, fmt.Errorf("decode referral: %w", err)
	}
	return r, nil
}

// CreateReferral stores a new referral; referral.ErrAlreadyReferred when the
// friend already has one. nudgeAt is when its nudge is due (zero: never).
func (s *Store) CreateReferral(ctx context.Context, r referral.Referral, nudgeAt time.Time) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode referral %s: %w", r.ID, err)
	}
	n, err := s.q.InsertReferral(ctx, pgdb.InsertReferralParams{
		ID: r.ID, CampaignID: r.CampaignID, Code: string(r.Code), ReferrerID: r.ReferrerID, FriendID: r.FriendID,
		Stage: string(r.Stage), FriendDeviceID: r.FriendDeviceID, FriendIpHash: r.FriendIPHash,
		SignedUpAt: r.SignedUpAt, ConvertedAt: ts(r.ConvertedAt), OrderValueMinor: r.OrderValue.Minor,
		NudgeAt: ts(nudgeAt), Body: body, UpdatedAt: r.UpdatedAt,
	})
	if err != nil {
		return fmt.Errorf("insert referral %s: %w", r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("referral of %s: %w", r.FriendID, referral.ErrAlreadyReferred)
	}
	return nil
}

// ReferralByFriend finds the friend's referral; referral.ErrNotFound when none.
func (s *Store) ReferralByFriend(ctx context.Context, friendID string) (referral.Referral, error) {
	body, err := s.q.ReferralByFriend(ctx, friendID)
	if errors.Is(err, pgx.ErrNoRows) {
		return referral.Referral{}, fmt.Errorf("referral of %s: %w", friendID, referral.ErrNotFound)
	}
	if err != nil {
		return referral.Referral{}, fmt.Errorf("get referral of %s: %w", friendID, err)
	}
	return decodeReferral(body)
}

// UpdateReferral locks the referral, applies fn and saves it.
func (s *Store) UpdateReferral(ctx context.Context, id string, fn func(*referral.Referral) error) error {
	body, err := s.q.LockReferral(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("referral %s: %w", id, referral.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock referral %s: %w", id, err)
	}
	r, err := decodeReferral(body)
	if err != nil {
		return err
	}
	if err := fn(&r); err != nil {
		return err
	}
	return s.saveReferral(ctx, r)
}

func (s *Store) saveReferral(ctx context.Context, r referral.Referral) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode referral %s: %w", r.ID, err)
	}
	err = s.q.UpdateReferral(ctx, pgdb.UpdateReferralParams{
		ID: r.ID, Stage: string(r.Stage), ConvertedAt: ts(r.ConvertedAt), OrderValueMinor: r.OrderValue.Minor,
		KeepNudge: r.Stage == referral.StageSignedUp && r.NudgedAt.IsZero(), Body: body, UpdatedAt: r.UpdatedAt,
	})
	if err != nil {
		return fmt.Errorf("update referral %s: %w", r.ID, err)
	}
	return nil
}

// ReferralsForReferrer pages a referrer's referrals newest first,
// optionally in one campaign.
func (s *Store) ReferralsForReferrer(ctx context.Context, referrerID, campaignID string, pageSize int, token string) ([]referral.Referral, string, error) {
	at, id, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.q.ReferralsForReferrer(ctx, pgdb.ReferralsForReferrerParams{
		ReferrerID: referrerID, CampaignID: campaignID, AfterID: id, AfterSignedUpAt: at, Lim: int32(pageSize + 1),
	})
	if err != nil {
		return nil, "", fmt.Errorf("referrals of %s: %w", referrerID, err)
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		last := rows[len(rows)-1]
		next = pageToken(last.SignedUpAt, last.ID)
	}
	out := make([]referral.Referral, 0, len(rows))
	for _, row := range rows {
		r, err := decodeReferral(row.Body)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

// ReferralsForCampaign pages a campaign's referrals newest sign-up first;
// stage "" lists every stage.
func (s *Store) ReferralsForCampaign(ctx context.Context, campaignID string, stage referral.Stage, pageSize int, token string) ([]referral.Referral, string, error) {
	at, id, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.q.ReferralsForCampaign(ctx, pgdb.ReferralsForCampaignParams{
		CampaignID: campaignID, Stage: string(stage), AfterID: id, AfterSignedUpAt: at, Lim: int32(pageSize + 1),
	})
	if err != nil {
		return nil, "", fmt.Errorf("referrals of campaign %s: %w", campaignID, err)
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		last := rows[len(rows)-1]
		next = pageToken(last.SignedUpAt, last.ID)
	}
	out := make([]referral.Referral, 0, len(rows))
	for _, row := range rows {
		r, err := decodeReferral(row.Body)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

// SuccessfulByCampaign counts a referrer's successful referrals per campaign.
func (s *Store) SuccessfulByCampaign(ctx context.Context, referrerID string) (map[string]int, error) {
	rows, err := s.q.ReferrerCampaignCounts(ctx, referrerID)
	if err != nil {
		return nil, fmt.Errorf("count referrals of %s: %w", referrerID, err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.CampaignID] = int(r.Successful)
	}
	return out, nil
}

// SignUpTimesByIP returns referred sign-up times from an IP hash since a time.
func (s *Store) SignUpTimesByIP(ctx context.Context, ipHash string, since time.Time) ([]time.Time, error) {
	if ipHash == "" {
		return nil, nil
	}
	out, err := s.q.SignUpTimesByIP(ctx, pgdb.SignUpTimesByIPParams{FriendIpHash: ipHash, SignedUpAt: since})
	if err != nil {
		return nil, fmt.Errorf("sign-ups by IP: %w", err)
	}
	return out, nil
}

// SignUpTimesByDevice returns referred sign-up times from a device since a time.
func (s *Store) SignUpTimesByDevice(ctx context.Context, deviceID string, since time.Time) ([]time.Time, error) {
	if deviceID == "" {
		return nil, nil
	}
	out, err := s.q.SignUpTimesByDevice(ctx, pgdb.SignUpTimesByDeviceParams{FriendDeviceID: deviceID, SignedUpAt: since})
	if err != nil {
		return nil, fmt.Errorf("sign-ups by device: %w", err)
	}
	return out, nil
}

// NudgeCandidates lists ids of signed-up referrals whose nudge is due at now.
func (s *Store) NudgeCandidates(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := s.q.NudgeCandidates(ctx, pgdb.NudgeCandidatesParams{NudgeAt: ts(now), Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("nudge candidates: %w", err)
	}
	return ids, nil
}

// ReferrerDevices lists devices the customer signed up on as a referred friend.
func (s *Store) ReferrerDevices(ctx context.Context, customerID string) ([]string, error) {
	out, err := s.q.ReferrerDevices(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", customerID, err)
	}
	return out, nil
}

// ---- rewards

func decodeReward(body []byte) (reward.Reward, error) {
	var r reward.Reward
	if err := json.Unmarshal(body, &r); err != nil {
		return reward.Reward{}, fmt.Errorf("decode reward: %w", err)
	}
	return r, nil
}

// SaveReward writes a changed reward.
func (s *Store) SaveReward(ctx context.Context, r reward.Reward) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode reward %s: %w", r.ID, err)
	}
	if err := s.q.UpdateReward(ctx, pgdb.UpdateRewardParams{ID: string(r.ID), Status: string(r.Status), Body: body}); err != nil {
		return fmt.Errorf("update reward %s: %w", r.ID, err)
	}
	return nil
}

// RewardsForReferral lists and locks a referral's rewards.
func (s *Store) RewardsForReferral(ctx context.Context, referralID string) ([]reward.Reward, error) {
	bodies, err := s.q.RewardsForReferral(ctx, referralID)
	if err != nil {
		return nil, fmt.Errorf("rewards of %s: %w", referralID, err)
	}
	out := make([]reward.Reward, 0, len(bodies))
	for _, b := range bodies {
		r, err := decodeReward(b)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RewardsForReferrals lists the rewards of several referrals by referral id.
func (s *Store) RewardsForReferrals(ctx context.Context, ids []string) (map[string][]reward.Reward, error) {
	rows, err := s.q.RewardsForReferrals(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("rewards of referrals: %w", err)
	}
	out := make(map[string][]reward.Reward)
	for _, row := range rows {
		r, err := decodeReward(row.Body)
		if err != nil {
			return nil, err
		}
		out[row.ReferralID] = append(out[row.ReferralID], r)
	}
	return out, nil
}

// DueReferrals returns ids of referrals with rewards past their hold at now,
// skipping rows another payer holds.
func (s *Store) DueReferrals(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids, err := s.q.DueRewards(ctx, pgdb.DueRewardsParams{PayableAt: now, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("due rewards: %w", err)
	}
	seen := map[string]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// DrawCoupon implements reward.CouponPool: the reward's coupon, drawing a
// free one from the pool on first call; reward.ErrPoolEmpty when none is left.
func (s *Store) DrawCoupon(ctx context.Context, pool string, id reward.ID) (string, error) {
	c, err := s.q.DrawCoupon(ctx, pgdb.DrawCouponParams{RewardID: string(id), Pool: pool})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("pool %s: %w", pool, reward.ErrPoolEmpty)
	}
	if err != nil {
		return "", fmt.Errorf("draw coupon from %s: %w", pool, err)
	}
	return c, nil
}

// AddCoupons adds codes to a coupon pool and returns how many were new;
// codes already there are skipped.
func (s *Store) AddCoupons(ctx context.Context, pool string, codes ...string) (int64, error) {
	n, err := s.q.AddCoupons(ctx, pgdb.AddCouponsParams{Pool: pool, Codes: codes})
	if err != nil {
		return 0, fmt.Errorf("add coupons to %s: %w", pool, err)
	}
	return n, nil
}

// CouponLevels is a coupon pool's level.
type CouponLevels struct {
	// Available codes are unused; Given ones went to rewards; Waiting
	// counts rewards that met the empty pool and wait for a code.
	Available, Given, Waiting int64
}

// CouponPoolLevels reads a coupon pool's level.
func (s *Store) CouponPoolLevels(ctx context.Context, pool string) (CouponLevels, error) {
	r, err := s.q.CouponPoolLevels(ctx, pool)
	if err != nil {
		return CouponLevels{}, fmt.Errorf("levels of coupon pool %s: %w", pool, err)
	}
	return CouponLevels{Available: r.Available, Given: r.Given, Waiting: r.Waiting}, nil
}
