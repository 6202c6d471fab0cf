package recognition

import (
	"slices"
	"testing"
	"time"
)

func at(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

func keys(os []Occasion) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Key)
	}
	return out
}

func TestDue(t *testing.T) {
	t.Parallel()
	cfg := Config{BirthdayPoints: 100, AnniversaryPoints: 200, Grace: 7 * 24 * time.Hour,
		OrderMilestones: []Milestone{{10, 50}, {1, 5}}, PointsMilestones: []Milestone{{1000, 100}}}
	tests := []struct {
		name    string
		profile Profile
		now     time.Time
		want    []string
	}{
		{"a birthday today is due", Profile{BirthMonth: 3, BirthDay: 4, EnrolledAt: at(2020, 1, 1)}, at(2026, 3, 4), []string{"birthday:2026"}},
		{"a birthday within the grace period is still due", Profile{BirthMonth: 3, BirthDay: 4, EnrolledAt: at(2020, 1, 1)}, at(2026, 3, 10), []string{"birthday:2026"}},
		{"a birthday long past is not due", Profile{BirthMonth: 3, BirthDay: 4, EnrolledAt: at(2020, 1, 1)}, at(2026, 4, 10), nil},
		{"a late December birthday is due in early January", Profile{BirthMonth: 12, BirthDay: 30, EnrolledAt: at(2020, 6, 1)}, at(2027, 1, 3), []string{"birthday:2026"}},
		{"a leap day birthday is celebrated on 28 February", Profile{BirthMonth: 2, BirthDay: 29, EnrolledAt: at(2020, 1, 1)}, at(2026, 2, 28), []string{"birthday:2026"}},
		{"a member who enrolled after their birthday waits a year", Profile{BirthMonth: 3, BirthDay: 4, EnrolledAt: at(2026, 3, 8)}, at(2026, 3, 9), nil},
		{"the third anniversary is due", Profile{EnrolledAt: at(2023, 5, 2)}, at(2026, 5, 3), []string{"anniversary:3"}},
		{"the enrolment day itself is no anniversary", Profile{EnrolledAt: at(2026, 5, 2)}, at(2026, 5, 2), nil},
		{"every reached milestone is reported", Profile{OrderCount: 12, LifetimePoints: 1500}, at(2026, 1, 1), []string{"orders:1", "orders:10", "points:1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := keys(cfg.Due(tt.profile, tt.now)); !slices.Equal(got, tt.want) {
				t.Errorf("expected %v, got %v", tt.want, got)
			}
		})
	}
}

func TestGoodwill(t *testing.T) {
	t.Parallel()
	cfg := Config{GoodwillMax: 1000}
	tests := []struct {
		name   string
		points int64
		reason string
		valid  bool
	}{
		{"a goodwill credit with a reason is keyed by case", 500, "late delivery", true},
		{"a credit above the maximum is refused", 1001, "late delivery", false},
		{"a credit without a reason is refused", 10, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := cfg.Goodwill("T-1", tt.points, tt.reason, "agent-7")
			if (err == nil) != tt.valid {
				t.Fatalf("expected valid=%v, got %v", tt.valid, err)
			}
			if tt.valid && o.Key != "goodwill:T-1" {
				t.Errorf("expected key goodwill:T-1, got %s", o.Key)
			}
		})
	}
}
