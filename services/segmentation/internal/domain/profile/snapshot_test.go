package profile

import (
	"reflect"
	"testing"
	"time"
)

func TestARefreshedSnapshotEqualsTraitsComputedFromTheFactsLater(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)
	p := New("c1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.ApplyCustomer(CustomerUpdate{EventID: "e1", At: t0, SignedUpAt: t0.AddDate(-1, 0, 0), Birthday: time.Date(1990, 3, 4, 0, 0, 0, 0, time.UTC)}))
	for i, d := range []int{-200, -120, -5} {
		must(p.ApplyOrder(OrderEvent{EventID: "o" + string(rune('a'+i)), At: t0.AddDate(0, 0, d), OrderID: "order" + string(rune('a'+i)), Status: StatusCompleted,
			PlacedAt: t0.AddDate(0, 0, d), Currency: "EUR", Total: 1000 * int64(i+1), Lines: []Line{{SKU: "s", Category: "garden", Quantity: 1, Amount: 1000 * int64(i+1)}}}))
	}
	must(p.ApplyInteraction(Interaction{EventID: "i1", Kind: KindAddToCart, At: t0.Add(time.Hour), SKU: "s2", Quantity: 2, Price: 300}))
	cfg := DefaultConfig("EUR")
	for _, later := range []time.Duration{0, 2 * time.Hour, 40 * day, 400 * day} {
		s := TakeSnapshot(p, t0, cfg, nil)
		s.Refresh(t0.Add(later), cfg, nil)
		want := ComputeTraits(p, t0.Add(later), cfg, nil)
		if !reflect.DeepEqual(s.Traits, want) {
			t.Errorf("after %s: refreshed traits\n%+v\nwant\n%+v", later, s.Traits, want)
		}
	}
}
