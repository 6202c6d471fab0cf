package profile

import (
	"cmp"
	"slices"
	"time"
)

// InteractionKind is what the customer did on a storefront.
type InteractionKind string

// Interaction kinds understood by the traits. Others are rejected so that a
// typo in a storefront does not silently create a new kind.
const (
	KindView           InteractionKind = "view"
	KindSearch         InteractionKind = "search"
	KindClick          InteractionKind = "click"
	KindAddToCart      InteractionKind = "add_to_cart"
	KindRemoveFromCart InteractionKind = "remove_from_cart"
	KindWishlist       InteractionKind = "wishlist"
)

// ValidKind reports whether k is a known interaction kind.
func ValidKind(k InteractionKind) bool {
	switch k {
	case KindView, KindSearch, KindClick, KindAddToCart, KindRemoveFromCart, KindWishlist:
		return true
	}
	return false
}

// Interaction is one tracked storefront event, keyed by its event id.
type Interaction struct {
	EventID  string
	Kind     InteractionKind
	At       time.Time
	SKU      string
	Category string
	Channel  string
	Quantity int64
	Price    int64 // unit price in minor units, when known (for cart value)
}

// ApplyInteraction merges an interaction. Duplicates (same event id) are
// no-ops.
func (p *Profile) ApplyInteraction(i Interaction) error {
	if err := checkEvent(i.EventID, i.At); err != nil {
		return err
	}
	if !ValidKind(i.Kind) {
		return invalid("kind", "unknown interaction kind")
	}
	if (i.Kind == KindAddToCart || i.Kind == KindRemoveFromCart) && i.SKU == "" {
		return invalid("sku", "is required for cart events")
	}
	if i.Quantity < 0 || i.Price < 0 {
		return invalid("quantity", "must not be negative")
	}
	if i.Quantity == 0 {
		i.Quantity = 1
	}
	i.At = i.At.UTC()
	// Two different events under one id should not happen; if they do,
	// keep the later (then the larger content) so replicas agree.
	if old, ok := p.Interactions[i.EventID]; ok {
		if c := i.At.Compare(old.At); c < 0 || (c == 0 && !winsTie(i, old)) {
			return nil
		}
	}
	p.Interactions[i.EventID] = i
	return nil
}

// Compact drops interactions older than the retention so profiles stay
// bounded. It is the one operation that depends on the clock, which is why
// it is separate from the merge: run it only with a retention longer than
// every window a rule may use (see MaxWindow in package segment), and old
// facts are then irrelevant to every trait.
func (p *Profile) Compact(now time.Time, retention time.Duration) {
	cutoff := now.Add(-retention)
	for id, i := range p.Interactions {
		if i.At.Before(cutoff) {
			delete(p.Interactions, id)
		}
	}
	for k, at := range p.NotifiedCarts {
		if at.Before(cutoff) {
			delete(p.NotifiedCarts, k)
		}
	}
}

// SortedInteractions returns the interactions oldest first (ties by event
// id), the order every trait reads them in.
func (p *Profile) SortedInteractions() []Interaction {
	out := make([]Interaction, 0, len(p.Interactions))
	for _, i := range p.Interactions {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Interaction) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.EventID, b.EventID))
	})
	return out
}

// CartItem is one SKU left in a cart.
type CartItem struct {
	SKU      string
	Category string
	Quantity int64
	Price    int64
}

// AbandonedCart is a cart with items that were not bought within the
// configured time.
type AbandonedCart struct {
	// Key identifies this cart episode (the event id of its last change) so
	// the announcement is made once, however often detection runs.
	Key          string
	Items        []CartItem
	Value        int64
	LastActivity time.Time
	AbandonedAt  time.Time
}

// OpenCart returns the current cart: adds minus removes since the last
// order that was not cancelled (a checkout empties the cart), with the time
// and event id of the last change. ok is false when the cart is empty.
func (p *Profile) OpenCart() (items []CartItem, last Interaction, ok bool) {
	var lastOrder time.Time
	for _, o := range p.Orders {
		if o.Status != StatusCancelled && o.PlacedAt.After(lastOrder) {
			lastOrder = o.PlacedAt
		}
	}
	qty := map[string]*CartItem{}
	for _, i := range p.SortedInteractions() {
		if !i.At.After(lastOrder) || (i.Kind != KindAddToCart && i.Kind != KindRemoveFromCart) {
			continue
		}
		it := qty[i.SKU]
		if it == nil {
			it = &CartItem{SKU: i.SKU}
			qty[i.SKU] = it
		}
		if i.Kind == KindAddToCart {
			it.Quantity += i.Quantity
			it.Category = cmp.Or(i.Category, it.Category)
			if i.Price > 0 {
				it.Price = i.Price
			}
		} else {
			it.Quantity = max(0, it.Quantity-i.Quantity)
		}
		last = i
	}
	for _, it := range qty {
		if it.Quantity > 0 {
			items = append(items, *it)
		}
	}
	slices.SortFunc(items, func(a, b CartItem) int { return cmp.Compare(a.SKU, b.SKU) })
	return items, last, len(items) > 0
}

// FindAbandonedCart reports the open cart if it has not changed for at least
// after. It does not look at NotifiedCarts: the trait "has an abandoned
// cart" holds whether or not it was announced.
func (p *Profile) FindAbandonedCart(now time.Time, after time.Duration) (AbandonedCart, bool) {
	items, last, ok := p.OpenCart()
	if !ok || now.Sub(last.At) < after {
		return AbandonedCart{}, false
	}
	c := AbandonedCart{Key: last.EventID, Items: items, LastActivity: last.At, AbandonedAt: last.At.Add(after)}
	for _, it := range items {
		c.Value += it.Price * it.Quantity
	}
	return c, true
}

// DueCartAbandonment returns an abandoned cart that has not been announced
// yet and marks it announced, so the caller emits CartAbandoned exactly once
// (in the same transaction that saves the profile).
func (p *Profile) DueCartAbandonment(now time.Time, after time.Duration) (AbandonedCart, bool) {
	c, ok := p.FindAbandonedCart(now, after)
	if !ok {
		return AbandonedCart{}, false
	}
	if _, done := p.NotifiedCarts[c.Key]; done {
		return AbandonedCart{}, false
	}
	p.NotifiedCarts[c.Key] = c.LastActivity
	return c, true
}
