package ledger

import (
	"fmt"
	"slices"
	"time"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
)

// HoldStatus is where a checkout hold is in its life.
type HoldStatus int

// Hold statuses; the values match loyalty.v1.HoldStatus.
const (
	HoldUnspecified HoldStatus = iota
	HoldActive
	HoldCaptured
	HoldReleased
	HoldExpired
)

// String names the status as stored.
func (s HoldStatus) String() string {
	switch s {
	case HoldActive:
		return "active"
	case HoldCaptured:
		return "captured"
	case HoldReleased:
		return "released"
	case HoldExpired:
		return "expired"
	}
	return "unspecified"
}

// MaxHoldTTL bounds how long points may stay reserved; a checkout that
// takes longer than a day is abandoned, and unbounded holds would let a
// client freeze a balance forever.
const MaxHoldTTL = 24 * time.Hour

// Hold is points reserved for a checkout: taken out of the lots (so no
// concurrent spend can use them) but not yet redeemed.
//
// A lot that expires while it is held is honoured at capture: the member
// reserved the points while they were valid and the shop already gave the
// discount. If the hold is released instead, the returned points of an
// expired lot expire immediately.
type Hold struct {
	ID       string
	MemberID string
	OrderID  string
	Points   int64
	// Draws are the lots the held points came from, in spending order.
	Draws     []Draw
	Status    HoldStatus
	CreatedAt time.Time
	ExpiresAt time.Time
	// Captured is how many points the capture redeemed (<= Points).
	Captured int64
	ClosedAt time.Time
}

// Active reports whether the hold can still be captured at now.
func (h *Hold) Active(now time.Time) bool {
	return h.Status == HoldActive && now.Before(h.ExpiresAt)
}

func (a *Account) trackHold(h *Hold) {
	if _, ok := a.holds[h.ID]; !ok {
		a.holdSeq = append(a.holdSeq, h.ID)
	}
	a.holds[h.ID] = h
}

// HoldRequest asks to reserve points.
type HoldRequest struct {
	OrderID string
	Points  int64
	TTL     time.Duration
}

// PlaceHold reserves points for TTL. Like Spend it fails with
// *InsufficientPointsError and changes nothing when the balance is short.
func (a *Account) PlaceHold(r HoldRequest, now time.Time) (*Hold, Entry, error) {
	var v validation.Collector
	v.Check(r.Points > 0, "points", "must be positive, got %d", r.Points)
	v.Check(r.TTL > 0 && r.TTL <= MaxHoldTTL, "ttl", "must be between 0 and %s, got %s", MaxHoldTTL, r.TTL)
	if err := v.Err(); err != nil {
		return nil, Entry{}, fmt.Errorf("hold for %s: %w", a.state.MemberID, err)
	}
	a.Settle(now)
	if have := a.available(now); have < r.Points {
		return nil, Entry{}, fmt.Errorf("hold for %s: %w", a.state.MemberID, &InsufficientPointsError{Needed: r.Points, Available: max(have, 0)})
	}
	draws, _ := a.allocate(r.Points, now)
	h := &Hold{
		ID: a.ids(), MemberID: a.state.MemberID, OrderID: r.OrderID, Points: r.Points, Draws: draws,
		Status: HoldActive, CreatedAt: now, ExpiresAt: now.Add(r.TTL),
	}
	e := a.append(Entry{Type: TypeHold, Points: -r.Points, OrderID: r.OrderID, ReferenceID: h.ID,
		Draws: slices.Clone(draws), Description: "points held for checkout"}, now)
	a.trackHold(h)
	return h, e, a.check()
}

func (a *Account) ownHold(h *Hold) error {
	if h.MemberID != a.state.MemberID {
		return fmt.Errorf("hold %s belongs to %s, not %s: %w", h.ID, h.MemberID, a.state.MemberID, ErrInvariant)
	}
	if h.Status != HoldActive {
		return fmt.Errorf("hold %s is %s: %w", h.ID, h.Status, ErrHoldClosed)
	}
	return nil
}

// CaptureHold redeems points (at most the held amount) of an active hold.
// It writes a release of the whole hold and a redemption drawing from the
// held lots, so the history shows both the reservation ending and the
// spend; any uncaptured rest goes back to its lots.
func (a *Account) CaptureHold(h *Hold, points int64, now time.Time) ([]Entry, error) {
	if err := a.ownHold(h); err != nil {
		return nil, err
	}
	if !h.Active(now) {
		return nil, fmt.Errorf("capture hold %s at %s (expired %s): %w", h.ID, now, h.ExpiresAt, ErrHoldExpired)
	}
	if points <= 0 || points > h.Points {
		return nil, fmt.Errorf("capture hold %s: %w", h.ID, validation.Field("points", "must be between 1 and %d, got %d", h.Points, points))
	}
	if err := a.restore(h.Draws); err != nil {
		return nil, fmt.Errorf("capture hold %s: %w", h.ID, err)
	}
	rel := a.append(Entry{Type: TypeHoldRelease, Points: h.Points, OrderID: h.OrderID, ReferenceID: h.ID,
		Draws: slices.Clone(h.Draws), Description: "hold captured"}, now)
	// Draw the captured points from the held lots themselves, soonest
	// expiry first, even where a lot expired after the hold was placed.
	var draws []Draw
	left := points
	for _, d := range h.Draws {
		if left == 0 {
			break
		}
		take := min(d.Points, left)
		a.byID[d.LotID].Remaining -= take
		left -= take
		draws = append(draws, Draw{LotID: d.LotID, Points: take})
	}
	red := a.append(Entry{Type: TypeRedemption, Points: -points, OrderID: h.OrderID, ReferenceID: h.ID,
		Draws: draws, Description: "points redeemed at checkout"}, now)
	h.Status, h.Captured, h.ClosedAt = HoldCaptured, points, now
	a.state.LastActivity = now
	a.trackHold(h)
	out := append([]Entry{rel, red}, a.expireDrawn(h.Draws, now)...)
	return out, a.check()
}

// ReleaseHold returns a hold's points to their lots: on cancel, or by the
// expiry job once the TTL has passed (the status then says expired).
func (a *Account) ReleaseHold(h *Hold, now time.Time) ([]Entry, error) {
	if err := a.ownHold(h); err != nil {
		return nil, err
	}
	if err := a.restore(h.Draws); err != nil {
		return nil, fmt.Errorf("release hold %s: %w", h.ID, err)
	}
	status, desc := HoldReleased, "hold released"
	if !now.Before(h.ExpiresAt) {
		status, desc = HoldExpired, "hold expired"
	}
	rel := a.append(Entry{Type: TypeHoldRelease, Points: h.Points, OrderID: h.OrderID, ReferenceID: h.ID,
		Draws: slices.Clone(h.Draws), Description: desc}, now)
	h.Status, h.ClosedAt = status, now
	a.trackHold(h)
	out := append([]Entry{rel}, a.expireDrawn(h.Draws, now)...)
	out = append(out, a.Settle(now)...)
	return out, a.check()
}

// Transfer is points moving between members, with the expiry of each part
// so the receiver gets exactly the same dates: a transfer must not be a way
// to extend the life of points.
type Transfer struct {
	ID    string
	From  string
	To    string
	Parts []Expiring
}

// Points is the transfer's total.
func (t Transfer) Points() int64 {
	var s int64
	for _, p := range t.Parts {
		s += p.Points
	}
	return s
}

// TransferOut debits points for a transfer to another member; the caller
// must lock both members in a fixed order (e.g. by id) to avoid deadlocks,
// then call TransferIn on the receiver with the returned Transfer.
func (a *Account) TransferOut(to string, points int64, now time.Time) (Transfer, Entry, error) {
	if to == "" || to == a.state.MemberID {
		return Transfer{}, Entry{}, validation.Field("to_customer_id", "must name another member")
	}
	id := a.ids()
	e, err := a.Spend(Spend{Type: TypeTransferOut, Points: points, ReferenceID: id, Description: "transfer to " + to}, now)
	if err != nil {
		return Transfer{}, Entry{}, err
	}
	t := Transfer{ID: id, From: a.state.MemberID, To: to}
	for _, d := range e.Draws {
		exp := a.byID[d.LotID].ExpiresAt
		if n := len(t.Parts); n > 0 && t.Parts[n-1].ExpiresAt.Equal(exp) {
			t.Parts[n-1].Points += d.Points
			continue
		}
		t.Parts = append(t.Parts, Expiring{Points: d.Points, ExpiresAt: exp})
	}
	return t, e, nil
}

// TransferIn credits a transfer, one lot per expiry date.
func (a *Account) TransferIn(t Transfer, now time.Time) ([]Entry, error) {
	if t.To != a.state.MemberID {
		return nil, fmt.Errorf("transfer %s is for %s, not %s: %w", t.ID, t.To, a.state.MemberID, ErrInvariant)
	}
	var out []Entry
	for _, p := range t.Parts {
		if !p.ExpiresAt.IsZero() && !p.ExpiresAt.After(now) {
			continue // expired in transit; the sender's lot would have expired too
		}
		es, err := a.Credit(Credit{Type: TypeTransferIn, Points: p.Points, ReferenceID: t.ID, ExpiresAt: p.ExpiresAt,
			Description: "transfer from " + t.From}, now)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}
