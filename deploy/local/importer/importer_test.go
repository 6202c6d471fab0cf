package importer

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/kafkatest"
	"github.com/affinity-platform/affinity/pkg/onlineretail"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

func at(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// A small hand-made history: two orders of one customer, an anonymous sale,
// and a cancellation of part of the second order.
var rows = []onlineretail.Row{
	{Invoice: "100", StockCode: "A1", Description: "GARDEN TROWEL", Quantity: 2, Time: at("2011-01-01 10:00:00"), UnitPriceMinor: 250, CustomerID: "c1", Country: "UK"},
	{Invoice: "100", StockCode: "POST", Description: "POSTAGE", Quantity: 1, Time: at("2011-01-01 10:00:00"), UnitPriceMinor: 500, CustomerID: "c1", Country: "UK"},
	{Invoice: "101", StockCode: "B2", Description: "PACK OF 72 CAKE CASES", Quantity: 10, Time: at("2011-01-02 10:00:00"), UnitPriceMinor: 55, CustomerID: "", Country: "UK"},
	{Invoice: "102", StockCode: "A1", Description: "GARDEN TROWEL", Quantity: 3, Time: at("2011-01-03 10:00:00"), UnitPriceMinor: 250, CustomerID: "c1", Country: "UK"},
	{Invoice: "C103", StockCode: "A1", Description: "GARDEN TROWEL", Quantity: -4, Time: at("2011-01-04 10:00:00"), UnitPriceMinor: 250, CustomerID: "c1", Country: "UK"},
}

func TestEventsComeInTimeOrderWithCustomersAndProductsFirst(t *testing.T) {
	t.Parallel()
	evs, sum := Events(rows, 0)
	if sum.Customers != 1 || sum.Products != 2 || sum.Orders != 2 || sum.Refunds != 2 || sum.AnonymousInvoices != 1 {
		t.Fatalf("summary = %+v; want 1 customer, 2 products, 2 orders, 2 refunds (C103 spans both orders), 1 anonymous invoice", sum)
	}
	var kinds []string
	for _, ev := range evs {
		switch p := ev.Payload.(type) {
		case *commercev1.CustomerEvent:
			kinds = append(kinds, "customer")
		case *commercev1.ProductEvent:
			kinds = append(kinds, "product:"+p.GetProduct().GetProductId())
		case *commercev1.OrderEvent:
			kinds = append(kinds, p.GetKind().String()+":"+p.GetOrderId())
		}
	}
	want := []string{"product:A1", "customer", "KIND_COMPLETED:100", "product:B2", "KIND_COMPLETED:102", "KIND_REFUNDED:102", "KIND_REFUNDED:100"}
	if len(kinds) != len(want) {
		t.Fatalf("events = %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events = %v, want %v", kinds, want)
		}
	}
	first := evs[2].Payload.(*commercev1.OrderEvent)
	if got := first.GetTotals().GetShipping().GetAmountMinor(); got != 500 {
		t.Errorf("order 100 shipping = %d, want the 500 pence of its POST line", got)
	}
	if got := first.GetTotals().GetSubtotal().GetAmountMinor(); got != 500 {
		t.Errorf("order 100 subtotal = %d, want 2 × 250", got)
	}
	// The cancellation of 4 takes 3 from the newest order and 1 from the older.
	r102 := evs[5].Payload.(*commercev1.OrderEvent).GetRefundedLines()[0]
	r100 := evs[6].Payload.(*commercev1.OrderEvent).GetRefundedLines()[0]
	if r102.GetQuantity() != 3 || r100.GetQuantity() != 1 {
		t.Errorf("refunded 3 of order 102 and 1 of order 100? got %d and %d", r102.GetQuantity(), r100.GetQuantity())
	}
	if r102.GetLineId() != "L001" || r100.GetLineId() != "L001" {
		t.Errorf("refunded lines name lines %q and %q, want the orders' line L001", r102.GetLineId(), r100.GetLineId())
	}
}

func TestEventIDsDependOnlyOnTheSourceRows(t *testing.T) {
	t.Parallel()
	a, _ := Events(rows, 0)
	b, _ := Events(rows, 0)
	seen := map[string]bool{}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Fatalf("event %d has id %s in one run and %s in another", i, a[i].ID, b[i].ID)
		}
		if seen[a[i].ID] {
			t.Fatalf("id %s used twice", a[i].ID)
		}
		seen[a[i].ID] = true
	}
}

// Importing the real dataset publishes every event to its topic; a second
// import publishes the very same ids, which the services' inboxes absorb.
func TestImportPublishesTheDatasetToItsTopicsAndAgainWithTheSameIDs(t *testing.T) {
	t.Parallel()
	path, err := onlineretail.Find(".", onlineretail.OnlineRetail)
	if errors.Is(err, onlineretail.ErrNotFound) && os.Getenv("CI") == "" {
		t.Skipf("dataset missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var data []onlineretail.Row
	if err := onlineretail.Each(path, func(r onlineretail.Row) error { data = append(data, r); return nil }); err != nil {
		t.Fatal(err)
	}
	evs, sum := Events(data, 400)
	if sum.Orders == 0 || sum.Customers == 0 || sum.Products == 0 {
		t.Fatalf("summary %+v: the first 400 invoices must have orders, customers and products", sum)
	}
	broker := kafkatest.NewBroker(t, topics.All()...)
	w := events.NewWriter(broker.Addrs())
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range 2 {
		if _, err := Publish(ctx, w, evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{}
	for _, ev := range evs {
		want[ev.ID] = 2
	}
	got := map[string]int{}
	conn, err := kafka.DialContext(ctx, "tcp", broker.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topics.CommerceOrders, topics.CommerceCustomers, topics.CommerceProducts)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		leader, err := kafka.DialLeader(ctx, "tcp", broker.Addrs()[0], p.Topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		end, err := leader.ReadLastOffset()
		leader.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: broker.Addrs(), Topic: p.Topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for offset := int64(0); offset < end; offset++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d at %d of %d: %v", p.Topic, p.ID, offset, end, err)
			}
			msg, err := events.Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Source != Source {
				t.Fatalf("event source = %q, want %q", msg.Source, Source)
			}
			got[msg.ID]++
		}
		r.Close()
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %d distinct ids, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("id %s consumed %d times, want %d (once per import)", id, got[id], n)
		}
	}
}

// The full import's summary matches the dataset, counted independently from
// the rows: customers with an order, orders with a product line, and
// refunds that name imported orders.
func TestTheFullImportSummaryMatchesTheDataset(t *testing.T) {
	t.Parallel()
	path, err := onlineretail.Find(".", onlineretail.OnlineRetail)
	if errors.Is(err, onlineretail.ErrNotFound) && os.Getenv("CI") == "" {
		t.Skipf("dataset missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var data []onlineretail.Row
	if err := onlineretail.Each(path, func(r onlineretail.Row) error { data = append(data, r); return nil }); err != nil {
		t.Fatal(err)
	}
	customers := map[string]bool{}
	orders := map[string]bool{}
	anonymous := map[string]bool{}
	for _, r := range data {
		if r.IsCancellation() {
			continue
		}
		if r.CustomerID == "" {
			anonymous[r.Invoice] = true
			continue
		}
		customers[r.CustomerID] = true
		if onlineretail.IsProduct(r.StockCode) && r.Quantity > 0 {
			orders[r.Invoice] = true
		}
	}
	evs, sum := Events(data, 0)
	if sum.Customers != len(customers) || sum.Orders != len(orders) || sum.AnonymousInvoices != len(anonymous) {
		t.Errorf("summary %d customers, %d orders, %d anonymous invoices; the rows have %d, %d, %d",
			sum.Customers, sum.Orders, sum.AnonymousInvoices, len(customers), len(orders), len(anonymous))
	}
	refunds := 0
	// Every refunded line names a line of its order by id, with that line's
	// SKU, and no line gives back more units than it had.
	ordered := map[string]*commercev1.OrderLine{}
	given := map[string]int64{}
	for _, ev := range evs {
		o, ok := ev.Payload.(*commercev1.OrderEvent)
		if ok && o.GetKind() == commercev1.OrderEvent_KIND_COMPLETED {
			for _, l := range o.GetLines() {
				ordered[o.GetOrderId()+"/"+l.GetLineId()] = l
			}
		}
		if !ok || o.GetKind() != commercev1.OrderEvent_KIND_REFUNDED {
			continue
		}
		refunds++
		if !orders[o.GetOrderId()] {
			t.Fatalf("refund %s names order %s, which was not imported", o.GetRefundId(), o.GetOrderId())
		}
		for _, l := range o.GetRefundedLines() {
			key := o.GetOrderId() + "/" + l.GetLineId()
			ol := ordered[key]
			if ol == nil || ol.GetSku() != l.GetSku() {
				t.Fatalf("refund %s: line %q (%s) is no line of order %s", o.GetRefundId(), l.GetLineId(), l.GetSku(), o.GetOrderId())
			}
			if given[key] += l.GetQuantity(); given[key] > ol.GetQuantity() {
				t.Fatalf("refund %s: line %s gives back %d units in all, the order had %d", o.GetRefundId(), key, given[key], ol.GetQuantity())
			}
		}
	}
	if refunds != sum.Refunds || refunds == 0 {
		t.Errorf("%d refund events, summary says %d", refunds, sum.Refunds)
	}
	t.Logf("%d customers, %d orders, %d refunds, %d anonymous invoices", sum.Customers, sum.Orders, sum.Refunds, sum.AnonymousInvoices)
}

// BenchmarkImport converts the full dataset and publishes it to an
// in-process broker: the time the demo import takes, for the report.
func BenchmarkImport(b *testing.B) {
	path, err := onlineretail.Find(".", onlineretail.OnlineRetail)
	if err != nil {
		b.Skip(err)
	}
	broker := kafkatest.NewBroker(b, topics.All()...)
	w := events.NewWriter(broker.Addrs())
	defer w.Close()
	for b.Loop() {
		var data []onlineretail.Row
		if err := onlineretail.Each(path, func(r onlineretail.Row) error { data = append(data, r); return nil }); err != nil {
			b.Fatal(err)
		}
		evs, _ := Events(data, 0)
		if _, err := Publish(context.Background(), w, evs, nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(data)), "rows")
		b.ReportMetric(float64(len(evs)), "events")
	}
}
