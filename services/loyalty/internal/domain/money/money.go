// Package money holds amounts as int64 minor units with an ISO 4217
// currency, and the integer arithmetic the loyalty rules need (proportional
// shares with an explicit rounding mode, points <-> money conversion).
// Floating point is never used: a rate of 1 point per 1.00 EUR must give the
// same answer on every machine and in every replay.
package money

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// ErrCurrencyMismatch is returned when two amounts of different currencies
// meet; converting between currencies is outside the loyalty domain.
var ErrCurrencyMismatch = errors.New("currency mismatch")

// ErrOverflow is returned when a computation does not fit in int64; amounts
// that large are bad input, not a reason to wrap around silently.
var ErrOverflow = errors.New("amount overflows int64")

// Money is an amount in minor units (cents for EUR, yen for JPY) of a
// currency given as its ISO 4217 code.
type Money struct {
	Amount   int64
	Currency string
}

// New returns an amount of currency.
func New(amount int64, currency string) Money { return Money{Amount: amount, Currency: currency} }

// String prints "1234 EUR" (minor units); display formatting is the
// client's job because it depends on locale.
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// IsZero reports whether the amount is zero, whatever the currency.
func (m Money) IsZero() bool { return m.Amount == 0 }

// ValidCurrency reports whether code looks like an ISO 4217 code (three
// upper-case letters). The full list changes over time, so the shape is all
// the domain checks.
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}

// Validate checks the currency code and, unless allowNegative, the sign.
func (m Money) Validate(allowNegative bool) error {
	var c validation.Collector
	c.Check(ValidCurrency(m.Currency), "currency", "must be an ISO 4217 code, got %q", m.Currency)
	c.Check(allowNegative || m.Amount >= 0, "amount_minor", "must not be negative, got %d", m.Amount)
	return c.Err()
}

// Add returns m+o; both must share a currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("add %s to %s: %w", o, m, ErrCurrencyMismatch)
	}
	s, err := AddInt(m.Amount, o.Amount)
	if err != nil {
		return Money{}, err
	}
	return Money{Amount: s, Currency: m.Currency}, nil
}

// AddInt adds with an overflow check.
func AddInt(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, ErrOverflow
	}
	return s, nil
}

// MulInt multiplies with an overflow check.
func MulInt(a, b int64) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, ErrOverflow
	}
	return p, nil
}

// Rounding says what happens to the fraction of a proportional share.
type Rounding int

const (
	// RoundDown truncates toward zero: the member never gets a point the
	// rate did not fully pay for. It is the default.
	RoundDown Rounding = iota
	// RoundHalfUp rounds to the nearest point, halves away from zero.
	RoundHalfUp
	// RoundUp rounds away from zero: any fraction earns a whole point.
	RoundUp
)

// String names the mode.
func (r Rounding) String() string {
	switch r {
	case RoundDown:
		return "down"
	case RoundHalfUp:
		return "half_up"
	case RoundUp:
		return "up"
	}
	return fmt.Sprintf("Rounding(%d)", int(r))
}

// Valid reports whether r is a known mode.
func (r Rounding) Valid() bool { return r >= RoundDown && r <= RoundUp }

// MulDiv returns a*b/c rounded by mode, computed in 128 bits so that large
// order values times a rate cannot overflow in between. a and b must be
// non-negative and c positive; the result must fit in int64.
func MulDiv(a, b, c int64, mode Rounding) (int64, error) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, fmt.Errorf("muldiv(%d, %d, %d): operands must be non-negative and the divisor positive", a, b, c)
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, ErrOverflow
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	switch mode {
	case RoundUp:
		if r != 0 {
			q++
		}
	case RoundHalfUp:
		// r*2 >= c without overflow: r < c <= MaxInt64, so 2r fits in uint64.
		if 2*r >= uint64(c) {
			q++
		}
	case RoundDown:
	default:
		return 0, fmt.Errorf("unknown rounding mode %d", mode)
	}
	if q > math.MaxInt64 {
		return 0, ErrOverflow
	}
	return int64(q), nil
}

// Distribute splits total over weights in proportion, by the largest
// remainder method, so the parts always add up to total exactly. That
// property is what lets a refund claw back "the points of this line" and a
// later full refund claw back precisely the rest. Zero weights get zero; if
// every weight is zero the total goes to nobody and all parts are zero, which
// callers treat as "nothing to split over". Ties go to the earlier weight so
// the result is deterministic.
func Distribute(total int64, weights []int64) ([]int64, error) {
	parts := make([]int64, len(weights))
	if total == 0 || len(weights) == 0 {
		return parts, nil
	}
	if total < 0 {
		return nil, fmt.Errorf("distribute %d: total must not be negative", total)
	}
	var sum uint64
	fits := true
	for i, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("distribute: weight %d is negative (%d)", i, w)
		}
		var carry uint64
		sum, carry = bits.Add64(sum, uint64(w), 0)
		fits = fits && carry == 0
	}
	if sum == 0 {
		return parts, nil
	}
	if !fits {
		return distributeBig(total, weights)
	}
	// Fast path in 128-bit integers: total*w/sum <= total, so each
	// quotient fits and Div64 cannot overflow.
	rems := make([]uint64, len(weights))
	var assigned int64
	for i, w := range weights {
		hi, lo := bits.Mul64(uint64(total), uint64(w))
		q, r := bits.Div64(hi, lo, sum)
		parts[i], rems[i] = int64(q), r
		assigned += parts[i]
	}
	// Fewer units are left than there are weights, so each of the
	// largest remainders gets one; sorting once keeps this O(n log n).
	if left := total - assigned; left > 0 {
		idx := make([]int, 0, len(weights))
		for i, w := range weights {
			if w > 0 {
				idx = append(idx, i)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
		for _, i := range idx[:left] {
			parts[i]++
		}
	}
	return parts, nil
}

// distributeBig is Distribute for weights whose sum overflows uint64.
func distributeBig(total int64, weights []int64) ([]int64, error) {
	parts := make([]int64, len(weights))
	var sum big.Int
	for _, w := range weights {
		sum.Add(&sum, big.NewInt(w))
	}
	rems := make([]big.Int, len(weights))
	done := make([]bool, len(weights))
	var assigned int64
	T := big.NewInt(total)
	for i, w := range weights {
		var p, q big.Int
		p.Mul(T, big.NewInt(w))
		q.QuoRem(&p, &sum, &rems[i])
		parts[i] = q.Int64()
		assigned += parts[i]
	}
	for left := total - assigned; left > 0; left-- {
		best := -1
		for i := range weights {
			if weights[i] > 0 && !done[i] && (best < 0 || rems[i].Cmp(&rems[best]) > 0) {
				best = i
			}
		}
		parts[best]++
		done[best] = true
	}
	return parts, nil
}

// Conversion is the program's value of points at checkout: Points points are
// worth Value. For example 100 points = 1.00 EUR is {100, {100, "EUR"}}.
type Conversion struct {
	Points int64
	Value  Money
}

// Validate checks the rate is positive and has a currency.
func (c Conversion) Validate() error {
	var v validation.Collector
	v.Check(c.Points > 0, "points", "must be positive, got %d", c.Points)
	v.Check(c.Value.Amount > 0, "value.amount_minor", "must be positive, got %d", c.Value.Amount)
	v.Check(ValidCurrency(c.Value.Currency), "value.currency", "must be an ISO 4217 code, got %q", c.Value.Currency)
	return v.Err()
}

// ValueOf is the money value of points, rounded down: the program never
// pays out a fraction of a minor unit the points do not cover.
func (c Conversion) ValueOf(points int64) (Money, error) {
	v, err := MulDiv(points, c.Value.Amount, c.Points, RoundDown)
	if err != nil {
		return Money{}, fmt.Errorf("value of %d points: %w", points, err)
	}
	return Money{Amount: v, Currency: c.Value.Currency}, nil
}

// PointsFor is how many points pay for amount, rounded up so the discount
// is always fully covered by points.
func (c Conversion) PointsFor(amount Money) (int64, error) {
	if amount.Currency != c.Value.Currency {
		return 0, fmt.Errorf("points for %s at %s: %w", amount, c.Value, ErrCurrencyMismatch)
	}
	p, err := MulDiv(amount.Amount, c.Points, c.Value.Amount, RoundUp)
	if err != nil {
		return 0, fmt.Errorf("points for %s: %w", amount, err)
	}
	return p, nil
}
