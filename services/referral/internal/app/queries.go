package app

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/stats"
)

// CampaignStats is a campaign's funnel with its top referrers.
type CampaignStats struct {
	Campaign campaign.Campaign
	Funnel   stats.Funnel
	Revenue  money.Money
	Top      []stats.Referrer
	// Partners are the partner codes' owners (influencers, affiliates),
	// reported apart from customers, ranked like Top.
	Partners []stats.Referrer
	// RejectionsByReason counts rejected referrals per reason code.
	RejectionsByReason map[string]int
	// Budget is what is committed against the campaign's budget (whatever
	// the time range).
	Budget campaign.Budget
}

// farFuture bounds open time ranges.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Stats computes a campaign's funnel within [from, to) (zero: unbounded).
func (a *App) Stats(ctx context.Context, t *Tx, campaignID string, from, to time.Time, top int) (CampaignStats, error) {
	c, err := t.store.GetCampaign(ctx, campaignID)
	if err != nil {
		return CampaignStats{}, err
	}
	if to.IsZero() {
		to = farFuture
	}
	f, err := t.store.CampaignCounters(ctx, campaignID, c.Currency, from, to)
	if err != nil {
		return CampaignStats{}, err
	}
	tops, err := t.store.TopReferrers(ctx, campaignID, from, to, top)
	if err != nil {
		return CampaignStats{}, err
	}
	partners, err := t.store.TopPartners(ctx, campaignID, from, to, top)
	if err != nil {
		return CampaignStats{}, err
	}
	byReason, err := t.store.RejectionsByReason(ctx, campaignID, from, to)
	if err != nil {
		return CampaignStats{}, err
	}
	budget, err := t.store.CampaignBudget(ctx, campaignID)
	if err != nil {
		return CampaignStats{}, err
	}
	out := CampaignStats{Campaign: c, Funnel: stats.Compute(f.Counters), Top: stats.Top(tops, top), RejectionsByReason: byReason, Budget: budget, Partners: stats.Top(partners, top)}
	if f.RevenueMinor != 0 || c.Currency != "" {
		out.Revenue = money.New(f.RevenueMinor, c.Currency)
	}
	return out, nil
}

// ReferrerView is one page of a referrer's referrals with their progress
// and, on the first page, the progress toward each campaign's next tier.
type ReferrerView struct {
	Friends    []FriendView
	Milestones []Milestone
	NextPage   string
}

// FriendView is one friend's progress.
type FriendView struct {
	Referral referral.Referral
	Progress referral.FriendProgress
}

// Milestone is the progress toward a campaign's next reward tier.
type Milestone struct {
	CampaignID  string
	Conversions int
	Next        campaign.Tier
	HasNext     bool
}

// CustomerReferrals pages a referrer's referrals, newest first.
func (a *App) CustomerReferrals(ctx context.Context, t *Tx, referrerID, campaignID string, pageSize int, token string) (ReferrerView, error) {
	rs, next, err := t.store.ReferralsForReferrer(ctx, referrerID, campaignID, pageSize, token)
	if err != nil {
		return ReferrerView{}, err
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	rewards, err := t.store.RewardsForReferrals(ctx, ids)
	if err != nil {
		return ReferrerView{}, err
	}
	now := a.Now()
	view := ReferrerView{NextPage: next}
	for _, r := range rs {
		view.Friends = append(view.Friends, FriendView{Referral: r, Progress: r.Progress(rewards[r.ID], now)})
	}
	if token != "" {
		return view, nil
	}
	counts, err := t.store.SuccessfulByCampaign(ctx, referrerID)
	if err != nil {
		return ReferrerView{}, err
	}
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if campaignID != "" && id != campaignID {
			continue
		}
		c, err := t.store.GetCampaign(ctx, id)
		if err != nil {
			return ReferrerView{}, err
		}
		m := Milestone{CampaignID: id, Conversions: counts[id]}
		m.Next, m.HasNext = c.ReferrerReward.NextMilestone(counts[id])
		view.Milestones = append(view.Milestones, m)
	}
	return view, nil
}

// CampaignReferrals pages a campaign's referrals, rejected ones with their
// decisions and evidence, for marketers; stage "" lists every stage. An
// unknown campaign is campaign.ErrNotFound rather than an empty page.
func (a *App) CampaignReferrals(ctx context.Context, t *Tx, campaignID string, stage referral.Stage, pageSize int, token string) ([]referral.Referral, string, error) {
	if _, err := t.store.GetCampaign(ctx, campaignID); err != nil {
		return nil, "", err
	}
	return t.store.ReferralsForCampaign(ctx, campaignID, stage, pageSize, token)
}
