package profile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func days(n int) time.Duration { return time.Duration(n) * day }

func i64(v int64) *int64 { return &v }

// event is any input the profile accepts.
type event func(p *Profile) error

func order(eventID, orderID string, status OrderStatus, at time.Time, lines ...Line) event {
	var total int64
	for _, l := range lines {
		total += l.Amount
	}
	e := OrderEvent{EventID: eventID, At: at, OrderID: orderID, Status: status}
	if len(lines) > 0 {
		e.PlacedAt, e.Currency, e.Total, e.Lines, e.Channel = at, "EUR", total, lines, "web"
	}
	return func(p *Profile) error { return p.ApplyOrder(e) }
}

func refund(id, orderID string, at time.Time, amount int64, lines ...Line) event {
	return func(p *Profile) error {
		return p.ApplyRefund(Refund{ID: id, EventID: "ev-" + id, OrderID: orderID, At: at, Currency: "EUR", Amount: amount, Lines: lines})
	}
}

func richHistory() []event {
	garden := Line{SKU: "spade", Category: "garden", Quantity: 1, Amount: 40_00}
	books := Line{SKU: "novel", Category: "books", Quantity: 2, Amount: 30_00}
	return []event{
		func(p *Profile) error {
			return p.ApplyCustomer(CustomerUpdate{EventID: "c1", At: t0, SignedUpAt: t0, Country: "de", SignupChannel: "web", Consents: map[string]bool{"email": true}})
		},
		func(p *Profile) error {
			return p.ApplyCustomer(CustomerUpdate{EventID: "c2", At: t0.Add(days(5)), Consents: map[string]bool{"email": false}, PreferredChannel: "sms"})
		},
		order("o1-placed", "o1", StatusPlaced, t0.Add(days(1)), garden, books),
		order("o1-done", "o1", StatusCompleted, t0.Add(days(2))),
		order("o2-placed", "o2", StatusPlaced, t0.Add(days(20)), books),
		order("o2-cancel", "o2", StatusCancelled, t0.Add(days(21))),
		order("o3-placed", "o3", StatusPlaced, t0.Add(days(40)), garden),
		refund("r1", "o1", t0.Add(days(10)), 30_00, books),
		func(p *Profile) error {
			return p.ApplyLoyalty(LoyaltyUpdate{EventID: "l1", At: t0.Add(days(3)), Tier: "silver", Balance: i64(120)})
		},
		func(p *Profile) error {
			return p.ApplyLoyalty(LoyaltyUpdate{EventID: "l2", At: t0.Add(days(41)), Tier: "gold", Balance: i64(400)})
		},
		func(p *Profile) error { return p.ApplyReferral(Referral{ID: "ref1", At: t0.Add(days(6))}) },
		func(p *Profile) error {
			return p.ApplyReferral(Referral{ID: "ref1", At: t0.Add(days(9)), Converted: true})
		},
		func(p *Profile) error {
			return p.ApplySurvey(SurveyAnswer{ID: "s1", Kind: NPS, Score: 4, At: t0.Add(days(2))})
		},
		func(p *Profile) error {
			return p.ApplySurvey(SurveyAnswer{ID: "s2", Kind: NPS, Score: 9, At: t0.Add(days(30))})
		},
		func(p *Profile) error {
			return p.ApplyInteraction(Interaction{EventID: "i1", Kind: KindAddToCart, At: t0.Add(days(50)), SKU: "hose", Category: "garden", Channel: "app", Quantity: 1, Price: 25_00})
		},
		func(p *Profile) error {
			return p.ApplyInteraction(Interaction{EventID: "i2", Kind: KindView, At: t0.Add(days(51)), SKU: "rake", Category: "garden", Channel: "app"})
		},
	}
}

func build(t *testing.T, evs []event) *Profile {
	t.Helper()
	p := New("cust-1")
	for i, e := range evs {
		if err := e(p); err != nil {
			t.Fatalf("event %d: expected no error, got %v", i, err)
		}
	}
	return p
}

func TestTheSameEventsInAnyOrderAndWithDuplicatesGiveTheSameProfile(t *testing.T) {
	t.Parallel()
	now := t0.Add(days(60))
	cfg := DefaultConfig("EUR")
	want := build(t, richHistory())
	wantTraits := ComputeTraits(want, now, cfg, nil)
	for seed := range uint64(25) {
		t.Run(fmt.Sprintf("shuffle %d", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 99))
			evs := richHistory()
			// Deliver a random third of the events twice.
			for _, e := range richHistory() {
				if rng.IntN(3) == 0 {
					evs = append(evs, e)
				}
			}
			rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			got := build(t, evs)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("expected the same profile\nwant %+v\n got %+v", want, got)
			}
			if gotTraits := ComputeTraits(got, now, cfg, nil); !reflect.DeepEqual(wantTraits, gotTraits) {
				t.Errorf("expected the same traits\nwant %+v\n got %+v", wantTraits, gotTraits)
			}
		})
	}
}

func TestTraitsOfTheRichHistory(t *testing.T) {
	t.Parallel()
	tr := ComputeTraits(build(t, richHistory()), t0.Add(days(60)), DefaultConfig("EUR"), nil)
	checks := []struct {
		name      string
		want, got any
	}{
		{"order count excludes the cancelled order", 2, tr.OrderCount},
		{"spend is net of the refunded books", int64(80_00), tr.TotalSpend},
		{"average order value", int64(40_00), tr.AverageOrderValue},
		{"recency in days", 20, tr.RecencyDays},
		{"favourite categories lose refunded books", []string{"garden"}, tr.FavouriteCategories},
		{"channels used", []string{"app", "web"}, tr.ChannelsUsed},
		{"explicit preferred channel wins", "sms", tr.PreferredChannel},
		{"latest tier", "gold", tr.Tier},
		{"latest balance", int64(400), tr.PointsBalance},
		{"referrals made", 1, tr.ReferralsMade},
		{"referral converted", 1, tr.ReferralsConverted},
		{"latest NPS", 9, tr.NPS.Latest},
		{"NPS trend", TrendUp, tr.NPS.Trend},
		{"later consent wins", false, tr.Consents["email"]},
		{"country is upper-cased", "DE", tr.Country},
		{"abandoned cart", true, tr.HasAbandonedCart},
		{"abandoned cart value", int64(25_00), tr.AbandonedCartValue},
		{"lifecycle", StageActive, tr.Lifecycle},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.want, c.got) {
			t.Errorf("%s: expected %v, got %v", c.name, c.want, c.got)
		}
	}
}

func TestRefundsAndCancellationsReduceSpendAndCount(t *testing.T) {
	t.Parallel()
	line := Line{SKU: "a", Category: "garden", Quantity: 1, Amount: 100_00}
	tests := []struct {
		name      string
		evs       []event
		wantCount int
		wantSpend int64
		wantCat   int64
	}{
		{"an order counts fully", []event{order("e1", "o1", StatusPlaced, t0, line)}, 1, 100_00, 100_00},
		{"a partial refund lowers spend but keeps the order", []event{order("e1", "o1", StatusPlaced, t0, line), refund("r1", "o1", t0.Add(day), 40_00)}, 1, 60_00, 60_00},
		{"a full refund removes the order", []event{order("e1", "o1", StatusPlaced, t0, line), refund("r1", "o1", t0.Add(day), 100_00, line)}, 0, 0, 0},
		{"the same refund twice counts once", []event{order("e1", "o1", StatusPlaced, t0, line), refund("r1", "o1", t0.Add(day), 40_00), refund("r1", "o1", t0.Add(day), 40_00)}, 1, 60_00, 60_00},
		{"a cancellation before the order event still cancels", []event{order("e0", "o1", StatusCancelled, t0.Add(day)), order("e1", "o1", StatusPlaced, t0, line)}, 0, 0, 0},
		{"a refund before its order still applies", []event{refund("r1", "o1", t0.Add(day), 40_00), order("e1", "o1", StatusPlaced, t0, line)}, 1, 60_00, 60_00},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := build(t, tt.evs)
			tr := ComputeTraits(p, t0.Add(days(2)), DefaultConfig("EUR"), nil)
			if tr.OrderCount != tt.wantCount || tr.TotalSpend != tt.wantSpend {
				t.Errorf("expected %d orders and %d spend, got %d and %d", tt.wantCount, tt.wantSpend, tr.OrderCount, tr.TotalSpend)
			}
			var cat int64
			for _, o := range p.OrderFacts("EUR") {
				cat += o.Categories["garden"]
			}
			if cat != tt.wantCat {
				t.Errorf("expected garden spend %d, got %d", tt.wantCat, cat)
			}
		})
	}
}

func TestLifecycleStages(t *testing.T) {
	t.Parallel()
	l := Line{SKU: "a", Quantity: 1, Amount: 10_00}
	tests := []struct {
		name   string
		orders []int // days after t0
		now    int
		want   Stage
	}{
		{"no orders is a prospect", nil, 10, StageProspect},
		{"a first order last week is new", []int{0}, 7, StageNew},
		{"regular recent orders are active", []int{0, 30, 60, 90}, 100, StageActive},
		{"no order for four months is at risk", []int{0, 30}, 150, StageAtRisk},
		{"no order for a year is lapsed", []int{0, 30}, 400, StageLapsed},
		{"an order after a long gap is won back", []int{0, 300}, 320, StageWonBack},
		{"won back expires into active", []int{0, 300, 330, 380}, 400, StageActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var evs []event
			for i, d := range tt.orders {
				evs = append(evs, order(fmt.Sprint("e", i), fmt.Sprint("o", i), StatusPlaced, t0.Add(days(d)), l))
			}
			got := ComputeTraits(build(t, evs), t0.Add(days(tt.now)), DefaultConfig("EUR"), nil).Lifecycle
			if got != tt.want {
				t.Errorf("expected %s, got %s", tt.want, got)
			}
		})
	}
}

func TestChurnRiskGrowsWithRecencyAgainstTheCustomersOwnRhythm(t *testing.T) {
	t.Parallel()
	l := Line{SKU: "a", Quantity: 1, Amount: 10_00}
	p := build(t, []event{order("e1", "o1", StatusPlaced, t0, l), order("e2", "o2", StatusPlaced, t0.Add(days(10)), l)})
	cfg := DefaultConfig("EUR")
	soon := ComputeTraits(p, t0.Add(days(12)), cfg, nil).ChurnRisk
	late := ComputeTraits(p, t0.Add(days(60)), cfg, nil).ChurnRisk
	if !(0 < soon && soon < 0.5 && late > 0.99) {
		t.Errorf("expected low risk 2 days after a 10-day rhythm and near-certain risk 50 days after, got %.3f and %.3f", soon, late)
	}
}

func TestDaysUntilBirthday(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		birthday time.Time
		now      time.Time
		want     int
	}{
		{"birthday today", time.Date(1990, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 18, 0, 0, 0, time.UTC), 0},
		{"birthday tomorrow", time.Date(1990, 3, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 23, 0, 0, 0, time.UTC), 1},
		{"birthday just passed wraps to next year", time.Date(1990, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), 364},
		{"leap-day birthday in a common year is 1 March", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := New("c")
			if err := p.ApplyCustomer(CustomerUpdate{EventID: "e", At: t0, Birthday: tt.birthday}); err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if got := ComputeTraits(p, tt.now, DefaultConfig("EUR"), nil).DaysUntilBirthday; got != tt.want {
				t.Errorf("expected %d days, got %d", tt.want, got)
			}
		})
	}
}

func TestSurveyTrends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   SurveyKind
		scores []int
		want   Trend
	}{
		{"one answer has no trend", CSAT, []int{5}, TrendNone},
		{"rising CSAT", CSAT, []int{2, 3, 6}, TrendUp},
		{"falling NPS", NPS, []int{9, 10, 9, 3}, TrendDown},
		{"steady CES", CES, []int{4, 4, 4}, TrendFlat},
		{"only the last three earlier answers count", NPS, []int{0, 8, 8, 8, 8}, TrendFlat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := New("c")
			for i, s := range tt.scores {
				if err := p.ApplySurvey(SurveyAnswer{ID: fmt.Sprint(i), Kind: tt.kind, Score: s, At: t0.Add(days(i))}); err != nil {
					t.Fatalf("expected no error, got %v", err)
				}
			}
			if got := p.surveyTrait(tt.kind); got.Trend != tt.want || got.Latest != tt.scores[len(tt.scores)-1] {
				t.Errorf("expected trend %s and latest %d, got %s and %d", tt.want, tt.scores[len(tt.scores)-1], got.Trend, got.Latest)
			}
		})
	}
}

func TestAbandonedCartIsAnnouncedOncePerCart(t *testing.T) {
	t.Parallel()
	p := New("c")
	add := func(id string, at time.Time, sku string) {
		if err := p.ApplyInteraction(Interaction{EventID: id, Kind: KindAddToCart, At: at, SKU: sku, Quantity: 1, Price: 5_00}); err != nil {
			t.Fatalf("expected no error, got %v", err)
		}
	}
	add("a1", t0, "x")
	if _, ok := p.DueCartAbandonment(t0.Add(30*time.Minute), time.Hour); ok {
		t.Error("expected no abandonment before the configured time")
	}
	c, ok := p.DueCartAbandonment(t0.Add(2*time.Hour), time.Hour)
	if !ok || len(c.Items) != 1 || c.Items[0].SKU != "x" || !c.AbandonedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expected cart [x] abandoned at %v, got %+v (ok=%v)", t0.Add(time.Hour), c, ok)
	}
	if _, ok := p.DueCartAbandonment(t0.Add(3*time.Hour), time.Hour); ok {
		t.Error("expected the same cart not to be announced twice")
	}
	add("a2", t0.Add(4*time.Hour), "y")
	if c, ok := p.DueCartAbandonment(t0.Add(6*time.Hour), time.Hour); !ok || len(c.Items) != 2 {
		t.Errorf("expected a changed cart to be announced again with 2 items, got %+v (ok=%v)", c, ok)
	}
	if err := order("e1", "o1", StatusPlaced, t0.Add(7*time.Hour), Line{SKU: "x", Quantity: 1, Amount: 5_00})(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.FindAbandonedCart(t0.Add(10*time.Hour), time.Hour); ok {
		t.Error("expected checkout to empty the cart")
	}
}

func TestInvalidEventsAreRejectedWithTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ev    event
		field string
	}{
		{"order without id", func(p *Profile) error {
			return p.ApplyOrder(OrderEvent{EventID: "e", At: t0, Status: StatusPlaced})
		}, "order_id"},
		{"order with a bad currency", func(p *Profile) error {
			return p.ApplyOrder(OrderEvent{EventID: "e", At: t0, OrderID: "o", Status: StatusPlaced, PlacedAt: t0, Currency: "euro"})
		}, "order.currency"},
		{"order with a negative line", func(p *Profile) error {
			return p.ApplyOrder(OrderEvent{EventID: "e", At: t0, OrderID: "o", Status: StatusPlaced, PlacedAt: t0, Currency: "EUR", Lines: []Line{{SKU: "a", Quantity: 1, Amount: -1}}})
		}, "order.lines.amount"},
		{"event without time", func(p *Profile) error { return p.ApplyLoyalty(LoyaltyUpdate{EventID: "e"}) }, "time"},
		{"refund without order", func(p *Profile) error {
			return p.ApplyRefund(Refund{ID: "r", EventID: "e", At: t0, Currency: "EUR", Amount: 1})
		}, "order_id"},
		{"NPS of 11", func(p *Profile) error { return p.ApplySurvey(SurveyAnswer{ID: "s", Kind: NPS, Score: 11, At: t0}) }, "score"},
		{"CSAT of 0", func(p *Profile) error { return p.ApplySurvey(SurveyAnswer{ID: "s", Kind: CSAT, Score: 0, At: t0}) }, "score"},
		{"unknown interaction", func(p *Profile) error {
			return p.ApplyInteraction(Interaction{EventID: "e", At: t0, Kind: "teleport"})
		}, "kind"},
		{"cart event without sku", func(p *Profile) error {
			return p.ApplyInteraction(Interaction{EventID: "e", At: t0, Kind: KindAddToCart})
		}, "sku"},
		{"bad country", func(p *Profile) error {
			return p.ApplyCustomer(CustomerUpdate{EventID: "e", At: t0, Country: "Germany"})
		}, "country"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := New("c")
			err := tt.ev(p)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("expected a ValidationError on %q, got %v", tt.field, err)
			}
			if !reflect.DeepEqual(p, New("c")) {
				t.Errorf("expected the profile unchanged, got %+v", p)
			}
		})
	}
}

func BenchmarkComputeTraits(b *testing.B) {
	p := New("c")
	for i := range 50 {
		_ = p.ApplyOrder(OrderEvent{EventID: fmt.Sprint("e", i), At: t0.Add(days(i * 7)), OrderID: fmt.Sprint("o", i), Status: StatusCompleted, PlacedAt: t0.Add(days(i * 7)), Currency: "EUR", Total: 50_00, Lines: []Line{{SKU: "a", Category: fmt.Sprint("c", i%5), Quantity: 1, Amount: 50_00}}})
	}
	cfg := DefaultConfig("EUR")
	now := t0.Add(days(400))
	for b.Loop() {
		_ = ComputeTraits(p, now, cfg, nil)
	}
}
