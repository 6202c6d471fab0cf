package code

import (
	"context"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/reward"
)

// OwnerKind says who owns a code.
type OwnerKind string

// Owner kinds.
const (
	// OwnerCustomer: a customer's own code; one per customer and campaign.
	OwnerCustomer OwnerKind = "customer"
	// OwnerPartner: an influencer's or affiliate's vanity code with its own
	// terms, reported separately from customer referrals.
	OwnerPartner OwnerKind = "partner"
)

// PartnerTerms replace the campaign's rewards for referrals through a
// partner code: the partner earns PartnerReward per conversion and the
// friend gets FriendReward instead of the campaign's friend reward.
type PartnerTerms struct {
	PartnerReward reward.Spec
	FriendReward  reward.Spec
}

// Validate checks the terms.
func (t PartnerTerms) Validate() error {
	var c validation.Collector
	c.Nest("partner_reward", t.PartnerReward.Validate())
	c.Nest("friend_reward", t.FriendReward.Validate())
	return c.Err()
}

// Record is a code as stored: who owns it, for which campaign.
type Record struct {
	Code       Code
	CampaignID string
	OwnerKind  OwnerKind
	// OwnerID is the customer id or the partner id.
	OwnerID string
	Vanity  bool
	// Partner is set for partner codes only.
	Partner   *PartnerTerms
	CreatedAt time.Time
}

// Validate checks a record before it is stored.
func (r Record) Validate() error {
	var c validation.Collector
	if r.Code == "" {
		c.Add("code", "is required")
	}
	if r.CampaignID == "" {
		c.Add("campaign_id", "is required")
	}
	if r.OwnerID == "" {
		c.Add("owner_id", "is required")
	}
	switch r.OwnerKind {
	case OwnerCustomer:
		if r.Partner != nil {
			c.Add("partner", "only partner codes carry partner terms")
		}
	case OwnerPartner:
		if !r.Vanity {
			c.Add("vanity", "partner codes are vanity codes")
		}
		if r.Partner == nil {
			c.Add("partner", "partner codes need partner terms")
		} else {
			c.Nest("partner", r.Partner.Validate())
		}
	default:
		c.Add("owner_kind", "must be customer or partner, got %q", r.OwnerKind)
	}
	return c.Err()
}

// Repository stores codes. Codes are unique across campaigns (one link
// namespace); a customer has at most one code per campaign, so Create of a
// second customer code returns the existing one's ErrTaken and the app
// answers with the stored record (idempotent issuance).
type Repository interface {
	// Create stores r or returns ErrTaken when the code, or a customer code
	// for the same customer and campaign, exists.
	Create(ctx context.Context, r Record) error
	// Get finds a code; ErrNotFound when absent.
	Get(ctx context.Context, c Code) (Record, error)
	// ForOwner finds the owner's code in a campaign; ErrNotFound when absent.
	ForOwner(ctx context.Context, campaignID string, kind OwnerKind, ownerID string) (Record, error)
}
