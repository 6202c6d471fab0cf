package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres/pgdb"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/stats"
)

// Customer is what the service learned about a customer from events.
type Customer struct {
	ID            string
	CustomerSince time.Time
	EmailHash     string
	PhoneHash     string
	DeviceIDs     []string
	Segments      []string
	Tier          string
}

// GetCustomer returns what is known about a customer; the zero Customer
// (with ID set) when nothing is.
func (s *Store) GetCustomer(ctx context.Context, id string) (Customer, error) {
	row, err := s.q.GetCustomer(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{ID: id}, nil
	}
	if err != nil {
		return Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	c := Customer{ID: id, EmailHash: row.EmailHash, PhoneHash: row.PhoneHash, DeviceIDs: row.DeviceIds, Segments: row.Segments, Tier: row.Tier}
	if row.CustomerSince.Valid {
		c.CustomerSince = row.CustomerSince.Time
	}
	return c, nil
}

// UpsertCustomerIdentity records a customer's identity evidence; devices are
// added to those already known and the earliest sign-up time is kept.
func (s *Store) UpsertCustomerIdentity(ctx context.Context, c Customer) error {
	devices := c.DeviceIDs
	if devices == nil {
		devices = []string{}
	}
	err := s.q.UpsertCustomerIdentity(ctx, pgdb.UpsertCustomerIdentityParams{
		CustomerID: c.ID, CustomerSince: ts(c.CustomerSince), EmailHash: c.EmailHash, PhoneHash: c.PhoneHash, DeviceIds: devices,
	})
	if err != nil {
		return fmt.Errorf("upsert customer %s: %w", c.ID, err)
	}
	return nil
}

// EraseCustomer forgets a customer's personal evidence (right to be forgotten).
func (s *Store) EraseCustomer(ctx context.Context, id string) error {
	if err := s.q.EraseCustomer(ctx, id); err != nil {
		return fmt.Errorf("erase customer %s: %w", id, err)
	}
	return nil
}

// SetSegment adds or removes a customer's segment membership.
func (s *Store) SetSegment(ctx context.Context, customerID, segmentID string, member bool) error {
	var err error
	if member {
		err = s.q.AddCustomerSegment(ctx, pgdb.AddCustomerSegmentParams{CustomerID: customerID, Segment: segmentID})
	} else {
		err = s.q.RemoveCustomerSegment(ctx, pgdb.RemoveCustomerSegmentParams{CustomerID: customerID, Segment: segmentID})
	}
	if err != nil {
		return fmt.Errorf("segment %s of %s: %w", segmentID, customerID, err)
	}
	return nil
}

// SetTier records a customer's loyalty tier.
func (s *Store) SetTier(ctx context.Context, customerID, tier string) error {
	if err := s.q.SetCustomerTier(ctx, pgdb.SetCustomerTierParams{CustomerID: customerID, Tier: tier}); err != nil {
		return fmt.Errorf("tier of %s: %w", customerID, err)
	}
	return nil
}

// Order is a commerce order as the service keeps it.
type Order struct {
	ID         string
	CustomerID string
	PlacedAt   time.Time
	Total      money.Money
	Refunded   int64
}

// CountOrders counts a customer's orders, all or only those placed before a time.
func (s *Store) CountOrders(ctx context.Context, customerID string, before time.Time) (int, error) {
	var n int32
	var err error
	if before.IsZero() {
		n, err = s.q.CountOrders(ctx, customerID)
	} else {
		n, err = s.q.CountOrdersBefore(ctx, pgdb.CountOrdersBeforeParams{CustomerID: customerID, PlacedAt: before})
	}
	if err != nil {
		return 0, fmt.Errorf("count orders of %s: %w", customerID, err)
	}
	return int(n), nil
}

// AddRefund adds a refund to an order once per refund id and returns the
// order's total refunded so far.
func (s *Store) AddRefund(ctx context.Context, orderID, refundID string, amount int64) (int64, error) {
	n, err := s.q.AddRefund(ctx, pgdb.AddRefundParams{OrderID: orderID, RefundID: refundID, Amount: amount})
	if err != nil {
		return 0, fmt.Errorf("add refund %s to %s: %w", refundID, orderID, err)
	}
	return n, nil
}

// Funnel are the counters of a campaign within [from, to).
type Funnel struct {
	stats.Counters
	RevenueMinor int64
}

// RejectionsByReason counts a campaign's rejected referrals signed up
// within [from, to) per reason code.
func (s *Store) RejectionsByReason(ctx context.Context, campaignID string, from, to time.Time) (map[string]int, error) {
	rows, err := s.q.RejectionsByReason(ctx, pgdb.RejectionsByReasonParams{CampaignID: campaignID, FromAt: from, ToAt: to})
	if err != nil {
		return nil, fmt.Errorf("rejections of %s by reason: %w", campaignID, err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Reason] = int(r.N)
	}
	return out, nil
}

// CampaignBudget reads a campaign's budget limits and what is committed
// against them; campaign.ErrNotFound when absent.
func (s *Store) CampaignBudget(ctx context.Context, id string) (campaign.Budget, error) {
	row, err := s.q.GetCampaign(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return campaign.Budget{}, fmt.Errorf("campaign %s: %w", id, campaign.ErrNotFound)
	}
	if err != nil {
		return campaign.Budget{}, fmt.Errorf("get campaign %s: %w", id, err)
	}
	_, b, err := decodeCampaign(row)
	return b, err
}

// CampaignCounters aggregates a campaign's funnel within [from, to).
func (s *Store) CampaignCounters(ctx context.Context, campaignID, currency string, from, to time.Time) (Funnel, error) {
	r, err := s.q.CampaignCounters(ctx, pgdb.CampaignCountersParams{CampaignID: campaignID, FromAt: from, ToAt: to})
	if err != nil {
		return Funnel{}, fmt.Errorf("campaign counters %s: %w", campaignID, err)
	}
	c := stats.Counters{
		Sharers: int(r.Sharers), ActiveSharers: int(r.ActiveSharers), Clicks: int(r.Clicks), SignUps: int(r.Signups),
		Rejected: int(r.Rejected), Conversions: int(r.Conversions), RewardsPaid: int(r.RewardsPaid), CostPoints: r.CostPoints,
	}
	if r.CostMoneyMinor != 0 || currency != "" {
		c.CostMoney = money.New(r.CostMoneyMinor, currency)
	}
	return Funnel{Counters: c, RevenueMinor: r.RevenueMinor}, nil
}

// TopReferrers returns the best referrers of a campaign by conversions.
func (s *Store) TopReferrers(ctx context.Context, campaignID string, from, to time.Time, limit int) ([]stats.Referrer, error) {
	return s.referrers(ctx, campaignID, from, to, limit, false)
}

// TopPartners is TopReferrers restricted to partner codes' owners.
func (s *Store) TopPartners(ctx context.Context, campaignID string, from, to time.Time, limit int) ([]stats.Referrer, error) {
	return s.referrers(ctx, campaignID, from, to, limit, true)
}

func (s *Store) referrers(ctx context.Context, campaignID string, from, to time.Time, limit int, onlyPartners bool) ([]stats.Referrer, error) {
	rows, err := s.q.TopReferrers(ctx, pgdb.TopReferrersParams{CampaignID: campaignID, FromAt: from, ToAt: to, Lim: int32(limit), OnlyPartners: onlyPartners})
	if err != nil {
		return nil, fmt.Errorf("top referrers of %s: %w", campaignID, err)
	}
	out := make([]stats.Referrer, len(rows))
	for i, r := range rows {
		out[i] = stats.Referrer{ID: r.ReferrerID, Partner: r.Partner, SignUps: int(r.Signups), Conversions: int(r.Conversions), CostPoints: r.PointsRewarded}
	}
	return out, nil
}
