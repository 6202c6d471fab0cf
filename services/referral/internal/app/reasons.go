package app

import (
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

// reasonEnum maps the domain's reason codes to the API enum, which is
// coarser (the four self-referral codes are four enum values, but several
// program reasons share one); events and responses carry the exact code too.
var reasonEnum = map[rejection.Reason]referralv1.RejectionReason{
	rejection.SelfReferralCustomer:     referralv1.RejectionReason_REJECTION_REASON_SELF_REFERRAL,
	rejection.SelfReferralEmail:        referralv1.RejectionReason_REJECTION_REASON_SAME_EMAIL,
	rejection.SelfReferralPhone:        referralv1.RejectionReason_REJECTION_REASON_SAME_PHONE,
	rejection.SelfReferralDevice:       referralv1.RejectionReason_REJECTION_REASON_SAME_DEVICE,
	rejection.ExistingCustomer:         referralv1.RejectionReason_REJECTION_REASON_EXISTING_CUSTOMER,
	rejection.IPVelocity:               referralv1.RejectionReason_REJECTION_REASON_IP_VELOCITY,
	rejection.DeviceVelocity:           referralv1.RejectionReason_REJECTION_REASON_DEVICE_VELOCITY,
	rejection.DisposableEmail:          referralv1.RejectionReason_REJECTION_REASON_DISPOSABLE_EMAIL,
	rejection.ReferrerCapExceeded:      referralv1.RejectionReason_REJECTION_REASON_REFERRER_CAP_EXCEEDED,
	rejection.BudgetExhausted:          referralv1.RejectionReason_REJECTION_REASON_BUDGET_EXHAUSTED,
	rejection.ReferrerIneligible:       referralv1.RejectionReason_REJECTION_REASON_REFERRER_INELIGIBLE,
	rejection.CampaignNotActive:        referralv1.RejectionReason_REJECTION_REASON_CAMPAIGN_INACTIVE,
	rejection.AttributionWindowExpired: referralv1.RejectionReason_REJECTION_REASON_OUTSIDE_WINDOW,
	rejection.NotFirstOrder:            referralv1.RejectionReason_REJECTION_REASON_NOT_FIRST_ORDER,
	rejection.OrderRefunded:            referralv1.RejectionReason_REJECTION_REASON_ORDER_REFUNDED,
	rejection.OrderCancelled:           referralv1.RejectionReason_REJECTION_REASON_ORDER_CANCELLED,
	rejection.AlreadyReferred:          referralv1.RejectionReason_REJECTION_REASON_ALREADY_REFERRED,
	rejection.UnknownCode:              referralv1.RejectionReason_REJECTION_REASON_UNKNOWN_CODE,
}

// ReasonToProto is the API enum value of a domain reason code.
func ReasonToProto(r rejection.Reason) referralv1.RejectionReason {
	return reasonEnum[r]
}
