package expiry

import (
	"testing"
	"time"
)

func date(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func TestLotExpiry(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	tests := []struct {
		name   string
		policy Policy
		earned time.Time
		want   time.Time
	}{
		{"never gives no date", Policy{Kind: Never}, date(2026, 1, 15, 10), time.Time{}},
		{"inactivity gives lots no date of their own", Policy{Kind: Inactivity, InactivityMonths: 18}, date(2026, 1, 15, 10), time.Time{}},
		{"twelve months later on the same day", Policy{Kind: FixedPeriod, Months: 12}, date(2026, 1, 15, 10), date(2027, 1, 15, 10)},
		{"the thirty-first clamps to the end of a short month", Policy{Kind: FixedPeriod, Months: 1}, date(2026, 1, 31, 10), date(2026, 2, 28, 10)},
		{"a leap day clamps in a common year", Policy{Kind: FixedPeriod, Months: 12}, date(2028, 2, 29, 10), date(2029, 2, 28, 10)},
		{"days are added after months", Policy{Kind: FixedPeriod, Months: 1, Days: 10}, date(2026, 1, 15, 10), date(2026, 2, 25, 10)},
		{"end of month rounds to the next month's first instant", Policy{Kind: FixedPeriod, Months: 12, RoundTo: EndOfMonth}, date(2026, 3, 15, 10), date(2027, 4, 1, 0)},
		{"end of quarter rounds to the next quarter", Policy{Kind: FixedPeriod, Months: 12, RoundTo: EndOfQuarter}, date(2026, 5, 2, 10), date(2027, 7, 1, 0)},
		{"end of quarter in the last quarter rolls the year", Policy{Kind: FixedPeriod, Months: 1, RoundTo: EndOfQuarter}, date(2026, 10, 20, 10), date(2027, 1, 1, 0)},
		{"end of year rounds to new year", Policy{Kind: FixedPeriod, Months: 6, RoundTo: EndOfYear}, date(2026, 3, 1, 10), date(2027, 1, 1, 0)},
		{"month ends are midnight in the program's time zone", Policy{Kind: FixedPeriod, Months: 1, RoundTo: EndOfMonth, Location: berlin}, date(2026, 1, 10, 10), time.Date(2026, 3, 1, 0, 0, 0, 0, berlin).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.policy.Validate(); err != nil {
				t.Fatalf("expected a valid policy, got %v", err)
			}
			if got := tt.policy.LotExpiry(tt.earned); !got.Equal(tt.want) {
				t.Errorf("expected %v, got %v", tt.want, got)
			}
		})
	}
}

func TestInactivity(t *testing.T) {
	t.Parallel()
	p := Policy{Kind: Inactivity, InactivityMonths: 6}
	last := date(2026, 1, 31, 12)
	tests := []struct {
		name string
		now  time.Time
		due  bool
	}{
		{"just before the deadline nothing expires", date(2026, 7, 31, 11), false},
		{"at the deadline everything expires", date(2026, 7, 31, 12), true},
		{"long after the deadline everything expires", date(2027, 1, 1, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := p.InactivityDue(last, tt.now); got != tt.due {
				t.Errorf("expected due=%v at %v (deadline %v), got %v", tt.due, tt.now, p.InactivityDeadline(last), got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy Policy
		valid  bool
	}{
		{"never is valid", Policy{}, true},
		{"a fixed period without length is invalid", Policy{Kind: FixedPeriod}, false},
		{"inactivity without months is invalid", Policy{Kind: Inactivity}, false},
		{"an unknown kind is invalid", Policy{Kind: 9}, false},
		{"a negative warning is invalid", Policy{WarnBefore: -time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.policy.Validate(); (err == nil) != tt.valid {
				t.Errorf("expected valid=%v, got %v", tt.valid, err)
			}
		})
	}
}
