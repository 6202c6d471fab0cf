package money_test

import (
	"errors"
	"math"
	"testing"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

func TestPercentRoundsHalfAwayFromZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		minor int64
		bps   int64
		want  int64
	}{
		{name: "ten percent of 1000 is exact", minor: 1000, bps: 1000, want: 100},
		{name: "half a cent rounds up", minor: 5, bps: 1000, want: 1},
		{name: "less than half a cent rounds down", minor: 4, bps: 1000, want: 0},
		{name: "12.5 percent of 999 rounds to nearest", minor: 999, bps: 1250, want: 125},
		{name: "negative half rounds away from zero", minor: -5, bps: 1000, want: -1},
		{name: "the largest amount does not overflow", minor: math.MaxInt64, bps: 10000, want: math.MaxInt64},
		{name: "zero basis points give nothing", minor: 12345, bps: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := money.New(tt.minor, "EUR").Percent(tt.bps)
			if got.Minor != tt.want || got.Currency != "EUR" {
				t.Errorf("expected %d EUR, got %s", tt.want, got)
			}
		})
	}
}

func TestAddAndSub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b money.Money
		sub  bool
		want money.Money
		err  error
	}{
		{name: "same currency adds", a: money.New(100, "EUR"), b: money.New(50, "EUR"), want: money.New(150, "EUR")},
		{name: "zero adopts the other currency", a: money.Money{}, b: money.New(50, "USD"), want: money.New(50, "USD")},
		{name: "different currencies do not add", a: money.New(1, "EUR"), b: money.New(1, "USD"), err: money.ErrCurrencyMismatch},
		{name: "overflow is reported", a: money.New(math.MaxInt64, "EUR"), b: money.New(1, "EUR"), err: money.ErrOverflow},
		{name: "subtraction works", a: money.New(100, "EUR"), b: money.New(30, "EUR"), sub: true, want: money.New(70, "EUR")},
		{name: "subtracting the minimum int is overflow", a: money.New(0, "EUR"), b: money.New(math.MinInt64, "EUR"), sub: true, err: money.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := tt.a.Add
			if tt.sub {
				op = tt.a.Sub
			}
			got, err := op(tt.b)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("expected %v, got %s, %v", tt.err, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expected %s, got %s, %v", tt.want, got, err)
			}
		})
	}
}

func TestCmp(t *testing.T) {
	t.Parallel()
	if got, err := money.New(1, "EUR").Cmp(money.New(2, "EUR")); err != nil || got != -1 {
		t.Errorf("expected -1, got %d, %v", got, err)
	}
	if got, err := money.New(2, "EUR").Cmp(money.New(2, "EUR")); err != nil || got != 0 {
		t.Errorf("expected 0, got %d, %v", got, err)
	}
	if _, err := money.New(2, "EUR").Cmp(money.New(1, "USD")); !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Errorf("expected a currency mismatch, got %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		m      money.Money
		fields []string
	}{
		{name: "a positive EUR amount is valid", m: money.New(100, "EUR")},
		{name: "lower-case currency is invalid", m: money.New(100, "eur"), fields: []string{"currency"}},
		{name: "negative amounts and bad codes are both reported", m: money.New(-1, "EURO"), fields: []string{"currency", "minor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := validation.Fields(tt.m.Validate())
			if len(got) != len(tt.fields) {
				t.Fatalf("expected violations %v, got %v", tt.fields, got)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("expected violations %v, got %v", tt.fields, got)
				}
			}
		})
	}
}
