package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres/pgdb"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// The set-based methods below serve the order pipeline, which handles a
// consumer batch of orders with a fixed number of statements.

// AddOrders records orders; ones already recorded are skipped.
func (s *Store) AddOrders(ctx context.Context, orders []Order) error {
	p := pgdb.InsertOrdersParams{}
	for _, o := range orders {
		p.OrderIds = append(p.OrderIds, o.ID)
		p.CustomerIds = append(p.CustomerIds, o.CustomerID)
		p.PlacedAts = append(p.PlacedAts, o.PlacedAt)
		p.Totals = append(p.Totals, o.Total.Minor)
		p.Currencies = append(p.Currencies, o.Total.Currency)
	}
	if err := s.q.InsertOrders(ctx, p); err != nil {
		return fmt.Errorf("insert %d orders: %w", len(orders), err)
	}
	return nil
}

// OpenReferral names a referral waiting for its friend's order.
type OpenReferral struct {
	ID         string
	CampaignID string
}

// OpenReferralsOfFriends lists the friends' referrals that still wait for an order.
func (s *Store) OpenReferralsOfFriends(ctx context.Context, friendIDs []string) ([]OpenReferral, error) {
	rows, err := s.q.OpenReferralsOfFriends(ctx, friendIDs)
	if err != nil {
		return nil, fmt.Errorf("open referrals: %w", err)
	}
	out := make([]OpenReferral, len(rows))
	for i, r := range rows {
		out[i] = OpenReferral{ID: r.ID, CampaignID: r.CampaignID}
	}
	return out, nil
}

// LockedCampaign is a campaign row locked for update with its budget.
type LockedCampaign struct {
	Campaign campaign.Campaign
	Budget   campaign.Budget
	before   campaign.Budget
}

// LockCampaigns locks campaigns (in id order, so concurrent lockers cannot
// deadlock) and returns them by id.
func (s *Store) LockCampaigns(ctx context.Context, ids []string) (map[string]*LockedCampaign, error) {
	rows, err := s.q.LockCampaigns(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("lock campaigns: %w", err)
	}
	out := make(map[string]*LockedCampaign, len(rows))
	for _, row := range rows {
		c, b, err := decodeCampaign(row)
		if err != nil {
			return nil, err
		}
		out[c.ID] = &LockedCampaign{Campaign: c, Budget: b, before: b}
	}
	return out, nil
}

// SaveBudgets writes back the budgets of locked campaigns that changed.
func (s *Store) SaveBudgets(ctx context.Context, locked map[string]*LockedCampaign) error {
	for id, l := range locked {
		if l.Budget == l.before {
			continue
		}
		terms, err := json.Marshal(l.Campaign)
		if err != nil {
			return fmt.Errorf("encode campaign %s: %w", id, err)
		}
		err = s.q.UpdateCampaign(ctx, pgdb.UpdateCampaignParams{
			ID: id, Status: string(l.Campaign.Status), Terms: terms, SpentPoints: l.Budget.SpentPoints,
			SpentMoneyMinor: l.Budget.SpentMoney.Minor, UpdatedAt: l.Campaign.UpdatedAt,
		})
		if err != nil {
			return fmt.Errorf("update campaign %s: %w", id, err)
		}
		l.before = l.Budget
	}
	return nil
}

// LockReferrals locks referrals (in id order) and returns them by id.
func (s *Store) LockReferrals(ctx context.Context, ids []string) (map[string]*referral.Referral, error) {
	bodies, err := s.q.LockReferrals(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("lock referrals: %w", err)
	}
	out := make(map[string]*referral.Referral, len(bodies))
	for _, b := range bodies {
		r, err := decodeReferral(b)
		if err != nil {
			return nil, err
		}
		out[r.ID] = &r
	}
	return out, nil
}

// FirstOrders returns each customer's earliest order id.
func (s *Store) FirstOrders(ctx context.Context, customerIDs []string) (map[string]string, error) {
	rows, err := s.q.FirstOrders(ctx, customerIDs)
	if err != nil {
		return nil, fmt.Errorf("first orders: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.CustomerID] = r.OrderID
	}
	return out, nil
}

// SuccessKey names a referrer in a campaign.
type SuccessKey struct{ CampaignID, ReferrerID string }

// SuccessfulByReferrers counts the referrers' successful referrals per campaign.
func (s *Store) SuccessfulByReferrers(ctx context.Context, referrerIDs []string) (map[SuccessKey]int, error) {
	rows, err := s.q.SuccessfulByReferrers(ctx, referrerIDs)
	if err != nil {
		return nil, fmt.Errorf("count successful referrals: %w", err)
	}
	out := make(map[SuccessKey]int, len(rows))
	for _, r := range rows {
		out[SuccessKey{r.CampaignID, r.ReferrerID}] = int(r.Successful)
	}
	return out, nil
}

// SaveReferrals writes changed referrals in one statement.
func (s *Store) SaveReferrals(ctx context.Context, rs []*referral.Referral) error {
	if len(rs) == 0 {
		return nil
	}
	p := pgdb.UpdateReferralsParams{}
	for _, r := range rs {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode referral %s: %w", r.ID, err)
		}
		p.Ids = append(p.Ids, r.ID)
		p.Stages = append(p.Stages, string(r.Stage))
		p.ConvertedAts = append(p.ConvertedAts, r.ConvertedAt)
		p.OrderValues = append(p.OrderValues, r.OrderValue.Minor)
		p.KeepNudges = append(p.KeepNudges, r.Stage == referral.StageSignedUp && r.NudgedAt.IsZero())
		p.Bodies = append(p.Bodies, string(body))
		p.UpdatedAts = append(p.UpdatedAts, r.UpdatedAt)
	}
	if err := s.q.UpdateReferrals(ctx, p); err != nil {
		return fmt.Errorf("update %d referrals: %w", len(rs), err)
	}
	return nil
}

// CreateRewards stores rewards in one statement; ids already stored are skipped.
func (s *Store) CreateRewards(ctx context.Context, rws []reward.Reward) error {
	if len(rws) == 0 {
		return nil
	}
	p := pgdb.InsertRewardsParams{}
	for _, r := range rws {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode reward %s: %w", r.ID, err)
		}
		p.Ids = append(p.Ids, string(r.ID))
		p.ReferralIds = append(p.ReferralIds, r.ReferralID)
		p.CampaignIds = append(p.CampaignIds, r.CampaignID)
		p.BeneficiaryIds = append(p.BeneficiaryIds, r.BeneficiaryID)
		p.Roles = append(p.Roles, string(r.Role))
		p.Statuses = append(p.Statuses, string(r.Status))
		p.CostPoints = append(p.CostPoints, r.Cost.Points)
		p.CostMoney = append(p.CostMoney, r.Cost.Money.Minor)
		p.PayableAts = append(p.PayableAts, r.PayableAt)
		p.Bodies = append(p.Bodies, string(body))
	}
	if err := s.q.InsertRewards(ctx, p); err != nil {
		return fmt.Errorf("insert %d rewards: %w", len(rws), err)
	}
	return nil
}
