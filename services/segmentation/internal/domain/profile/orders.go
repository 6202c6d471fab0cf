package profile

import (
	"cmp"
	"slices"
	"time"
)

// OrderStatus is the furthest state an order is known to have reached. The
// numeric order is the merge order: a cancellation beats a completion which
// beats a placement, whatever order the events arrive in.
type OrderStatus int

// Order states, in merge order.
const (
	StatusUnknown OrderStatus = iota
	StatusPlaced
	StatusCompleted
	StatusCancelled
)

// Line is one order (or refund) line. Amount is the line total in minor
// units of the order's currency.
type Line struct {
	SKU      string
	Category string
	Quantity int64
	Amount   int64
}

// Order is the merged fact for one order. The content (time, channel,
// currency, total, lines) comes from the newest event that carried content,
// so a status-only event (e.g. a bare cancellation) never erases it.
type Order struct {
	ID       string
	Status   OrderStatus
	PlacedAt time.Time
	Channel  string
	Currency string
	Total    int64
	Lines    []Line

	ContentAt      time.Time
	ContentEventID string
}

// OrderEvent is an order placed/completed/cancelled event. Currency empty
// means the event carries no content (status only).
type OrderEvent struct {
	EventID  string
	At       time.Time
	OrderID  string
	Status   OrderStatus
	PlacedAt time.Time
	Channel  string
	Currency string
	Total    int64
	Lines    []Line
}

// ApplyOrder merges an order event.
func (p *Profile) ApplyOrder(e OrderEvent) error {
	if err := checkEvent(e.EventID, e.At); err != nil {
		return err
	}
	if e.OrderID == "" {
		return invalid("order_id", "is required")
	}
	if e.Status < StatusPlaced || e.Status > StatusCancelled {
		return invalid("status", "must be placed, completed or cancelled")
	}
	hasContent := e.Currency != ""
	if hasContent {
		if err := checkMoney(e.Currency, e.Total, e.Lines, "order"); err != nil {
			return err
		}
		if e.PlacedAt.IsZero() {
			return invalid("order.placed_at", "is required with order content")
		}
	}
	o, ok := p.Orders[e.OrderID]
	if !ok {
		o = Order{ID: e.OrderID}
	}
	o.Status = max(o.Status, e.Status)
	sameVersion := e.At.Equal(o.ContentAt) && e.EventID == o.ContentEventID
	if hasContent && (o.ContentEventID == "" || newer(e.At, e.EventID, o.ContentAt, o.ContentEventID) ||
		(sameVersion && winsTie(orderContent(e.PlacedAt.UTC(), e.Channel, e.Currency, e.Total, e.Lines), orderContent(o.PlacedAt, o.Channel, o.Currency, o.Total, o.Lines)))) {
		o.PlacedAt = e.PlacedAt.UTC()
		o.Channel = e.Channel
		o.Currency = e.Currency
		o.Total = e.Total
		o.Lines = slices.Clone(e.Lines)
		o.ContentAt = e.At
		o.ContentEventID = e.EventID
	}
	p.Orders[e.OrderID] = o
	return nil
}

func checkMoney(currency string, total int64, lines []Line, field string) error {
	if !isCurrency(currency) {
		return invalid(field+".currency", "must be an ISO 4217 code")
	}
	if total < 0 {
		return invalid(field+".total", "must not be negative")
	}
	for _, l := range lines {
		if l.Amount < 0 {
			return invalid(field+".lines.amount", "must not be negative")
		}
		if l.Quantity <= 0 {
			return invalid(field+".lines.quantity", "must be positive")
		}
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Refund is a (partial) refund or return of an order. Lines say what was
// returned; Amount is the money given back and may exceed the lines (e.g.
// shipping) or come without lines.
type Refund struct {
	ID       string
	EventID  string
	OrderID  string
	At       time.Time
	Currency string
	Amount   int64
	Lines    []Line
}

// ApplyRefund merges a refund. The same refund id delivered again keeps the
// newest version, so a duplicate never refunds twice.
func (p *Profile) ApplyRefund(r Refund) error {
	if err := checkEvent(r.EventID, r.At); err != nil {
		return err
	}
	if r.ID == "" {
		return invalid("refund_id", "is required")
	}
	if r.OrderID == "" {
		return invalid("order_id", "is required")
	}
	if err := checkMoney(r.Currency, r.Amount, r.Lines, "refund"); err != nil {
		return err
	}
	if old, ok := p.Refunds[r.ID]; ok {
		same := r.At.Equal(old.At) && r.EventID == old.EventID
		if (same && !winsTie(r, old)) || (!same && !newer(r.At, r.EventID, old.At, old.EventID)) {
			return nil
		}
	}
	r.Lines = slices.Clone(r.Lines)
	p.Refunds[r.ID] = r
	return nil
}

// OrderFact is an order as the traits and the rule language see it: its
// net value after refunds and its net spend per category.
type OrderFact struct {
	ID         string
	At         time.Time
	Channel    string
	Currency   string
	Net        int64
	Categories map[string]int64
}

// OrderFacts returns the orders that count, oldest first (ties by id): not
// cancelled, content known, in the currency, with a positive net value after
// refunds. A fully returned order therefore no longer counts as an order.
func (p *Profile) OrderFacts(currency string) []OrderFact {
	var refunds map[string][]Refund // most profiles have none: skip the map
	if len(p.Refunds) > 0 {
		refunds = make(map[string][]Refund, len(p.Refunds))
		for _, r := range p.Refunds {
			refunds[r.OrderID] = append(refunds[r.OrderID], r)
		}
	}
	out := make([]OrderFact, 0, len(p.Orders))
	for _, o := range p.Orders {
		if o.Status == StatusCancelled || o.ContentEventID == "" || o.Currency != currency {
			continue
		}
		f := netOrder(o, refunds[o.ID])
		if f.Net > 0 {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b OrderFact) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// netOrder subtracts refunds from an order. Refund lines reduce their own
// category (by the refund line's category, else the order line with the
// same SKU); refunded money not tied to a line reduces every category in
// proportion to its share of the order, so per-category spend always sums
// to no more than the net.
func netOrder(o Order, refunds []Refund) OrderFact {
	f := OrderFact{ID: o.ID, At: o.PlacedAt, Channel: o.Channel, Currency: o.Currency, Categories: make(map[string]int64, len(o.Lines))}
	var linesTotal int64
	for _, l := range o.Lines {
		if l.Category != "" {
			f.Categories[l.Category] += l.Amount
		}
		linesTotal += l.Amount
	}
	skuCat := func(sku string) string {
		for _, l := range o.Lines {
			if l.SKU == sku {
				return l.Category
			}
		}
		return ""
	}
	var refunded int64
	for _, r := range refunds {
		if r.Currency != o.Currency {
			continue
		}
		refunded += r.Amount
		var lineRefund int64
		for _, l := range r.Lines {
			cat := cmp.Or(l.Category, skuCat(l.SKU))
			if cat != "" {
				f.Categories[cat] -= l.Amount
			}
			lineRefund += l.Amount
		}
		if rest := r.Amount - lineRefund; rest > 0 && linesTotal > 0 {
			// Iterate in a fixed order so rounding is deterministic.
			cats := make([]string, 0, len(f.Categories))
			for c := range f.Categories {
				cats = append(cats, c)
			}
			slices.Sort(cats)
			shares := map[string]int64{}
			for _, l := range o.Lines {
				shares[l.Category] += l.Amount
			}
			for _, c := range cats {
				f.Categories[c] -= rest * shares[c] / linesTotal
			}
		}
	}
	f.Net = max(0, o.Total-refunded)
	for c, v := range f.Categories {
		if v <= 0 {
			delete(f.Categories, c)
		}
	}
	return f
}

// orderContent is the part of an order event that ties are broken on.
func orderContent(placed time.Time, channel, currency string, total int64, lines []Line) any {
	return struct {
		Placed            time.Time
		Channel, Currency string
		Total             int64
		Lines             []Line
	}{placed, channel, currency, total, lines}
}
