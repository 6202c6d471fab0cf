package stats_test

import (
	"math"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/stats"
)

func TestCompute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                      string
		c                                         stats.Counters
		clickToSignUp, signUpToConv, conv, invite float64
		k                                         float64
	}{
		{name: "an empty funnel has zero rates, not NaN", c: stats.Counters{}},
		{name: "a typical funnel", c: stats.Counters{Sharers: 200, Clicks: 1000, SignUps: 250, Conversions: 100},
			clickToSignUp: 0.25, signUpToConv: 0.4, conv: 0.1, invite: 5, k: 0.5},
		{name: "a viral funnel has K above one", c: stats.Counters{Sharers: 10, Clicks: 300, SignUps: 40, Conversions: 15},
			clickToSignUp: 40.0 / 300, signUpToConv: 15.0 / 40, conv: 0.05, invite: 30, k: 1.5},
		{name: "clicks without sharers leave K at zero", c: stats.Counters{Clicks: 10, SignUps: 1, Conversions: 1},
			clickToSignUp: 0.1, signUpToConv: 1, conv: 0.1},
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := stats.Compute(tt.c)
			for _, chk := range []struct {
				what      string
				got, want float64
			}{
				{"click to sign-up", f.ClickToSignUp, tt.clickToSignUp},
				{"sign-up to conversion", f.SignUpToConversion, tt.signUpToConv},
				{"conversion rate", f.ConversionRate, tt.conv},
				{"invites per sharer", f.InvitesPerSharer, tt.invite},
				{"viral coefficient", f.ViralCoefficient, tt.k},
			} {
				if !near(chk.got, chk.want) {
					t.Errorf("expected %s %v, got %v", chk.what, chk.want, chk.got)
				}
			}
			if !near(f.ViralCoefficient, f.InvitesPerSharer*f.ConversionRate) {
				t.Errorf("expected K = invites × conversion rate, got %v vs %v", f.ViralCoefficient, f.InvitesPerSharer*f.ConversionRate)
			}
			if f.Counters != tt.c {
				t.Errorf("expected the counters to be kept, got %+v", f.Counters)
			}
		})
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	rs := []stats.Referrer{
		{ID: "d", Conversions: 1, SignUps: 5},
		{ID: "b", Conversions: 3},
		{ID: "a", Conversions: 3},
		{ID: "c", Conversions: 1, SignUps: 5, Clicks: 9},
		{ID: "e"},
	}
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{name: "ties break by sign-ups, clicks, then id", n: 10, want: []string{"a", "b", "c", "d", "e"}},
		{name: "n limits the list", n: 2, want: []string{"a", "b"}},
		{name: "zero gives none", n: 0, want: []string{}},
		{name: "a negative n gives all", n: -1, want: []string{"a", "b", "c", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := []string{}
			for _, r := range stats.Top(rs, tt.n) {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("expected %v, got %v", tt.want, got)
			}
		})
	}
	if rs[0].ID != "d" {
		t.Errorf("expected the input untouched, got %v", rs)
	}
}
