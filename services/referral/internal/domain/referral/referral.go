// Package referral is one friend's journey through a campaign: opened at
// sign-up (accepted or rejected by the fraud and eligibility screens),
// converted by the first qualifying order, rewarded after the hold period
// or voided by a refund within it; plus the progress a referrer sees and
// the one-time nudge for friends who signed up but did not order.
//
//	signed_up ──qualifying order──> converted ──all rewards paid──> rewarded
//	    │                              │
//	    └──screen/conditions──> rejected <──refund/cancel within hold──┘
//
// A friend can be referred once, ever: referral programs pay for new
// customers, so the referral id is derived from the friend's id and a
// second attribution for the same friend is rejected as already_referred.
package referral

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// Stage is where a referral is in its journey.
type Stage string

// Stages.
const (
	StageSignedUp  Stage = "signed_up"
	StageConverted Stage = "converted"
	StageRewarded  Stage = "rewarded"
	StageRejected  Stage = "rejected"
)

// Errors of the referral lifecycle.
var (
	// ErrNotFound is returned by a Repository when no referral matches.
	ErrNotFound = errors.New("referral not found")
	// ErrAlreadyReferred is returned by Repository.Create when the friend
	// already has a referral.
	ErrAlreadyReferred = errors.New("friend already referred")
	// ErrAlreadyConverted: the referral converted before; a redelivered
	// order event must change nothing, so callers treat this as done.
	ErrAlreadyConverted = errors.New("referral already converted")
	// ErrClosed: the referral was rejected and can no longer change.
	ErrClosed = errors.New("referral closed")
	// ErrAlreadyNudged: the nudge was sent before.
	ErrAlreadyNudged = errors.New("referral already nudged")
)

// Referral is one friend referred through one code.
type Referral struct {
	ID         string
	CampaignID string
	Code       code.Code
	// ReferrerKind and ReferrerID name the code owner (customer or partner).
	ReferrerKind code.OwnerKind
	ReferrerID   string
	// Partner snapshots the partner terms at sign-up, so later edits of
	// the code do not change what an attributed referral pays.
	Partner  *code.PartnerTerms
	FriendID string

	ClickID    string
	ClickedAt  time.Time
	SignedUpAt time.Time
	Model      attribution.Model
	// The friend's sign-up evidence, hashed; kept so velocity rules can
	// count recent sign-ups per IP and device and support can review a case.
	FriendDeviceID  string
	FriendIPHash    string
	FriendEmailHash string
	FriendPhoneHash string

	Stage       Stage
	OrderID     string
	OrderValue  money.Money
	ConvertedAt time.Time
	// PayableAt is when the hold ends and the rewards become payable.
	PayableAt  time.Time
	RewardedAt time.Time
	// Rejection is the reason shown for a rejected referral.
	Rejection *rejection.Rejection
	// Decisions records every failed rule with evidence, including those
	// beyond the primary rejection, and ScreenedRules every rule that ran.
	Decisions     []*rejection.Rejection
	ScreenedRules []string
	NudgedAt      time.Time
	UpdatedAt     time.Time
}

// NewID derives the referral id from the friend's customer id (a friend is
// referred at most once), so a retried attribution maps to the same row.
func NewID(friendID string) string {
	sum := sha256.Sum256([]byte("referral:" + friendID))
	return "ref_" + hex.EncodeToString(sum[:12])
}

// OpenParams are the inputs of Open, gathered by the app layer.
type OpenParams struct {
	Campaign campaign.Campaign
	Code     code.Record
	Touch    attribution.Touch
	SignUp   attribution.SignUp
	// Screening is fraud.Screen's result for this sign-up.
	Screening fraud.Result
	// Ineligible is the referrer eligibility check's result (customer codes
	// only); nil when eligible.
	Ineligible *rejection.Rejection
}

// Open creates the referral for a sign-up. Rejected sign-ups still create a
// referral, in the rejected stage with the evidence, because the decision
// must be recorded and shown to the referrer and the marketer. An error is
// returned only for inconsistent input.
func Open(p OpenParams) (Referral, error) {
	var v validation.Collector
	v.Nest("", p.SignUp.Validate())
	if p.Code.CampaignID != p.Campaign.ID {
		v.Add("code", "belongs to campaign %q, not %q", p.Code.CampaignID, p.Campaign.ID)
	}
	if p.Touch.Code != p.Code.Code {
		v.Add("code", "attributed code %q does not match the code record %q", p.Touch.Code, p.Code.Code)
	}
	if err := v.Err(); err != nil {
		return Referral{}, err
	}
	r := Referral{
		ID: NewID(p.SignUp.FriendID), CampaignID: p.Campaign.ID, Code: p.Code.Code,
		ReferrerKind: p.Code.OwnerKind, ReferrerID: p.Code.OwnerID, Partner: p.Code.Partner,
		FriendID: p.SignUp.FriendID, ClickID: p.Touch.ClickID, ClickedAt: p.Touch.ClickedAt,
		SignedUpAt: p.SignUp.At, Model: p.Touch.Model, Stage: StageSignedUp,
		FriendDeviceID: p.SignUp.DeviceID, FriendIPHash: p.SignUp.IPHash,
		FriendEmailHash: p.SignUp.EmailHash, FriendPhoneHash: p.SignUp.PhoneHash,
		ScreenedRules: p.Screening.Checked, UpdatedAt: p.SignUp.At,
	}
	if !p.Campaign.LiveAt(p.SignUp.At) {
		// The campaign state is the primary reason, but fraud findings are
		// still recorded: they matter if the same friend shows up again.
		r.Decisions = append(r.Decisions, rejection.New(rejection.CampaignNotActive, "campaign_live", p.SignUp.At,
			"campaign_id", p.Campaign.ID, "status", string(p.Campaign.StatusAt(p.SignUp.At))))
	}
	r.Decisions = append(r.Decisions, p.Screening.Rejections...)
	if p.Ineligible != nil && p.Code.OwnerKind == code.OwnerCustomer {
		r.Decisions = append(r.Decisions, p.Ineligible)
	}
	if len(r.Decisions) > 0 {
		r.Stage = StageRejected
		r.Rejection = r.Decisions[0]
	}
	return r, nil
}

// reject closes the referral with why, keeping it in Decisions as well.
func (r *Referral) reject(why *rejection.Rejection) {
	r.Stage = StageRejected
	r.Rejection = why
	r.Decisions = append(r.Decisions, why)
	r.UpdatedAt = why.At
}

// Successful reports whether the referral counts toward the referrer's
// caps and tiers: converted (reward pending) or rewarded. Pending ones
// count so concurrent conversions cannot overshoot a cap.
func (r Referral) Successful() bool {
	return r.Stage == StageConverted || r.Stage == StageRewarded
}

// Conversion is the outcome of offering an order to a referral.
type Conversion struct {
	Verdict campaign.Verdict
	// Rejection is set for Verdict Reject.
	Rejection *rejection.Rejection
	// Rewards are the new pending rewards for Verdict Qualifies, one per
	// beneficiary; their costs are already reserved in the budget.
	Rewards []reward.Reward
	Cost    reward.Cost
}

// ConvertParams are the inputs of Convert.
type ConvertParams struct {
	Campaign campaign.Campaign
	Order    campaign.Order
	// ReferrerSuccessful counts the referrer's successful referrals in this
	// campaign before this one (see Successful), for caps and tiers.
	ReferrerSuccessful int
	// Budget is the campaign's budget, locked by the caller; it is changed
	// only when the referral converts.
	Budget *campaign.Budget
}

// Convert offers a friend's order to the referral. On Qualifies the
// referral is converted and the rewards (pending until the hold ends,
// counted from the order time so reprocessing gives the same dates) are
// returned for the caller to store; on Reject it is closed with the reason;
// on Wait nothing changes. A repeat of the converting order returns
// ErrAlreadyConverted so a redelivered order event converts once.
//
// Checks run in this order: campaign live at the order time, conditions,
// referrer cap (customer referrers only: partner deals are uncapped by
// contract), then the budget, so a rejection names the most specific
// reason and budget is only reserved for an otherwise valid conversion.
func (r *Referral) Convert(p ConvertParams) (Conversion, error) {
	o := p.Order
	switch r.Stage {
	case StageConverted, StageRewarded:
		return Conversion{}, fmt.Errorf("convert referral %s with order %s (converted by %s): %w", r.ID, o.ID, r.OrderID, ErrAlreadyConverted)
	case StageRejected:
		return Conversion{}, fmt.Errorf("convert referral %s: %w", r.ID, ErrClosed)
	}
	if p.Campaign.ID != r.CampaignID {
		return Conversion{}, fmt.Errorf("convert referral %s of campaign %s with campaign %s: wrong campaign", r.ID, r.CampaignID, p.Campaign.ID)
	}
	if p.Budget == nil {
		return Conversion{}, fmt.Errorf("convert referral %s: no budget given", r.ID)
	}
	rejectWith := func(why *rejection.Rejection) (Conversion, error) {
		r.reject(why)
		return Conversion{Verdict: campaign.Reject, Rejection: why}, nil
	}
	if o.PlacedAt.Before(r.SignedUpAt) {
		return Conversion{Verdict: campaign.Wait}, nil
	}
	c := p.Campaign
	if !c.LiveAt(o.PlacedAt) {
		return rejectWith(rejection.New(rejection.CampaignNotActive, "campaign_live", o.PlacedAt,
			"campaign_id", c.ID, "status", string(c.StatusAt(o.PlacedAt)), "order_id", o.ID))
	}
	verdict, why := c.Conditions.Evaluate(c.Currency, o, r.ClickedAt, r.SignedUpAt)
	switch verdict {
	case campaign.Wait:
		return Conversion{Verdict: campaign.Wait}, nil
	case campaign.Reject:
		return rejectWith(why)
	}
	if r.ReferrerKind == code.OwnerCustomer {
		if why := fraud.ReferrerCap(r.ReferrerID, p.ReferrerSuccessful, c.Caps.RewardsPerReferrer, o.PlacedAt); why != nil {
			return rejectWith(why)
		}
	}

	referrerRole, referrerSpec, friendSpec := reward.RoleReferrer, c.ReferrerReward.RewardFor(p.ReferrerSuccessful+1), c.FriendReward
	if r.ReferrerKind == code.OwnerPartner && r.Partner != nil {
		referrerRole, referrerSpec, friendSpec = reward.RolePartner, r.Partner.PartnerReward, r.Partner.FriendReward
	}
	var rewards []reward.Reward
	var total reward.Cost
	for _, b := range []struct {
		role reward.Role
		id   string
		spec reward.Spec
	}{{referrerRole, r.ReferrerID, referrerSpec}, {reward.RoleFriend, r.FriendID, friendSpec}} {
		if b.spec.IsZero() {
			continue
		}
		rw := reward.New(reward.NewParams{
			ReferralID: r.ID, CampaignID: r.CampaignID, Role: b.role, BeneficiaryID: b.id,
			Spec: b.spec, OrderValue: o.Value, ConvertedAt: o.PlacedAt, Hold: c.HoldPeriod,
		})
		sum, err := total.Add(rw.Cost)
		if err != nil {
			return Conversion{}, fmt.Errorf("convert referral %s: %w", r.ID, err)
		}
		total = sum
		rewards = append(rewards, rw)
	}
	if err := p.Budget.Reserve(total, o.PlacedAt); err != nil {
		var rej *rejection.Rejection
		if errors.As(err, &rej) {
			return rejectWith(rej)
		}
		return Conversion{}, fmt.Errorf("convert referral %s: %w", r.ID, err)
	}
	r.Stage = StageConverted
	r.OrderID = o.ID
	r.OrderValue = o.Value
	r.ConvertedAt = o.PlacedAt
	r.PayableAt = o.PlacedAt.Add(c.HoldPeriod)
	r.UpdatedAt = o.PlacedAt
	return Conversion{Verdict: campaign.Qualifies, Rewards: rewards, Cost: total}, nil
}

// Reversal is a refund or cancellation of a friend's order.
type Reversal struct {
	OrderID   string
	Cancelled bool
	// Refunded is the total refunded so far on the order (for partial
	// refunds); ignored for cancellations.
	Refunded money.Money
	At       time.Time
}

// Reverse applies a refund or cancellation of the converting order to the
// referral and its rewards. The rewards are voided, their cost returned to
// the budget and the referral rejected when the event happened before the
// hold ended and the order was cancelled, fully refunded, or partly refunded
// below the campaign's minimum order value. It reports whether it voided;
// events for other orders, after the hold, or repeated change nothing.
func (r *Referral) Reverse(c campaign.Campaign, rev Reversal, rewards []*reward.Reward, budget *campaign.Budget) (bool, error) {
	if r.Stage != StageConverted || rev.OrderID != r.OrderID || !rev.At.Before(r.PayableAt) {
		return false, nil
	}
	if !rev.Cancelled {
		if rev.Refunded.Currency != r.OrderValue.Currency {
			return false, fmt.Errorf("reverse referral %s: refund in %q for an order in %q: %w", r.ID, rev.Refunded.Currency, r.OrderValue.Currency, money.ErrCurrencyMismatch)
		}
		kept := r.OrderValue.Minor - rev.Refunded.Minor
		full := kept <= 0
		belowMin := !c.Conditions.MinOrderValue.IsZero() && kept < c.Conditions.MinOrderValue.Minor
		if !full && !belowMin {
			return false, nil
		}
	}
	why := fraud.OrderReversal(rev.OrderID, rev.Cancelled, rev.At)
	if !rev.Cancelled {
		why.Evidence["order_value"] = r.OrderValue.String()
		why.Evidence["refunded"] = rev.Refunded.String()
	}
	for _, rw := range rewards {
		if rw.ReferralID != r.ID {
			return false, fmt.Errorf("reverse referral %s: reward %s belongs to referral %s", r.ID, rw.ID, rw.ReferralID)
		}
		if rw.Status == reward.StatusVoided {
			continue
		}
		if err := rw.Void(rev.At, why); err != nil {
			return false, fmt.Errorf("reverse referral %s: %w", r.ID, err)
		}
		if budget != nil {
			if err := budget.Release(rw.Cost); err != nil {
				return false, fmt.Errorf("reverse referral %s: %w", r.ID, err)
			}
		}
	}
	r.reject(why)
	return true, nil
}

// Settle marks the referral rewarded once every one of its rewards is paid;
// it reports whether the stage changed.
func (r *Referral) Settle(rewards []reward.Reward, now time.Time) bool {
	if r.Stage != StageConverted || len(rewards) == 0 {
		return false
	}
	for _, rw := range rewards {
		if rw.Status != reward.StatusPaid {
			return false
		}
	}
	r.Stage = StageRewarded
	r.RewardedAt = now
	r.UpdatedAt = now
	return true
}

// NudgeAt is when the friend should be nudged to place an order: NudgeAfter
// after sign-up, for referrals still waiting for an order and not nudged
// yet. No nudge is due when the campaign has none configured or the
// attribution window closes before the nudge would go out, since an order
// could no longer convert.
func (r Referral) NudgeAt(c campaign.Campaign) (time.Time, bool) {
	if r.Stage != StageSignedUp || !r.NudgedAt.IsZero() || c.NudgeAfter <= 0 {
		return time.Time{}, false
	}
	at := r.SignedUpAt.Add(c.NudgeAfter)
	if end, ok := c.Conditions.WindowEnd(r.ClickedAt, r.SignedUpAt); ok && !at.Before(end) {
		return time.Time{}, false
	}
	return at, true
}

// NudgeDue reports whether the nudge should be emitted at now.
func (r Referral) NudgeDue(c campaign.Campaign, now time.Time) bool {
	at, ok := r.NudgeAt(c)
	return ok && !now.Before(at)
}

// MarkNudged records that ReferralNudgeDue was emitted, exactly once.
func (r *Referral) MarkNudged(now time.Time) error {
	if !r.NudgedAt.IsZero() {
		return fmt.Errorf("nudge referral %s: %w", r.ID, ErrAlreadyNudged)
	}
	r.NudgedAt = now
	r.UpdatedAt = now
	return nil
}

// Repository stores referrals.
type Repository interface {
	// Create stores r; ErrAlreadyReferred when the friend has a referral.
	Create(ctx context.Context, r Referral) error
	Get(ctx context.Context, id string) (Referral, error)
	// ByFriend finds the friend's referral; ErrNotFound when none.
	ByFriend(ctx context.Context, friendID string) (Referral, error)
	// Update loads the referral FOR UPDATE, applies fn and saves it.
	Update(ctx context.Context, id string, fn func(*Referral) error) error
	// ForReferrer pages the referrer's referrals, newest first.
	ForReferrer(ctx context.Context, referrerID string, pageSize int, pageToken string) ([]Referral, string, error)
	// CountSuccessful counts the referrer's successful referrals in a campaign.
	CountSuccessful(ctx context.Context, campaignID, referrerID string) (int, error)
	// SignUpTimesByIP and SignUpTimesByDevice return the sign-up times of
	// referrals (accepted or rejected) with the given friend IP hash or
	// device id at or after since, for fraud.Input's velocity evidence.
	SignUpTimesByIP(ctx context.Context, ipHash string, since time.Time) ([]time.Time, error)
	SignUpTimesByDevice(ctx context.Context, deviceID string, since time.Time) ([]time.Time, error)
	// NudgeCandidates lists signed-up, un-nudged referrals that signed up
	// at or before the given time, for the nudge worker to check NudgeDue.
	NudgeCandidates(ctx context.Context, signedUpBefore time.Time, limit int) ([]Referral, error)
}
