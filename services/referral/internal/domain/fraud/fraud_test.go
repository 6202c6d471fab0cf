package fraud_test

import (
	"slices"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

var at = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// clean is a sign-up that passes every rule under the default policy.
func clean() fraud.Input {
	return fraud.Input{
		Referrer: fraud.Referrer{CustomerID: "alice", EmailHash: "ea", PhoneHash: "pa", DeviceIDs: []string{"dev-a"}},
		Friend: fraud.Friend{CustomerID: "bob", EmailHash: "eb", PhoneHash: "pb", EmailDomain: "example.com",
			DeviceID: "dev-b", IPHash: "ip-b", CustomerSince: at.Add(-time.Minute)},
		TouchAt:  at.Add(-time.Hour),
		SignUpAt: at,
	}
}

func TestScreen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(*fraud.Input)
		reasons  []rejection.Reason
		evidence map[string]string
	}{
		{name: "a clean sign-up is accepted", edit: func(*fraud.Input) {}},
		{name: "the referrer signing up as the friend is self-referral", edit: func(in *fraud.Input) { in.Friend.CustomerID = "alice" },
			reasons: []rejection.Reason{rejection.SelfReferralCustomer}, evidence: map[string]string{"customer_id": "alice"}},
		{name: "the same e-mail hash is self-referral", edit: func(in *fraud.Input) { in.Friend.EmailHash = "ea" },
			reasons: []rejection.Reason{rejection.SelfReferralEmail}, evidence: map[string]string{"email_hash": "ea"}},
		{name: "the same phone hash is self-referral", edit: func(in *fraud.Input) { in.Friend.PhoneHash = "pa" },
			reasons: []rejection.Reason{rejection.SelfReferralPhone}, evidence: map[string]string{"phone_hash": "pa"}},
		{name: "a device the referrer uses is self-referral", edit: func(in *fraud.Input) { in.Friend.DeviceID = "dev-a" },
			reasons: []rejection.Reason{rejection.SelfReferralDevice}, evidence: map[string]string{"device_id": "dev-a"}},
		{name: "missing hashes on both sides never match", edit: func(in *fraud.Input) {
			in.Referrer.EmailHash, in.Friend.EmailHash, in.Referrer.PhoneHash, in.Friend.PhoneHash = "", "", "", ""
		}},
		{name: "a friend who ordered before the touch is an existing customer", edit: func(in *fraud.Input) { in.Friend.OrdersBefore = 2 },
			reasons: []rejection.Reason{rejection.ExistingCustomer}, evidence: map[string]string{"orders_before_touch": "2"}},
		{name: "an account older than the touch beyond the grace is an existing customer", edit: func(in *fraud.Input) {
			in.Friend.CustomerSince = in.TouchAt.Add(-time.Hour - time.Second)
		}, reasons: []rejection.Reason{rejection.ExistingCustomer}},
		{name: "an account created within the grace is new", edit: func(in *fraud.Input) { in.Friend.CustomerSince = in.TouchAt.Add(-time.Hour) }},
		{name: "a disposable domain is rejected", edit: func(in *fraud.Input) { in.Friend.EmailDomain = "Mailinator.com" },
			reasons: []rejection.Reason{rejection.DisposableEmail}, evidence: map[string]string{"listed_domain": "mailinator.com"}},
		{name: "a subdomain of a disposable domain is rejected", edit: func(in *fraud.Input) { in.Friend.EmailDomain = "eu.yopmail.com" },
			reasons: []rejection.Reason{rejection.DisposableEmail}, evidence: map[string]string{"listed_domain": "yopmail.com"}},
		{name: "a fourth sign-up from one IP in a day is rejected", edit: func(in *fraud.Input) {
			in.SignUpsFromIP = []time.Time{at.Add(-time.Hour), at.Add(-2 * time.Hour), at.Add(-23 * time.Hour)}
		}, reasons: []rejection.Reason{rejection.IPVelocity}, evidence: map[string]string{"signups_in_window": "4", "limit": "3", "ip_hash": "ip-b"}},
		{name: "sign-ups outside the window or after this one do not count", edit: func(in *fraud.Input) {
			in.SignUpsFromIP = []time.Time{at.Add(-time.Hour), at.Add(-24 * time.Hour), at.Add(-48 * time.Hour), at.Add(time.Minute)}
		}},
		{name: "a third sign-up from one device in a day is rejected", edit: func(in *fraud.Input) {
			in.SignUpsFromDevice = []time.Time{at.Add(-time.Hour), at.Add(-2 * time.Hour)}
		}, reasons: []rejection.Reason{rejection.DeviceVelocity}, evidence: map[string]string{"device_id": "dev-b", "signups_in_window": "3"}},
		{name: "every failing rule is reported in rule order", edit: func(in *fraud.Input) {
			in.Friend.EmailHash = "ea"
			in.Friend.EmailDomain = "yopmail.com"
			in.SignUpsFromIP = []time.Time{at, at, at}
		}, reasons: []rejection.Reason{rejection.SelfReferralEmail, rejection.DisposableEmail, rejection.IPVelocity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := clean()
			tt.edit(&in)
			res := fraud.Screen(fraud.DefaultPolicy(), in)
			var got []rejection.Reason
			for _, r := range res.Rejections {
				got = append(got, r.Reason)
				if !r.At.Equal(at) || r.Rule == "" {
					t.Errorf("expected a rule name and the sign-up time, got %+v", r)
				}
			}
			if !slices.Equal(got, tt.reasons) {
				t.Fatalf("expected reasons %v, got %v", tt.reasons, got)
			}
			if res.Accepted() != (len(tt.reasons) == 0) {
				t.Errorf("expected accepted=%v, got %v", len(tt.reasons) == 0, res.Accepted())
			}
			if len(res.Checked) != len(fraud.Rules) {
				t.Errorf("expected every rule to be recorded as checked, got %v", res.Checked)
			}
			if p := res.Primary(); len(tt.reasons) > 0 && p.Reason != tt.reasons[0] {
				t.Errorf("expected primary %s, got %s", tt.reasons[0], p.Reason)
			}
			for k, v := range tt.evidence {
				if got := res.Primary().Evidence[k]; got != v {
					t.Errorf("expected evidence %s=%q, got %q (all %v)", k, v, got, res.Primary().Evidence)
				}
			}
		})
	}
}

func TestDisabledVelocityRules(t *testing.T) {
	t.Parallel()
	p := fraud.DefaultPolicy()
	p.MaxSignUpsPerIP, p.MaxSignUpsPerDevice = 0, 0
	in := clean()
	in.SignUpsFromIP = make([]time.Time, 100)
	for i := range in.SignUpsFromIP {
		in.SignUpsFromIP[i] = at
	}
	in.SignUpsFromDevice = in.SignUpsFromIP
	if res := fraud.Screen(p, in); !res.Accepted() {
		t.Errorf("expected disabled limits to accept, got %v", res.Primary())
	}
}

func TestReferrerCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		rewarded, limit int
		rejected        bool
	}{
		{name: "below the cap passes", rewarded: 4, limit: 5},
		{name: "at the cap rejects", rewarded: 5, limit: 5, rejected: true},
		{name: "no cap never rejects", rewarded: 1000, limit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rej := fraud.ReferrerCap("alice", tt.rewarded, tt.limit, at)
			if (rej != nil) != tt.rejected {
				t.Fatalf("expected rejected=%v, got %v", tt.rejected, rej)
			}
			if rej != nil && (rej.Reason != rejection.ReferrerCapExceeded || rej.Evidence["limit"] != "5") {
				t.Errorf("expected referrer_cap_exceeded with the limit, got %v", rej)
			}
		})
	}
}

func TestOrderReversalReason(t *testing.T) {
	t.Parallel()
	if r := fraud.OrderReversal("o1", false, at); r.Reason != rejection.OrderRefunded || r.Evidence["order_id"] != "o1" {
		t.Errorf("expected order_refunded for o1, got %v", r)
	}
	if r := fraud.OrderReversal("o1", true, at); r.Reason != rejection.OrderCancelled {
		t.Errorf("expected order_cancelled, got %v", r)
	}
}

func TestDomainList(t *testing.T) {
	t.Parallel()
	l := fraud.NewDomainList(" @Trash.example. ", "", "temp.example")
	tests := []struct {
		domain string
		match  string
	}{
		{"trash.example", "trash.example"},
		{"a.b.TRASH.example", "trash.example"},
		{"nottrash.example", ""},
		{"example", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run("matching "+tt.domain, func(t *testing.T) {
			t.Parallel()
			got, ok := l.Match(tt.domain)
			if got != tt.match || ok != (tt.match != "") {
				t.Errorf("expected %q, got %q, %v", tt.match, got, ok)
			}
		})
	}
	if l.Len() != 2 {
		t.Errorf("expected 2 domains, got %d", l.Len())
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := fraud.DefaultPolicy().Validate(); err != nil {
		t.Errorf("expected the default policy to be valid, got %v", err)
	}
	bad := fraud.Policy{MaxSignUpsPerIP: 3, MaxSignUpsPerDevice: -1, ExistingCustomerGrace: -1}
	want := []string{"ip_window", "max_signups_per_device", "existing_customer_grace"}
	if got := validation.Fields(bad.Validate()); !slices.Equal(got, want) {
		t.Errorf("expected violations %v, got %v", want, got)
	}
}

func BenchmarkScreen(b *testing.B) {
	p := fraud.DefaultPolicy()
	in := clean()
	in.SignUpsFromIP = []time.Time{at.Add(-time.Hour)}
	for b.Loop() {
		if !fraud.Screen(p, in).Accepted() {
			b.Fatal("expected accepted")
		}
	}
}
