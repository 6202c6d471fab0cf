// Package money represents amounts as int64 minor units plus an ISO 4217
// currency code, so budgets and discounts never suffer float rounding and
// amounts in different currencies are never added by accident.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// ErrCurrencyMismatch is returned when two amounts in different currencies
// are combined.
var ErrCurrencyMismatch = errors.New("currency mismatch")

// ErrOverflow is returned when arithmetic would leave the int64 range.
var ErrOverflow = errors.New("amount overflow")

// Money is an amount in minor units (cents for EUR/USD, yen for JPY) of an
// ISO 4217 currency. The zero value means "no amount" and is valid where an
// amount is optional.
type Money struct {
	Minor    int64
	Currency string
}

// New returns an amount; use Validate before trusting input.
func New(minor int64, currency string) Money { return Money{Minor: minor, Currency: currency} }

// IsZero reports whether m is the unset amount.
func (m Money) IsZero() bool { return m.Minor == 0 && m.Currency == "" }

// Validate checks that the currency is three upper-case letters and the
// amount is not negative. Whether the code is an assigned ISO 4217 code is
// left to the payment side; referral only needs consistency.
func (m Money) Validate() error {
	var c validation.Collector
	if !ValidCurrency(m.Currency) {
		c.Add("currency", "must be an ISO 4217 code of three upper-case letters, got %q", m.Currency)
	}
	if m.Minor < 0 {
		c.Add("minor", "must not be negative, got %d", m.Minor)
	}
	return c.Err()
}

// ValidCurrency reports whether s has the shape of an ISO 4217 code.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Add returns m+o; both must share a currency (a zero value adopts the other's).
func (m Money) Add(o Money) (Money, error) {
	if m.IsZero() {
		return o, nil
	}
	if o.IsZero() {
		return m, nil
	}
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("add %s to %s: %w", o.Currency, m.Currency, ErrCurrencyMismatch)
	}
	if (o.Minor > 0 && m.Minor > math.MaxInt64-o.Minor) || (o.Minor < 0 && m.Minor < math.MinInt64-o.Minor) {
		return Money{}, fmt.Errorf("add %d to %d: %w", o.Minor, m.Minor, ErrOverflow)
	}
	return Money{Minor: m.Minor + o.Minor, Currency: m.Currency}, nil
}

// Sub returns m-o in the same currency.
func (m Money) Sub(o Money) (Money, error) {
	if o.Minor == math.MinInt64 {
		return Money{}, fmt.Errorf("subtract %d: %w", o.Minor, ErrOverflow)
	}
	return m.Add(Money{Minor: -o.Minor, Currency: o.Currency})
}

// Cmp compares m and o (-1, 0, +1); both must share a currency.
func (m Money) Cmp(o Money) (int, error) {
	if m.Currency != o.Currency && !m.IsZero() && !o.IsZero() {
		return 0, fmt.Errorf("compare %s with %s: %w", m.Currency, o.Currency, ErrCurrencyMismatch)
	}
	switch {
	case m.Minor < o.Minor:
		return -1, nil
	case m.Minor > o.Minor:
		return 1, nil
	}
	return 0, nil
}

// Percent returns bps basis points (1/100 of a percent) of m, rounded half
// away from zero to the minor unit. Basis points keep "12.5 % off" exact
// without floats; the intermediate product uses big integers so large
// amounts cannot overflow.
func (m Money) Percent(bps int64) Money {
	p := new(big.Int).Mul(big.NewInt(m.Minor), big.NewInt(bps))
	q, r := new(big.Int).QuoRem(p, big.NewInt(10000), new(big.Int))
	// Round half away from zero: compare 2*|r| with the divisor.
	r.Abs(r).Mul(r, big.NewInt(2))
	if r.Cmp(big.NewInt(10000)) >= 0 {
		if p.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Money{Minor: q.Int64(), Currency: m.Currency}
}

// String formats m as "1234 EUR" (minor units), unambiguous for logs and evidence.
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Minor, m.Currency) }
