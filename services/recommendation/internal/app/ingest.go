package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// Order is a completed order from commerce.orders.v1.
type Order struct {
	ID, CustomerID string
	Lines          []OrderLine
	At             time.Time
}

// OrderLine is one line of an order.
type OrderLine struct {
	LineID, SKU, ProductID string
	Quantity               int
}

// RefundedLine names a refunded line by line id, or by SKU when the order
// system has no line ids.
type RefundedLine struct {
	LineID, SKU string
	Quantity    int
}

// Refund is a refund or cancellation of an earlier order.
type Refund struct {
	OrderID, CustomerID string
	// Lines refunded; Cancel refunds every line in full.
	Lines  []RefundedLine
	Cancel bool
	At     time.Time
}

// validate checks what every order must carry.
func (o Order) validate() error {
	if err := domain.ValidateID("order_id", o.ID); err != nil {
		return err
	}
	if o.CustomerID != "" {
		if err := domain.ValidateID("customer_id", o.CustomerID); err != nil {
			return err
		}
	}
	for i, l := range o.Lines {
		if err := domain.ValidateID(fmt.Sprintf("lines[%d].product_id", i), l.ProductID); err != nil {
			return err
		}
	}
	return nil
}

// IngestOrder records a completed order in tx: its lines, the customer's
// purchases, and a basket for the co-occurrence model, paired with the
// customer's earlier purchases. An order already stored changes nothing.
func (a *App) IngestOrder(ctx context.Context, tx pgx.Tx, o Order) error {
	if err := o.validate(); err != nil {
		return err
	}
	s := store.New(tx)
	fresh := false
	var items []string
	for i, l := range o.Lines {
		lineID := l.LineID
		if lineID == "" {
			lineID = fmt.Sprintf("%d", i)
		}
		isNew, err := s.AddOrderLine(ctx, o.ID, store.OrderLine{LineID: lineID, SKU: l.SKU, ProductID: l.ProductID, Quantity: max(l.Quantity, 1)})
		if err != nil {
			return err
		}
		fresh = fresh || isNew
		items = append(items, l.ProductID)
	}
	if !fresh {
		return nil
	}
	slices.Sort(items)
	items = slices.Compact(items)
	var history []string
	if o.CustomerID != "" {
		h, err := s.PurchaseHistory(ctx, o.CustomerID, cooccur.DefaultConfig().MaxHistory+len(items))
		if err != nil {
			return err
		}
		history = h
		evs := make([]interaction.Event, 0, len(o.Lines))
		for _, l := range o.Lines {
			evs = append(evs, interaction.Event{CustomerID: o.CustomerID, ProductID: l.ProductID, Kind: interaction.Purchase, Quantity: max(l.Quantity, 1), At: o.At, OrderID: o.ID})
		}
		if err := s.AppendInteractions(ctx, evs...); err != nil {
			return err
		}
	}
	return s.AddBasket(ctx, store.Basket{OrderID: o.ID, CustomerID: o.CustomerID, Items: items, History: history, Weight: 1, At: o.At})
}

// IngestRefund records a refund or cancellation: refund interactions (so the
// item counts against itself and a durable may be offered again), and, once
// the whole order is refunded, the order's basket taken back out of the
// co-occurrence model. Refunds of unknown orders are ignored.
func (a *App) IngestRefund(ctx context.Context, tx pgx.Tx, r Refund) error {
	if err := domain.ValidateID("order_id", r.OrderID); err != nil {
		return err
	}
	s := store.New(tx)
	lines, err := s.OrderLines(ctx, r.OrderID)
	if err != nil || len(lines) == 0 {
		return err
	}
	if r.Cancel {
		r.Lines = r.Lines[:0]
		for _, l := range lines {
			r.Lines = append(r.Lines, RefundedLine{LineID: l.LineID, Quantity: l.Quantity})
		}
	}
	var evs []interaction.Event
	changed := false
	for _, rl := range r.Lines {
		i := slices.IndexFunc(lines, func(l store.OrderLine) bool {
			return (rl.LineID != "" && l.LineID == rl.LineID) || (rl.LineID == "" && rl.SKU != "" && l.SKU == rl.SKU)
		})
		if i < 0 {
			continue
		}
		l := &lines[i]
		q := min(max(rl.Quantity, 1), l.Quantity-l.Refunded)
		if q <= 0 {
			continue
		}
		if err := s.RefundLine(ctx, r.OrderID, l.LineID, q); err != nil {
			return err
		}
		l.Refunded += q
		changed = true
		if r.CustomerID != "" {
			evs = append(evs, interaction.Event{CustomerID: r.CustomerID, ProductID: l.ProductID, Kind: interaction.Refund, Quantity: q, At: r.At, OrderID: r.OrderID})
		}
	}
	// A repeated refund finds every line already refunded and changes
	// nothing, so the basket is never taken back twice.
	if len(evs) > 0 {
		if err := s.AppendInteractions(ctx, evs...); err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	for _, l := range lines {
		if l.Refunded < l.Quantity {
			return nil
		}
	}
	items, history, ok, err := s.BasketOfOrder(ctx, r.OrderID)
	if err != nil || !ok {
		return err
	}
	return s.AddBasket(ctx, store.Basket{OrderID: r.OrderID, CustomerID: r.CustomerID, Items: items, History: history, Weight: -1, At: r.At})
}

// RecordInteractions stores storefront interactions (views, cart changes,
// search clicks) for personalization.
func (a *App) RecordInteractions(ctx context.Context, tx pgx.Tx, evs ...interaction.Event) error {
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	return store.New(tx).AppendInteractions(ctx, evs...)
}

// UpsertProducts validates and stores catalog products (newer versions win)
// and reports how many were created and replaced. The in-memory index picks
// them up on the next fold; Sync makes that immediate for API callers.
func (a *App) UpsertProducts(ctx context.Context, tx pgx.Tx, ps ...catalog.Product) (created, updated int, err error) {
	for i, p := range ps {
		if err := p.Validate(); err != nil {
			if ve, ok := err.(*domain.ValidationError); ok {
				return 0, 0, domain.Invalid(fmt.Sprintf("products[%d].%s", i, ve.Field), ve.Reason)
			}
			return 0, 0, err
		}
	}
	return store.New(tx).UpsertProducts(ctx, ps...)
}

// SetSegment records a segment entry or exit.
func (a *App) SetSegment(ctx context.Context, tx pgx.Tx, customerID, segmentID string, member bool, at time.Time) error {
	if err := domain.ValidateID("customer_id", customerID); err != nil {
		return err
	}
	if err := domain.ValidateID("segment_id", segmentID); err != nil {
		return err
	}
	return store.New(tx).SetSegment(ctx, customerID, segmentID, member, at)
}

// SetTier records a loyalty tier change ("" for none).
func (a *App) SetTier(ctx context.Context, tx pgx.Tx, customerID, tierID string, at time.Time) error {
	if err := domain.ValidateID("customer_id", customerID); err != nil {
		return err
	}
	return store.New(tx).SetTier(ctx, customerID, tierID, at)
}

// Identify carries the interactions of the anonymous visitors a customer
// turned out to be (commerce.customers.v1 anonymous_ids) over to the
// customer, so what they viewed before signing in keeps personalizing.
func (a *App) Identify(ctx context.Context, tx pgx.Tx, customerID string, anonymousIDs []string) error {
	if err := domain.ValidateID("customer_id", customerID); err != nil {
		return err
	}
	keys := make([]string, 0, len(anonymousIDs))
	for _, id := range anonymousIDs {
		if id != "" && domain.ValidateID("anonymous_id", id) == nil {
			keys = append(keys, AnonymousKey(id))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return store.New(tx).MoveInteractions(ctx, customerID, keys)
}
