package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// copier is a transaction that can COPY rows in (pgx.Tx and the app's
// pipelined transaction).
type copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

// minCopyOrders is the smallest order batch whose new lots, entries and
// orders are copied in rather than sent through loyalty_apply.
const minCopyOrders = 64

// copyable reports whether b's inserts go out as COPY (see applyCopy).
func (s *Store) copyable(b *Batch) (copier, bool) {
	c, ok := s.db.(copier)
	if !ok || len(b.Orders) < minCopyOrders || len(b.Holds) > 0 {
		return nil, false
	}
	return c, true
}

// applyCopy writes an order batch's new lots, entries and orders with COPY
// and the rest (changed lots, members, redemptions) through loyalty_apply.
// Profiling the ingestion showed loyalty_apply as the largest database cost
// per order: the change set of a 2,500-order batch is one JSON document
// the Go side encodes and the function parses back, each order's own order
// and result documents inside it. COPY takes the rows in binary instead.
// Entries are copied in the account's order, so their identity numbers
// follow it and the entries trigger (which COPY fires once, like an INSERT)
// checks every balance_after as before.
func (s *Store) applyCopy(ctx context.Context, c copier, b *Batch) error {
	if len(b.NewLots) > 0 {
		if _, err := c.CopyFrom(ctx, pgx.Identifier{"lots"},
			[]string{"id", "member_id", "entry_id", "source", "order_id", "partner_id", "points", "remaining", "earned_at", "pending_until", "expires_at"},
			pgx.CopyFromSlice(len(b.NewLots), func(i int) ([]any, error) {
				l := b.NewLots[i]
				return []any{l.ID, l.MemberID, l.EntryID, l.Source, l.OrderID, l.PartnerID, l.Points, l.Remaining, l.EarnedAt,
					l.PendingUntil, l.ExpiresAt}, nil
			})); err != nil {
			return fmt.Errorf("write lots: %w", err)
		}
	}
	if len(b.Entries) > 0 {
		if _, err := c.CopyFrom(ctx, pgx.Identifier{"entries"},
			[]string{"id", "member_id", "type", "points", "balance_after", "order_id", "reference_id", "rule_ids", "description", "lot_id",
				"draws", "pending_until", "expires_at", "actor", "reason", "partner_id", "created_at"},
			pgx.CopyFromSlice(len(b.Entries), func(i int) ([]any, error) {
				e := b.Entries[i]
				rules := e.RuleIDs
				if rules == nil {
					rules = []string{}
				}
				draws := e.Draws
				if draws == nil {
					draws = nonNilDraws(nil)
				}
				return []any{e.ID, e.MemberID, e.Type, e.Points, e.BalanceAfter, e.OrderID, e.ReferenceID, rules, e.Description, e.LotID,
					draws, e.PendingUntil, e.ExpiresAt, e.Actor, e.Reason, e.PartnerID, e.CreatedAt}, nil
			})); err != nil {
			return fmt.Errorf("write entries: %w", err)
		}
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"orders"},
		[]string{"order_id", "member_id", "order", "result", "points", "spend_minor", "created_at"},
		pgx.CopyFromSlice(len(b.Orders), func(i int) ([]any, error) {
			o := b.Orders[i]
			return []any{o.OrderID, o.MemberID, []byte(o.Order), []byte(o.Result), o.Points, o.SpendMinor, o.CreatedAt}, nil
		})); err != nil {
		return fmt.Errorf("write orders: %w", err)
	}
	rest := Batch{UpdatedLots: b.UpdatedLots, Members: b.Members, Redemptions: b.Redemptions}
	if len(rest.UpdatedLots)+len(rest.Members)+len(rest.Redemptions) == 0 {
		return nil
	}
	return s.applyJSON(ctx, &rest)
}
