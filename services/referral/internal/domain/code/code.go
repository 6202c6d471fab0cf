// Package code generates, validates and parses referral codes and builds the
// share links that carry them.
//
// # Generated codes
//
// Generated codes are Length (8) symbols drawn uniformly from Alphabet, 30
// symbols: the digits 2-9 and the letters A-Z without I, L, O and U. 0/O and
// 1/I/L are dropped because people misread and mistype them when a code is
// read aloud or copied from a printed card; U is dropped (as in Crockford's
// base32) to make accidental obscene words less likely. There is no checksum:
// a typo simply finds no code.
//
// The space is 30^8 ≈ 6.56e11 codes, about 39.3 bits. With one million codes
// issued, a random guess hits some valid code with probability ≈ 1.5e-6, so
// an attacker needs ~650,000 guesses per hit; the click endpoint's rate limit
// and the fraud rules (a hit still needs a sign-up and a paid first order)
// make guessing worthless. With ten million codes issued the chance that a
// new random code collides with an existing one is ≈ 1.5e-5; the repository
// enforces uniqueness and the caller simply draws again (see Generate).
//
// # Vanity codes
//
// Vanity codes (influencers, affiliates, customers who want "ANNA10") are
// 4-20 characters of A-Z and 0-9 after normalization and must contain a
// letter, so they cannot be confused with order numbers. They share one
// namespace with generated codes; uniqueness is the repository's job.
//
// # Normalization
//
// Codes compare case-insensitively and ignore spaces, hyphens and
// underscores, because people paste "abcd-2345 " and say "A B C D". The
// canonical form is upper case without separators.
package code

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// Alphabet holds the symbols of generated codes (see the package doc).
const Alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// Length is the number of symbols in a generated code.
const Length = 8

// Limits for vanity codes (in canonical form).
const (
	MinVanityLength = 4
	MaxVanityLength = 20
)

// MaxInputLength bounds what Parse reads: anything longer is not a code and
// is rejected before normalization allocates.
const MaxInputLength = 64

// ErrMalformed is returned by Parse for input that cannot be any code.
var ErrMalformed = errors.New("malformed referral code")

// ErrTaken is returned by a Repository when a code already exists; Generate's
// caller draws a new code, a vanity request reports AlreadyExists.
var ErrTaken = errors.New("referral code already taken")

// ErrNotFound is returned by a Repository when no code matches.
var ErrNotFound = errors.New("referral code not found")

// Code is a referral code in canonical form. Obtain one from Generate, Parse
// or Vanity; a Code built by conversion from an arbitrary string is not
// guaranteed canonical.
type Code string

// String returns the canonical form.
func (c Code) String() string { return string(c) }

// Display groups a generated-length code as "ABCD-2345" for printing; other
// codes are returned unchanged. Parse accepts both forms.
func (c Code) Display() string {
	if len(c) == Length && generatedShape(string(c)) {
		return string(c[:4]) + "-" + string(c[4:])
	}
	return string(c)
}

// Generate draws a code of Length symbols uniformly from Alphabet using rnd,
// which should be crypto/rand.Reader in production (codes must be
// unguessable) and a deterministic reader in tests. Rejection sampling keeps
// the distribution uniform: bytes ≥ 240 (the largest multiple of 30 that fits
// in a byte) are discarded instead of folded with a modulo bias.
func Generate(rnd io.Reader) (Code, error) {
	const limit = 256 - 256%len(Alphabet)
	out := make([]byte, 0, Length)
	buf := make([]byte, Length+4)
	for len(out) < Length {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("generate referral code: read randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, Alphabet[int(b)%len(Alphabet)])
			if len(out) == Length {
				break
			}
		}
	}
	return Code(out), nil
}

// normalize upper-cases s and drops separators, reporting false on any other
// character outside A-Z0-9 or on input longer than MaxInputLength.
func normalize(s string) (string, bool) {
	if len(s) > MaxInputLength {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
			b.WriteByte(ch)
		case ch >= 'a' && ch <= 'z':
			b.WriteByte(ch - 'a' + 'A')
		case ch == '-', ch == '_', ch == ' ', ch == '\t':
		default:
			return "", false
		}
	}
	return b.String(), true
}

func generatedShape(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(Alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Parse turns user input (a link parameter, a typed code) into a canonical
// Code. It accepts anything that could be a generated or a vanity code and
// returns ErrMalformed otherwise; whether the code exists is for the
// repository to say.
func Parse(s string) (Code, error) {
	n, ok := normalize(s)
	if !ok || len(n) < MinVanityLength || len(n) > MaxVanityLength || !hasLetter(n) && !(len(n) == Length && generatedShape(n)) {
		return "", fmt.Errorf("parse %q: %w", truncate(s), ErrMalformed)
	}
	return Code(n), nil
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// reserved are words a vanity code may not be, because they would read as
// an official offer or collide with routes and support jargon.
var reserved = map[string]bool{
	"ADMIN": true, "TEST": true, "NULL": true, "NONE": true, "FREE": true,
	"REFERRAL": true, "SUPPORT": true, "STAFF": true, "OFFICIAL": true,
}

// Vanity validates and normalizes a requested vanity code. The error is a
// *validation.Error on field "code" explaining what to change.
func Vanity(s string) (Code, error) {
	n, ok := normalize(s)
	switch {
	case !ok:
		return "", validation.Field("code", "may contain only letters A-Z, digits, spaces, hyphens and underscores")
	case len(n) < MinVanityLength || len(n) > MaxVanityLength:
		return "", validation.Field("code", "must have %d to %d letters and digits, got %d", MinVanityLength, MaxVanityLength, len(n))
	case !hasLetter(n):
		return "", validation.Field("code", "must contain at least one letter")
	case reserved[n]:
		return "", validation.Field("code", "%q is reserved", n)
	}
	return Code(n), nil
}

// ShareLink builds the link a customer shares. base is an absolute http(s)
// URL; if it contains the placeholder "{code}" the code replaces it
// (e.g. "https://shop.example/r/{code}"), otherwise the code is added as the
// "ref" query parameter, keeping any other parameters (UTM tags) intact.
func ShareLink(base string, c Code) (string, error) {
	if c == "" {
		return "", validation.Field("code", "must not be empty")
	}
	const placeholder = "{code}"
	raw := base
	templated := strings.Contains(base, placeholder)
	if templated {
		raw = strings.ReplaceAll(base, placeholder, "CODEPLACEHOLDER")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", validation.Field("share_base_url", "must be an absolute http or https URL, got %q", base)
	}
	if templated {
		// Canonical codes are [A-Z0-9], so substitution needs no escaping.
		return strings.ReplaceAll(u.String(), "CODEPLACEHOLDER", string(c)), nil
	}
	q := u.Query()
	q.Set("ref", string(c))
	u.RawQuery = q.Encode()
	return u.String(), nil
}
