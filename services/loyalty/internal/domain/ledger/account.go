package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// IDSource returns a fresh unique id for a lot, entry or hold. The app layer
// passes a UUIDv7 generator; tests pass a counter so results are exact.
type IDSource func() string

// State is the member row that is locked while the account changes.
type State struct {
	MemberID string
	// Balance is the sum of all entries.
	Balance int64
	// Deficit is the part of a negative balance not backed by lots.
	Deficit int64
	// Debt is owed points outside the ledger (CapAtZero).
	Debt int64
	// LastActivity is the last earn or spend, for inactivity expiry.
	LastActivity time.Time
}

// Changes is what an operation produced and the app layer must persist in
// the same transaction: entries to insert, lots to insert or update, and
// holds to upsert, together with the new State.
type Changes struct {
	State       State
	Entries     []Entry
	NewLots     []Lot
	UpdatedLots []Lot
	Holds       []Hold
}

// Account is one member's ledger, loaded for one transaction.
type Account struct {
	state   State
	lots    []*Lot // sorted by spending order
	byID    map[string]*Lot
	ids     IDSource
	entries []Entry
	created map[string]bool
	orig    map[string]int64
	holds   map[string]*Hold
	holdSeq []string
}

// Open starts the account of a new member.
func Open(memberID string, ids IDSource) *Account {
	a, _ := Restore(State{MemberID: memberID}, nil, ids)
	return a
}

// Restore rebuilds an account from persisted state. lots must contain every
// lot with a remainder, plus any lot an operation will restore into (the
// draws of an entry being reversed, of a hold being captured or released).
// The invariant is checked so that corrupt data stops here, not after more
// entries are written on top of it.
func Restore(s State, lots []Lot, ids IDSource) (*Account, error) {
	a := &Account{
		state:   s,
		byID:    make(map[string]*Lot, len(lots)),
		ids:     ids,
		created: map[string]bool{},
		orig:    make(map[string]int64, len(lots)),
		holds:   map[string]*Hold{},
	}
	for i := range lots {
		l := lots[i]
		if l.MemberID != s.MemberID {
			return nil, fmt.Errorf("restore %s: lot %s belongs to %s: %w", s.MemberID, l.ID, l.MemberID, ErrInvariant)
		}
		if _, dup := a.byID[l.ID]; dup {
			return nil, fmt.Errorf("restore %s: duplicate lot %s: %w", s.MemberID, l.ID, ErrInvariant)
		}
		a.byID[l.ID] = &l
		a.lots = append(a.lots, &l)
		a.orig[l.ID] = l.Remaining
	}
	a.sortLots()
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// spendOrder is the order lots are consumed in: soonest expiry first (so the
// member loses as little as possible to expiry), lots without expiry last,
// then oldest first, then by id for determinism.
func spendOrder(x, y *Lot) int {
	switch {
	case x.ExpiresAt.IsZero() && !y.ExpiresAt.IsZero():
		return 1
	case !x.ExpiresAt.IsZero() && y.ExpiresAt.IsZero():
		return -1
	}
	if c := x.ExpiresAt.Compare(y.ExpiresAt); c != 0 {
		return c
	}
	if c := x.EarnedAt.Compare(y.EarnedAt); c != 0 {
		return c
	}
	return cmp.Compare(x.ID, y.ID)
}

func (a *Account) sortLots() { slices.SortStableFunc(a.lots, spendOrder) }

func (a *Account) check() error {
	var sum int64
	for _, l := range a.lots {
		if l.Remaining < 0 || l.Remaining > l.Points {
			return fmt.Errorf("member %s lot %s remaining %d of %d: %w", a.state.MemberID, l.ID, l.Remaining, l.Points, ErrInvariant)
		}
		sum += l.Remaining
	}
	if a.state.Deficit < 0 || a.state.Debt < 0 {
		return fmt.Errorf("member %s deficit %d debt %d: %w", a.state.MemberID, a.state.Deficit, a.state.Debt, ErrInvariant)
	}
	if a.state.Balance != sum-a.state.Deficit {
		return fmt.Errorf("member %s balance %d != lots %d - deficit %d: %w", a.state.MemberID, a.state.Balance, sum, a.state.Deficit, ErrInvariant)
	}
	return nil
}

// MemberID is the account's member.
func (a *Account) MemberID() string { return a.state.MemberID }

// State is the current member row.
func (a *Account) State() State { return a.state }

// Lots returns copies of the loaded lots in spending order.
func (a *Account) Lots() []Lot {
	out := make([]Lot, len(a.lots))
	for i, l := range a.lots {
		out[i] = *l
	}
	return out
}

// Lot returns a copy of one loaded lot.
func (a *Account) Lot(id string) (Lot, bool) {
	l, ok := a.byID[id]
	if !ok {
		return Lot{}, false
	}
	return *l, true
}

// Changes returns everything to persist since Restore.
func (a *Account) Changes() Changes {
	c := Changes{State: a.state, Entries: slices.Clone(a.entries)}
	for _, l := range a.lots {
		switch {
		case a.created[l.ID]:
			c.NewLots = append(c.NewLots, *l)
		case a.orig[l.ID] != l.Remaining:
			c.UpdatedLots = append(c.UpdatedLots, *l)
		}
	}
	for _, id := range a.holdSeq {
		c.Holds = append(c.Holds, *a.holds[id])
	}
	return c
}

// Balances is what the member sees at now, as if Settle ran first. Expired lots the job has not
// processed yet are already excluded, so the view never shows points that
// cannot be spent.
func (a *Account) Balances(now time.Time) Balances {
	var b Balances
	for _, l := range a.lots {
		switch {
		case l.Remaining == 0 || l.Expired(now):
		case l.Vested(now):
			b.Available += l.Remaining
		default:
			b.Pending += l.Remaining
		}
	}
	// Report what Settle would leave, so the view matches what a spend at
	// now could actually use.
	b.Available -= a.state.Deficit
	b.Debt = a.state.Debt
	if pay := min(max(b.Available, 0), b.Debt); pay > 0 {
		b.Available -= pay
		b.Debt -= pay
	}
	return b
}

// ExpiringWithin returns the points (vested or pending) expiring in
// [now, now+within), grouped by instant, soonest first.
func (a *Account) ExpiringWithin(now time.Time, within time.Duration) []Expiring {
	end := now.Add(within)
	var out []Expiring
	for _, l := range a.lots {
		if l.Remaining == 0 || l.ExpiresAt.IsZero() || l.Expired(now) || !l.ExpiresAt.Before(end) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ExpiresAt.Equal(l.ExpiresAt) {
			out[n-1].Points += l.Remaining
			continue
		}
		out = append(out, Expiring{Points: l.Remaining, ExpiresAt: l.ExpiresAt})
	}
	return out
}

// ExpiryWarnings lists the lots (with a remainder) that expire within
// warnBefore of now, for PointsWillExpire. Lots, not amounts, so the app
// layer can mark each lot warned and announce it once.
func (a *Account) ExpiryWarnings(now time.Time, warnBefore time.Duration) []Lot {
	var out []Lot
	for _, l := range a.lots {
		if l.Remaining > 0 && !l.ExpiresAt.IsZero() && !l.Expired(now) && l.ExpiresAt.Before(now.Add(warnBefore)) {
			out = append(out, *l)
		}
	}
	return out
}

func (a *Account) append(e Entry, now time.Time) Entry {
	e.ID = a.ids()
	e.MemberID = a.state.MemberID
	e.CreatedAt = now
	a.state.Balance += e.Points
	e.BalanceAfter = a.state.Balance
	a.entries = append(a.entries, e)
	return e
}

// Credit describes points to add.
type Credit struct {
	// Type is accrual, adjustment, referral reward or transfer in.
	Type         EntryType
	Points       int64
	OrderID      string
	ReferenceID  string
	RuleIDs      []string
	Description  string
	PendingUntil time.Time
	ExpiresAt    time.Time
	Actor        string
	Reason       string
	PartnerID    string
}

func (c Credit) validate(now time.Time) error {
	var v validation.Collector
	v.Check(c.Type.isCredit(), "type", "%s cannot credit points", c.Type)
	v.Check(c.Points > 0, "points", "must be positive, got %d", c.Points)
	v.Check(c.ExpiresAt.IsZero() || c.PendingUntil.IsZero() || c.PendingUntil.Before(c.ExpiresAt),
		"pending_until", "must be before expires_at")
	if c.Type == TypeAdjustment {
		v.Check(c.Actor != "", "actor", "a manual adjustment must name who made it")
		v.Check(c.Reason != "", "reason", "a manual adjustment needs a reason")
	}
	return v.Err()
}

// Credit adds points as a new lot and returns the credit entry followed by
// any entries it caused: an immediate expiration when ExpiresAt has already
// passed, and the repayment of debt.
func (a *Account) Credit(c Credit, now time.Time) ([]Entry, error) {
	if err := c.validate(now); err != nil {
		return nil, fmt.Errorf("credit %s: %w", a.state.MemberID, err)
	}
	lot := &Lot{
		ID: a.ids(), MemberID: a.state.MemberID, Source: c.Type, OrderID: c.OrderID, PartnerID: c.PartnerID,
		Points: c.Points, Remaining: c.Points, EarnedAt: now, PendingUntil: c.PendingUntil, ExpiresAt: c.ExpiresAt,
	}
	e := a.append(Entry{
		Type: c.Type, Points: c.Points, OrderID: c.OrderID, ReferenceID: c.ReferenceID,
		RuleIDs: slices.Clone(c.RuleIDs), Description: c.Description, LotID: lot.ID,
		PendingUntil: c.PendingUntil, ExpiresAt: c.ExpiresAt, Actor: c.Actor, Reason: c.Reason, PartnerID: c.PartnerID,
	}, now)
	lot.EntryID = e.ID
	a.addLot(lot)
	if c.Type != TypeTransferIn {
		a.state.LastActivity = now
	}
	out := []Entry{e}
	if lot.Expired(now) {
		// A late event (an order replayed after its points' expiry) still
		// leaves a trace of what was earned, and the points are gone at once.
		out = append(out, a.expireLot(lot, now))
	}
	out = append(out, a.Settle(now)...)
	return out, a.check()
}

func (a *Account) addLot(l *Lot) {
	a.byID[l.ID] = l
	a.created[l.ID] = true
	// Insert in spending order; re-sorting every credit would make a
	// member with many lots quadratic.
	i, _ := slices.BinarySearchFunc(a.lots, l, spendOrder)
	a.lots = slices.Insert(a.lots, i, l)
}

// Settle pays deficit and debt from spendable lots. Under AllowNegative the
// entries already carry the negative balance, so paying it only reduces lot
// remainders; under CapAtZero the debt was never in the ledger, so it is
// collected with a clawback entry. Every operation calls it first, because a
// pending lot vesting is enough to make settlement possible.
func (a *Account) Settle(now time.Time) []Entry {
	if a.state.Deficit > 0 {
		draws, got := a.allocate(a.state.Deficit, now)
		a.state.Deficit -= got
		_ = draws // the negative balance already counted these points
	}
	if a.state.Debt > 0 {
		draws, got := a.allocate(a.state.Debt, now)
		if got > 0 {
			a.state.Debt -= got
			return []Entry{a.append(Entry{
				Type: TypeRefundClawback, Points: -got, ReferenceID: "debt", Draws: draws,
				Description: "repayment of clawback debt",
			}, now)}
		}
	}
	return nil
}

// available is the spendable balance without side effects.
func (a *Account) available(now time.Time) int64 {
	var s int64
	for _, l := range a.lots {
		if l.Spendable(now) {
			s += l.Remaining
		}
	}
	return s - a.state.Deficit
}

// allocate draws up to want points from spendable lots in spending order and
// returns the draws and how many points it got.
func (a *Account) allocate(want int64, now time.Time) ([]Draw, int64) {
	var draws []Draw
	var got int64
	for _, l := range a.lots {
		if got == want {
			break
		}
		if !l.Spendable(now) {
			continue
		}
		take := min(l.Remaining, want-got)
		l.Remaining -= take
		got += take
		draws = append(draws, Draw{LotID: l.ID, Points: take})
	}
	return draws, got
}

// restore returns draws to their lots. Lots that have expired meanwhile are
// expired again at once with their own expiration entries, so a reversal
// never revives dead points yet the history shows exactly what happened.
func (a *Account) restore(draws []Draw) error {
	for _, d := range draws {
		l, ok := a.byID[d.LotID]
		if !ok {
			return fmt.Errorf("restore into lot %s: %w", d.LotID, ErrUnknownLot)
		}
		if l.Remaining+d.Points > l.Points {
			return fmt.Errorf("restore %d into lot %s (%d of %d left): %w", d.Points, l.ID, l.Remaining, l.Points, ErrInvariant)
		}
	}
	for _, d := range draws {
		a.byID[d.LotID].Remaining += d.Points
	}
	return nil
}

func (a *Account) expireDrawn(draws []Draw, now time.Time) []Entry {
	var out []Entry
	seen := map[string]bool{}
	for _, d := range draws {
		l := a.byID[d.LotID]
		if seen[l.ID] || !l.Expired(now) || l.Remaining == 0 {
			continue
		}
		seen[l.ID] = true
		out = append(out, a.expireLot(l, now))
	}
	return out
}

func (a *Account) expireLot(l *Lot, now time.Time) Entry {
	pts := l.Remaining
	l.Remaining = 0
	return a.append(Entry{
		Type: TypeExpiration, Points: -pts, ReferenceID: l.ID, Draws: []Draw{{LotID: l.ID, Points: pts}},
		ExpiresAt: l.ExpiresAt, Description: "points expired",
	}, now)
}

// Spend describes a debit: a redemption, a transfer out or a manual debit.
type Spend struct {
	Type        EntryType
	Points      int64
	OrderID     string
	ReferenceID string
	Description string
	Actor       string
	Reason      string
	PartnerID   string
}

// Spend takes points from spendable lots, soonest expiry first, and records
// the draws. It fails with *InsufficientPointsError and changes nothing when
// the balance does not cover it.
func (a *Account) Spend(s Spend, now time.Time) (Entry, error) {
	var v validation.Collector
	v.Check(s.Type.isDebit(), "type", "%s cannot debit points", s.Type)
	v.Check(s.Points > 0, "points", "must be positive, got %d", s.Points)
	if s.Type == TypeAdjustment {
		v.Check(s.Actor != "", "actor", "a manual adjustment must name who made it")
		v.Check(s.Reason != "", "reason", "a manual adjustment needs a reason")
	}
	if err := v.Err(); err != nil {
		return Entry{}, fmt.Errorf("spend %s: %w", a.state.MemberID, err)
	}
	a.Settle(now)
	if have := a.available(now); have < s.Points {
		return Entry{}, fmt.Errorf("spend %s: %w", a.state.MemberID, &InsufficientPointsError{Needed: s.Points, Available: max(have, 0)})
	}
	draws, _ := a.allocate(s.Points, now)
	a.state.LastActivity = now
	e := a.append(Entry{
		Type: s.Type, Points: -s.Points, OrderID: s.OrderID, ReferenceID: s.ReferenceID, Draws: draws,
		Description: s.Description, Actor: s.Actor, Reason: s.Reason, PartnerID: s.PartnerID,
	}, now)
	return e, a.check()
}

// Reverse undoes a debit entry (a redemption, transfer out or manual debit)
// by returning exactly its draws to their lots with their original expiry.
// The caller loads the lots named by original.Draws and guarantees, with a
// unique (reversal, reference) key, that an entry is reversed once.
func (a *Account) Reverse(original Entry, reason string, now time.Time) ([]Entry, error) {
	if !original.Type.isDebit() || original.Points >= 0 || original.MemberID != a.state.MemberID {
		return nil, fmt.Errorf("reverse %s entry %s: %w", original.Type, original.ID, ErrNotReversible)
	}
	if err := a.restore(original.Draws); err != nil {
		return nil, fmt.Errorf("reverse entry %s: %w", original.ID, err)
	}
	e := a.append(Entry{
		Type: TypeReversal, Points: -original.Points, OrderID: original.OrderID, ReferenceID: original.ID,
		Draws: slices.Clone(original.Draws), Reason: reason, Description: "reversal of " + original.Type.String(),
	}, now)
	out := append([]Entry{e}, a.expireDrawn(original.Draws, now)...)
	out = append(out, a.Settle(now)...)
	return out, a.check()
}

// Clawback takes back points after a refund or cancellation.
type Clawback struct {
	OrderID string
	// Points to take back (computed by earning from the refunded lines).
	Points int64
	// ReferenceID is the refund or cancellation id.
	ReferenceID string
	Policy      DebtPolicy
	// PartnerID is the coalition partner whose transaction earned the
	// points, so settlement charges the reversal to it.
	PartnerID string
}

// ClawbackResult says where the points came from.
type ClawbackResult struct {
	// Entry is the clawback entry; zero when nothing could be taken.
	Entry Entry
	// FromOrder came from the order's own lots (pending ones included,
	// which leaves the spendable balance untouched).
	FromOrder int64
	// FromOther came from other spendable lots because the order's points
	// were already spent.
	FromOther int64
	// Shortfall is what neither covered: added to Deficit (AllowNegative,
	// and included in the entry) or to Debt (CapAtZero, not in the entry).
	Shortfall int64
}

// Clawback takes c.Points back, first from the lots the order created
// (pending before vested, so a refund inside the return window never touches
// the spendable balance), then from other spendable lots, then by the debt
// policy. Expired order lots are skipped: their points already left the
// balance through expiry, so they are "spent" for this purpose.
func (a *Account) Clawback(c Clawback, now time.Time) (ClawbackResult, error) {
	var v validation.Collector
	v.Check(c.OrderID != "", "order_id", "is required")
	v.Check(c.Points > 0, "points", "must be positive, got %d", c.Points)
	v.Check(c.Policy == AllowNegative || c.Policy == CapAtZero, "policy", "unknown debt policy %d", c.Policy)
	if err := v.Err(); err != nil {
		return ClawbackResult{}, fmt.Errorf("clawback %s: %w", a.state.MemberID, err)
	}
	a.Settle(now)
	var draws []Draw
	var res ClawbackResult
	orderLots := make([]*Lot, 0, 2)
	for _, l := range a.lots {
		if l.OrderID == c.OrderID && l.Remaining > 0 && !l.Expired(now) {
			orderLots = append(orderLots, l)
		}
	}
	slices.SortStableFunc(orderLots, func(x, y *Lot) int {
		if xv, yv := x.Vested(now), y.Vested(now); xv != yv {
			if !xv {
				return -1
			}
			return 1
		}
		return 0
	})
	want := c.Points
	for _, l := range orderLots {
		if res.FromOrder == want {
			break
		}
		take := min(l.Remaining, want-res.FromOrder)
		l.Remaining -= take
		res.FromOrder += take
		draws = append(draws, Draw{LotID: l.ID, Points: take})
	}
	other, got := a.allocate(want-res.FromOrder, now)
	draws = append(draws, other...)
	res.FromOther = got
	res.Shortfall = want - res.FromOrder - res.FromOther
	taken := res.FromOrder + res.FromOther
	switch c.Policy {
	case AllowNegative:
		a.state.Deficit += res.Shortfall
		taken += res.Shortfall
	case CapAtZero:
		a.state.Debt += res.Shortfall
	}
	if taken > 0 {
		res.Entry = a.append(Entry{
			Type: TypeRefundClawback, Points: -taken, OrderID: c.OrderID, ReferenceID: c.ReferenceID, Draws: draws,
			Description: "points taken back after a refund", PartnerID: c.PartnerID,
		}, now)
	}
	return res, a.check()
}

// ExpireDue expires the remainder of every lot whose expiry has been
// reached, one entry per lot so that each PointsExpired event can say which
// earn the points came from.
func (a *Account) ExpireDue(now time.Time) []Entry {
	var out []Entry
	for _, l := range a.lots {
		if l.Remaining > 0 && l.Expired(now) {
			out = append(out, a.expireLot(l, now))
		}
	}
	return out
}

// ExpireAll expires every vested lot at once, for the inactivity policy.
// Pending lots are kept: they prove recent activity, and the caller only
// calls this when the inactivity deadline has passed.
func (a *Account) ExpireAll(now time.Time) (Entry, bool) {
	var draws []Draw
	var total int64
	for _, l := range a.lots {
		if l.Remaining > 0 && l.Vested(now) {
			draws = append(draws, Draw{LotID: l.ID, Points: l.Remaining})
			total += l.Remaining
			l.Remaining = 0
		}
	}
	if total == 0 {
		return Entry{}, false
	}
	return a.append(Entry{Type: TypeExpiration, Points: -total, Draws: draws, ReferenceID: "inactivity",
		Description: "points expired after inactivity"}, now), true
}

// Repository persists accounts. UpdateAccount runs fn inside one database
// transaction on the account loaded with the member row locked (SELECT ...
// FOR UPDATE), creating the member when absent, and persists fn's Changes
// only when fn returns nil. loadLots names lots beyond the open ones that fn
// will restore into (reversal, capture and release).
type Repository interface {
	UpdateAccount(ctx context.Context, memberID string, loadLots []string, fn func(*Account) error) error
	// UpdateHold loads the hold and its member's account (with the hold's
	// lots) under the same lock and persists both.
	UpdateHold(ctx context.Context, holdID string, fn func(*Account, *Hold) error) error
	// Entry returns one entry, for reversals.
	Entry(ctx context.Context, entryID string) (Entry, error)
}
