package rejection_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
)

func TestEveryReasonIsDocumentedSnakeCase(t *testing.T) {
	t.Parallel()
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	reasons := rejection.Reasons()
	if len(reasons) != 18 {
		t.Errorf("expected 18 reason codes, got %d: update docs/referral.md when adding one", len(reasons))
	}
	for _, r := range reasons {
		if !snake.MatchString(string(r)) {
			t.Errorf("expected %q to be snake_case", r)
		}
		if !r.Known() || r.Description() == "Unknown reason." {
			t.Errorf("expected %q to have a description", r)
		}
	}
	if rejection.Reason("nope").Known() {
		t.Error("expected an undefined reason to be unknown")
	}
}

func TestFraudClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason rejection.Reason
		fraud  bool
	}{
		{rejection.SelfReferralDevice, true},
		{rejection.IPVelocity, true},
		{rejection.DisposableEmail, true},
		{rejection.BudgetExhausted, false},
		{rejection.OrderRefunded, false},
		{rejection.AttributionWindowExpired, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.reason)+" is classified", func(t *testing.T) {
			t.Parallel()
			if got := tt.reason.Fraud(); got != tt.fraud {
				t.Errorf("expected fraud=%v, got %v", tt.fraud, got)
			}
		})
	}
}

func TestRejectionIsAnErrorWithSortedEvidence(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var err error = rejection.New(rejection.IPVelocity, "ip_velocity", at, "limit", "3", "count", "4", "dangling")
	want := "referral rejected: ip_velocity (count=4, limit=3)"
	if err.Error() != want {
		t.Errorf("expected %q, got %q", want, err.Error())
	}
	var rej *rejection.Rejection
	if !errors.As(err, &rej) || rej.Rule != "ip_velocity" || !rej.At.Equal(at) || len(rej.Evidence) != 2 {
		t.Errorf("expected the rejection with two evidence entries, got %+v", rej)
	}
	if got := rejection.New(rejection.BudgetExhausted, "b", at).Error(); got != "referral rejected: budget_exhausted" {
		t.Errorf("expected no evidence suffix, got %q", got)
	}
}
