package ports

import (
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/affinity-platform/affinity/pkg/validate"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

// Limits of request fields.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxIDLength     = 128
	maxDays         = 365
	maxTopReferrers = 100
	maxTextLength   = 2000
)

// validators checks every request's fields before a handler runs, naming
// each bad field by its proto path. Checks that need stored state (does the
// campaign exist) are the handlers'; domain rules that go beyond shape are
// checked again by the domain and reported the same way.
func validators() *validate.Registry {
	r := validate.NewRegistry()
	validate.Register(r, func(req *referralv1.CreateCampaignRequest) error {
		var vs validate.Violations
		checkCampaign(&vs, req.GetCampaign())
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.UpdateCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		checkCampaign(&vs, req.GetCampaign())
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.ListCampaignsRequest) error {
		var vs validate.Violations
		checkPageSize(&vs, req.GetPageSize())
		if _, ok := referralv1.CampaignStatus_name[int32(req.GetStatus())]; !ok {
			vs.Add("status", "is not a campaign status")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.GetCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.ActivateCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.PauseCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.ScheduleCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		if ts := req.GetStartsAt(); ts != nil && !ts.IsValid() {
			vs.Add("starts_at", "is not a valid timestamp")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.EndCampaignRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.AddCouponCodesRequest) error {
		var vs validate.Violations
		checkID(&vs, "pool", req.GetPool(), true)
		checkCouponCodes(&vs, req.GetCodes())
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.GetCouponPoolRequest) error {
		var vs validate.Violations
		checkID(&vs, "pool", req.GetPool(), true)
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.CreateReferralCodeRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		partner := req.GetPartnerId() != ""
		checkID(&vs, "customer_id", req.GetCustomerId(), !partner)
		checkID(&vs, "partner_id", req.GetPartnerId(), false)
		if partner && req.GetCustomerId() != "" {
			vs.Add("partner_id", "a code belongs to a customer or a partner, not both")
		}
		if req.GetVanityCode() != "" {
			if _, err := code.Vanity(req.GetVanityCode()); err != nil {
				vs.Add("vanity_code", violationText(err))
			}
		}
		if partner {
			if req.GetVanityCode() == "" {
				vs.Add("vanity_code", "is required for a partner code")
			}
			if req.GetPartnerReward() == nil && req.GetPartnerFriendReward() == nil {
				vs.Add("partner_reward", "a partner code needs a partner reward, a friend reward or both")
			}
			checkSpec(&vs, "partner_reward", req.GetPartnerReward())
			checkSpec(&vs, "partner_friend_reward", req.GetPartnerFriendReward())
		} else if req.GetPartnerReward() != nil || req.GetPartnerFriendReward() != nil {
			vs.Add("partner_id", "is required with partner rewards")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.RecordClickRequest) error {
		var vs validate.Violations
		checkCode(&vs, "code", req.GetCode(), true)
		checkID(&vs, "device_id", req.GetDeviceId(), false)
		checkHash(&vs, "ip_hash", req.GetIpHash())
		if req.GetDeviceId() == "" && req.GetIpHash() == "" {
			vs.Add("device_id", "a device id or an IP hash is required")
		}
		checkText(&vs, "user_agent", req.GetUserAgent())
		checkText(&vs, "landing_url", req.GetLandingUrl())
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.CreateAttributionRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", req.GetCustomerId(), true)
		// Without a code the sign-up is attributed through its clicks: the
		// device's, or the one named by click_id.
		checkCode(&vs, "code", req.GetCode(), req.GetDeviceId() == "" && req.GetClickId() == "")
		checkID(&vs, "device_id", req.GetDeviceId(), false)
		checkID(&vs, "click_id", req.GetClickId(), false)
		checkHash(&vs, "email_hash", req.GetEmailHash())
		checkHash(&vs, "phone_hash", req.GetPhoneHash())
		checkHash(&vs, "ip_hash", req.GetIpHash())
		if d := req.GetEmailDomain(); len(d) > 253 {
			vs.Add("email_domain", "must have at most 253 characters")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.ListCampaignReferralsRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		checkPageSize(&vs, req.GetPageSize())
		if _, ok := stageFromProto[req.GetStatus()]; !ok {
			vs.Add("status", "must be unspecified, SIGNED_UP, CONVERTED, REWARDED or REJECTED")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.GetCampaignStatsRequest) error {
		var vs validate.Violations
		checkID(&vs, "campaign_id", req.GetCampaignId(), true)
		if n := req.GetTopReferrersLimit(); n < 0 || n > maxTopReferrers {
			vs.Add("top_referrers_limit", fmt.Sprintf("must be between 0 and %d", maxTopReferrers))
		}
		if req.GetStartTime() != nil && req.GetEndTime() != nil && !req.GetEndTime().AsTime().After(req.GetStartTime().AsTime()) {
			vs.Add("end_time", "must be after start_time")
		}
		return vs.Err()
	})
	validate.Register(r, func(req *referralv1.ListCustomerReferralsRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", req.GetCustomerId(), true)
		checkID(&vs, "campaign_id", req.GetCampaignId(), false)
		checkPageSize(&vs, req.GetPageSize())
		return vs.Err()
	})
	return r
}

func violationText(err error) string {
	if s := fmt.Sprint(err); s != "" {
		return s
	}
	return "is invalid"
}

func checkID(vs *validate.Violations, field, v string, required bool) {
	switch {
	case v == "" && required:
		vs.Add(field, "is required")
	case len(v) > maxIDLength:
		vs.Add(field, fmt.Sprintf("must have at most %d characters", maxIDLength))
	}
}

func checkText(vs *validate.Violations, field, v string) {
	if len(v) > maxTextLength {
		vs.Add(field, fmt.Sprintf("must have at most %d characters", maxTextLength))
	}
}

func checkCode(vs *validate.Violations, field, v string, required bool) {
	if v == "" {
		if required {
			vs.Add(field, "is required")
		}
		return
	}
	if _, err := code.Parse(v); err != nil {
		vs.Add(field, "is not a referral code (4 to 20 letters and digits)")
	}
}

// checkHash accepts the hex SHA-256 (or HMAC-SHA-256) the API asks for.
func checkHash(vs *validate.Violations, field, v string) {
	if v == "" {
		return
	}
	if b, err := hex.DecodeString(v); err != nil || len(b) != 32 {
		vs.Add(field, "must be a hex SHA-256 (64 hex digits)")
	}
}

func checkPageSize(vs *validate.Violations, n int32) {
	if n < 0 || n > maxPageSize {
		vs.Add("page_size", fmt.Sprintf("must be between 0 and %d", maxPageSize))
	}
}

func pageSize(n int32) int {
	if n == 0 {
		return defaultPageSize
	}
	return int(n)
}

func checkMoney(vs *validate.Violations, field string, m *commercev1.Money) {
	if m == nil {
		return
	}
	if !money.ValidCurrency(m.GetCurrency()) {
		vs.Add(field+".currency", "must be an ISO 4217 code of three upper-case letters")
	}
	if m.GetAmountMinor() < 0 {
		vs.Add(field+".amount_minor", "must not be negative")
	}
}

func checkSpec(vs *validate.Violations, field string, s *referralv1.RewardSpec) {
	if s == nil {
		return
	}
	switch s.GetKind() {
	case referralv1.RewardKind_REWARD_KIND_POINTS:
		if s.GetPoints() <= 0 || s.GetPoints() > 10_000_000 {
			vs.Add(field+".points", "must be between 1 and 10000000")
		}
	case referralv1.RewardKind_REWARD_KIND_FIXED_DISCOUNT:
		if s.GetDiscount() == nil || s.GetDiscount().GetAmountMinor() <= 0 {
			vs.Add(field+".discount", "must be a positive amount")
		}
		checkMoney(vs, field+".discount", s.GetDiscount())
		if s.GetCouponPool() == "" {
			vs.Add(field+".coupon_pool", "is required for a discount reward")
		}
	case referralv1.RewardKind_REWARD_KIND_PERCENT_DISCOUNT:
		if s.GetPercentOffBps() <= 0 || s.GetPercentOffBps() > 10000 {
			vs.Add(field+".percent_off_bps", "must be between 1 and 10000")
		}
		checkMoney(vs, field+".max_discount", s.GetMaxDiscount())
		if s.GetCouponPool() == "" {
			vs.Add(field+".coupon_pool", "is required for a discount reward")
		}
	default:
		vs.Add(field+".kind", "must be REWARD_KIND_POINTS, REWARD_KIND_FIXED_DISCOUNT or REWARD_KIND_PERCENT_DISCOUNT")
	}
}

// Limits of a coupon upload.
const (
	maxCouponCodes      = 10000
	maxCouponCodeLength = 64
)

// checkCouponCodes names the first few bad codes by index (an upload of
// thousands of bad lines must not answer with thousands of violations).
func checkCouponCodes(vs *validate.Violations, codes []string) {
	if n := len(codes); n == 0 || n > maxCouponCodes {
		vs.Add("codes", fmt.Sprintf("must have 1 to %d codes, got %d", maxCouponCodes, n))
		return
	}
	bad := 0
	for i, c := range codes {
		if msg := couponCodeProblem(c); msg != "" {
			if bad++; bad > 10 {
				vs.Add("codes", "more codes are invalid; only the first 10 are listed")
				return
			}
			vs.Add(fmt.Sprintf("codes[%d]", i), msg)
		}
	}
}

func couponCodeProblem(c string) string {
	if c == "" || len(c) > maxCouponCodeLength {
		return fmt.Sprintf("must have 1 to %d characters", maxCouponCodeLength)
	}
	for _, r := range c {
		if r <= ' ' || r > '~' {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

func checkCampaign(vs *validate.Violations, c *referralv1.Campaign) {
	if c == nil {
		vs.Add("campaign", "is required")
		return
	}
	if n := len(c.GetName()); n == 0 || n > 200 {
		vs.Add("campaign.name", "must have 1 to 200 characters")
	}
	checkText(vs, "campaign.description", c.GetDescription())
	if c.GetReferrerReward() == nil && c.GetFriendReward() == nil && len(c.GetReferrerRewardSteps()) == 0 {
		vs.Add("campaign.referrer_reward", "a campaign must reward the referrer, the friend or both")
	}
	checkSpec(vs, "campaign.referrer_reward", c.GetReferrerReward())
	checkSpec(vs, "campaign.friend_reward", c.GetFriendReward())
	for i, st := range c.GetReferrerRewardSteps() {
		f := fmt.Sprintf("campaign.referrer_reward_steps[%d]", i)
		if st.GetMinConversions() < 1 {
			vs.Add(f+".min_conversions", "must be at least 1")
		}
		if st.GetReward() == nil {
			vs.Add(f+".reward", "is required")
		}
		checkSpec(vs, f+".reward", st.GetReward())
	}
	cond := c.GetConditions()
	checkMoney(vs, "campaign.conditions.min_order_value", cond.GetMinOrderValue())
	if d := cond.GetAttributionWindowDays(); d < 0 || d > maxDays {
		vs.Add("campaign.conditions.attribution_window_days", fmt.Sprintf("must be between 0 and %d", maxDays))
	}
	if d := cond.GetHoldPeriodDays(); d < 0 || d > maxDays {
		vs.Add("campaign.conditions.hold_period_days", fmt.Sprintf("must be between 0 and %d", maxDays))
	}
	if h := cond.GetNudgeAfterHours(); h < 0 || h > maxDays*24 {
		vs.Add("campaign.conditions.nudge_after_hours", fmt.Sprintf("must be between 0 and %d", maxDays*24))
	}
	caps := c.GetCaps()
	if caps.GetMaxRewardsPerReferrer() < 0 {
		vs.Add("campaign.caps.max_rewards_per_referrer", "must not be negative")
	}
	if caps.GetBudgetPoints() < 0 {
		vs.Add("campaign.caps.budget_points", "must not be negative")
	}
	checkMoney(vs, "campaign.caps.budget_value", caps.GetBudgetValue())
	if u := c.GetShareUrlTemplate(); u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			vs.Add("campaign.share_url_template", "must be an absolute http or https URL")
		}
	}
	if _, ok := windowFromProto[cond.GetAttributionWindowFrom()]; !ok {
		vs.Add("campaign.conditions.attribution_window_from", "is not a window anchor")
	}
	if _, ok := referralv1.AttributionModel_name[int32(c.GetAttributionModel())]; !ok {
		vs.Add("campaign.attribution_model", "is not an attribution model")
	}
	if c.GetStartsAt() != nil && c.GetEndsAt() != nil && !c.GetEndsAt().AsTime().After(c.GetStartsAt().AsTime()) {
		vs.Add("campaign.ends_at", "must be after starts_at")
	}
}
