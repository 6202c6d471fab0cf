package tier

import (
	"errors"
	"testing"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

var t0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

func ladder(t *testing.T, policy DowngradePolicy) Ladder {
	t.Helper()
	l, err := NewLadder(MeasurePointsEarned, 12, []Tier{
		{ID: "gold", Name: "Gold", Rank: 3, Threshold: 5000, Downgrade: policy, Benefits: Benefits{EarnMultiplierPercent: 150}},
		{ID: "bronze", Name: "Bronze", Rank: 1, Threshold: 0, Downgrade: policy},
		{ID: "silver", Name: "Silver", Rank: 2, Threshold: 1000, Downgrade: policy},
		{ID: "prime", Name: "Prime", Rank: 4, Paid: true},
	})
	if err != nil {
		t.Fatalf("expected a valid ladder, got %v", err)
	}
	return l
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	gold := Status{QualifiedTierID: "gold", RequalifyAt: t0, EffectiveTierID: "gold"}
	tests := []struct {
		name       string
		policy     DowngradePolicy
		status     Status
		measure    int64
		now        time.Time
		wantTier   string
		wantChange bool
		wantUp     bool
		wantReview time.Time
	}{
		{"a new member starts in the base tier", DowngradeOneTier, Status{}, 0, t0, "bronze", true, true, t0.AddDate(1, 0, 0)},
		{"reaching a threshold upgrades at once", DowngradeOneTier, Status{QualifiedTierID: "bronze", EffectiveTierID: "bronze", RequalifyAt: t0.AddDate(0, 6, 0)}, 1200, t0, "silver", true, true, t0.AddDate(1, 0, 0)},
		{"skipping a tier upgrades straight to the supported one", DowngradeOneTier, Status{QualifiedTierID: "bronze", EffectiveTierID: "bronze"}, 6000, t0, "gold", true, true, t0.AddDate(1, 0, 0)},
		{"a falling measure before the review changes nothing", DowngradeOneTier, gold, 10, t0.Add(-time.Second), "gold", false, false, t0},
		{"a review the member passes starts a new window", DowngradeOneTier, gold, 5000, t0, "gold", false, false, t0.AddDate(1, 0, 0)},
		{"one tier down drops a single level at the review", DowngradeOneTier, gold, 10, t0, "silver", true, false, t0.AddDate(1, 0, 0)},
		{"the unspecified policy behaves as one tier down", DowngradeUnspecified, gold, 10, t0, "silver", true, false, t0.AddDate(1, 0, 0)},
		{"to-qualified drops to what the measure supports", DowngradeToQualified, gold, 10, t0, "bronze", true, false, t0.AddDate(1, 0, 0)},
		{"policy none keeps the tier", DowngradeNone, gold, 10, t0, "gold", false, false, t0.AddDate(1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ladder(t, tt.policy)
			s, ch := l.Evaluate(tt.status, tt.measure, tt.now)
			if s.QualifiedTierID != tt.wantTier || s.EffectiveTierID != tt.wantTier {
				t.Errorf("expected tier %s, got qualified %s effective %s", tt.wantTier, s.QualifiedTierID, s.EffectiveTierID)
			}
			if (ch != nil) != tt.wantChange {
				t.Fatalf("expected change=%v, got %+v", tt.wantChange, ch)
			}
			if ch != nil && (ch.Upgrade != tt.wantUp || ch.To != tt.wantTier) {
				t.Errorf("expected upgrade=%v to %s, got %+v", tt.wantUp, tt.wantTier, ch)
			}
			if !s.RequalifyAt.Equal(tt.wantReview) {
				t.Errorf("expected review at %v, got %v", tt.wantReview, s.RequalifyAt)
			}
			if _, again := l.Evaluate(s, tt.measure, tt.now); again != nil {
				t.Errorf("expected a second evaluation to change nothing, got %+v", again)
			}
		})
	}
}

func TestUpgradeAndDowngradeAcrossAWindowBoundary(t *testing.T) {
	t.Parallel()
	l := ladder(t, DowngradeOneTier)
	s, _ := l.Evaluate(Status{}, 0, t0)
	s, ch := l.Evaluate(s, 1500, t0.AddDate(0, 2, 0)) // silver in March 2026
	if ch == nil || ch.To != "silver" {
		t.Fatalf("expected an upgrade to silver, got %+v", ch)
	}
	review := s.RequalifyAt
	if want := t0.AddDate(1, 2, 0); !review.Equal(want) {
		t.Fatalf("expected review at %v, got %v", want, review)
	}
	// The points from March fall out of the 12-month window by the review.
	if s2, ch := l.Evaluate(s, 200, review.Add(-time.Hour)); ch != nil || s2.QualifiedTierID != "silver" {
		t.Errorf("expected silver kept an hour before the review, got %s (%+v)", s2.QualifiedTierID, ch)
	}
	s, ch = l.Evaluate(s, 200, review)
	if ch == nil || ch.To != "bronze" || ch.Upgrade {
		t.Errorf("expected a downgrade to bronze at the review, got %+v", ch)
	}
	from, to := l.Window(review)
	if !from.Equal(review.AddDate(-1, 0, 0)) || !to.Equal(review) {
		t.Errorf("expected a 12-month window ending at the review, got %v..%v", from, to)
	}
}

func TestOverrideAndSubscription(t *testing.T) {
	t.Parallel()
	l := ladder(t, DowngradeOneTier)
	base, _ := l.Evaluate(Status{}, 1200, t0) // silver
	tests := []struct {
		name       string
		run        func() (Status, *Change, error)
		at         time.Time
		wantTier   string
		wantChange bool
	}{
		{"an override lifts the member while active", func() (Status, *Change, error) {
			return l.SetOverride(base, Override{TierID: "gold", ExpiresAt: t0.AddDate(0, 1, 0), Reason: "vip", Actor: "ann"}, t0)
		}, t0, "gold", true},
		{"an override can demote", func() (Status, *Change, error) {
			return l.SetOverride(base, Override{TierID: "bronze", ExpiresAt: t0.AddDate(0, 1, 0), Reason: "abuse", Actor: "ann"}, t0)
		}, t0, "bronze", true},
		{"an expired override falls back to the qualified tier", func() (Status, *Change, error) {
			s, _, err := l.SetOverride(base, Override{TierID: "gold", ExpiresAt: t0.AddDate(0, 1, 0), Reason: "vip", Actor: "ann"}, t0)
			if err != nil {
				return s, nil, err
			}
			s, ch := l.Evaluate(s, 1200, t0.AddDate(0, 1, 0))
			return s, ch, nil
		}, t0.AddDate(0, 1, 0), "silver", true},
		{"a subscription grants the paid tier", func() (Status, *Change, error) {
			return l.Subscribe(base, "prime", t0.AddDate(0, 1, 0), t0)
		}, t0, "prime", true},
		{"a lapsed subscription ends the paid tier", func() (Status, *Change, error) {
			s, _, err := l.Subscribe(base, "prime", t0.AddDate(0, 1, 0), t0)
			if err != nil {
				return s, nil, err
			}
			s, ch := l.Evaluate(s, 1200, t0.AddDate(0, 1, 0))
			return s, ch, nil
		}, t0.AddDate(0, 1, 0), "silver", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ch, err := tt.run()
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if eff, _ := l.Effective(s, tt.at); eff.ID != tt.wantTier || s.EffectiveTierID != tt.wantTier {
				t.Errorf("expected effective %s, got %s (stored %s)", tt.wantTier, eff.ID, s.EffectiveTierID)
			}
			if (ch != nil) != tt.wantChange {
				t.Errorf("expected change=%v, got %+v", tt.wantChange, ch)
			}
		})
	}
	if _, _, err := l.Subscribe(base, "gold", t0.AddDate(0, 1, 0), t0); !errors.Is(err, validation.ErrInvalid) {
		t.Errorf("expected subscribing to a qualifying tier to be invalid, got %v", err)
	}
	if _, _, err := l.SetOverride(base, Override{TierID: "gold", ExpiresAt: t0}, t0); !errors.Is(err, validation.ErrInvalid) {
		t.Errorf("expected an override without reason, actor and future expiry to be invalid, got %v", err)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	l := ladder(t, DowngradeOneTier)
	tests := []struct {
		name          string
		measure       int64
		wantCurrent   string
		wantNext      string
		wantRemaining int64
	}{
		{"a bronze member sees the way to silver", 400, "bronze", "silver", 600},
		{"a silver member sees the way to gold", 1200, "silver", "gold", 3800},
		{"a gold member has no next tier", 6000, "gold", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := l.Evaluate(Status{}, tt.measure, t0)
			p := l.Progress(s, tt.measure, t0)
			if p.Current.ID != tt.wantCurrent || p.Next.ID != tt.wantNext || p.Remaining != tt.wantRemaining {
				t.Errorf("expected %s -> %s with %d left, got %s -> %s with %d", tt.wantCurrent, tt.wantNext, tt.wantRemaining,
					p.Current.ID, p.Next.ID, p.Remaining)
			}
		})
	}
}

func TestNewLadderValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tiers []Tier
	}{
		{"thresholds must rise with rank", []Tier{{ID: "a", Name: "A", Rank: 1, Threshold: 100}, {ID: "b", Name: "B", Rank: 2, Threshold: 100}}},
		{"ranks must be unique", []Tier{{ID: "a", Name: "A", Rank: 1}, {ID: "b", Name: "B", Rank: 1, Threshold: 5}}},
		{"ids must be unique", []Tier{{ID: "a", Name: "A", Rank: 1}, {ID: "a", Name: "B", Rank: 2, Threshold: 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewLadder(MeasureSpend, 12, tt.tiers); !errors.Is(err, validation.ErrInvalid) {
				t.Errorf("expected a validation error, got %v", err)
			}
		})
	}
}

func TestProgressShowsWhenAnOverrideOrAPaidTierEnds(t *testing.T) {
	t.Parallel()
	l := ladder(t, DowngradeOneTier)
	base, _ := l.Evaluate(Status{}, 1200, t0) // silver
	end := t0.AddDate(0, 1, 0)
	override, _, err := l.SetOverride(base, Override{TierID: "gold", ExpiresAt: end, Reason: "vip", Actor: "ann"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	paid, _, err := l.Subscribe(base, "prime", end, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    Status
		want time.Time
	}{
		{"a qualified member re-qualifies at the window's end", base, base.RequalifyAt},
		{"an overridden member sees the override's end", override, end},
		{"a paying member sees the membership's end", paid, end},
	}
	for _, tt := range tests {
		if got := l.Progress(tt.s, 1200, t0).RequalifyAt; !got.Equal(tt.want) {
			t.Errorf("%s: expected %s, got %s", tt.name, tt.want, got)
		}
	}
}
