package ports

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/events"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// FuzzOrderEventEarning feeds arbitrary bytes through what an order event
// goes through: envelope decoding (protobuf or JSON), mapping to the earning
// domain, earning with rules, and a full refund. Whatever the input, decoding
// and mapping either fail with a field error or yield an order that earns a
// non-negative amount whose per-line parts add up, and a full refund takes
// back exactly what was earned.
func FuzzOrderEventEarning(f *testing.F) {
	var cfg Config
	if err := config.LoadFrom(map[string]string{"LOYALTY_EXCLUDED_SKUS": "gift-card"}, &cfg); err != nil {
		f.Fatal(err)
	}
	ac, err := cfg.App()
	if err != nil {
		f.Fatal(err)
	}
	rules := []earning.Rule{
		{ID: "double", Name: "double", Trigger: earning.TriggerOrder, Kind: earning.AwardMultiplier, MultiplierPercent: 200,
			Target: earning.Target{Categories: []string{"garden"}}, Status: earning.StatusActive},
		{ID: "bonus", Name: "bonus", Trigger: earning.TriggerOrder, Kind: earning.AwardBonus, BonusPoints: 7,
			Cap: earning.Cap{MaxPointsPerMember: 10}, HoldoutPercent: 10, Status: earning.StatusActive},
		{ID: "rate", Name: "rate", Trigger: earning.TriggerFirstOrder, Kind: earning.AwardRate, Status: earning.StatusActive,
			Rate: earning.Rate{Points: 3, Per: money.New(250, "EUR"), Rounding: money.RoundHalfUp}},
	}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	seed := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: "o1", CustomerId: "c1", OrderedAt: timestamppb.New(now),
		Lines: []*commercev1.OrderLine{
			{LineId: "a", Sku: "rake", CategoryPath: []string{"garden"}, Quantity: 3, UnitPrice: &commercev1.Money{AmountMinor: 1999, Currency: "EUR"},
				Discount: &commercev1.Money{AmountMinor: 100, Currency: "EUR"}},
			{LineId: "b", Sku: "gift-card", Quantity: 1, UnitPrice: &commercev1.Money{AmountMinor: 5000, Currency: "EUR"}},
		}}
	pb, _ := proto.Marshal(seed)
	js, _ := protojson.Marshal(seed)
	f.Add(pb, false)
	f.Add(js, true)
	f.Add([]byte(`{"orderId":"x","customerId":"c","lines":[{"lineId":"1","quantity":"9223372036854775807","unitPrice":{"amountMinor":"2","currency":"EUR"}}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		m := events.Message{ContentType: events.ContentTypeProtobuf, Value: data}
		if asJSON {
			m.ContentType = events.ContentTypeJSON
		}
		var ev commercev1.OrderEvent
		if err := m.Decode(&ev); err != nil {
			return
		}
		o, spend, err := OrderFromEvent(&ev, now)
		if err != nil {
			if !errors.Is(err, validation.ErrInvalid) {
				t.Fatalf("expected a field error for a bad order, got %v", err)
			}
			return
		}
		if spend < 0 {
			t.Fatalf("expected a non-negative spend, got %d", spend)
		}
		res, err := earning.EarnOrder(ac.Program, rules, o, earning.Member{ID: o.CustomerID, FirstOrder: true},
			earning.Usage{MemberPoints: map[string]int64{"bonus": 5}})
		if err != nil {
			if errors.Is(err, validation.ErrInvalid) || errors.Is(err, money.ErrCurrencyMismatch) || errors.Is(err, money.ErrOverflow) {
				return
			}
			t.Fatalf("unexpected earn error: %v", err)
		}
		var sum int64
		for _, l := range res.Lines {
			if l.Points < 0 || l.Eligible < 0 {
				t.Fatalf("expected non-negative line results, got %+v", l)
			}
			sum += l.Points
		}
		if res.Points < 0 || sum+res.OrderPoints != res.Points {
			t.Fatalf("expected points %d = lines %d + order-level %d, all non-negative", res.Points, sum, res.OrderPoints)
		}
		back, err := earning.Refund(o, res, nil, earning.FullRefund(o))
		if err != nil {
			if errors.Is(err, money.ErrOverflow) {
				return
			}
			t.Fatalf("full refund: %v", err)
		}
		if back != res.Points {
			t.Fatalf("expected a full refund to take back the %d points earned, got %d", res.Points, back)
		}
	})
}
