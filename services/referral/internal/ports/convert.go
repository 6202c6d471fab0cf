package ports

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

const day = 24 * time.Hour

func pbTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC().Truncate(time.Microsecond)
}

func fromMoney(m *commercev1.Money) money.Money {
	if m == nil {
		return money.Money{}
	}
	return money.New(m.GetAmountMinor(), m.GetCurrency())
}

func toMoney(m money.Money) *commercev1.Money {
	if m.IsZero() {
		return nil
	}
	return &commercev1.Money{AmountMinor: m.Minor, Currency: m.Currency}
}

func fromSpec(s *referralv1.RewardSpec) reward.Spec {
	switch s.GetKind() {
	case referralv1.RewardKind_REWARD_KIND_POINTS:
		return reward.Spec{Kind: reward.KindPoints, Points: s.GetPoints()}
	case referralv1.RewardKind_REWARD_KIND_FIXED_DISCOUNT:
		return reward.Spec{Kind: reward.KindFixedDiscount, Amount: fromMoney(s.GetDiscount()), CouponPool: s.GetCouponPool()}
	case referralv1.RewardKind_REWARD_KIND_PERCENT_DISCOUNT:
		return reward.Spec{Kind: reward.KindPercentDiscount, PercentBps: int64(s.GetPercentOffBps()), MaxDiscount: fromMoney(s.GetMaxDiscount()), CouponPool: s.GetCouponPool()}
	}
	return reward.Spec{}
}

func toSpec(s reward.Spec) *referralv1.RewardSpec {
	switch s.Kind {
	case reward.KindPoints:
		return &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: s.Points}
	case reward.KindFixedDiscount:
		return &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_FIXED_DISCOUNT, Discount: toMoney(s.Amount), CouponPool: s.CouponPool}
	case reward.KindPercentDiscount:
		return &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_PERCENT_DISCOUNT, PercentOffBps: int32(s.PercentBps), MaxDiscount: toMoney(s.MaxDiscount), CouponPool: s.CouponPool}
	}
	return nil
}

// campaignCurrency is the one currency of a campaign's amounts, taken from
// the first amount given; the domain rejects campaigns that mix currencies.
func campaignCurrency(pc *referralv1.Campaign) string {
	amounts := []*commercev1.Money{
		pc.GetConditions().GetMinOrderValue(), pc.GetCaps().GetBudgetValue(),
		pc.GetReferrerReward().GetDiscount(), pc.GetReferrerReward().GetMaxDiscount(),
		pc.GetFriendReward().GetDiscount(), pc.GetFriendReward().GetMaxDiscount(),
	}
	for _, st := range pc.GetReferrerRewardSteps() {
		amounts = append(amounts, st.GetReward().GetDiscount(), st.GetReward().GetMaxDiscount())
	}
	for _, m := range amounts {
		if m.GetCurrency() != "" {
			return m.GetCurrency()
		}
	}
	return ""
}

func campaignParams(pc *referralv1.Campaign) campaign.NewParams {
	plan := campaign.Plan{Base: fromSpec(pc.GetReferrerReward())}
	for _, st := range pc.GetReferrerRewardSteps() {
		plan.Tiers = append(plan.Tiers, campaign.Tier{MinConversions: int(st.GetMinConversions()), Reward: fromSpec(st.GetReward())})
	}
	cond := pc.GetConditions()
	return campaign.NewParams{
		Name: pc.GetName(), Description: pc.GetDescription(),
		StartsAt: fromTime(pc.GetStartsAt()), EndsAt: fromTime(pc.GetEndsAt()),
		ReferrerReward: plan, FriendReward: fromSpec(pc.GetFriendReward()),
		Conditions: campaign.Conditions{
			FirstOrderOnly: cond.GetFirstOrderOnly(), MinOrderValue: fromMoney(cond.GetMinOrderValue()),
			AttributionWindow: time.Duration(cond.GetAttributionWindowDays()) * day, WindowFrom: windowFromProto[cond.GetAttributionWindowFrom()],
		},
		Eligibility: campaign.Eligibility{
			Segments: pc.GetEligibility().GetSegmentIds(), RequireOrder: pc.GetEligibility().GetRequiresOrder(), Tiers: pc.GetEligibility().GetTierIds(),
		},
		Caps: campaign.Caps{
			RewardsPerReferrer: int(pc.GetCaps().GetMaxRewardsPerReferrer()), BudgetPoints: pc.GetCaps().GetBudgetPoints(),
			BudgetMoney: fromMoney(pc.GetCaps().GetBudgetValue()),
		},
		Currency:         campaignCurrency(pc),
		HoldPeriod:       time.Duration(cond.GetHoldPeriodDays()) * day,
		NudgeAfter:       time.Duration(cond.GetNudgeAfterHours()) * time.Hour,
		ShareBaseURL:     pc.GetShareUrlTemplate(),
		AttributionModel: modelFromProto[pc.GetAttributionModel()],
	}
}

var statusToProto = map[campaign.Status]referralv1.CampaignStatus{
	campaign.StatusDraft:     referralv1.CampaignStatus_CAMPAIGN_STATUS_DRAFT,
	campaign.StatusScheduled: referralv1.CampaignStatus_CAMPAIGN_STATUS_SCHEDULED,
	campaign.StatusActive:    referralv1.CampaignStatus_CAMPAIGN_STATUS_ACTIVE,
	campaign.StatusPaused:    referralv1.CampaignStatus_CAMPAIGN_STATUS_PAUSED,
	campaign.StatusEnded:     referralv1.CampaignStatus_CAMPAIGN_STATUS_ENDED,
}

var statusFromProto = map[referralv1.CampaignStatus]campaign.Status{
	referralv1.CampaignStatus_CAMPAIGN_STATUS_DRAFT:     campaign.StatusDraft,
	referralv1.CampaignStatus_CAMPAIGN_STATUS_SCHEDULED: campaign.StatusScheduled,
	referralv1.CampaignStatus_CAMPAIGN_STATUS_ACTIVE:    campaign.StatusActive,
	referralv1.CampaignStatus_CAMPAIGN_STATUS_PAUSED:    campaign.StatusPaused,
	referralv1.CampaignStatus_CAMPAIGN_STATUS_ENDED:     campaign.StatusEnded,
}

// windowFromProto maps the window anchor; unspecified is the click.
var windowFromProto = map[referralv1.AttributionWindowFrom]campaign.WindowAnchor{
	referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_UNSPECIFIED: campaign.FromClick,
	referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_CLICK:       campaign.FromClick,
	referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_SIGN_UP:     campaign.FromSignUp,
}

var windowToProto = map[campaign.WindowAnchor]referralv1.AttributionWindowFrom{
	campaign.FromClick:  referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_CLICK,
	campaign.FromSignUp: referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_SIGN_UP,
}

// stageFromProto maps a referral status filter to the stored stage;
// unspecified lists all. CLICKED is not a stage of a stored referral.
var stageFromProto = map[referralv1.ReferralStatus]referral.Stage{
	referralv1.ReferralStatus_REFERRAL_STATUS_UNSPECIFIED: "",
	referralv1.ReferralStatus_REFERRAL_STATUS_SIGNED_UP:   referral.StageSignedUp,
	referralv1.ReferralStatus_REFERRAL_STATUS_CONVERTED:   referral.StageConverted,
	referralv1.ReferralStatus_REFERRAL_STATUS_REWARDED:    referral.StageRewarded,
	referralv1.ReferralStatus_REFERRAL_STATUS_REJECTED:    referral.StageRejected,
}

var modelToProto = map[attribution.Model]referralv1.AttributionModel{
	attribution.LastClick:  referralv1.AttributionModel_ATTRIBUTION_MODEL_LAST_CLICK,
	attribution.FirstClick: referralv1.AttributionModel_ATTRIBUTION_MODEL_FIRST_CLICK,
}

// modelFromProto maps the API's model; unspecified is last click.
var modelFromProto = map[referralv1.AttributionModel]attribution.Model{
	referralv1.AttributionModel_ATTRIBUTION_MODEL_UNSPECIFIED: attribution.LastClick,
	referralv1.AttributionModel_ATTRIBUTION_MODEL_LAST_CLICK:  attribution.LastClick,
	referralv1.AttributionModel_ATTRIBUTION_MODEL_FIRST_CLICK: attribution.FirstClick,
}

func toCampaign(c campaign.Campaign, now time.Time) *referralv1.Campaign {
	out := &referralv1.Campaign{
		CampaignId: c.ID, Name: c.Name, Description: c.Description, Status: statusToProto[c.StatusAt(now)],
		ReferrerReward: toSpec(c.ReferrerReward.Base), FriendReward: toSpec(c.FriendReward),
		Conditions: &referralv1.CampaignConditions{
			MinOrderValue:         toMoney(c.Conditions.MinOrderValue),
			AttributionWindowDays: int32(c.Conditions.AttributionWindow / day),
			HoldPeriodDays:        int32(c.HoldPeriod / day),
			FirstOrderOnly:        c.Conditions.FirstOrderOnly,
			NudgeAfterHours:       int32(c.NudgeAfter / time.Hour),
			AttributionWindowFrom: windowToProto[c.Conditions.WindowFrom],
		},
		Eligibility: &referralv1.ReferrerEligibility{SegmentIds: c.Eligibility.Segments, RequiresOrder: c.Eligibility.RequireOrder, TierIds: c.Eligibility.Tiers},
		Caps: &referralv1.CampaignCaps{
			MaxRewardsPerReferrer: int32(c.Caps.RewardsPerReferrer), BudgetPoints: c.Caps.BudgetPoints, BudgetValue: toMoney(c.Caps.BudgetMoney),
		},
		ShareUrlTemplate: c.ShareBaseURL, AttributionModel: modelToProto[c.Model()],
		StartsAt: pbTime(c.StartsAt), EndsAt: pbTime(c.EndsAt), CreatedAt: pbTime(c.CreatedAt), UpdatedAt: pbTime(c.UpdatedAt),
	}
	for _, t := range c.ReferrerReward.Tiers {
		out.ReferrerRewardSteps = append(out.ReferrerRewardSteps, &referralv1.RewardStep{MinConversions: int32(t.MinConversions), Reward: toSpec(t.Reward)})
	}
	return out
}

func toCode(c app.IssuedCode) *referralv1.ReferralCode {
	out := &referralv1.ReferralCode{Code: string(c.Code), CampaignId: c.CampaignID, ShareUrl: c.ShareURL, CreatedAt: pbTime(c.CreatedAt)}
	switch {
	case c.OwnerKind == code.OwnerPartner:
		out.PartnerId, out.Kind = c.OwnerID, referralv1.CodeKind_CODE_KIND_PARTNER
	case c.Vanity:
		out.CustomerId, out.Kind = c.OwnerID, referralv1.CodeKind_CODE_KIND_VANITY
	default:
		out.CustomerId, out.Kind = c.OwnerID, referralv1.CodeKind_CODE_KIND_CUSTOMER
	}
	return out
}

func toDecision(r *rejection.Rejection) *referralv1.Decision {
	if r == nil {
		return nil
	}
	return &referralv1.Decision{ReasonCode: string(r.Reason), Rule: r.Rule, Description: r.Reason.Description(), Evidence: r.Evidence, DecidedAt: pbTime(r.At)}
}

var stageToProto = map[referral.Stage]referralv1.ReferralStatus{
	referral.StageSignedUp:  referralv1.ReferralStatus_REFERRAL_STATUS_SIGNED_UP,
	referral.StageConverted: referralv1.ReferralStatus_REFERRAL_STATUS_CONVERTED,
	referral.StageRewarded:  referralv1.ReferralStatus_REFERRAL_STATUS_REWARDED,
	referral.StageRejected:  referralv1.ReferralStatus_REFERRAL_STATUS_REJECTED,
}

func toAttribution(a app.Attributed) *referralv1.Attribution {
	if a.Referral.ID == "" {
		return &referralv1.Attribution{
			Status: referralv1.ReferralStatus_REFERRAL_STATUS_REJECTED, RejectionReason: app.ReasonToProto(a.Rejection.Reason),
			Decision: toDecision(a.Rejection), CreatedAt: pbTime(a.Rejection.At), Code: a.Rejection.Evidence["code"],
		}
	}
	r := a.Referral
	out := &referralv1.Attribution{
		AttributionId: r.ID, CampaignId: r.CampaignID, Code: string(r.Code), ReferrerCustomerId: r.ReferrerID,
		CustomerId: r.FriendID, ClickId: r.ClickID, Status: stageToProto[r.Stage], CreatedAt: pbTime(r.SignedUpAt),
	}
	if r.Rejection != nil {
		out.RejectionReason = app.ReasonToProto(r.Rejection.Reason)
		out.Decision = toDecision(r.Rejection)
	}
	return out
}

// friendName is what a referrer sees of a friend: the service holds no
// names (only ids and hashes), so a stable, non-identifying label.
func friendName(id string) string {
	if len(id) <= 4 {
		return "Friend"
	}
	return "Friend …" + id[len(id)-4:]
}

func toReferral(f app.FriendView) *referralv1.Referral {
	r, p := f.Referral, f.Progress
	out := &referralv1.Referral{
		AttributionId: r.ID, CampaignId: r.CampaignID, FriendDisplayName: friendName(r.FriendID),
		Status: stageToProto[r.Stage], Reward: toSpec(p.Reward), RewardPendingUntil: pbTime(p.PendingUntil),
		ClickedAt: pbTime(r.ClickedAt), SignedUpAt: pbTime(r.SignedUpAt), ConvertedAt: pbTime(r.ConvertedAt), RewardedAt: pbTime(r.RewardedAt),
	}
	if r.Rejection != nil {
		out.RejectionReason = app.ReasonToProto(r.Rejection.Reason)
		out.RejectionDescription = r.Rejection.Reason.Description()
	}
	return out
}
