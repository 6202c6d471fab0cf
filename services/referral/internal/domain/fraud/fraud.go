// Package fraud holds the referral fraud rules as pure evaluators. Each rule
// looks at the evidence the app layer gathered (hashes, device ids, recent
// sign-up times) and returns nil or a *rejection.Rejection with its reason
// code and the exact evidence it compared, so every rejection can be
// explained later from the stored decision alone.
//
// Screen runs every sign-up rule and returns all failures, not just the
// first: marketers tuning thresholds want to see that a referral failed
// both the IP and the device rule. The first failure (in Rules order) is the
// reason reported on the referral.
package fraud

import (
	"slices"
	"strconv"
	"strings"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

// Policy configures the thresholds of the rules.
type Policy struct {
	// MaxSignUpsPerIP is how many referred sign-ups one IP hash may produce
	// within IPWindow (counting the one being screened); 0 disables the rule.
	MaxSignUpsPerIP int
	IPWindow        time.Duration
	// MaxSignUpsPerDevice is the same limit per device id.
	MaxSignUpsPerDevice int
	DeviceWindow        time.Duration
	// ExistingCustomerGrace tolerates an account created shortly before the
	// referral touch (storefronts often create the account a moment before
	// they report the sign-up); older accounts count as existing customers.
	ExistingCustomerGrace time.Duration
	// DisposableDomains lists throwaway e-mail domains.
	DisposableDomains DomainList
}

// DefaultPolicy returns thresholds that suit a typical consumer shop: up to
// 3 referred sign-ups per IP and 2 per device per day, one hour of grace,
// and the built-in disposable domain list.
func DefaultPolicy() Policy {
	return Policy{
		MaxSignUpsPerIP:       3,
		IPWindow:              24 * time.Hour,
		MaxSignUpsPerDevice:   2,
		DeviceWindow:          24 * time.Hour,
		ExistingCustomerGrace: time.Hour,
		DisposableDomains:     NewDomainList(DefaultDisposableDomains...),
	}
}

// Validate checks a policy loaded from configuration.
func (p Policy) Validate() error {
	var c validation.Collector
	if p.MaxSignUpsPerIP < 0 {
		c.Add("max_signups_per_ip", "must not be negative")
	}
	if p.MaxSignUpsPerIP > 0 && p.IPWindow <= 0 {
		c.Add("ip_window", "must be positive when the IP limit is set")
	}
	if p.MaxSignUpsPerDevice < 0 {
		c.Add("max_signups_per_device", "must not be negative")
	}
	if p.MaxSignUpsPerDevice > 0 && p.DeviceWindow <= 0 {
		c.Add("device_window", "must be positive when the device limit is set")
	}
	if p.ExistingCustomerGrace < 0 {
		c.Add("existing_customer_grace", "must not be negative")
	}
	return c.Err()
}

// Referrer is the evidence about the code's owner.
type Referrer struct {
	CustomerID string
	EmailHash  string
	PhoneHash  string
	// DeviceIDs are devices the referrer was seen on (their own clicks,
	// sessions reported by the storefront).
	DeviceIDs []string
}

// Friend is the evidence about the new customer.
type Friend struct {
	CustomerID  string
	EmailHash   string
	PhoneHash   string
	EmailDomain string
	DeviceID    string
	IPHash      string
	// CustomerSince is when the friend's customer record was created, zero
	// if the referral service has not seen it.
	CustomerSince time.Time
	// OrdersBefore counts the friend's orders placed before the touch.
	OrdersBefore int
}

// Input is everything the sign-up rules look at.
type Input struct {
	Referrer Referrer
	Friend   Friend
	// TouchAt is the click time, or the sign-up time for a typed-in code.
	TouchAt  time.Time
	SignUpAt time.Time
	// SignUpsFromIP and SignUpsFromDevice are the times of earlier referred
	// sign-ups with the friend's IP hash and device id (any window; the
	// rules filter). The sign-up being screened is not included.
	SignUpsFromIP     []time.Time
	SignUpsFromDevice []time.Time
}

// Rule is one named sign-up rule.
type Rule struct {
	Name string
	Eval func(Policy, Input) *rejection.Rejection
}

// Rules are the sign-up rules in reporting order: identity first (the
// strongest evidence), then history, then heuristics.
var Rules = []Rule{
	{Name: "self_referral", Eval: SelfReferral},
	{Name: "existing_customer", Eval: ExistingCustomer},
	{Name: "disposable_email", Eval: DisposableEmail},
	{Name: "ip_velocity", Eval: IPVelocity},
	{Name: "device_velocity", Eval: DeviceVelocity},
}

// Result is the outcome of screening a sign-up.
type Result struct {
	// Checked names every rule that ran, passed or not, for the record.
	Checked []string
	// Rejections holds every failure in Rules order; empty means accepted.
	Rejections []*rejection.Rejection
}

// Accepted reports whether no rule failed.
func (r Result) Accepted() bool { return len(r.Rejections) == 0 }

// Primary is the rejection reported on the referral, nil when accepted.
func (r Result) Primary() *rejection.Rejection {
	if len(r.Rejections) == 0 {
		return nil
	}
	return r.Rejections[0]
}

// Screen runs every sign-up rule.
func Screen(p Policy, in Input) Result {
	res := Result{Checked: make([]string, 0, len(Rules))}
	for _, r := range Rules {
		res.Checked = append(res.Checked, r.Name)
		if rej := r.Eval(p, in); rej != nil {
			res.Rejections = append(res.Rejections, rej)
		}
	}
	return res
}

// SelfReferral rejects a friend who is the referrer: the same customer id,
// e-mail hash, phone hash, or a device the referrer uses. Empty values never
// match, so missing data cannot make two strangers look alike.
func SelfReferral(_ Policy, in Input) *rejection.Rejection {
	const rule = "self_referral"
	r, f := in.Referrer, in.Friend
	switch {
	case f.CustomerID != "" && f.CustomerID == r.CustomerID:
		return rejection.New(rejection.SelfReferralCustomer, rule, in.SignUpAt, "customer_id", f.CustomerID)
	case f.EmailHash != "" && f.EmailHash == r.EmailHash:
		return rejection.New(rejection.SelfReferralEmail, rule, in.SignUpAt, "email_hash", f.EmailHash)
	case f.PhoneHash != "" && f.PhoneHash == r.PhoneHash:
		return rejection.New(rejection.SelfReferralPhone, rule, in.SignUpAt, "phone_hash", f.PhoneHash)
	case f.DeviceID != "" && slices.Contains(r.DeviceIDs, f.DeviceID):
		return rejection.New(rejection.SelfReferralDevice, rule, in.SignUpAt, "device_id", f.DeviceID)
	}
	return nil
}

// ExistingCustomer rejects a friend who had ordered before the touch, or
// whose account is older than the touch by more than the grace period:
// referral programs pay for new customers, not for re-acquiring old ones.
func ExistingCustomer(p Policy, in Input) *rejection.Rejection {
	const rule = "existing_customer"
	f := in.Friend
	if f.OrdersBefore > 0 {
		return rejection.New(rejection.ExistingCustomer, rule, in.SignUpAt,
			"orders_before_touch", strconv.Itoa(f.OrdersBefore), "touch_at", stamp(in.TouchAt))
	}
	if !f.CustomerSince.IsZero() && f.CustomerSince.Before(in.TouchAt.Add(-p.ExistingCustomerGrace)) {
		return rejection.New(rejection.ExistingCustomer, rule, in.SignUpAt,
			"customer_since", stamp(f.CustomerSince), "touch_at", stamp(in.TouchAt),
			"grace", p.ExistingCustomerGrace.String())
	}
	return nil
}

// DisposableEmail rejects a friend whose e-mail domain, or a parent
// domain of it, is on the disposable list.
func DisposableEmail(p Policy, in Input) *rejection.Rejection {
	if d, ok := p.DisposableDomains.Match(in.Friend.EmailDomain); ok {
		return rejection.New(rejection.DisposableEmail, "disposable_email", in.SignUpAt,
			"email_domain", strings.ToLower(in.Friend.EmailDomain), "listed_domain", d)
	}
	return nil
}

// IPVelocity rejects the sign-up that would make more than
// MaxSignUpsPerIP referred sign-ups from one IP hash within IPWindow.
func IPVelocity(p Policy, in Input) *rejection.Rejection {
	return velocity(rejection.IPVelocity, "ip_velocity", "ip_hash", in.Friend.IPHash,
		p.MaxSignUpsPerIP, p.IPWindow, in.SignUpAt, in.SignUpsFromIP)
}

// DeviceVelocity is IPVelocity for the device id.
func DeviceVelocity(p Policy, in Input) *rejection.Rejection {
	return velocity(rejection.DeviceVelocity, "device_velocity", "device_id", in.Friend.DeviceID,
		p.MaxSignUpsPerDevice, p.DeviceWindow, in.SignUpAt, in.SignUpsFromDevice)
}

// velocity counts earlier sign-ups in (at-window, at]; sign-ups after at
// are ignored so re-screening an old sign-up gives the same answer.
func velocity(reason rejection.Reason, rule, key, value string, limit int, window time.Duration, at time.Time, earlier []time.Time) *rejection.Rejection {
	if limit <= 0 || value == "" {
		return nil
	}
	from := at.Add(-window)
	n := 1 // the sign-up being screened
	for _, t := range earlier {
		if t.After(from) && !t.After(at) {
			n++
		}
	}
	if n <= limit {
		return nil
	}
	return rejection.New(reason, rule, at, key, value,
		"signups_in_window", strconv.Itoa(n), "limit", strconv.Itoa(limit), "window", window.String())
}

// ReferrerCap rejects a conversion when the referrer already has the
// campaign's maximum number of rewarded referrals (cap 0 = unlimited).
func ReferrerCap(referrerID string, rewarded, limit int, at time.Time) *rejection.Rejection {
	if limit <= 0 || rewarded < limit {
		return nil
	}
	return rejection.New(rejection.ReferrerCapExceeded, "referrer_cap", at,
		"referrer_id", referrerID, "rewarded", strconv.Itoa(rewarded), "limit", strconv.Itoa(limit))
}

// OrderReversal names the reason for a refund or cancellation of the
// qualifying order; the reward package decides whether it still voids
// (only within the hold period).
func OrderReversal(orderID string, cancelled bool, at time.Time) *rejection.Rejection {
	reason := rejection.OrderRefunded
	if cancelled {
		reason = rejection.OrderCancelled
	}
	return rejection.New(reason, "order_reversal", at, "order_id", orderID, "event_at", stamp(at))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
