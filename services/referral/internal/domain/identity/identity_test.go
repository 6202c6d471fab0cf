package identity_test

import (
	"testing"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/identity"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{name: "case and spaces are ignored", in: "  Jane@Example.COM ", want: "jane@example.com"},
		{name: "plus tags are removed", in: "jane+promo@example.com", want: "jane@example.com"},
		{name: "gmail ignores dots", in: "Jane.Doe+x@gmail.com", want: "janedoe@gmail.com"},
		{name: "googlemail folds into gmail", in: "j.d@googlemail.com", want: "jd@gmail.com"},
		{name: "dots matter elsewhere", in: "jane.doe@example.com", want: "jane.doe@example.com"},
		{name: "a trailing dot on the domain is dropped", in: "a@example.com.", want: "a@example.com"},
		{name: "no at sign is invalid", in: "jane", want: ""},
		{name: "two at signs are invalid", in: "a@b@c", want: ""},
		{name: "an empty local part is invalid", in: "+tag@example.com", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := identity.NormalizeEmail(tt.in); got != tt.want {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
	if got := identity.EmailDomain("x@Mailinator.com"); got != "mailinator.com" {
		t.Errorf("expected mailinator.com, got %q", got)
	}
}

func TestNormalizePhoneAndNetworkKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{name: "phone punctuation is dropped", fn: identity.NormalizePhone, in: "+49 (30) 1234-567", want: "+49301234567"},
		{name: "a short phone is unusable", fn: identity.NormalizePhone, in: "12-34", want: ""},
		{name: "IPv4 is kept", fn: identity.NetworkKey, in: "203.0.113.7", want: "203.0.113.7"},
		{name: "IPv4-mapped IPv6 becomes IPv4", fn: identity.NetworkKey, in: "::ffff:203.0.113.7", want: "203.0.113.7"},
		{name: "IPv6 is cut to its /64", fn: identity.NetworkKey, in: "2001:db8:1:2:aaaa:bbbb:cccc:dddd", want: "2001:db8:1:2::/64"},
		{name: "garbage is no key", fn: identity.NetworkKey, in: "not-an-ip", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.fn(tt.in); got != tt.want {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

func TestHasher(t *testing.T) {
	t.Parallel()
	h := identity.NewHasher([]byte("secret"))
	other := identity.NewHasher([]byte("other"))
	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{name: "equivalent e-mails hash alike", a: h.Email("Jane.Doe@gmail.com"), b: h.Email("janedoe+ref@gmail.com"), equal: true},
		{name: "different e-mails differ", a: h.Email("a@example.com"), b: h.Email("b@example.com")},
		{name: "the key changes the hash", a: h.Email("a@example.com"), b: other.Email("a@example.com")},
		{name: "the kind label separates namespaces", a: h.Hash("email", "x"), b: h.Hash("phone", "x")},
		{name: "two IPv6 addresses in one /64 hash alike", a: h.IP("2001:db8::1"), b: h.IP("2001:db8::ffff"), equal: true},
		{name: "equivalent phones hash alike", a: h.Phone("+1 555 123 4567"), b: h.Phone("+15551234567"), equal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if (tt.a == tt.b) != tt.equal {
				t.Errorf("expected equal=%v, got %q vs %q", tt.equal, tt.a, tt.b)
			}
			if len(tt.a) != 64 {
				t.Errorf("expected a 64-hex-digit hash, got %q", tt.a)
			}
		})
	}
	if got := h.Email("invalid"); got != "" {
		t.Errorf("expected no hash for an invalid e-mail so missing data never matches, got %q", got)
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Jane.Doe+x@gmail.com", "a@b", "@", "x@y@z", " \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := identity.NormalizeEmail(s)
		if n == "" {
			return
		}
		if again := identity.NormalizeEmail(n); again != n {
			t.Fatalf("expected normalization to be idempotent, got %q then %q", n, again)
		}
	})
}
