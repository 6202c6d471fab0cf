package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		id    string
		valid bool
	}{
		{"a retail stock code is accepted", "85123A", true},
		{"a uuid is accepted", "0190f1d2-7c1e-7a4b-9a1f-1f2e3d4c5b6a", true},
		{"a namespaced id is accepted", "shop:sku/42@eu+1", true},
		{"an empty id is rejected", "", false},
		{"an id with a space is rejected", "a b", false},
		{"an id with a newline is rejected", "a\nb", false},
		{"a non-ascii id is rejected", "café", false},
		{"an id of exactly the maximum length is accepted", strings.Repeat("x", MaxIDLength), true},
		{"an id one byte too long is rejected", strings.Repeat("x", MaxIDLength+1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateID("product_id", tc.id)
			if (err == nil) != tc.valid {
				t.Fatalf("ValidateID(%q): expected valid=%v, got error %v", tc.id, tc.valid, err)
			}
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != "product_id" {
					t.Fatalf("expected a *ValidationError for field product_id, got %#v", err)
				}
			}
		})
	}
}

func TestInvalidWrapKeepsTheSentinel(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("unknown strategy")
	err := InvalidWrap("strategy", sentinel)
	if !errors.Is(err, sentinel) {
		t.Fatalf("expected errors.Is to find the sentinel through the ValidationError, got %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "strategy" {
		t.Fatalf("expected field strategy, got %#v", err)
	}
}
