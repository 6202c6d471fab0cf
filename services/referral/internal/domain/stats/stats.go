// Package stats computes a campaign's funnel figures from counters the
// adapters aggregate: conversion rates, the viral coefficient and the top
// referrers. The definitions live here, once, so the API, the dashboards
// and docs/referral.md agree.
package stats

import (
	"cmp"
	"context"
	"slices"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

// Counters are the raw funnel counts of one campaign.
type Counters struct {
	// Sharers are the customers who own a code in the campaign: the
	// population that could invite.
	Sharers int
	// ActiveSharers are code owners whose code was clicked at least once.
	ActiveSharers int
	Clicks        int
	SignUps       int
	// Rejected counts sign-ups and conversions rejected for any reason.
	Rejected    int
	Conversions int
	RewardsPaid int
	CostPoints  int64
	CostMoney   money.Money
}

// Funnel is the derived view shown to marketers.
type Funnel struct {
	Counters
	// ClickToSignUp is SignUps / Clicks.
	ClickToSignUp float64
	// SignUpToConversion is Conversions / SignUps.
	SignUpToConversion float64
	// ConversionRate is Conversions / Clicks, the headline rate.
	ConversionRate float64
	// InvitesPerSharer is Clicks / Sharers: clicks stand in for invitations,
	// which the service cannot see (they happen in chat apps).
	InvitesPerSharer float64
	// ViralCoefficient K = InvitesPerSharer × ConversionRate =
	// Conversions / Sharers: new customers each sharer brings. K > 1 means
	// the program grows on its own.
	ViralCoefficient float64
}

// ratio is a/b, 0 when b is 0: an empty funnel shows zero rates, not NaN.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Compute derives the funnel from counters.
func Compute(c Counters) Funnel {
	return Funnel{
		Counters:           c,
		ClickToSignUp:      ratio(c.SignUps, c.Clicks),
		SignUpToConversion: ratio(c.Conversions, c.SignUps),
		ConversionRate:     ratio(c.Conversions, c.Clicks),
		InvitesPerSharer:   ratio(c.Clicks, c.Sharers),
		ViralCoefficient:   ratio(c.Conversions, c.Sharers),
	}
}

// Referrer is one referrer's contribution.
type Referrer struct {
	ID string
	// Partner marks an influencer or affiliate (a partner code's owner),
	// reported apart from customers.
	Partner     bool
	Clicks      int
	SignUps     int
	Conversions int
	CostPoints  int64
}

// Top returns the n best referrers: most conversions, then most sign-ups,
// then most clicks, then by id so ties are stable across calls and pages.
// The input is not modified.
func Top(rs []Referrer, n int) []Referrer {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b Referrer) int {
		return cmp.Or(
			cmp.Compare(b.Conversions, a.Conversions),
			cmp.Compare(b.SignUps, a.SignUps),
			cmp.Compare(b.Clicks, a.Clicks),
			cmp.Compare(a.ID, b.ID),
		)
	})
	if n >= 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

// Repository aggregates the counters from stored clicks, referrals and
// rewards; the math stays here.
type Repository interface {
	Counters(ctx context.Context, campaignID string) (Counters, error)
	// Referrers returns per-referrer counts for Top; adapters may pre-sort
	// and limit with the same ordering for large campaigns.
	Referrers(ctx context.Context, campaignID string, limit int) ([]Referrer, error)
}
