package onlineretail

import (
	"cmp"
	"slices"
	"time"
)

// Line is one product line of an invoice.
type Line struct {
	StockCode, Description string
	// Quantity is positive on orders and negative on cancellations.
	Quantity       int64
	UnitPriceMinor int64
}

// Invoice is the set of rows sharing one invoice number.
type Invoice struct {
	ID, CustomerID, Country string
	Time                    time.Time
	Lines                   []Line
}

// IsCancellation reports whether the invoice cancels (part of) earlier ones.
func (inv Invoice) IsCancellation() bool { return len(inv.ID) > 0 && inv.ID[0] == 'C' }

// TotalMinor is the sum of quantity × unit price over the lines, in pence.
func (inv Invoice) TotalMinor() int64 {
	var t int64
	for _, l := range inv.Lines {
		t += l.Quantity * l.UnitPriceMinor
	}
	return t
}

// Invoices groups rows by invoice number and returns the invoices in time
// order (file order among equal times), keeping every row: callers decide
// what to drop (non-products, anonymous customers, adjustments).
func Invoices(rows []Row) []Invoice {
	index := map[string]int{}
	var out []Invoice
	for _, r := range rows {
		i, ok := index[r.Invoice]
		if !ok {
			i = len(out)
			index[r.Invoice] = i
			out = append(out, Invoice{ID: r.Invoice, CustomerID: r.CustomerID, Country: r.Country, Time: r.Time})
		}
		out[i].Lines = append(out[i].Lines, Line{
			StockCode: r.StockCode, Description: r.Description,
			Quantity: r.Quantity, UnitPriceMinor: r.UnitPriceMinor,
		})
	}
	slices.SortStableFunc(out, func(a, b Invoice) int { return a.Time.Compare(b.Time) })
	return out
}

// Refund is the part of one cancellation invoice that takes back lines of
// one earlier order.
type Refund struct {
	// CancellationID is the "C…" invoice; OrderID the order it refunds.
	CancellationID, OrderID, CustomerID string
	Time                                time.Time
	// Lines carry positive quantities: what is taken back.
	Lines []Line
}

// Matching tells how the cancellations of a dataset were matched.
type Matching struct {
	Refunds []Refund
	// MatchedUnits and UnmatchedUnits count cancelled units that were and
	// were not found on an earlier order of the same customer (orders from
	// before the dataset starts cannot be found).
	MatchedUnits, UnmatchedUnits int64
}

// MatchCancellations links each cancelled line to the most recent earlier
// orders of the same customer that contain the same stock code and still
// have units not taken back, because the dataset does not say which order a
// cancellation cancels. invoices must be in time order (as Invoices returns
// them). Anonymous cancellations are not matched.
func MatchCancellations(invoices []Invoice) Matching {
	type open struct {
		order     string
		remaining map[string]int64
	}
	byCustomer := map[string][]*open{}
	var m Matching
	for _, inv := range invoices {
		if inv.CustomerID == "" {
			continue
		}
		if !inv.IsCancellation() {
			o := &open{order: inv.ID, remaining: map[string]int64{}}
			for _, l := range inv.Lines {
				if l.Quantity > 0 {
					o.remaining[l.StockCode] += l.Quantity
				}
			}
			byCustomer[inv.CustomerID] = append(byCustomer[inv.CustomerID], o)
			continue
		}
		perOrder := map[string]*Refund{}
		var order []string
		orders := byCustomer[inv.CustomerID]
		for _, l := range inv.Lines {
			want := -l.Quantity
			if want <= 0 {
				continue
			}
			for i := len(orders) - 1; i >= 0 && want > 0; i-- {
				o := orders[i]
				take := min(want, o.remaining[l.StockCode])
				if take <= 0 {
					continue
				}
				o.remaining[l.StockCode] -= take
				want -= take
				r, ok := perOrder[o.order]
				if !ok {
					r = &Refund{CancellationID: inv.ID, OrderID: o.order, CustomerID: inv.CustomerID, Time: inv.Time}
					perOrder[o.order] = r
					order = append(order, o.order)
				}
				r.Lines = append(r.Lines, Line{StockCode: l.StockCode, Description: l.Description, Quantity: take, UnitPriceMinor: l.UnitPriceMinor})
				m.MatchedUnits += take
			}
			m.UnmatchedUnits += want
		}
		for _, id := range order {
			m.Refunds = append(m.Refunds, *perOrder[id])
		}
	}
	slices.SortStableFunc(m.Refunds, func(a, b Refund) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	return m
}
