package money

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestMulDiv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		a, b, c int64
		mode    Rounding
		want    int64
		wantErr error
	}{
		{"exact division is the same in every mode", 1000, 1, 100, RoundUp, 10, nil},
		{"round down drops the fraction", 1999, 1, 100, RoundDown, 19, nil},
		{"round half up rounds a half away from zero", 1950, 1, 100, RoundHalfUp, 20, nil},
		{"round half up keeps below a half", 1949, 1, 100, RoundHalfUp, 19, nil},
		{"round up takes any fraction", 1901, 1, 100, RoundUp, 20, nil},
		{"intermediate products beyond int64 still work", math.MaxInt64, 10, 20, RoundDown, math.MaxInt64 / 2, nil},
		{"a result beyond int64 is an overflow", math.MaxInt64, 3, 2, RoundDown, 0, ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MulDiv(tt.a, tt.b, tt.c, tt.mode)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected error %v, got %v", tt.wantErr, err)
			}
			if got != tt.want {
				t.Errorf("expected %d, got %d", tt.want, got)
			}
		})
	}
}

func TestDistribute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		total   int64
		weights []int64
		want    []int64
	}{
		{"an even split divides exactly", 10, []int64{1, 1}, []int64{5, 5}},
		{"the remainder goes to the largest fractions", 10, []int64{1, 1, 1}, []int64{4, 3, 3}},
		{"zero weights get nothing", 7, []int64{0, 3, 4}, []int64{0, 3, 4}},
		{"all zero weights give all zero parts", 7, []int64{0, 0}, []int64{0, 0}},
		{"proportional shares follow the weights", 100, []int64{2500, 7500}, []int64{25, 75}},
		{"a tiny total goes to the heaviest weight first", 1, []int64{1, 3}, []int64{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Distribute(tt.total, tt.weights)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("expected %v, got %v", tt.want, got)
			}
		})
	}
}

func FuzzDistribute(f *testing.F) {
	f.Add(int64(10), int64(1), int64(2), int64(3))
	f.Add(int64(0), int64(0), int64(0), int64(0))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(1), int64(0))
	f.Fuzz(func(t *testing.T, total, a, b, c int64) {
		if total < 0 || a < 0 || b < 0 || c < 0 {
			return
		}
		parts, err := Distribute(total, []int64{a, b, c})
		if err != nil {
			t.Fatalf("expected no error, got %v", err)
		}
		var sum int64
		for _, p := range parts {
			if p < 0 {
				t.Fatalf("expected non-negative parts, got %v", parts)
			}
			sum += p
		}
		if (a > 0 || b > 0 || c > 0) && sum != total {
			t.Fatalf("expected parts %v to add up to %d, got %d", parts, total, sum)
		}
	})
}

func TestConversion(t *testing.T) {
	t.Parallel()
	c := Conversion{Points: 100, Value: New(100, "EUR")} // 1 point = 1 cent
	odd := Conversion{Points: 3, Value: New(1, "EUR")}   // 3 points = 1 cent
	tests := []struct {
		name       string
		conv       Conversion
		points     int64
		wantValue  int64
		amount     Money
		wantPoints int64
		wantErr    error
	}{
		{"points and cents convert one to one", c, 250, 250, New(250, "EUR"), 250, nil},
		{"value rounds down and points round up", odd, 10, 3, New(4, "EUR"), 12, nil},
		{"another currency is refused", c, 0, 0, New(100, "USD"), 0, ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := tt.conv.ValueOf(tt.points)
			if err != nil || v.Amount != tt.wantValue {
				t.Errorf("expected value %d, got %v (err %v)", tt.wantValue, v, err)
			}
			p, err := tt.conv.PointsFor(tt.amount)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("expected error %v, got %v", tt.wantErr, err)
			}
			if p != tt.wantPoints {
				t.Errorf("expected %d points, got %d", tt.wantPoints, p)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		m     Money
		neg   bool
		valid bool
	}{
		{"a positive amount with a currency is valid", New(1, "EUR"), false, true},
		{"a lower-case currency is invalid", New(1, "eur"), false, false},
		{"a negative amount is invalid unless allowed", New(-1, "EUR"), false, false},
		{"a negative amount is valid when allowed", New(-1, "EUR"), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.m.Validate(tt.neg)
			if (err == nil) != tt.valid {
				t.Errorf("expected valid=%v, got error %v", tt.valid, err)
			}
		})
	}
}

func TestDistributeWithHugeWeights(t *testing.T) {
	t.Parallel()
	got, err := Distribute(3, []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64})
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	if want := []int64{1, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("expected %v, got %v", want, got)
	}
}

func TestCheckedArithmetic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		op      func() (int64, error)
		want    int64
		wantErr error
	}{
		{"small sums add", func() (int64, error) { return AddInt(2, 3) }, 5, nil},
		{"a sum past the maximum overflows", func() (int64, error) { return AddInt(math.MaxInt64, 1) }, 0, ErrOverflow},
		{"a sum past the minimum overflows", func() (int64, error) { return AddInt(math.MinInt64, -1) }, 0, ErrOverflow},
		{"small products multiply", func() (int64, error) { return MulInt(-4, 5) }, -20, nil},
		{"a product past the maximum overflows", func() (int64, error) { return MulInt(math.MaxInt64/2, 3) }, 0, ErrOverflow},
		{"minus one times the minimum overflows", func() (int64, error) { return MulInt(-1, math.MinInt64) }, 0, ErrOverflow},
		{"amounts of one currency add", func() (int64, error) {
			m, err := New(100, "EUR").Add(New(50, "EUR"))
			return m.Amount, err
		}, 150, nil},
		{"amounts of two currencies do not add", func() (int64, error) {
			m, err := New(100, "EUR").Add(New(50, "USD"))
			return m.Amount, err
		}, 0, ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.op()
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("expected %d (%v), got %d (%v)", tt.want, tt.wantErr, got, err)
			}
		})
	}
}
