package referral

import (
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// FriendStatus is what a referrer sees for one friend. It is finer than
// Stage: a converted referral reads "reward_pending" until its hold ends,
// then "reward_payable" until paid.
type FriendStatus string

// Friend statuses.
const (
	FriendSignedUp      FriendStatus = "signed_up"
	FriendRewardPending FriendStatus = "reward_pending"
	FriendRewardPayable FriendStatus = "reward_payable"
	FriendRewarded      FriendStatus = "rewarded"
	FriendRejected      FriendStatus = "rejected"
)

// FriendProgress is one row of the referrer's "my referrals" page.
type FriendProgress struct {
	ReferralID string
	FriendID   string
	Status     FriendStatus
	ClickedAt  time.Time
	SignedUpAt time.Time
	OrderedAt  time.Time
	// PendingUntil is when the referrer's reward becomes payable.
	PendingUntil time.Time
	RewardedAt   time.Time
	// Reason is set for rejected referrals; Description is its
	// marketer-approved text, safe to show to the referrer.
	Reason      rejection.Reason
	Description string
	// Reward is what the referrer gets (or got) for this friend.
	Reward reward.Spec
}

// Progress is the row for r as of now. rewards are the referral's rewards;
// only the referrer's (or partner's) own reward is shown, never the friend's.
func (r Referral) Progress(rewards []reward.Reward, now time.Time) FriendProgress {
	p := FriendProgress{
		ReferralID: r.ID, FriendID: r.FriendID, ClickedAt: r.ClickedAt, SignedUpAt: r.SignedUpAt,
		OrderedAt: r.ConvertedAt, RewardedAt: r.RewardedAt,
	}
	for _, rw := range rewards {
		if rw.BeneficiaryID == r.ReferrerID && rw.Role != reward.RoleFriend {
			p.Reward = rw.Spec
		}
	}
	switch r.Stage {
	case StageSignedUp:
		p.Status = FriendSignedUp
	case StageConverted:
		p.PendingUntil = r.PayableAt
		p.Status = FriendRewardPending
		if !now.Before(r.PayableAt) {
			p.Status = FriendRewardPayable
		}
	case StageRewarded:
		p.Status = FriendRewarded
	case StageRejected:
		p.Status = FriendRejected
		if r.Rejection != nil {
			p.Reason = r.Rejection.Reason
			p.Description = r.Rejection.Reason.Description()
		}
	}
	return p
}

// Summary is the referrer's headline for one campaign.
type Summary struct {
	Clicks     int
	SignedUp   int
	Successful int
	Rewarded   int
	Rejected   int
	// Next is the next tier to reach; HasNext is false at the top tier or
	// for plans without tiers.
	Next    Milestone
	HasNext bool
}

// Milestone is progress toward a tiered reward.
type Milestone struct {
	// Target is the number of successful referrals the tier needs.
	Target int
	// Remaining is how many more successful referrals are needed.
	Remaining int
	// Reward is the reward per referral from that tier on.
	Reward reward.Spec
}

// Summarize aggregates a referrer's referrals in one campaign. clicks is
// the count of clicks on the referrer's code, which includes anonymous
// visitors who never signed up.
func Summarize(referrals []Referral, clicks int, plan campaign.Plan) Summary {
	s := Summary{Clicks: clicks}
	for _, r := range referrals {
		s.SignedUp++
		switch {
		case r.Successful():
			s.Successful++
			if r.Stage == StageRewarded {
				s.Rewarded++
			}
		case r.Stage == StageRejected:
			s.Rejected++
		}
	}
	if t, ok := plan.NextMilestone(s.Successful); ok {
		s.HasNext = true
		s.Next = Milestone{Target: t.MinConversions, Remaining: t.MinConversions - s.Successful, Reward: t.Reward}
	}
	return s
}
