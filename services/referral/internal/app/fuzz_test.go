package app_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
)

// FuzzOrderEventDecoding feeds arbitrary bytes, as protobuf and as JSON,
// through the consumer's decoding and the order checks: nothing panics, an
// accepted event always names its order and customer with a valid time and
// a non-negative amount, and a rejected one is always ErrBadEvent (so the
// consumer dead-letters it instead of retrying forever).
func FuzzOrderEventDecoding(f *testing.F) {
	at := timestamppb.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	seeds := []*commercev1.OrderEvent{
		{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: "o-1", CustomerId: "c-1", OrderedAt: at,
			Totals: &commercev1.OrderTotals{Total: &commercev1.Money{AmountMinor: 4999, Currency: "EUR"}}},
		{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: "o-1", CustomerId: "c-1", OccurredAt: at, RefundId: "r-1",
			RefundedLines: []*commercev1.RefundedLine{{LineId: "1", Amount: &commercev1.Money{AmountMinor: 1000, Currency: "EUR"}}}},
		{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: "o-2", CustomerId: "c-2", OccurredAt: at},
		{Kind: 9, OrderId: "o-3"},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		j, err := protojson.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(j, true)
	}
	f.Add([]byte(`{"kind":"KIND_COMPLETED","orderId":"x","customerId":"y","orderedAt":"10000-01-01T00:00:00Z"}`), true)
	f.Add([]byte{0x0a, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, value []byte, asJSON bool) {
		ct := events.ContentTypeProtobuf
		if asJSON {
			ct = events.ContentTypeJSON
		}
		var ev commercev1.OrderEvent
		if err := (events.Message{ContentType: ct, Value: value}).Decode(&ev); err != nil {
			return
		}
		facts, err := app.ParseOrder("ev-1", &ev)
		if err != nil {
			if !errors.Is(err, app.ErrBadEvent) {
				t.Fatalf("ParseOrder error %v is not ErrBadEvent", err)
			}
			return
		}
		o := facts.Order
		if o.ID == "" || o.CustomerID == "" || o.PlacedAt.IsZero() || o.Total.Minor < 0 || facts.RefundAmount < 0 {
			t.Fatalf("accepted order facts %+v are incomplete", facts)
		}
		if facts.Reversal != nil && !facts.Reversal.Cancelled && facts.RefundID == "" {
			t.Fatalf("accepted refund without a refund id: %+v", facts)
		}
	})
}
