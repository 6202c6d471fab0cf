package postgres

import (
	"context"
	"encoding/json"
	"fmt"
)

// Deferrer is a transaction that holds back writes and sends them together
// in one round trip (the app's pipelined unit of work).
type Deferrer interface {
	// Deferring reports whether an Exec now is held back rather than sent.
	Deferring() bool
}

// maxDirectRows bounds the batches written as plain statements: each row is
// one statement, so large batches (an order batch) keep loyalty_apply's one
// set-based call.
const maxDirectRows = 8

// direct reports whether b goes out as plain statements instead of one
// loyalty_apply call. Profiling Redeem showed loyalty_apply as the largest
// database cost per redemption: the Go side encodes the change set as JSON
// and the function parses it back with jsonb_to_recordset, for one entry,
// one lot, one member and one redemption. Plain prepared statements with
// binary parameters skip both. They are used only while the transaction
// holds writes back, so the statements still travel in one round trip;
// elsewhere each would cost its own.
func (s *Store) direct(b *Batch) bool {
	d, ok := s.db.(Deferrer)
	if !ok || !d.Deferring() || len(b.Holds) > 0 || len(b.Orders) > 0 {
		return false
	}
	n := len(b.NewLots) + len(b.UpdatedLots) + len(b.Entries) + len(b.Members) + len(b.Redemptions)
	return n <= maxDirectRows
}

// The statements below write what loyalty_apply writes, in the same order
// (new lots, changed lots, entries, members, redemptions), so the entries
// trigger sees the same state.
const (
	insertLot = `INSERT INTO lots (id, member_id, entry_id, source, order_id, partner_id, points, remaining, earned_at, pending_until, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	updateLot   = `UPDATE lots SET remaining = $2 WHERE id = $1`
	insertEntry = `INSERT INTO entries (id, member_id, type, points, balance_after, order_id, reference_id, rule_ids, description, lot_id,
    draws, pending_until, expires_at, actor, reason, partner_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17)`
	updateMember = `UPDATE members SET deficit = $2, debt = $3, last_activity = $4,
    lifetime_points = lifetime_points + $5, orders_count = orders_count + $6
WHERE customer_id = $1`
	insertRedemption = `INSERT INTO redemptions (id, member_id, reward_id, points, value_minor, currency, coupon_code, product_id, status, entry_id,
    order_id, valid_until, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
)

// applyDirect writes b as plain statements (see direct).
func (s *Store) applyDirect(ctx context.Context, b *Batch) error {
	for _, l := range b.NewLots {
		if _, err := s.db.Exec(ctx, insertLot, l.ID, l.MemberID, l.EntryID, l.Source, l.OrderID, l.PartnerID, l.Points, l.Remaining,
			l.EarnedAt, l.PendingUntil, l.ExpiresAt); err != nil {
			return fmt.Errorf("write lot %s: %w", l.ID, err)
		}
	}
	for _, l := range b.UpdatedLots {
		if _, err := s.db.Exec(ctx, updateLot, l.ID, l.Remaining); err != nil {
			return fmt.Errorf("write lot %s: %w", l.ID, err)
		}
	}
	// One statement per entry in the account's order: the entries
	// trigger checks each statement's balance_after against the balance
	// the previous statements left.
	for _, e := range b.Entries {
		draws, err := json.Marshal(e.Draws)
		if err != nil {
			return fmt.Errorf("encode draws of entry %s: %w", e.ID, err)
		}
		rules := e.RuleIDs
		if rules == nil {
			rules = []string{}
		}
		if _, err := s.db.Exec(ctx, insertEntry, e.ID, e.MemberID, e.Type, e.Points, e.BalanceAfter, e.OrderID, e.ReferenceID, rules,
			e.Description, e.LotID, string(draws), e.PendingUntil, e.ExpiresAt, e.Actor, e.Reason, e.PartnerID, e.CreatedAt); err != nil {
			return fmt.Errorf("write entry %s: %w", e.ID, err)
		}
	}
	for _, m := range b.Members {
		if _, err := s.db.Exec(ctx, updateMember, m.CustomerID, m.Deficit, m.Debt, m.LastActivity, m.Earned, m.Orders); err != nil {
			return fmt.Errorf("write member %s: %w", m.CustomerID, err)
		}
	}
	for _, r := range b.Redemptions {
		if _, err := s.db.Exec(ctx, insertRedemption, r.ID, r.MemberID, r.RewardID, r.Points, r.ValueMinor, r.Currency, r.CouponCode,
			r.ProductID, r.Status, r.EntryID, r.OrderID, r.ValidUntil, r.CreatedAt); err != nil {
			return fmt.Errorf("write redemption %s: %w", r.ID, err)
		}
	}
	return nil
}
