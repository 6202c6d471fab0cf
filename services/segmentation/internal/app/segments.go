package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/segmentation/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

// ErrProfileNotFound is returned for a customer without a profile.
var ErrProfileNotFound = profile.ErrNotFound

var slugSep = regexp.MustCompile(`[^a-z0-9]+`)

// SlugID derives a segment id from a name ("VIP buyers" -> "vip-buyers"),
// used when a create request names no id.
func SlugID(name string) string {
	s := strings.Trim(slugSep.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "s-" + s
	}
	return strings.TrimRight(s[:min(len(s), 63)], "-")
}

// checkGraph compiles s and checks it fits with the other stored segments
// (its in_segment references exist and form no cycle).
func (a *App) checkGraph(ctx context.Context, q *sqlc.Queries, s segment.Segment, without string) error {
	r, err := s.Validate(a.compiler)
	if err != nil {
		return err
	}
	segs, err := q.AllSegments(ctx)
	if err != nil {
		return fmt.Errorf("read segments: %w", err)
	}
	rules := map[string]*segment.Rule{s.ID: r}
	for _, o := range segs {
		if o.SegmentID == s.ID || o.SegmentID == without {
			continue
		}
		or, err := a.compiler.Compile(o.Rule)
		if err != nil {
			return fmt.Errorf("compile stored segment %s: %w", o.SegmentID, err)
		}
		rules[o.SegmentID] = or
	}
	_, err = segment.NewGraph(rules)
	return err
}

// CreateSegment validates and stores a segment in tx. Its membership is
// computed by RecomputeSegments after tx commits (or by the next scheduled
// pass, which finds it not evaluated yet).
func (a *App) CreateSegment(ctx context.Context, tx pgx.Tx, s segment.Segment) (sqlc.Segment, error) {
	q := sqlc.New(tx)
	if err := a.checkGraph(ctx, q, s, ""); err != nil {
		return sqlc.Segment{}, err
	}
	now := a.Now()
	n, err := q.InsertSegment(ctx, sqlc.InsertSegmentParams{SegmentID: s.ID, Name: strings.TrimSpace(s.Name), Description: s.Description, Rule: s.Rule, TemplateID: s.TemplateID, CreatedAt: now})
	if err != nil {
		return sqlc.Segment{}, fmt.Errorf("store segment: %w", err)
	}
	if n == 0 {
		return sqlc.Segment{}, fmt.Errorf("%w: %s", segment.ErrAlreadyExists, s.ID)
	}
	return q.GetSegment(ctx, s.ID)
}

// GetSegment returns a stored segment.
func (a *App) GetSegment(ctx context.Context, id string) (sqlc.Segment, error) {
	s, err := sqlc.New(a.pool).GetSegment(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("%w: %s", segment.ErrNotFound, id)
	}
	return s, err
}

// ListSegments pages through segments by id.
func (a *App) ListSegments(ctx context.Context, after string, limit int) ([]sqlc.Segment, error) {
	return sqlc.New(a.pool).ListSegments(ctx, sqlc.ListSegmentsParams{SegmentID: after, Limit: int32(limit)})
}

// SegmentPatch is a change to a segment; nil fields stay as they are.
type SegmentPatch struct {
	Name, Description, Rule *string
}

// UpdateSegment applies a patch in tx; a changed rule bumps the version so
// the membership is recomputed.
func (a *App) UpdateSegment(ctx context.Context, tx pgx.Tx, id string, p SegmentPatch) (sqlc.Segment, error) {
	q := sqlc.New(tx)
	cur, err := q.LockSegment(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, fmt.Errorf("%w: %s", segment.ErrNotFound, id)
	}
	if err != nil {
		return cur, fmt.Errorf("lock segment: %w", err)
	}
	s := segment.Segment{ID: id, Name: cur.Name, Description: cur.Description, Rule: cur.Rule}
	if p.Name != nil {
		s.Name = *p.Name
	}
	if p.Description != nil {
		s.Description = *p.Description
	}
	if p.Rule != nil {
		s.Rule = *p.Rule
	}
	if err := a.checkGraph(ctx, q, s, ""); err != nil {
		return cur, err
	}
	if err := q.UpdateSegment(ctx, sqlc.UpdateSegmentParams{SegmentID: id, Name: strings.TrimSpace(s.Name), Description: s.Description, Rule: s.Rule, UpdatedAt: a.Now()}); err != nil {
		return cur, fmt.Errorf("update segment: %w", err)
	}
	return q.GetSegment(ctx, id)
}

// DeleteSegment deletes a segment in tx and announces SegmentExited (with
// segment_deleted) for each member. A segment other rules use cannot go.
func (a *App) DeleteSegment(ctx context.Context, tx pgx.Tx, id string) error {
	q := sqlc.New(tx)
	cur, err := q.LockSegment(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", segment.ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("lock segment: %w", err)
	}
	segs, err := q.AllSegments(ctx)
	if err != nil {
		return fmt.Errorf("read segments: %w", err)
	}
	for _, o := range segs {
		if o.SegmentID == id {
			continue
		}
		r, err := a.compiler.Compile(o.Rule)
		if err == nil && contains(r.Segments(), id) {
			return fmt.Errorf("%w: %s is used by %s", segment.ErrInUse, id, o.SegmentID)
		}
	}
	members, err := q.AllMembers(ctx, id)
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	now := a.Now()
	changes := make([]segment.Change, len(members))
	for i, m := range members {
		changes[i] = segment.Change{SegmentID: id, CustomerID: m, At: now}
	}
	if err := applyChanges(ctx, tx, changes, map[string]string{id: cur.Name}, true); err != nil {
		return err
	}
	if err := q.DeleteSegment(ctx, id); err != nil {
		return fmt.Errorf("delete segment: %w", err)
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Preview is the audience of a rule that is not saved.
type Preview struct {
	Size       int64
	Sample     []string
	Population int64
	Errors     int64
}

// PreviewRule evaluates a rule over every profile without saving
// anything. It reads the in-memory profile cache, brought up to date first
// (a full load on the first call), and evaluates on every core;
// time-dependent traits are refreshed to now. The sample is the members
// with the smallest customer ids.
func (a *App) PreviewRule(ctx context.Context, rule string, sample int) (Preview, error) {
	r, err := a.compiler.Compile(rule)
	if err != nil {
		return Preview{}, err
	}
	q := sqlc.New(a.pool)
	if _, _, err := a.loadGraph(ctx, q); err != nil {
		return Preview{}, err
	}
	model, err := a.currentModel(ctx, q)
	if err != nil {
		return Preview{}, err
	}
	if err := a.SyncProfileCache(ctx); err != nil {
		return Preview{}, err
	}
	ms, err := a.membershipsIn(ctx, r.Segments())
	if err != nil {
		return Preview{}, err
	}
	return a.evalCached(r, ms, sample, a.Now(), model)
}

// Members pages through a segment's members by customer id.
func (a *App) Members(ctx context.Context, id, after string, limit int) ([]sqlc.SegmentMembersRow, error) {
	q := sqlc.New(a.pool)
	if _, err := q.GetSegment(ctx, id); errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", segment.ErrNotFound, id)
	} else if err != nil {
		return nil, fmt.Errorf("read segment: %w", err)
	}
	return q.SegmentMembers(ctx, sqlc.SegmentMembersParams{SegmentID: id, CustomerID: after, Limit: int32(limit)})
}

// IsMember reports whether a customer is in a segment now.
func (a *App) IsMember(ctx context.Context, segmentID, customerID string) (bool, error) {
	return sqlc.New(a.pool).IsMember(ctx, sqlc.IsMemberParams{SegmentID: segmentID, CustomerID: customerID})
}

// SegmentSizes returns a segment's size after each full evaluation.
func (a *App) SegmentSizes(ctx context.Context, id string, from, to time.Time) ([]segment.SizePoint, error) {
	rows, err := sqlc.New(a.pool).SegmentSizes(ctx, sqlc.SegmentSizesParams{SegmentID: id, At: from, At_2: to})
	if err != nil {
		return nil, fmt.Errorf("read sizes: %w", err)
	}
	out := make([]segment.SizePoint, len(rows))
	for i, r := range rows {
		out[i] = segment.SizePoint{At: r.At, Size: r.Size}
	}
	return out, nil
}

// CustomerView is a profile as the API shows it.
type CustomerView struct {
	Profile   *profile.Profile
	Traits    profile.Traits
	RFMAt     *time.Time
	UpdatedAt time.Time
	Segments  []sqlc.CustomerSegmentsRow
}

// Customer returns a customer's profile with traits computed now.
func (a *App) Customer(ctx context.Context, customerID string) (CustomerView, error) {
	q := sqlc.New(a.pool)
	row, err := q.GetProfile(ctx, customerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return CustomerView{}, fmt.Errorf("%w: %s", ErrProfileNotFound, customerID)
	}
	if err != nil {
		return CustomerView{}, fmt.Errorf("read profile: %w", err)
	}
	p := profile.New(customerID)
	if err := json.Unmarshal(row.Facts, p); err != nil {
		return CustomerView{}, fmt.Errorf("decode profile: %w", err)
	}
	model, err := a.currentModel(ctx, q)
	if err != nil {
		return CustomerView{}, err
	}
	v := CustomerView{Profile: p, Traits: profile.ComputeTraits(p, a.Now(), a.traits, model), RFMAt: row.RfmScoredAt, UpdatedAt: row.UpdatedAt}
	v.Traits.RFM = rfmScore(row.RfmR, row.RfmF, row.RfmM, row.RfmGroup)
	if v.Segments, err = q.CustomerSegments(ctx, customerID); err != nil {
		return v, fmt.Errorf("read memberships: %w", err)
	}
	return v, nil
}
