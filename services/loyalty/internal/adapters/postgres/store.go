// Package postgres persists the loyalty domain in PostgreSQL through the
// sqlc-generated queries in package sqlc: it loads a member's ledger account
// under a row lock, writes back what an operation changed, and stores orders,
// holds, redemptions and the program configuration. A Store is bound to one
// transaction; the app layer opens the transaction and decides what commits.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/affinity-platform/affinity/services/loyalty/internal/adapters/postgres/sqlc"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// ErrNotFound is returned when a row the caller named does not exist.
var ErrNotFound = errors.New("not found")

// Store runs the service's queries inside one transaction (or on a pool for
// reads).
type Store struct {
	Q  *sqlc.Queries
	db sqlc.DBTX
}

// New returns a Store on db (a pgx.Tx or a pool).
func New(db sqlc.DBTX) *Store { return &Store{Q: sqlc.New(db), db: db} }

// Member is the member row beside the ledger state.
type Member struct {
	State          ledger.State
	LifetimePoints int64
	OrdersCount    int64
	Tier           tier.Status
	TierID         string
	Segments       []string
	EnrolledAt     time.Time
	// Held is the points of the member's active holds (when locked).
	Held int64
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func tv(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func memberFrom(customerID string, balance, deficit, debt, lifetime, orders int64, last *time.Time, tierJSON []byte, tierID string, segments []string, enrolled time.Time) (Member, error) {
	m := Member{
		State:          ledger.State{MemberID: customerID, Balance: balance, Deficit: deficit, Debt: debt, LastActivity: tv(last)},
		LifetimePoints: lifetime, OrdersCount: orders, TierID: tierID, Segments: segments, EnrolledAt: enrolled.UTC(),
	}
	if len(tierJSON) > 0 {
		if err := json.Unmarshal(tierJSON, &m.Tier); err != nil {
			return Member{}, fmt.Errorf("member %s tier status: %w", customerID, err)
		}
	}
	return m, nil
}

// LockMember locks the member row (creating the member at now when absent),
// which serializes every change to one member's points.
func (s *Store) LockMember(ctx context.Context, memberID string, now time.Time) (Member, error) {
	r, err := s.Q.LockMember(ctx, memberID)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.Q.EnsureMember(ctx, sqlc.EnsureMemberParams{CustomerID: memberID, EnrolledAt: now}); err != nil {
			return Member{}, fmt.Errorf("enrol %s: %w", memberID, err)
		}
		r, err = s.Q.LockMember(ctx, memberID)
	}
	if err != nil {
		return Member{}, fmt.Errorf("lock member %s: %w", memberID, err)
	}
	return memberFrom(r.CustomerID, r.Balance, r.Deficit, r.Debt, r.LifetimePoints, r.OrdersCount, r.LastActivity, r.Tier, r.TierID, r.Segments, r.EnrolledAt)
}

// GetMember reads the member row without locking it.
func (s *Store) GetMember(ctx context.Context, memberID string) (Member, error) {
	r, err := s.Q.GetMember(ctx, memberID)
	if err != nil {
		return Member{}, notFound(err, "member "+memberID)
	}
	return memberFrom(r.CustomerID, r.Balance, r.Deficit, r.Debt, r.LifetimePoints, r.OrdersCount, r.LastActivity, r.Tier, r.TierID, r.Segments, r.EnrolledAt)
}

// Lots returns the member's open lots plus the extra lots named.
func (s *Store) Lots(ctx context.Context, memberID string, extra []string) ([]ledger.Lot, error) {
	if extra == nil {
		extra = []string{}
	}
	rows, err := s.Q.OpenLots(ctx, sqlc.OpenLotsParams{MemberID: memberID, Extra: extra})
	if err != nil {
		return nil, fmt.Errorf("lots of %s: %w", memberID, err)
	}
	out := make([]ledger.Lot, len(rows))
	for i, r := range rows {
		src, err := ledger.ParseEntryType(r.Source)
		if err != nil {
			return nil, fmt.Errorf("lot %s: %w", r.ID, err)
		}
		out[i] = ledger.Lot{
			ID: r.ID, MemberID: r.MemberID, EntryID: r.EntryID, Source: src, OrderID: r.OrderID, PartnerID: r.PartnerID,
			Points: r.Points, Remaining: r.Remaining, EarnedAt: r.EarnedAt.UTC(), PendingUntil: tv(r.PendingUntil), ExpiresAt: tv(r.ExpiresAt),
		}
	}
	return out, nil
}

// Account locks the member and restores their ledger account with the
// extra lots an operation will restore into.
func (s *Store) Account(ctx context.Context, memberID string, extra []string, ids ledger.IDSource, now time.Time) (*ledger.Account, Member, error) {
	got, err := s.LockAccounts(ctx, []string{memberID}, extra, ids, now)
	if err != nil {
		return nil, Member{}, err
	}
	l := got[memberID]
	return l.Account, l.Member, nil
}

// ReadAccount restores a member's account without locking, for views.
func (s *Store) ReadAccount(ctx context.Context, memberID string) (*ledger.Account, Member, error) {
	m, err := s.GetMember(ctx, memberID)
	if err != nil {
		return nil, Member{}, err
	}
	lots, err := s.Lots(ctx, memberID, nil)
	if err != nil {
		return nil, Member{}, err
	}
	a, err := ledger.Restore(m.State, lots, func() string { return "" })
	if err != nil {
		return nil, Member{}, fmt.Errorf("restore account %s: %w", memberID, err)
	}
	return a, m, nil
}

type entryRow struct {
	ID           string        `json:"id"`
	MemberID     string        `json:"member_id"`
	Type         string        `json:"type"`
	Points       int64         `json:"points"`
	BalanceAfter int64         `json:"balance_after"`
	OrderID      string        `json:"order_id"`
	ReferenceID  string        `json:"reference_id"`
	RuleIDs      []string      `json:"rule_ids"`
	Description  string        `json:"description"`
	LotID        string        `json:"lot_id"`
	Draws        []ledger.Draw `json:"draws"`
	PendingUntil *time.Time    `json:"pending_until"`
	ExpiresAt    *time.Time    `json:"expires_at"`
	Actor        string        `json:"actor"`
	Reason       string        `json:"reason"`
	PartnerID    string        `json:"partner_id"`
	CreatedAt    time.Time     `json:"created_at"`
	// Ord keeps the entries in the order the account wrote them: each
	// entry's balance_after builds on the previous one.
	Ord int `json:"ord"`
}

type lotRow struct {
	ID           string     `json:"id"`
	MemberID     string     `json:"member_id"`
	EntryID      string     `json:"entry_id"`
	Source       string     `json:"source"`
	OrderID      string     `json:"order_id"`
	PartnerID    string     `json:"partner_id"`
	Points       int64      `json:"points"`
	Remaining    int64      `json:"remaining"`
	EarnedAt     time.Time  `json:"earned_at"`
	PendingUntil *time.Time `json:"pending_until"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

type remainderRow struct {
	ID        string `json:"id"`
	Remaining int64  `json:"remaining"`
}

// Batch collects what a transaction's operations changed, for one or many
// members, so that Apply writes it all in one round trip.
type Batch struct {
	NewLots     []lotRow        `json:"new_lots,omitempty"`
	UpdatedLots []remainderRow  `json:"updated_lots,omitempty"`
	Entries     []entryRow      `json:"entries,omitempty"`
	Holds       []holdRow       `json:"holds,omitempty"`
	Members     []memberRow     `json:"members,omitempty"`
	Orders      []OrderRow      `json:"orders,omitempty"`
	Redemptions []RedemptionRow `json:"redemptions,omitempty"`
}

type holdRow struct {
	ID        string        `json:"id"`
	MemberID  string        `json:"member_id"`
	OrderID   string        `json:"order_id"`
	Points    int64         `json:"points"`
	Captured  int64         `json:"captured"`
	Draws     []ledger.Draw `json:"draws"`
	Status    string        `json:"status"`
	CreatedAt time.Time     `json:"created_at"`
	ExpiresAt time.Time     `json:"expires_at"`
	ClosedAt  *time.Time    `json:"closed_at"`
}

type memberRow struct {
	CustomerID   string     `json:"customer_id"`
	Deficit      int64      `json:"deficit"`
	Debt         int64      `json:"debt"`
	LastActivity *time.Time `json:"last_activity"`
	Earned       int64      `json:"earned"`
	Orders       int64      `json:"orders"`
}

// OrderRow is an earned order as stored: the order and earn result as JSON.
type OrderRow struct {
	OrderID    string          `json:"order_id"`
	MemberID   string          `json:"member_id"`
	Order      json.RawMessage `json:"order"`
	Result     json.RawMessage `json:"result"`
	Points     int64           `json:"points"`
	SpendMinor int64           `json:"spend_minor"`
	CreatedAt  time.Time       `json:"created_at"`
}

// RedemptionRow is a redemption as stored.
type RedemptionRow struct {
	ID         string     `json:"id"`
	MemberID   string     `json:"member_id"`
	RewardID   string     `json:"reward_id"`
	Points     int64      `json:"points"`
	ValueMinor int64      `json:"value_minor"`
	Currency   string     `json:"currency"`
	CouponCode string     `json:"coupon_code"`
	ProductID  string     `json:"product_id"`
	Status     string     `json:"status"`
	EntryID    string     `json:"entry_id"`
	OrderID    string     `json:"order_id"`
	ValidUntil *time.Time `json:"valid_until"`
	CreatedAt  time.Time  `json:"created_at"`
}

// AddAccount adds what operations on the account changed: new entries
// (whose trigger moves members.balance), new and changed lots, holds, and
// the member's deficit, debt and activity. earned adds to lifetime points,
// orders to the order count.
func (b *Batch) AddAccount(a *ledger.Account, earned, orders int64) {
	c := a.Changes()
	for _, l := range c.NewLots {
		b.NewLots = append(b.NewLots, lotRow{ID: l.ID, MemberID: l.MemberID, EntryID: l.EntryID, Source: l.Source.String(), OrderID: l.OrderID,
			PartnerID: l.PartnerID, Points: l.Points, Remaining: l.Remaining, EarnedAt: l.EarnedAt.UTC(),
			PendingUntil: tp(l.PendingUntil), ExpiresAt: tp(l.ExpiresAt)})
	}
	for _, l := range c.UpdatedLots {
		b.UpdatedLots = append(b.UpdatedLots, remainderRow{ID: l.ID, Remaining: l.Remaining})
	}
	for _, e := range c.Entries {
		b.Entries = append(b.Entries, entryRow{ID: e.ID, MemberID: e.MemberID, Type: e.Type.String(), Points: e.Points, BalanceAfter: e.BalanceAfter,
			OrderID: e.OrderID, ReferenceID: e.ReferenceID, RuleIDs: nonNil(e.RuleIDs), Description: e.Description, LotID: e.LotID,
			Draws: nonNilDraws(e.Draws), PendingUntil: tp(e.PendingUntil), ExpiresAt: tp(e.ExpiresAt), Actor: e.Actor,
			Reason: e.Reason, PartnerID: e.PartnerID, CreatedAt: e.CreatedAt.UTC(), Ord: len(b.Entries)})
	}
	for _, h := range c.Holds {
		b.Holds = append(b.Holds, holdRow{ID: h.ID, MemberID: h.MemberID, OrderID: h.OrderID, Points: h.Points, Captured: h.Captured,
			Draws: nonNilDraws(h.Draws), Status: h.Status.String(), CreatedAt: h.CreatedAt.UTC(), ExpiresAt: h.ExpiresAt.UTC(), ClosedAt: tp(h.ClosedAt)})
	}
	b.Members = append(b.Members, memberRow{CustomerID: c.State.MemberID, Deficit: c.State.Deficit, Debt: c.State.Debt,
		LastActivity: tp(c.State.LastActivity), Earned: earned, Orders: orders})
}

// Apply writes the batch.
func (s *Store) Apply(ctx context.Context, b *Batch) error {
	if s.direct(b) {
		return s.applyDirect(ctx, b)
	}
	if c, ok := s.copyable(b); ok {
		return s.applyCopy(ctx, c, b)
	}
	return s.applyJSON(ctx, b)
}

// applyJSON writes the batch in one loyalty_apply call.
func (s *Store) applyJSON(ctx context.Context, b *Batch) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode changes: %w", err)
	}
	if err := s.Q.Apply(ctx, raw); err != nil {
		return fmt.Errorf("write changes: %w", err)
	}
	return nil
}

// SaveAccount writes one account's changes (see Batch.AddAccount).
func (s *Store) SaveAccount(ctx context.Context, a *ledger.Account, earned, orders int64) error {
	var b Batch
	b.AddAccount(a, earned, orders)
	return s.Apply(ctx, &b)
}

// Locked is a member locked for this transaction with their account.
type Locked struct {
	Account *ledger.Account
	Member  Member
}

// LockAccounts locks the members (creating those absent, at now) in id
// order and restores their accounts with their open lots plus the extra
// lots named, in as few round trips as possible.
func (s *Store) LockAccounts(ctx context.Context, ids []string, extra []string, idSource ledger.IDSource, now time.Time) (map[string]*Locked, error) {
	if extra == nil {
		extra = []string{}
	}
	got, err := s.Q.LockMembersWithLots(ctx, sqlc.MembersOpenLotsParams{Ids: ids, Extra: extra})
	if err != nil {
		return nil, err
	}
	if len(got.Members) < len(ids) {
		if err := s.Q.EnsureMembers(ctx, sqlc.EnsureMembersParams{Ids: ids, EnrolledAt: now}); err != nil {
			return nil, fmt.Errorf("enrol members: %w", err)
		}
		if got, err = s.Q.LockMembersWithLots(ctx, sqlc.MembersOpenLotsParams{Ids: ids, Extra: extra}); err != nil {
			return nil, err
		}
	}
	return restoreLocked(got, ids, idSource, false)
}

// restoreLocked turns the rows of a member lock batch into accounts. With
// placeholders, an account without a deficit or a debt stands in one lot
// for its open lots, which were not read (see LockAccountsForAccrual).
func restoreLocked(got sqlc.LockedMembers, ids []string, idSource ledger.IDSource, placeholders bool) (map[string]*Locked, error) {
	held := make(map[string]int64, len(got.Held))
	for _, r := range got.Held {
		held[r.MemberID] = r.Held
	}
	lotsOf := make(map[string][]ledger.Lot, len(got.Members))
	for _, l := range got.Lots {
		src, err := ledger.ParseEntryType(l.Source)
		if err != nil {
			return nil, fmt.Errorf("lot %s: %w", l.ID, err)
		}
		lotsOf[l.MemberID] = append(lotsOf[l.MemberID], ledger.Lot{ID: l.ID, MemberID: l.MemberID, EntryID: l.EntryID, Source: src,
			OrderID: l.OrderID, PartnerID: l.PartnerID, Points: l.Points, Remaining: l.Remaining, EarnedAt: l.EarnedAt.UTC(),
			PendingUntil: tv(l.PendingUntil), ExpiresAt: tv(l.ExpiresAt)})
	}
	out := make(map[string]*Locked, len(got.Members))
	for _, r := range got.Members {
		m, err := memberFrom(r.CustomerID, r.Balance, r.Deficit, r.Debt, r.LifetimePoints, r.OrdersCount, r.LastActivity, r.Tier, r.TierID, r.Segments, r.EnrolledAt)
		if err != nil {
			return nil, err
		}
		m.Held = held[r.CustomerID]
		lots := lotsOf[r.CustomerID]
		if placeholders && m.State.Deficit == 0 && m.State.Debt == 0 {
			// Without a deficit the balance is the sum of the open lots;
			// the placeholder carries it (it never expires and is never
			// spent: nothing but credits touch this account).
			lots = nil
			if m.State.Balance > 0 {
				lots = []ledger.Lot{{ID: unloadedLotID, MemberID: r.CustomerID, Source: ledger.TypeAccrual, Points: math.MaxInt64,
					Remaining: m.State.Balance}}
			}
		}
		a, err := ledger.Restore(m.State, lots, idSource)
		if err != nil {
			return nil, fmt.Errorf("restore account %s: %w", r.CustomerID, err)
		}
		out[r.CustomerID] = &Locked{Account: a, Member: m}
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, fmt.Errorf("member %s was not enrolled: %w", id, ErrNotFound)
		}
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilDraws(d []ledger.Draw) []ledger.Draw {
	if d == nil {
		return []ledger.Draw{}
	}
	return d
}

// SaveTier stores the member's tier status.
func (s *Store) SaveTier(ctx context.Context, memberID string, st tier.Status, effective string, requalifyAt time.Time) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode tier status of %s: %w", memberID, err)
	}
	if err := s.Q.UpdateMemberTier(ctx, sqlc.UpdateMemberTierParams{CustomerID: memberID, Tier: b, TierID: effective, RequalifyAt: tp(requalifyAt)}); err != nil {
		return fmt.Errorf("update tier of %s: %w", memberID, err)
	}
	return nil
}

// Hold reads a hold.
func (s *Store) Hold(ctx context.Context, id string) (ledger.Hold, error) {
	r, err := s.Q.GetHold(ctx, id)
	if err != nil {
		return ledger.Hold{}, notFound(err, "hold "+id)
	}
	h := ledger.Hold{ID: r.ID, MemberID: r.MemberID, OrderID: r.OrderID, Points: r.Points, Captured: r.Captured,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), ClosedAt: tv(r.ClosedAt)}
	if err := json.Unmarshal(r.Draws, &h.Draws); err != nil {
		return ledger.Hold{}, fmt.Errorf("hold %s draws: %w", id, err)
	}
	switch r.Status {
	case "active":
		h.Status = ledger.HoldActive
	case "captured":
		h.Status = ledger.HoldCaptured
	case "released":
		h.Status = ledger.HoldReleased
	case "expired":
		h.Status = ledger.HoldExpired
	default:
		return ledger.Hold{}, fmt.Errorf("hold %s has unknown status %q", id, r.Status)
	}
	return h, nil
}

// EntryFrom maps a stored entry to the domain.
func EntryFrom(r sqlc.Entry) (ledger.Entry, error) {
	t, err := ledger.ParseEntryType(r.Type)
	if err != nil {
		return ledger.Entry{}, fmt.Errorf("entry %s: %w", r.ID, err)
	}
	e := ledger.Entry{ID: r.ID, MemberID: r.MemberID, Type: t, Points: r.Points, BalanceAfter: r.BalanceAfter, OrderID: r.OrderID,
		ReferenceID: r.ReferenceID, RuleIDs: r.RuleIds, Description: r.Description, LotID: r.LotID, PendingUntil: tv(r.PendingUntil),
		ExpiresAt: tv(r.ExpiresAt), Actor: r.Actor, Reason: r.Reason, PartnerID: r.PartnerID, CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal(r.Draws, &e.Draws); err != nil {
		return ledger.Entry{}, fmt.Errorf("entry %s draws: %w", r.ID, err)
	}
	return e, nil
}
