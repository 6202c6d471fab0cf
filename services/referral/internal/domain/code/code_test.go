package code_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

func TestAlphabetHasNoAmbiguousSymbols(t *testing.T) {
	t.Parallel()
	if got := len(code.Alphabet); got != 30 {
		t.Fatalf("expected 30 symbols, got %d", got)
	}
	for _, ch := range "01ILOU" {
		if strings.ContainsRune(code.Alphabet, ch) {
			t.Errorf("expected %q to be excluded from the alphabet", ch)
		}
	}
	seen := map[rune]bool{}
	for _, ch := range code.Alphabet {
		if seen[ch] {
			t.Errorf("expected unique symbols, %q repeats", ch)
		}
		seen[ch] = true
	}
	// The package doc promises ~39.3 bits; keep the doc honest.
	bits := float64(code.Length) * math.Log2(float64(len(code.Alphabet)))
	if bits < 39 || bits > 39.5 {
		t.Errorf("expected about 39.3 bits of entropy, got %.2f", bits)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rnd  io.Reader
		want code.Code
		err  bool
	}{
		{name: "zero bytes map to the first symbol", rnd: bytes.NewReader(make([]byte, 64)), want: "22222222"},
		{name: "bytes at or above 240 are skipped, not folded", rnd: bytes.NewReader(append(bytes.Repeat([]byte{255, 240}, 6), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)), want: "3456789A"},
		{name: "byte 29 maps to the last symbol and 30 wraps to the first", rnd: bytes.NewReader([]byte{29, 30, 59, 60, 0, 0, 0, 0, 0, 0, 0, 0}), want: "Z2Z22222"},
		{name: "a failing reader is an error", rnd: iotest.ErrReader(errors.New("boom")), err: true},
		{name: "a reader that runs dry is an error", rnd: bytes.NewReader(bytes.Repeat([]byte{250}, 100)), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := code.Generate(tt.rnd)
			if tt.err {
				if err == nil {
					t.Fatalf("expected an error, got code %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if got != tt.want {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

func TestGeneratedCodesParseBackAndAreUniformish(t *testing.T) {
	t.Parallel()
	counts := map[byte]int{}
	const n = 3000
	for range n {
		c, err := code.Generate(rand.Reader)
		if err != nil {
			t.Fatalf("expected no error, got %v", err)
		}
		p, err := code.Parse(c.Display())
		if err != nil || p != c {
			t.Fatalf("expected %q to parse back from %q, got %q, %v", c, c.Display(), p, err)
		}
		for i := range len(c) {
			counts[c[i]]++
		}
	}
	// Each symbol expects n*8/30 = 800 draws; 500..1100 is > 10 sigma wide,
	// so this catches a broken mapping, never flakes on honest randomness.
	for i := range len(code.Alphabet) {
		if got := counts[code.Alphabet[i]]; got < 500 || got > 1100 {
			t.Errorf("expected about 800 draws of %q, got %d", code.Alphabet[i], got)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want code.Code
		err  bool
	}{
		{name: "a canonical generated code parses to itself", in: "ABCD2345", want: "ABCD2345"},
		{name: "lower case, hyphens and spaces are normalized", in: " abcd-2345 ", want: "ABCD2345"},
		{name: "an all-digit generated code parses", in: "2345-6789", want: "23456789"},
		{name: "a vanity code parses", in: "anna_10", want: "ANNA10"},
		{name: "all digits of other lengths are not codes", in: "123456", err: true},
		{name: "too short is malformed", in: "AB1", err: true},
		{name: "too long is malformed", in: strings.Repeat("A", 21), err: true},
		{name: "punctuation is malformed", in: "ANNA!10", err: true},
		{name: "non-ASCII letters are malformed", in: "ÄNNA10", err: true},
		{name: "huge input is rejected before normalizing", in: strings.Repeat("-", 1000) + "ANNA", err: true},
		{name: "empty input is malformed", in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := code.Parse(tt.in)
			if tt.err {
				if !errors.Is(err, code.ErrMalformed) {
					t.Fatalf("expected ErrMalformed, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expected %q, got %q, %v", tt.want, got, err)
			}
		})
	}
}

func TestVanity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want code.Code
		msg  string
	}{
		{name: "a simple vanity code is upper-cased", in: "anna10", want: "ANNA10"},
		{name: "separators are dropped", in: "Summer-Sale 24", want: "SUMMERSALE24"},
		{name: "all digits are refused", in: "123456", msg: "at least one letter"},
		{name: "too short is refused", in: "ab", msg: "4 to 20"},
		{name: "reserved words are refused", in: "admin", msg: "reserved"},
		{name: "symbols are refused", in: "anna@10", msg: "only letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := code.Vanity(tt.in)
			if tt.msg != "" {
				if f := validation.Fields(err); len(f) != 1 || f[0] != "code" || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("expected a validation error on code mentioning %q, got %v", tt.msg, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expected %q, got %q, %v", tt.want, got, err)
			}
		})
	}
}

func TestShareLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, want string
		err              bool
	}{
		{name: "a placeholder in the path is replaced", base: "https://shop.example/r/{code}", want: "https://shop.example/r/ANNA10"},
		{name: "without a placeholder the code is a ref parameter", base: "https://shop.example/invite", want: "https://shop.example/invite?ref=ANNA10"},
		{name: "existing query parameters are kept", base: "https://shop.example/?utm_source=app", want: "https://shop.example/?ref=ANNA10&utm_source=app"},
		{name: "a placeholder in the query is replaced", base: "https://shop.example/join?c={code}&x=1", want: "https://shop.example/join?c=ANNA10&x=1"},
		{name: "a relative base is refused", base: "/r/{code}", err: true},
		{name: "a non-web scheme is refused", base: "javascript:alert(1)", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := code.ShareLink(tt.base, "ANNA10")
			if tt.err {
				if validation.Fields(err) == nil {
					t.Fatalf("expected a validation error, got %q, %v", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expected %q, got %q, %v", tt.want, got, err)
			}
		})
	}
}

func TestRecordValidate(t *testing.T) {
	t.Parallel()
	terms := &code.PartnerTerms{PartnerReward: reward.Points(1000), FriendReward: reward.Points(200)}
	tests := []struct {
		name   string
		rec    code.Record
		fields []string
	}{
		{name: "a customer code is valid", rec: code.Record{Code: "ABCD2345", CampaignID: "c1", OwnerKind: code.OwnerCustomer, OwnerID: "u1"}},
		{name: "a partner vanity code with terms is valid", rec: code.Record{Code: "ANNA10", CampaignID: "c1", OwnerKind: code.OwnerPartner, OwnerID: "p1", Vanity: true, Partner: terms}},
		{name: "a partner code needs terms and must be vanity", rec: code.Record{Code: "ANNA10", CampaignID: "c1", OwnerKind: code.OwnerPartner, OwnerID: "p1"}, fields: []string{"vanity", "partner"}},
		{name: "a customer code cannot carry partner terms", rec: code.Record{Code: "ANNA10", CampaignID: "c1", OwnerKind: code.OwnerCustomer, OwnerID: "u1", Partner: terms}, fields: []string{"partner"}},
		{name: "partner terms are validated with their path", rec: code.Record{Code: "ANNA10", CampaignID: "c1", OwnerKind: code.OwnerPartner, OwnerID: "p1", Vanity: true, Partner: &code.PartnerTerms{PartnerReward: reward.Points(-1)}}, fields: []string{"partner.partner_reward.points"}},
		{name: "missing fields are all reported", rec: code.Record{}, fields: []string{"code", "campaign_id", "owner_id", "owner_kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := validation.Fields(tt.rec.Validate())
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("expected violations on %v, got %v", tt.fields, got)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"ABCD2345", "abcd-2345", "ANNA10", " a n n a 1 0 ", "123456", "ÄNNA", "", "----", strings.Repeat("Z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Every accepted vanity code must also be accepted by Parse, or a
		// partner's code could be sold and then never found.
		if v, err := code.Vanity(s); err == nil {
			if p, err := code.Parse(v.String()); err != nil || p != v {
				t.Fatalf("expected vanity %q to parse, got %q, %v", v, p, err)
			}
		}
		c, err := code.Parse(s)
		if err != nil {
			if !errors.Is(err, code.ErrMalformed) {
				t.Fatalf("expected only ErrMalformed, got %v", err)
			}
			return
		}
		// A parsed code is canonical: bounded, [A-Z0-9], and a fixed point.
		if len(c) < code.MinVanityLength || len(c) > code.MaxVanityLength {
			t.Fatalf("expected a length in bounds, got %q", c)
		}
		for i := range len(c) {
			if !(c[i] >= 'A' && c[i] <= 'Z' || c[i] >= '0' && c[i] <= '9') {
				t.Fatalf("expected only A-Z0-9, got %q", c)
			}
		}
		for _, form := range []string{c.String(), c.Display(), strings.ToLower(c.String())} {
			again, err := code.Parse(form)
			if err != nil || again != c {
				t.Fatalf("expected %q to parse back to %q, got %q, %v", form, c, again, err)
			}
		}
		if _, err := code.ShareLink("https://shop.example/r/{code}", c); err != nil {
			t.Fatalf("expected a share link for a parsed code, got %v", err)
		}
	})
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, err := code.Generate(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := code.Parse(" abcd-2345 "); err != nil {
			b.Fatal(err)
		}
	}
}
