package replenish

import (
	"math"
	"slices"
	"testing"
	"time"
)

var day = 24 * time.Hour
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func buy(id string, d int, q int) Purchase {
	return Purchase{ProductID: id, At: t0.Add(time.Duration(d) * day), Quantity: q}
}

func TestDueItems(t *testing.T) {
	t.Parallel()
	typical := func(id string) (time.Duration, bool) {
		if id == "shampoo" {
			return 20 * day, true
		}
		return 0, false
	}
	cases := []struct {
		name      string
		purchases []Purchase
		nowDay    int
		want      []string
		interval  time.Duration
	}{
		{"coffee bought every 10 days is due on day 30 after a purchase on day 20",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 1), buy("coffee", 20, 1)}, 30, []string{"coffee"}, 10 * day},
		{"coffee is not due halfway through the interval",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 1), buy("coffee", 20, 1)}, 25, nil, 0},
		{"coffee is due slightly early, inside the early window",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 1), buy("coffee", 20, 1)}, 29, []string{"coffee"}, 10 * day},
		{"two packs last twice as long",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 2)}, 25, nil, 0},
		{"two packs are due after twice the interval",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 2)}, 30, []string{"coffee"}, 20 * day},
		{"an item three intervals overdue has been given up",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 1)}, 51, nil, 0},
		{"a single purchase uses the typical interval",
			[]Purchase{buy("shampoo", 0, 1)}, 20, []string{"shampoo"}, 20 * day},
		{"a single purchase without a typical interval is never due",
			[]Purchase{buy("soap", 0, 1)}, 20, nil, 0},
		{"purchases on the same day count as one stock-up",
			[]Purchase{buy("tea", 0, 1), {ProductID: "tea", At: t0.Add(time.Hour), Quantity: 1}, buy("tea", 14, 1)}, 21, []string{"tea"}, 7 * day},
		{"a holiday gap does not move the median",
			[]Purchase{buy("milk", 0, 1), buy("milk", 7, 1), buy("milk", 14, 1), buy("milk", 60, 1), buy("milk", 67, 1)}, 74, []string{"milk"}, 7 * day},
		{"purchases after now are ignored",
			[]Purchase{buy("coffee", 0, 1), buy("coffee", 10, 1), buy("coffee", 40, 1)}, 20, []string{"coffee"}, 10 * day},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := DueItems(tc.purchases, t0.Add(time.Duration(tc.nowDay)*day), DefaultConfig(), typical)
			ids := make([]string, len(got))
			for i, d := range got {
				ids[i] = d.ProductID
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("expected due %v, got %v (%+v)", tc.want, ids, got)
			}
			if len(got) > 0 && got[0].Interval != tc.interval {
				t.Fatalf("expected interval %v, got %v", tc.interval, got[0].Interval)
			}
		})
	}
}

func TestTheMostTimelyItemRanksFirst(t *testing.T) {
	t.Parallel()
	ps := []Purchase{
		buy("exact", 0, 1), buy("exact", 10, 1), // due day 20
		buy("late", 0, 1), buy("late", 5, 1), // due day 10, 2x overdue on day 20
	}
	got := DueItems(ps, t0.Add(20*day), DefaultConfig(), nil)
	if len(got) != 2 || got[0].ProductID != "exact" || got[1].ProductID != "late" {
		t.Fatalf("expected exact before late, got %+v", got)
	}
	if math.Abs(got[0].Score-1) > 1e-9 {
		t.Fatalf("expected an exactly due item to score 1, got %v", got[0].Score)
	}
}

func TestDueKeyChangesWithEachPurchaseCycle(t *testing.T) {
	t.Parallel()
	a := Due{ProductID: "coffee", LastPurchase: t0}
	b := Due{ProductID: "coffee", LastPurchase: t0.Add(10 * day)}
	if a.Key() == b.Key() {
		t.Fatalf("expected different keys for different cycles, both %q", a.Key())
	}
	if a.Key() != (Due{ProductID: "coffee", LastPurchase: t0, Score: 0.5}).Key() {
		t.Fatalf("expected the key to depend only on product and last purchase")
	}
}

func TestTypicalIntervalsTakeTheMedianCustomer(t *testing.T) {
	t.Parallel()
	h := map[string][]Purchase{
		"c1": {buy("rice", 0, 1), buy("rice", 10, 1)},
		"c2": {buy("rice", 0, 1), buy("rice", 20, 1)},
		"c3": {buy("rice", 0, 2), buy("rice", 60, 1)}, // 30 days per unit
		"c4": {buy("oil", 0, 1), buy("oil", 5, 1)},
	}
	got := TypicalIntervals(h, day, 2)
	if got["rice"] != 20*day {
		t.Fatalf("expected rice's typical interval 20 days, got %v", got["rice"])
	}
	if _, ok := got["oil"]; ok {
		t.Fatalf("expected oil left out with one customer, got %v", got["oil"])
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   Config
		valid bool
	}{
		{"the default is valid", DefaultConfig(), true},
		{"early of one is rejected", Config{Early: 1, GiveUpAfter: 3}, false},
		{"give up after one is rejected", Config{Early: 0.1, GiveUpAfter: 1}, false},
		{"a negative min interval is rejected", Config{Early: 0.1, GiveUpAfter: 3, MinInterval: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); (err == nil) != tc.valid {
				t.Fatalf("expected valid=%v, got %v", tc.valid, err)
			}
		})
	}
}
