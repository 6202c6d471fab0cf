package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/affinity-platform/affinity/pkg/events"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	store "github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
)

// CreateCampaign validates p (its ID is assigned here) and stores a draft.
func (a *App) CreateCampaign(ctx context.Context, t *Tx, p campaign.NewParams) (campaign.Campaign, error) {
	id, err := events.NewID()
	if err != nil {
		return campaign.Campaign{}, err
	}
	p.ID = id
	c, err := campaign.New(p, a.Now())
	if err != nil {
		return campaign.Campaign{}, err
	}
	if c.ShareBaseURL != "" {
		if _, err := code.ShareLink(c.ShareBaseURL, "ABCD2345"); err != nil {
			return campaign.Campaign{}, err
		}
	}
	if err := t.store.CreateCampaign(ctx, c); err != nil {
		return campaign.Campaign{}, err
	}
	return c, nil
}

// UpdateCampaign replaces a campaign's terms with p, keeping its id,
// status, creation time and budget spend. The new terms apply to sign-ups
// and conversions from then on (rewards already earned keep the spec they
// were created with). An ended campaign is final; the currency cannot change
// once discounts were granted (the spend is counted in it); a scheduled
// campaign keeps needing a start.
func (a *App) UpdateCampaign(ctx context.Context, t *Tx, id string, p campaign.NewParams) (campaign.Campaign, error) {
	now := a.Now()
	var out campaign.Campaign
	err := t.store.UpdateCampaign(ctx, id, func(c *campaign.Campaign, b *campaign.Budget) error {
		if s := c.StatusAt(now); s == campaign.StatusEnded {
			return &campaign.TransitionError{From: s, Action: "update", Why: "an ended campaign's terms are final"}
		}
		p.ID = c.ID
		next, err := campaign.New(p, c.CreatedAt)
		if err != nil {
			return err
		}
		if next.Currency != c.Currency && !b.SpentMoney.IsZero() {
			return validation.Field("currency", "cannot change from %s once discounts were granted in it", c.Currency)
		}
		if c.Status == campaign.StatusScheduled && next.StartsAt.IsZero() {
			return validation.Field("starts_at", "is required while the campaign is scheduled")
		}
		if next.ShareBaseURL != "" {
			if _, err := code.ShareLink(next.ShareBaseURL, "ABCD2345"); err != nil {
				return err
			}
		}
		next.Status, next.UpdatedAt = c.Status, now
		*c = next
		out = next
		return nil
	})
	return out, err
}

// GetCampaign reads a campaign.
func (a *App) GetCampaign(ctx context.Context, t *Tx, id string) (campaign.Campaign, error) {
	return t.store.GetCampaign(ctx, id)
}

// ListCampaigns pages campaigns newest first; status "" lists all.
func (a *App) ListCampaigns(ctx context.Context, t *Tx, status campaign.Status, pageSize int, token string) ([]campaign.Campaign, string, error) {
	return t.store.ListCampaigns(ctx, status, pageSize, token)
}

// ApplyCampaignAction performs a marketer's action (activate, pause, end,
// schedule) on a campaign.
func (a *App) ApplyCampaignAction(ctx context.Context, t *Tx, id string, action campaign.Action) (campaign.Campaign, error) {
	var out campaign.Campaign
	err := t.store.UpdateCampaign(ctx, id, func(c *campaign.Campaign, _ *campaign.Budget) error {
		if err := c.Apply(action, a.Now()); err != nil {
			return err
		}
		out = *c
		return nil
	})
	return out, err
}

// ScheduleCampaign plans a draft campaign to start by itself at startsAt
// (the campaign's own starts_at when zero), which must be in the future and
// before the campaign's end.
func (a *App) ScheduleCampaign(ctx context.Context, t *Tx, id string, startsAt time.Time) (campaign.Campaign, error) {
	now := a.Now()
	if !startsAt.IsZero() && !startsAt.After(now) {
		return campaign.Campaign{}, validation.Field("starts_at", "must be in the future, got %s", startsAt.Format(time.RFC3339))
	}
	var out campaign.Campaign
	err := t.store.UpdateCampaign(ctx, id, func(c *campaign.Campaign, _ *campaign.Budget) error {
		if !startsAt.IsZero() {
			if !c.EndsAt.IsZero() && !c.EndsAt.After(startsAt) {
				return validation.Field("starts_at", "must be before the campaign's ends_at %s", c.EndsAt.Format(time.RFC3339))
			}
			c.StartsAt = startsAt
		}
		if err := c.Apply(campaign.ActionSchedule, now); err != nil {
			return err
		}
		out = *c
		return nil
	})
	return out, err
}

// CouponUpload is the outcome of AddCouponCodes: how many codes were new
// and the pool's level after the upload.
type CouponUpload struct {
	Added int64
	store.CouponLevels
}

// CouponPool reads a coupon pool's level.
func (a *App) CouponPool(ctx context.Context, t *Tx, pool string) (store.CouponLevels, error) {
	return t.store.CouponPoolLevels(ctx, pool)
}

// AddCouponCodes uploads codes into a coupon pool. Rewards that became
// payable while the pool was empty draw from it on the worker's next run.
func (a *App) AddCouponCodes(ctx context.Context, t *Tx, pool string, codes []string) (CouponUpload, error) {
	n, err := t.store.AddCoupons(ctx, pool, codes...)
	if err != nil {
		return CouponUpload{}, err
	}
	levels, err := t.store.CouponPoolLevels(ctx, pool)
	if err != nil {
		return CouponUpload{}, err
	}
	return CouponUpload{Added: n, CouponLevels: levels}, nil
}

// IssueCodeInput asks for a customer's or a partner's code.
type IssueCodeInput struct {
	CampaignID string
	// CustomerID owns a customer code; PartnerID a partner code (exactly one).
	CustomerID string
	PartnerID  string
	// Vanity is the requested vanity code; required for partner codes.
	Vanity  string
	Partner *code.PartnerTerms
}

// IssuedCode is a code with its share link.
type IssuedCode struct {
	code.Record
	ShareURL string
}

// maxDraws bounds retries on generated-code collisions; with 30^8 codes a
// second collision in a row means something else is wrong.
const maxDraws = 5

// IssueCode returns the owner's code in the campaign, creating it on first
// call: a customer has one code per campaign, so asking again returns it.
func (a *App) IssueCode(ctx context.Context, t *Tx, in IssueCodeInput) (IssuedCode, error) {
	c, err := t.store.GetCampaign(ctx, in.CampaignID)
	if err != nil {
		return IssuedCode{}, err
	}
	now := a.Now()
	if s := c.StatusAt(now); s == campaign.StatusPaused || s == campaign.StatusEnded {
		return IssuedCode{}, fmt.Errorf("campaign %s is %s: %w", c.ID, s, ErrCampaignClosed)
	}
	kind, owner := code.OwnerCustomer, in.CustomerID
	if in.PartnerID != "" {
		kind, owner = code.OwnerPartner, in.PartnerID
	}
	link := func(r code.Record) (IssuedCode, error) {
		if c.ShareBaseURL == "" {
			return IssuedCode{Record: r}, nil
		}
		u, err := code.ShareLink(c.ShareBaseURL, r.Code)
		return IssuedCode{Record: r, ShareURL: u}, err
	}
	if existing, err := t.store.CodeForOwner(ctx, c.ID, kind, owner); err == nil {
		if kind == code.OwnerCustomer {
			return link(existing)
		}
	} else if !errors.Is(err, code.ErrNotFound) {
		return IssuedCode{}, err
	}
	rec := code.Record{CampaignID: c.ID, OwnerKind: kind, OwnerID: owner, Partner: in.Partner, CreatedAt: now}
	if in.Vanity != "" {
		v, err := code.Vanity(in.Vanity)
		if err != nil {
			return IssuedCode{}, err
		}
		rec.Code, rec.Vanity = v, true
		if err := rec.Validate(); err != nil {
			return IssuedCode{}, err
		}
		if err := t.store.CreateCode(ctx, rec); err != nil {
			return a.sameOwnerOr(ctx, t, rec, err, link)
		}
		return link(rec)
	}
	if kind == code.OwnerPartner {
		return IssuedCode{}, validation.Field("vanity_code", "is required for a partner code")
	}
	for range maxDraws {
		gen, err := code.Generate(a.cfg.Rand)
		if err != nil {
			return IssuedCode{}, err
		}
		rec.Code = gen
		err = t.store.CreateCode(ctx, rec)
		if err == nil {
			return link(rec)
		}
		if !errors.Is(err, code.ErrTaken) {
			return IssuedCode{}, err
		}
		// A concurrent call may have issued this customer's code.
		if existing, err := t.store.CodeForOwner(ctx, c.ID, kind, owner); err == nil {
			return link(existing)
		}
	}
	return IssuedCode{}, fmt.Errorf("issue code: %d draws collided: %w", maxDraws, code.ErrTaken)
}

// sameOwnerOr answers a taken vanity code with the owner's own record when
// it is theirs (a retry), else with the ErrTaken.
func (a *App) sameOwnerOr(ctx context.Context, t *Tx, rec code.Record, err error, link func(code.Record) (IssuedCode, error)) (IssuedCode, error) {
	if !errors.Is(err, code.ErrTaken) {
		return IssuedCode{}, err
	}
	if got, gerr := t.store.GetCode(ctx, rec.Code); gerr == nil && got.CampaignID == rec.CampaignID && got.OwnerKind == rec.OwnerKind && got.OwnerID == rec.OwnerID {
		return link(got)
	}
	if rec.OwnerKind == code.OwnerCustomer {
		if existing, gerr := t.store.CodeForOwner(ctx, rec.CampaignID, rec.OwnerKind, rec.OwnerID); gerr == nil {
			return link(existing)
		}
	}
	return IssuedCode{}, err
}

// ClickInput is a share-link visit.
type ClickInput struct {
	Code       string
	DeviceID   string
	IPHash     string
	UserAgent  string
	LandingURL string
	At         time.Time
}

// RecordClick stores a visit through a code's link.
func (a *App) RecordClick(ctx context.Context, t *Tx, in ClickInput) (attribution.Click, error) {
	c, err := code.Parse(in.Code)
	if err != nil {
		return attribution.Click{}, validation.Field("code", "is not a referral code")
	}
	rec, err := t.store.GetCode(ctx, c)
	if err != nil {
		return attribution.Click{}, err
	}
	id, err := events.NewID()
	if err != nil {
		return attribution.Click{}, err
	}
	at := in.At
	if at.IsZero() {
		at = a.Now()
	}
	click := attribution.Click{ID: id, Code: c, CampaignID: rec.CampaignID, DeviceID: in.DeviceID, IPHash: in.IPHash, At: at}
	if err := click.Validate(); err != nil {
		return attribution.Click{}, err
	}
	if err := t.store.AddClick(ctx, click, store.ClickExtra{UserAgent: in.UserAgent, LandingURL: in.LandingURL}); err != nil {
		return attribution.Click{}, err
	}
	return click, nil
}
