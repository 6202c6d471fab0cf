// Package postgres stores the referral service's aggregates in PostgreSQL
// through sqlc-generated queries (package pgdb). A Store works inside one
// transaction, the caller's, so that a state change, its events (pkg/outbox)
// and the idempotency record of the request commit together.
//
// Aggregates with rich, evolving structure (campaign terms, a referral with
// its decisions and evidence, a reward) are kept whole in a jsonb column; the
// plain columns beside it are copies the queries filter and aggregate on, and
// are written from the same value in the same statement so they cannot drift.
package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres/pgdb"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/attribution"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/money"
)

// ErrBadPageToken is returned for a page token this service did not issue.
var ErrBadPageToken = validation.Field("page_token", "is not a token returned by a previous page")

// Store is the referral service's storage inside one transaction.
type Store struct {
	q *pgdb.Queries
}

// New returns a Store working in tx.
func New(tx pgx.Tx) *Store { return &Store{q: pgdb.New(tx)} }

func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// pageToken encodes a keyset position (time, id) opaquely.
func pageToken(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "|" + id))
}

func parsePageToken(tok string) (time.Time, string, error) {
	if tok == "" {
		return time.Time{}, "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", ErrBadPageToken
	}
	n, id, ok := strings.Cut(string(raw), "|")
	ns, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", ErrBadPageToken
	}
	return time.Unix(0, ns).UTC(), id, nil
}

// ---- campaigns

// CreateCampaign stores a new campaign.
func (s *Store) CreateCampaign(ctx context.Context, c campaign.Campaign) error {
	terms, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode campaign %s: %w", c.ID, err)
	}
	if err := s.q.InsertCampaign(ctx, pgdb.InsertCampaignParams{ID: c.ID, Status: string(c.Status), Terms: terms, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}); err != nil {
		return fmt.Errorf("insert campaign %s: %w", c.ID, err)
	}
	return nil
}

func decodeCampaign(row pgdb.Campaign) (campaign.Campaign, campaign.Budget, error) {
	var c campaign.Campaign
	if err := json.Unmarshal(row.Terms, &c); err != nil {
		return campaign.Campaign{}, campaign.Budget{}, fmt.Errorf("decode campaign %s: %w", row.ID, err)
	}
	b := c.BudgetFor()
	b.SpentPoints = row.SpentPoints
	if row.SpentMoneyMinor != 0 || c.Currency != "" {
		b.SpentMoney = money.New(row.SpentMoneyMinor, c.Currency)
	}
	return c, b, nil
}

// GetCampaign reads a campaign; campaign.ErrNotFound when absent.
func (s *Store) GetCampaign(ctx context.Context, id string) (campaign.Campaign, error) {
	row, err := s.q.GetCampaign(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return campaign.Campaign{}, fmt.Errorf("campaign %s: %w", id, campaign.ErrNotFound)
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("get campaign %s: %w", id, err)
	}
	c, _, err := decodeCampaign(row)
	return c, err
}

// UpdateCampaign locks the campaign row, applies fn to the campaign and its
// budget and saves both. Every conversion of a campaign goes through this
// lock, which is what keeps the budget exact under concurrency.
func (s *Store) UpdateCampaign(ctx context.Context, id string, fn func(*campaign.Campaign, *campaign.Budget) error) error {
	row, err := s.q.LockCampaign(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("campaign %s: %w", id, campaign.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock campaign %s: %w", id, err)
	}
	c, b, err := decodeCampaign(row)
	if err != nil {
		return err
	}
	before := b
	if err := fn(&c, &b); err != nil {
		return err
	}
	terms, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode campaign %s: %w", c.ID, err)
	}
	if string(terms) == string(row.Terms) && b == before {
		return nil
	}
	err = s.q.UpdateCampaign(ctx, pgdb.UpdateCampaignParams{
		ID: id, Status: string(c.Status), Terms: terms, SpentPoints: b.SpentPoints, SpentMoneyMinor: b.SpentMoney.Minor, UpdatedAt: c.UpdatedAt,
	})
	if err != nil {
		return fmt.Errorf("update campaign %s: %w", id, err)
	}
	return nil
}

// ListCampaigns pages campaigns newest first; status "" lists all.
func (s *Store) ListCampaigns(ctx context.Context, status campaign.Status, pageSize int, token string) ([]campaign.Campaign, string, error) {
	at, id, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.q.ListCampaigns(ctx, pgdb.ListCampaignsParams{Status: string(status), AfterID: id, AfterCreatedAt: at, Lim: int32(pageSize + 1)})
	if err != nil {
		return nil, "", fmt.Errorf("list campaigns: %w", err)
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		last := rows[len(rows)-1]
		next = pageToken(last.CreatedAt, last.ID)
	}
	out := make([]campaign.Campaign, 0, len(rows))
	for _, r := range rows {
		c, _, err := decodeCampaign(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}

// ---- codes and clicks

// CreateCode stores a code; code.ErrTaken when the code, or a customer code
// of the same customer and campaign, exists.
func (s *Store) CreateCode(ctx context.Context, r code.Record) error {
	var terms []byte
	if r.Partner != nil {
		var err error
		if terms, err = json.Marshal(r.Partner); err != nil {
			return fmt.Errorf("encode partner terms: %w", err)
		}
	}
	n, err := s.q.InsertCode(ctx, pgdb.InsertCodeParams{
		Code: string(r.Code), CampaignID: r.CampaignID, OwnerKind: string(r.OwnerKind), OwnerID: r.OwnerID,
		Vanity: r.Vanity, PartnerTerms: terms, CreatedAt: r.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("insert code: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("code %s: %w", r.Code, code.ErrTaken)
	}
	return nil
}

func decodeCode(row pgdb.Code) (code.Record, error) {
	r := code.Record{
		Code: code.Code(row.Code), CampaignID: row.CampaignID, OwnerKind: code.OwnerKind(row.OwnerKind),
		OwnerID: row.OwnerID, Vanity: row.Vanity, CreatedAt: row.CreatedAt,
	}
	if len(row.PartnerTerms) > 0 {
		r.Partner = &code.PartnerTerms{}
		if err := json.Unmarshal(row.PartnerTerms, r.Partner); err != nil {
			return code.Record{}, fmt.Errorf("decode partner terms of %s: %w", row.Code, err)
		}
	}
	return r, nil
}

// GetCode finds a code; code.ErrNotFound when absent.
func (s *Store) GetCode(ctx context.Context, c code.Code) (code.Record, error) {
	row, err := s.q.GetCode(ctx, string(c))
	if errors.Is(err, pgx.ErrNoRows) {
		return code.Record{}, fmt.Errorf("code %s: %w", c, code.ErrNotFound)
	}
	if err != nil {
		return code.Record{}, fmt.Errorf("get code %s: %w", c, err)
	}
	return decodeCode(row)
}

// CodeForOwner finds the owner's code in a campaign; code.ErrNotFound when absent.
func (s *Store) CodeForOwner(ctx context.Context, campaignID string, kind code.OwnerKind, ownerID string) (code.Record, error) {
	row, err := s.q.CodeForOwner(ctx, pgdb.CodeForOwnerParams{CampaignID: campaignID, OwnerKind: string(kind), OwnerID: ownerID})
	if errors.Is(err, pgx.ErrNoRows) {
		return code.Record{}, fmt.Errorf("code of %s in %s: %w", ownerID, campaignID, code.ErrNotFound)
	}
	if err != nil {
		return code.Record{}, fmt.Errorf("get code of %s: %w", ownerID, err)
	}
	return decodeCode(row)
}

// ClickExtra is what a click stores beyond the attribution model's fields.
type ClickExtra struct {
	UserAgent  string
	LandingURL string
}

// AddClick stores a click.
func (s *Store) AddClick(ctx context.Context, c attribution.Click, x ClickExtra) error {
	err := s.q.InsertClick(ctx, pgdb.InsertClickParams{
		ID: c.ID, Code: string(c.Code), CampaignID: c.CampaignID, DeviceID: c.DeviceID, IpHash: c.IPHash,
		UserAgent: x.UserAgent, LandingUrl: x.LandingURL, At: c.At,
	})
	if err != nil {
		return fmt.Errorf("insert click: %w", err)
	}
	return nil
}

// GetClick reads a click by id; attribution.ErrNoTouch when there is none.
func (s *Store) GetClick(ctx context.Context, id string) (attribution.Click, error) {
	r, err := s.q.GetClick(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return attribution.Click{}, fmt.Errorf("click %s: %w", id, attribution.ErrNoTouch)
	}
	if err != nil {
		return attribution.Click{}, fmt.Errorf("get click: %w", err)
	}
	return attribution.Click{ID: r.ID, Code: code.Code(r.Code), CampaignID: r.CampaignID, DeviceID: r.DeviceID, IPHash: r.IpHash, At: r.At}, nil
}

// ClicksForDevice lists a device's clicks at or after since.
func (s *Store) ClicksForDevice(ctx context.Context, deviceID string, since time.Time) ([]attribution.Click, error) {
	rows, err := s.q.ClicksForDevice(ctx, pgdb.ClicksForDeviceParams{DeviceID: deviceID, At: since})
	if err != nil {
		return nil, fmt.Errorf("clicks of device: %w", err)
	}
	out := make([]attribution.Click, len(rows))
	for i, r := range rows {
		out[i] = attribution.Click{ID: r.ID, Code: code.Code(r.Code), CampaignID: r.CampaignID, DeviceID: r.DeviceID, IPHash: r.IpHash, At: r.At}
	}
	return out, nil
}
