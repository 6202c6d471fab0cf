// Package importer turns the UCI Online Retail dataset into the commerce
// events the platform consumes (customers, products, completed orders and
// refunds, in time order) so that a newcomer can see every service work on
// real data. Every event id is derived from the source rows, so importing
// the same data again changes nothing: the services' inboxes drop events
// they already processed.
package importer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/onlineretail"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

// Source is the ce_source of imported events.
const Source = "import.online-retail"

// namespace makes event ids: UUIDv5 of a name that says which source row
// the event comes from.
var namespace = uuid.MustParse("0b8f3f4e-5d7c-4b7a-9a61-6c1f1b2e7d10")

func eventID(kind, key string) string {
	return uuid.NewSHA1(namespace, []byte(kind+":"+key)).String()
}

// Summary counts what a conversion produced.
type Summary struct {
	Customers, Products, Orders, Refunds int
	// AnonymousInvoices had no customer id and were left out.
	AnonymousInvoices int
	// UnmatchedCancelledUnits were cancelled but no earlier order of the
	// customer in the data contained them (they were ordered before the
	// dataset starts).
	UnmatchedCancelledUnits int64
	First, Last             time.Time
}

// Events returns the events for rows in the order they should be published:
// by time, and each customer and product before the first order that needs
// it. limit > 0 keeps only the first limit invoices by time.
func Events(rows []onlineretail.Row, limit int) ([]events.Event, Summary) {
	invoices := onlineretail.Invoices(rows)
	if limit > 0 && limit < len(invoices) {
		invoices = invoices[:limit]
	}
	matching := onlineretail.MatchCancellations(invoices)
	sum := Summary{UnmatchedCancelledUnits: matching.UnmatchedUnits}
	latest := latestProducts(invoices)

	type timed struct {
		at time.Time
		ev events.Event
	}
	var out []timed
	seenCustomer := map[string]bool{}
	seenProduct := map[string]bool{}
	// orderLines are the imported lines of each order, which refunds name
	// by line id.
	orderLines := map[string][]*commercev1.OrderLine{}
	refunded := map[string]int64{}
	for _, inv := range invoices {
		if inv.IsCancellation() {
			continue
		}
		for _, l := range inv.Lines {
			if !onlineretail.IsProduct(l.StockCode) || seenProduct[l.StockCode] {
				continue
			}
			seenProduct[l.StockCode] = true
			out = append(out, timed{inv.Time, productEvent(latest[l.StockCode], inv.Time)})
			sum.Products++
		}
		if inv.CustomerID == "" {
			sum.AnonymousInvoices++
			continue
		}
		if !seenCustomer[inv.CustomerID] {
			seenCustomer[inv.CustomerID] = true
			out = append(out, timed{inv.Time, customerEvent(inv)})
			sum.Customers++
		}
		ev, ok := orderEvent(inv)
		if ok {
			out = append(out, timed{inv.Time, ev})
			sum.Orders++
			orderLines[inv.ID] = ev.Payload.(*commercev1.OrderEvent).GetLines()
		}
	}
	for _, r := range matching.Refunds {
		// Only product lines were imported with the order, so only they
		// can be refunded; a cancelled postage or manual line is left out.
		r.Lines = slices.DeleteFunc(slices.Clone(r.Lines), func(l onlineretail.Line) bool { return !onlineretail.IsProduct(l.StockCode) })
		if len(r.Lines) == 0 {
			continue
		}
		out = append(out, timed{r.Time, refundEvent(r, orderLines[r.OrderID], refunded)})
		sum.Refunds++
	}
	slices.SortStableFunc(out, func(a, b timed) int { return a.at.Compare(b.at) })
	evs := make([]events.Event, len(out))
	for i, t := range out {
		evs[i] = t.ev
	}
	if len(out) > 0 {
		sum.First, sum.Last = out[0].at, out[len(out)-1].at
	}
	return evs, sum
}

// product is the catalog view of a stock code: its last description and
// price in the data.
type product struct {
	code, title string
	price       int64
}

func latestProducts(invoices []onlineretail.Invoice) map[string]product {
	out := map[string]product{}
	for _, inv := range invoices {
		if inv.IsCancellation() {
			continue
		}
		for _, l := range inv.Lines {
			if !onlineretail.IsProduct(l.StockCode) {
				continue
			}
			p := out[l.StockCode]
			p.code = l.StockCode
			if l.Description != "" {
				p.title = l.Description
			}
			// Free samples and corrections carry price 0; the catalog keeps
			// the last price somebody paid.
			if l.Quantity > 0 && l.UnitPriceMinor > 0 {
				p.price = l.UnitPriceMinor
			}
			out[l.StockCode] = p
		}
	}
	return out
}

func gbp(minor int64) *commercev1.Money {
	return &commercev1.Money{AmountMinor: minor, Currency: onlineretail.Currency}
}

func productEvent(p product, at time.Time) events.Event {
	durability := commercev1.Durability_DURABILITY_DURABLE
	if onlineretail.Consumable(p.title) {
		durability = commercev1.Durability_DURABILITY_CONSUMABLE
	}
	return events.Event{
		ID: eventID("product", p.code), Topic: topics.CommerceProducts, Source: Source, Subject: p.code, Time: at,
		Payload: &commercev1.ProductEvent{
			Kind: commercev1.ProductEvent_KIND_UPSERTED,
			Product: &commercev1.Product{
				ProductId: p.code, Sku: p.code, Title: p.title,
				CategoryPath: onlineretail.Category(p.title),
				Price:        gbp(p.price),
				StockStatus:  commercev1.StockStatus_STOCK_STATUS_IN_STOCK,
				Durability:   durability,
			},
			OccurredAt: timestamppb.New(at),
		},
	}
}

func customerEvent(inv onlineretail.Invoice) events.Event {
	return events.Event{
		ID: eventID("customer", inv.CustomerID), Topic: topics.CommerceCustomers, Source: Source, Subject: inv.CustomerID, Time: inv.Time,
		Payload: &commercev1.CustomerEvent{
			Kind: commercev1.CustomerEvent_KIND_CREATED,
			Customer: &commercev1.Customer{
				CustomerId:    inv.CustomerID,
				SignedUpAt:    timestamppb.New(inv.Time),
				Country:       countryCode(inv.Country),
				SignupChannel: commercev1.Channel_CHANNEL_WEB,
			},
			OccurredAt: timestamppb.New(inv.Time),
		},
	}
}

// orderEvent is a completed order of the invoice's product lines; postage
// and fees become shipping. An invoice without product lines is no order.
func orderEvent(inv onlineretail.Invoice) (events.Event, bool) {
	var lines []*commercev1.OrderLine
	var subtotal, shipping int64
	for i, l := range inv.Lines {
		if l.Quantity <= 0 {
			continue
		}
		if !onlineretail.IsProduct(l.StockCode) {
			if code := strings.ToUpper(l.StockCode); code == "POST" || code == "DOT" || code == "C2" {
				shipping += l.Quantity * l.UnitPriceMinor
			}
			continue
		}
		subtotal += l.Quantity * l.UnitPriceMinor
		lines = append(lines, &commercev1.OrderLine{
			LineId: lineID(i), Sku: l.StockCode, ProductId: l.StockCode,
			CategoryPath: onlineretail.Category(l.Description),
			Quantity:     l.Quantity, UnitPrice: gbp(l.UnitPriceMinor),
		})
	}
	if len(lines) == 0 {
		return events.Event{}, false
	}
	ts := timestamppb.New(inv.Time)
	return events.Event{
		ID: eventID("order", inv.ID), Topic: topics.CommerceOrders, Source: Source, Subject: inv.CustomerID, Time: inv.Time,
		Payload: &commercev1.OrderEvent{
			Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: inv.ID, CustomerId: inv.CustomerID,
			Channel: commercev1.Channel_CHANNEL_WEB, Lines: lines,
			Totals: &commercev1.OrderTotals{
				Subtotal: gbp(subtotal), Discount: gbp(0), Shipping: gbp(shipping), Tax: gbp(0), Total: gbp(subtotal + shipping),
			},
			OrderedAt: ts, OccurredAt: ts,
		},
	}, true
}

func lineID(i int) string { return fmt.Sprintf("L%03d", i+1) }

// refundEvent takes back the matched lines of one earlier order. Each
// refunded line names the order's line by its line id (consumers match
// refunds to what the order earned by it); when the order has the stock code
// on several lines, the units go to the first line that still has units not
// refunded by an earlier cancellation (refunded counts them per order line
// across calls). The amount is at the price the cancellation carries.
func refundEvent(r onlineretail.Refund, orderLines []*commercev1.OrderLine, refunded map[string]int64) events.Event {
	lines := make([]*commercev1.RefundedLine, 0, len(r.Lines))
	for _, l := range r.Lines {
		left := l.Quantity
		for _, ol := range orderLines {
			if left == 0 {
				break
			}
			key := r.OrderID + "/" + ol.GetLineId()
			if ol.GetSku() != l.StockCode || refunded[key] >= ol.GetQuantity() {
				continue
			}
			n := min(left, ol.GetQuantity()-refunded[key])
			refunded[key] += n
			left -= n
			lines = append(lines, &commercev1.RefundedLine{LineId: ol.GetLineId(), Sku: l.StockCode, Quantity: n, Amount: gbp(n * l.UnitPriceMinor)})
		}
		if left > 0 {
			// More units cancelled than the order still has: the data's
			// matching allows it only for units bought before it starts;
			// they stay named by SKU alone.
			lines = append(lines, &commercev1.RefundedLine{Sku: l.StockCode, Quantity: left, Amount: gbp(left * l.UnitPriceMinor)})
		}
	}
	slices.SortStableFunc(lines, func(a, b *commercev1.RefundedLine) int { return cmp.Compare(a.LineId, b.LineId) })
	ts := timestamppb.New(r.Time)
	refundID := r.CancellationID + "/" + r.OrderID
	return events.Event{
		ID: eventID("refund", refundID), Topic: topics.CommerceOrders, Source: Source, Subject: r.CustomerID, Time: r.Time,
		Payload: &commercev1.OrderEvent{
			Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: r.OrderID, CustomerId: r.CustomerID,
			Channel: commercev1.Channel_CHANNEL_WEB, RefundId: refundID, RefundedLines: lines,
			OccurredAt: ts,
		},
	}
}
