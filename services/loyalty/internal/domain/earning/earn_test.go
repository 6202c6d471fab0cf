package earning

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func program() Program {
	return Program{
		Currency:           "EUR",
		BaseRate:           Rate{Points: 1, Per: money.New(100, "EUR")}, // 1 point per euro, rounded down
		ExcludedSKUs:       []string{"GIFTCARD"},
		ExcludedCategories: []string{"shipping"},
		MinOrderValue:      500,
		ReturnWindow:       14 * 24 * time.Hour,
		Expiry:             expiry.Policy{Kind: expiry.FixedPeriod, Months: 12},
	}
}

func order(lines ...Line) Order {
	for i := range lines {
		if lines[i].LineID == "" {
			lines[i].LineID = fmt.Sprint("l", i+1)
		}
		if lines[i].Quantity == 0 {
			lines[i].Quantity = 1
		}
	}
	return Order{ID: "o1", CustomerID: "c1", Channel: "web", Currency: "EUR", Lines: lines, CompletedAt: t0}
}

func rule(id string, mod func(*Rule)) Rule {
	r := Rule{ID: id, Name: id, Trigger: TriggerOrder, Status: StatusActive, StartsAt: t0.AddDate(0, -1, 0)}
	mod(&r)
	return r
}

func TestEarnOrder(t *testing.T) {
	t.Parallel()
	garden := Line{SKU: "RAKE", CategoryPath: []string{"home", "garden", "tools"}, UnitPrice: 2000}
	book := Line{SKU: "BOOK", CategoryPath: []string{"books"}, UnitPrice: 1050}
	ship := Line{SKU: "SHIP", CategoryPath: []string{"shipping"}, UnitPrice: 499}
	gift := Line{SKU: "GIFTCARD", CategoryPath: []string{"cards"}, UnitPrice: 5000}
	double := rule("double-garden", func(r *Rule) {
		r.Kind = AwardMultiplier
		r.MultiplierPercent = 200
		r.Target.Categories = []string{"home/garden"}
	})
	bonus := rule("bonus-50", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 50 })
	tests := []struct {
		name        string
		order       Order
		member      Member
		rules       []Rule
		usage       Usage
		wantPoints  int64
		wantLines   []int64
		wantRuleIDs []string
	}{
		{"base points are one per euro rounded down on the whole order", order(garden, book), Member{ID: "m"}, nil, Usage{},
			30, []int64{20, 10}, []string{BaseRuleID}},
		{"shipping and gift cards never earn", order(garden, ship, gift), Member{ID: "m"}, nil, Usage{},
			20, []int64{20, 0, 0}, []string{BaseRuleID}},
		{"an order below the minimum earns nothing", order(ship, Line{SKU: "X", UnitPrice: 499}), Member{ID: "m"}, nil, Usage{},
			0, []int64{0, 0}, nil},
		{"line discounts reduce the earning value", order(Line{SKU: "X", UnitPrice: 1000, Quantity: 3, Discount: 1000}), Member{ID: "m"}, nil, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
		{"a category multiplier doubles only matching lines", order(garden, book), Member{ID: "m"}, []Rule{double}, Usage{},
			50, []int64{40, 10}, []string{BaseRuleID, "double-garden"}},
		{"two double-point rules stack to triple, not quadruple", order(garden, book), Member{ID: "m"},
			[]Rule{double, rule("double-again", func(r *Rule) { r.Kind = AwardMultiplier; r.MultiplierPercent = 200; r.Target.SKUs = []string{"RAKE"} })},
			Usage{}, 70, []int64{60, 10}, []string{BaseRuleID, "double-again", "double-garden"}},
		{"a tier multiplier applies to base points", order(garden, book), Member{ID: "m", TierID: "gold", TierMultiplierPercent: 150}, nil, Usage{},
			45, []int64{30, 15}, []string{BaseRuleID, "tier:gold"}},
		{"a fixed bonus is order-level", order(garden), Member{ID: "m"}, []Rule{bonus}, Usage{},
			70, []int64{20}, []string{BaseRuleID, "bonus-50"}},
		{"a rule outside its window does not apply", order(garden), Member{ID: "m"},
			[]Rule{rule("future", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5; r.StartsAt = t0.Add(time.Hour) })}, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
		{"a paused rule does not apply", order(garden), Member{ID: "m"},
			[]Rule{rule("paused", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5; r.Status = StatusPaused })}, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
		{"a tier-targeted rule skips other tiers", order(garden), Member{ID: "m", TierID: "silver"},
			[]Rule{rule("gold-only", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5; r.Target.TierIDs = []string{"gold"} })}, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
		{"a segment-targeted rule applies to members of the segment", order(garden), Member{ID: "m", Segments: []string{"vip"}},
			[]Rule{rule("vip", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5; r.Target.SegmentIDs = []string{"vip"} })}, Usage{},
			25, []int64{20}, []string{BaseRuleID, "vip"}},
		{"a first-order bonus needs the first order", order(garden), Member{ID: "m"},
			[]Rule{rule("first", func(r *Rule) { r.Trigger = TriggerFirstOrder; r.Kind = AwardBonus; r.BonusPoints = 5 })}, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
		{"a per-member cap cuts the award to what is left", order(garden), Member{ID: "m"},
			[]Rule{rule("capped", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 50; r.Cap.MaxPointsPerMember = 60 })},
			Usage{MemberPoints: map[string]int64{"capped": 40}}, 40, []int64{20}, []string{BaseRuleID, "capped"}},
		{"an exhausted budget awards nothing", order(garden), Member{ID: "m"},
			[]Rule{rule("budget", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 50; r.Cap.BudgetPoints = 1000 })},
			Usage{BudgetUsed: map[string]int64{"budget": 1000}}, 20, []int64{20}, []string{BaseRuleID}},
		{"a rate rule earns on matching lines at its own rate", order(garden, book), Member{ID: "m"},
			[]Rule{rule("books", func(r *Rule) {
				r.Kind = AwardRate
				r.Rate = Rate{Points: 3, Per: money.New(100, "EUR"), Rounding: money.RoundHalfUp}
				r.Target.SKUs = []string{"BOOK"}
			})}, Usage{}, 62, []int64{20, 42}, []string{BaseRuleID, "books"}},
		{"a member in the holdout gets no offer and is recorded", order(garden), Member{ID: holdoutMember(t, "promo", 50, true)},
			[]Rule{rule("promo", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5; r.HoldoutPercent = 50 })}, Usage{},
			20, []int64{20}, []string{BaseRuleID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := EarnOrder(program(), tt.rules, tt.order, tt.member, tt.usage)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if res.Points != tt.wantPoints {
				t.Errorf("expected %d points, got %d (%+v)", tt.wantPoints, res.Points, res.Awards)
			}
			var lines []int64
			for _, l := range res.Lines {
				lines = append(lines, l.Points)
			}
			if !slices.Equal(lines, tt.wantLines) {
				t.Errorf("expected line points %v, got %v", tt.wantLines, lines)
			}
			if len(tt.rules) == 1 && tt.rules[0].HoldoutPercent > 0 && !slices.Equal(res.HeldOut, []string{tt.rules[0].ID}) {
				t.Errorf("expected the member recorded as held out of %s, got %v", tt.rules[0].ID, res.HeldOut)
			}
			if !slices.Equal(res.RuleIDs, tt.wantRuleIDs) {
				t.Errorf("expected rules %v, got %v", tt.wantRuleIDs, res.RuleIDs)
			}
			if tt.wantPoints > 0 && (res.PendingUntil != t0.Add(14*24*time.Hour) || res.ExpiresAt != t0.AddDate(1, 0, 0)) {
				t.Errorf("expected pending 14 days and expiry in 12 months, got %v and %v", res.PendingUntil, res.ExpiresAt)
			}
		})
	}
}

// holdoutMember finds a member id inside (or outside) a rule's holdout, so
// the test does not depend on a hard-coded hash value.
func holdoutMember(t *testing.T, ruleID string, pct int32, in bool) string {
	for i := 0; i < 1000; i++ {
		id := fmt.Sprint("member-", i)
		if InHoldout(ruleID, id, pct) == in {
			return id
		}
	}
	t.Fatalf("expected some member with holdout=%v", in)
	return ""
}

func TestEarnOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		order Order
		field string
	}{
		{"a negative quantity names the field", order(Line{LineID: "a", SKU: "X", UnitPrice: 100, Quantity: -1}), "lines[0].quantity"},
		{"a discount above the line total names the field", order(Line{SKU: "X", UnitPrice: 100, Discount: 200}), "lines[0].discount.amount_minor"},
		{"duplicate line ids are refused", order(Line{LineID: "a", SKU: "X", UnitPrice: 1}, Line{LineID: "a", SKU: "Y", UnitPrice: 1}), "lines[1].line_id"},
		{"a missing order id is refused", func() Order { o := order(Line{SKU: "X", UnitPrice: 1}); o.ID = ""; return o }(), "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := EarnOrder(program(), nil, tt.order, Member{ID: "m"}, Usage{})
			var ve interface{ Fields() []string }
			if !errors.As(err, &ve) || !slices.Contains(ve.Fields(), tt.field) {
				t.Errorf("expected a validation error naming %s, got %v", tt.field, err)
			}
		})
	}
	o := order(Line{SKU: "X", UnitPrice: 1000})
	o.Currency = "USD"
	if _, err := EarnOrder(program(), nil, o, Member{ID: "m"}, Usage{}); !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Errorf("expected a currency mismatch for a USD order, got %v", err)
	}
}

func TestEarnEvent(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		rule("birthday", func(r *Rule) { r.Trigger = TriggerBirthday; r.Kind = AwardBonus; r.BonusPoints = 100 }),
		rule("review", func(r *Rule) {
			r.Trigger = TriggerProductReview
			r.Kind = AwardBonus
			r.BonusPoints = 20
			r.Cap = Cap{MaxPointsPerMember: 50, Period: 30 * 24 * time.Hour}
		}),
		rule("app", func(r *Rule) {
			r.Trigger = TriggerCustomEvent
			r.CustomEvent = "app_installed"
			r.Kind = AwardBonus
			r.BonusPoints = 30
		}),
	}
	tests := []struct {
		name  string
		ev    Event
		usage Usage
		want  int64
	}{
		{"a birthday earns the birthday bonus", Event{ID: "birthday:2026", Trigger: TriggerBirthday, At: t0}, Usage{}, 100},
		{"a review near its cap earns what is left", Event{ID: "rev1", Trigger: TriggerProductReview, At: t0}, Usage{MemberPoints: map[string]int64{"review": 40}}, 10},
		{"a custom event earns its own rule only", Event{ID: "e1", Trigger: TriggerCustomEvent, Name: "app_installed", At: t0}, Usage{}, 30},
		{"another custom event earns nothing", Event{ID: "e2", Trigger: TriggerCustomEvent, Name: "newsletter", At: t0}, Usage{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := EarnEvent(program(), rules, tt.ev, Member{ID: "m"}, tt.usage)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if res.Points != tt.want {
				t.Errorf("expected %d points, got %d", tt.want, res.Points)
			}
		})
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	o := order(Line{LineID: "a", SKU: "A", UnitPrice: 1000, Quantity: 3}, Line{LineID: "b", SKU: "B", UnitPrice: 2000})
	rules := []Rule{rule("bonus", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 100 })}
	earned, err := EarnOrder(program(), rules, o, Member{ID: "m"}, Usage{})
	if err != nil || earned.Points != 150 {
		t.Fatalf("expected 150 points earned, got %d (%v)", earned.Points, err)
	}
	tests := []struct {
		name   string
		before []RefundLine
		now    []RefundLine
		want   int64
	}{
		{"one of three units returns a third of its line and a share of the bonus", nil, []RefundLine{{LineID: "a", Quantity: 1}}, 10 + 20},
		{"a whole line returns its points and its share of the bonus", nil, []RefundLine{{LineID: "b", Quantity: 1}}, 20 + 40},
		{"a full refund returns everything", nil, FullRefund(o), 150},
		{"the last part of a refund returns exactly the rest", []RefundLine{{LineID: "a", Quantity: 2}, {LineID: "b", Quantity: 1}},
			[]RefundLine{{LineID: "a", Quantity: 1}}, 150 - (20 + 20 + 80)},
		{"a price adjustment refunds by amount", nil, []RefundLine{{LineID: "b", Amount: 1000}}, 10 + 20},
		{"refunding more units than bought is capped at the line", nil, []RefundLine{{LineID: "b", Quantity: 5}}, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Refund(o, earned, tt.before, tt.now)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if got != tt.want {
				t.Errorf("expected %d points back, got %d", tt.want, got)
			}
		})
	}
	if _, err := Refund(o, earned, nil, []RefundLine{{LineID: "zzz", Quantity: 1}}); err == nil {
		t.Errorf("expected an unknown line to be refused")
	}
}

func TestHoldoutIsStableAndProportional(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pct  int32
	}{
		{"no holdout holds out nobody", 0},
		{"a ten percent holdout holds out about a tenth", 10},
		{"a fifty percent holdout holds out about half", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, in := 20000, 0
			for i := 0; i < n; i++ {
				id := fmt.Sprint("c", i)
				a := InHoldout("rule-1", id, tt.pct)
				if a != InHoldout("rule-1", id, tt.pct) {
					t.Fatalf("expected the same answer twice for %s", id)
				}
				if a {
					in++
				}
			}
			want := n * int(tt.pct) / 100
			if d := in - want; d > n/100 || d < -n/100 {
				t.Errorf("expected about %d held out of %d, got %d", want, n, in)
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	t.Parallel()
	ok := rule("r", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = 5 })
	tests := []struct {
		name  string
		mod   func(*Rule)
		field string
	}{
		{"a valid rule passes", func(*Rule) {}, ""},
		{"a rule without an award is refused", func(r *Rule) { r.Kind = AwardUnspecified }, "award"},
		{"a multiplier of 100 percent is refused", func(r *Rule) { r.Kind = AwardMultiplier; r.MultiplierPercent = 100 }, "multiplier_percent"},
		{"a holdout above half is refused", func(r *Rule) { r.HoldoutPercent = 60 }, "holdout_percent"},
		{"an end before the start is refused", func(r *Rule) { r.EndsAt = r.StartsAt.Add(-time.Hour) }, "ends_at"},
		{"a cap period without a cap is refused", func(r *Rule) { r.Cap.Period = time.Hour }, "cap.period"},
		{"a rate in another currency is refused", func(r *Rule) { r.Kind = AwardRate; r.Rate = Rate{Points: 1, Per: money.New(100, "USD")} }, "rate.per.currency"},
		{"a birthday multiplier is refused", func(r *Rule) { r.Trigger = TriggerBirthday; r.Kind = AwardMultiplier; r.MultiplierPercent = 200 }, "multiplier_percent"},
		{"a custom event needs its name", func(r *Rule) { r.Trigger = TriggerCustomEvent }, "custom_event_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tt.mod(&r)
			err := r.Validate("EUR")
			if tt.field == "" {
				if err != nil {
					t.Errorf("expected valid, got %v", err)
				}
				return
			}
			var ve interface{ Fields() []string }
			if !errors.As(err, &ve) || !slices.Contains(ve.Fields(), tt.field) {
				t.Errorf("expected an error naming %s, got %v", tt.field, err)
			}
		})
	}
}

func TestCapWindow(t *testing.T) {
	t.Parallel()
	r := rule("r", func(r *Rule) { r.StartsAt = t0; r.Cap = Cap{MaxPointsPerMember: 10, Period: 7 * 24 * time.Hour} })
	tests := []struct {
		name      string
		at        time.Time
		wantStart time.Time
	}{
		{"the first week starts at the rule's start", t0.Add(time.Hour), t0},
		{"the third week starts two weeks in", t0.AddDate(0, 0, 15), t0.AddDate(0, 0, 14)},
		{"a window boundary belongs to the new window", t0.AddDate(0, 0, 7), t0.AddDate(0, 0, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, e := r.CapWindow(tt.at)
			if !s.Equal(tt.wantStart) || !e.Equal(tt.wantStart.AddDate(0, 0, 7)) {
				t.Errorf("expected window from %v, got %v..%v", tt.wantStart, s, e)
			}
		})
	}
}

func TestPartnerEarn(t *testing.T) {
	t.Parallel()
	p := Partner{ID: "fuel", Rate: Rate{Points: 2, Per: money.New(100, "EUR")}, Active: true}
	tests := []struct {
		name    string
		partner Partner
		amount  money.Money
		want    int64
		wantErr error
	}{
		{"a partner earns at its own rate", p, money.New(4550, "EUR"), 91, nil},
		{"an inactive partner cannot award", Partner{ID: "x", Rate: p.Rate}, money.New(100, "EUR"), 0, ErrPartnerInactive},
		{"another currency is refused", p, money.New(100, "USD"), 0, money.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.partner.Earn(tt.amount)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("expected %d (%v), got %d (%v)", tt.want, tt.wantErr, got, err)
			}
		})
	}
}

// FuzzEarnOrder checks earning's accounting on arbitrary orders: points are
// never negative, lines plus order-level points add up to the total, and a
// full refund claws back exactly what was earned.
func FuzzEarnOrder(f *testing.F) {
	f.Add(int64(2000), int64(1), int64(0), int64(1050), int64(2), int64(100), int32(200), int64(50), uint8(0))
	f.Add(int64(1), int64(1), int64(1), int64(0), int64(1), int64(0), int32(101), int64(1), uint8(3))
	f.Fuzz(func(t *testing.T, p1, q1, d1, p2, q2, d2 int64, mult int32, bonus int64, rounding uint8) {
		o := order(Line{SKU: "A", CategoryPath: []string{"home"}, UnitPrice: p1, Quantity: q1, Discount: d1},
			Line{SKU: "B", CategoryPath: []string{"books"}, UnitPrice: p2, Quantity: q2, Discount: d2})
		prog := program()
		prog.BaseRate.Rounding = money.Rounding(rounding % 3)
		rules := []Rule{
			rule("m", func(r *Rule) {
				r.Kind = AwardMultiplier
				r.MultiplierPercent = mult
				r.Target.Categories = []string{"home"}
			}),
			rule("b", func(r *Rule) { r.Kind = AwardBonus; r.BonusPoints = bonus; r.Cap.MaxPointsPerMember = 1000 }),
		}
		for _, r := range rules {
			if r.Validate("EUR") != nil {
				return
			}
		}
		res, err := EarnOrder(prog, rules, o, Member{ID: "m", TierID: "t", TierMultiplierPercent: 125}, Usage{})
		if err != nil {
			return // invalid input is fine; it must just not panic
		}
		var sum int64
		for _, l := range res.Lines {
			if l.Points < 0 {
				t.Fatalf("expected non-negative line points, got %+v", res.Lines)
			}
			sum += l.Points
		}
		if sum+res.OrderPoints != res.Points || res.OrderPoints < 0 {
			t.Fatalf("expected lines %d + order %d = total %d", sum, res.OrderPoints, res.Points)
		}
		back, err := Refund(o, res, nil, FullRefund(o))
		if err != nil {
			t.Fatalf("expected the full refund to compute, got %v", err)
		}
		if back != res.Points {
			t.Fatalf("expected a full refund to claw back %d, got %d", res.Points, back)
		}
		q1, q2 = o.Lines[0].Quantity, o.Lines[1].Quantity // order() defaults zero quantities to one
		half, err := Refund(o, res, nil, []RefundLine{{LineID: "l1", Quantity: q1 / 2}})
		if err != nil || half < 0 || half > res.Points {
			t.Fatalf("expected a partial refund between 0 and %d, got %d (%v)", res.Points, half, err)
		}
		rest, err := Refund(o, res, []RefundLine{{LineID: "l1", Quantity: q1 / 2}}, []RefundLine{{LineID: "l1", Quantity: q1 - q1/2}, {LineID: "l2", Quantity: q2}})
		if err != nil || half+rest != res.Points {
			t.Fatalf("expected two refunds to add up to %d, got %d+%d (%v)", res.Points, half, rest, err)
		}
	})
}

func BenchmarkEarnOrder(b *testing.B) {
	var lines []Line
	for i := 0; i < 50; i++ {
		lines = append(lines, Line{SKU: fmt.Sprint("SKU", i), CategoryPath: []string{"cat", fmt.Sprint(i % 5)}, UnitPrice: int64(100 + i*37), Quantity: int64(1 + i%3)})
	}
	o := order(lines...)
	var rules []Rule
	for i := 0; i < 20; i++ {
		rules = append(rules, rule(fmt.Sprint("r", i), func(r *Rule) {
			r.Kind = AwardMultiplier
			r.MultiplierPercent = 150
			r.Target.Categories = []string{fmt.Sprint("cat/", i%5)}
			r.Target.SegmentIDs = []string{"s1"}
			r.Cap.MaxPointsPerMember = 500
		}))
	}
	m := Member{ID: "m", TierID: "gold", TierMultiplierPercent: 150, Segments: []string{"s1"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EarnOrder(program(), rules, o, m, Usage{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInCategory(t *testing.T) {
	t.Parallel()
	path := []string{"Home", "Garden", "Tools"}
	tests := []struct {
		name     string
		category string
		want     bool
	}{
		{"a root category matches", "home", true},
		{"a nested prefix matches case-insensitively", "home/garden", true},
		{"the full path matches", "/home/garden/tools/", true},
		{"a longer path does not match", "home/garden/tools/rakes", false},
		{"a sibling does not match", "home/kitchen", false},
		{"an empty category matches nothing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := InCategory(path, tt.category); got != tt.want {
				t.Errorf("expected %v for %q, got %v", tt.want, tt.category, got)
			}
		})
	}
}
