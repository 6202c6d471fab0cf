// Package identity turns e-mail addresses, phone numbers and IP addresses
// into the hashed evidence the fraud rules compare. Canonicalizing before
// hashing is what makes "Jane.Doe+promo@GMail.com" and "janedoe@gmail.com"
// the same person, and a keyed hash (HMAC-SHA-256 with a service secret)
// keeps raw personal data out of the database while still allowing
// equality checks.
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"unicode"
)

// dotInsensitive are providers that ignore dots in the local part.
var dotInsensitive = map[string]bool{"gmail.com": true, "googlemail.com": true}

// NormalizeEmail canonicalizes an address: trimmed, lower case, "+tag"
// removed, and for Gmail dots removed and googlemail.com folded into
// gmail.com. It returns "" for anything without exactly one "@" and a
// non-empty local part and domain.
func NormalizeEmail(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return ""
	}
	domain = strings.TrimSuffix(domain, ".")
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	if dotInsensitive[domain] {
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
	}
	if local == "" || domain == "" {
		return ""
	}
	return local + "@" + domain
}

// EmailDomain returns the lower-case domain of an address, "" if none; the
// disposable-domain rule needs the domain in clear.
func EmailDomain(email string) string {
	n := NormalizeEmail(email)
	if n == "" {
		return ""
	}
	return n[strings.IndexByte(n, '@')+1:]
}

// NormalizePhone keeps the digits of a number and a leading "+", so
// "+49 (30) 1234-567" and "+49301234567" compare equal. It returns "" when
// fewer than 6 digits remain, which is not a usable phone number.
func NormalizePhone(phone string) string {
	var b strings.Builder
	p := strings.TrimSpace(phone)
	if strings.HasPrefix(p, "+") {
		b.WriteByte('+')
	}
	digits := 0
	for _, r := range p {
		if r < unicode.MaxASCII && r >= '0' && r <= '9' {
			b.WriteRune(r)
			digits++
		}
	}
	if digits < 6 {
		return ""
	}
	return b.String()
}

// NetworkKey canonicalizes an IP address to the unit one subscriber
// controls: the address itself for IPv4, its /64 prefix for IPv6 (a single
// household gets a whole /64 and can rotate through it freely). It returns
// "" for input that is not an IP address.
func NetworkKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Hasher computes keyed hashes of canonical identifiers.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher keyed with secret; all instances of the
// service must share it or their hashes will not match.
func NewHasher(secret []byte) Hasher {
	return Hasher{key: append([]byte(nil), secret...)}
}

// Hash returns the hex HMAC-SHA-256 of a canonical value under a kind
// label, "" for an empty value so missing data never matches missing data.
func (h Hasher) Hash(kind, canonical string) string {
	if canonical == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(canonical))
	return hex.EncodeToString(m.Sum(nil))
}

// Email hashes a normalized e-mail address.
func (h Hasher) Email(email string) string { return h.Hash("email", NormalizeEmail(email)) }

// Phone hashes a normalized phone number.
func (h Hasher) Phone(phone string) string { return h.Hash("phone", NormalizePhone(phone)) }

// IP hashes an IP address's network key.
func (h Hasher) IP(ip string) string { return h.Hash("ip", NetworkKey(ip)) }
