// Package rejection names every reason a referral can be rejected or a
// reward voided, as stable codes marketers see in the console and in
// ReferralRejected events. A rejection always carries the rule that decided
// it and the evidence it looked at, because "explains every rejected
// referral" is a product promise: support must be able to answer "why was my
// friend not counted?" from the recorded decision alone.
package rejection

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Reason is a stable, snake_case reason code. Codes are part of the public
// contract (events, API, docs/referral.md): add new ones, never rename.
type Reason string

// Fraud reasons: the referral looks like abuse.
const (
	// SelfReferralCustomer: the friend is the referrer (same customer id).
	SelfReferralCustomer Reason = "self_referral_customer"
	// SelfReferralEmail: friend and referrer share an e-mail hash.
	SelfReferralEmail Reason = "self_referral_email"
	// SelfReferralPhone: friend and referrer share a phone hash.
	SelfReferralPhone Reason = "self_referral_phone"
	// SelfReferralDevice: the friend signed up on a device the referrer used.
	SelfReferralDevice Reason = "self_referral_device"
	// ExistingCustomer: the friend was already a customer before the referral.
	ExistingCustomer Reason = "existing_customer"
	// IPVelocity: too many sign-ups from one IP (hash) within the window.
	IPVelocity Reason = "ip_velocity"
	// DeviceVelocity: too many sign-ups from one device within the window.
	DeviceVelocity Reason = "device_velocity"
	// DisposableEmail: the friend's e-mail domain is on the disposable list.
	DisposableEmail Reason = "disposable_email"
	// ReferrerCapExceeded: the referrer already earned the campaign's maximum.
	ReferrerCapExceeded Reason = "referrer_cap_exceeded"
	// OrderRefunded: the qualifying order was refunded within the hold period.
	OrderRefunded Reason = "order_refunded"
	// OrderCancelled: the qualifying order was cancelled within the hold period.
	OrderCancelled Reason = "order_cancelled"
)

// Program reasons: the referral is genuine but does not meet the campaign's terms.
const (
	// CampaignNotActive: the campaign was not live when the event happened.
	CampaignNotActive Reason = "campaign_not_active"
	// ReferrerIneligible: the referrer does not meet the campaign's eligibility.
	ReferrerIneligible Reason = "referrer_ineligible"
	// AttributionWindowExpired: the order came after the attribution window.
	AttributionWindowExpired Reason = "attribution_window_expired"
	// NotFirstOrder: the campaign pays on the friend's first order only, and
	// the first order did not qualify.
	NotFirstOrder Reason = "not_first_order"
	// BudgetExhausted: paying would exceed the campaign's total budget.
	BudgetExhausted Reason = "budget_exhausted"
	// AlreadyReferred: the friend is already attributed to a referral.
	AlreadyReferred Reason = "already_referred"
	// UnknownCode: the sign-up named a well-formed code that does not exist.
	UnknownCode Reason = "unknown_code"
)

// descriptions are the marketer-facing texts; tests assert every code has one.
var descriptions = map[Reason]string{
	SelfReferralCustomer:     "The friend is the referrer.",
	SelfReferralEmail:        "The friend has the referrer's e-mail address.",
	SelfReferralPhone:        "The friend has the referrer's phone number.",
	SelfReferralDevice:       "The friend signed up on a device the referrer uses.",
	ExistingCustomer:         "The friend was already a customer.",
	IPVelocity:               "Too many sign-ups from one network address in a short time.",
	DeviceVelocity:           "Too many sign-ups from one device in a short time.",
	DisposableEmail:          "The friend used a disposable e-mail address.",
	ReferrerCapExceeded:      "The referrer reached the campaign's reward limit.",
	OrderRefunded:            "The friend's order was refunded during the hold period.",
	OrderCancelled:           "The friend's order was cancelled during the hold period.",
	CampaignNotActive:        "The campaign was not active.",
	ReferrerIneligible:       "The referrer is not eligible for this campaign.",
	AttributionWindowExpired: "The friend ordered after the attribution window closed.",
	NotFirstOrder:            "The friend's first order did not qualify.",
	BudgetExhausted:          "The campaign budget is spent.",
	AlreadyReferred:          "The friend was already referred.",
	UnknownCode:              "The referral code does not exist.",
}

// Reasons lists every known reason code, sorted, for documentation and
// validation of filters.
func Reasons() []Reason {
	return slices.Sorted(maps.Keys(descriptions))
}

// Known reports whether r is a defined reason code.
func (r Reason) Known() bool {
	_, ok := descriptions[r]
	return ok
}

// Description is the marketer-facing explanation of r.
func (r Reason) Description() string {
	if d, ok := descriptions[r]; ok {
		return d
	}
	return "Unknown reason."
}

// Fraud reports whether r marks suspected abuse (as opposed to a genuine
// referral outside the campaign's terms); dashboards report the two apart.
func (r Reason) Fraud() bool {
	switch r {
	case SelfReferralCustomer, SelfReferralEmail, SelfReferralPhone, SelfReferralDevice,
		ExistingCustomer, IPVelocity, DeviceVelocity, DisposableEmail:
		return true
	}
	return false
}

// Rejection is one recorded decision: the reason, the rule that produced it,
// when, and the evidence the rule compared. It implements error so rules can
// return it directly.
type Rejection struct {
	Reason Reason
	// Rule names the evaluator (e.g. "ip_velocity"), which may differ from
	// the reason when one rule can give several reasons.
	Rule string
	At   time.Time
	// Evidence holds the values the rule compared, e.g. {"ip_hash": "…",
	// "signups_in_window": "6", "limit": "5"}. Values are strings so the
	// record is stored and shown as-is.
	Evidence map[string]string
}

// New builds a rejection; evidence is given as key, value pairs.
func New(reason Reason, rule string, at time.Time, kv ...string) *Rejection {
	ev := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ev[kv[i]] = kv[i+1]
	}
	return &Rejection{Reason: reason, Rule: rule, At: at, Evidence: ev}
}

// Error implements error with the reason and sorted evidence.
func (r *Rejection) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "referral rejected: %s", r.Reason)
	keys := slices.Sorted(maps.Keys(r.Evidence))
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, r.Evidence[k])
		if i == len(keys)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}
