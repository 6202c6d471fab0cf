package challenge

import (
	"fmt"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func ord(id string, at time.Time, lines ...earning.Line) earning.Order {
	for i := range lines {
		lines[i].LineID = fmt.Sprint(i)
	}
	return earning.Order{ID: id, CustomerID: "c", Currency: "EUR", Lines: lines, CompletedAt: at}
}

func TestRecord(t *testing.T) {
	t.Parallel()
	cans := Challenge{ID: "cans", Name: "Buy 4 cans", Goal: GoalCount, Target: 4, Categories: []string{"drinks/cans"},
		StartsAt: t0, EndsAt: t0.AddDate(0, 1, 0), RewardPoints: 200}
	can := func(q int64) earning.Line {
		return earning.Line{SKU: "COLA", CategoryPath: []string{"drinks", "cans"}, Quantity: q, UnitPrice: 100}
	}
	other := earning.Line{SKU: "BREAD", CategoryPath: []string{"bakery"}, Quantity: 5, UnitPrice: 100}
	tests := []struct {
		name          string
		orders        []earning.Order
		wantValue     int64
		wantCompleted int
	}{
		{"matching units count toward the goal", []earning.Order{ord("o1", t0.Add(time.Hour), can(2), other)}, 2, 0},
		{"reaching the target completes once", []earning.Order{ord("o1", t0.Add(time.Hour), can(2)), ord("o2", t0.Add(2*time.Hour), can(3))}, 5, 1},
		{"a redelivered order counts once", []earning.Order{ord("o1", t0.Add(time.Hour), can(2)), ord("o1", t0.Add(time.Hour), can(2))}, 2, 0},
		{"orders outside the period do not count", []earning.Order{ord("o1", t0.Add(-time.Hour), can(9)), ord("o2", t0.AddDate(0, 1, 0), can(9))}, 0, 0},
		{"nothing counts after completion", []earning.Order{ord("o1", t0.Add(time.Hour), can(4)), ord("o2", t0.Add(2*time.Hour), can(4))}, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Progress{ChallengeID: "cans", MemberID: "m"}
			done := 0
			for _, o := range tt.orders {
				var completed bool
				p, completed = cans.Record(p, o)
				if completed {
					done++
				}
			}
			if p.Value() != tt.wantValue || done != tt.wantCompleted {
				t.Errorf("expected value %d and %d completions, got %d and %d", tt.wantValue, tt.wantCompleted, p.Value(), done)
			}
		})
	}
}

func TestSpendGoalAndRemoval(t *testing.T) {
	t.Parallel()
	c := Challenge{ID: "spend", Name: "Spend 100", Goal: GoalSpend, Target: 10000, StartsAt: t0, EndsAt: t0.AddDate(0, 1, 0), RewardPoints: 500}
	line := earning.Line{SKU: "X", Quantity: 2, UnitPrice: 3000, Discount: 1000}
	p, _ := c.Record(Progress{}, ord("o1", t0.Add(time.Hour), line))
	if p.Value() != 5000 || c.Remaining(p) != 5000 {
		t.Fatalf("expected 5000 spent and 5000 left, got %d and %d", p.Value(), c.Remaining(p))
	}
	p = c.Remove(p, "o1")
	if p.Value() != 0 {
		t.Errorf("expected a cancelled order removed, got %d", p.Value())
	}
	p, _ = c.Record(p, ord("o2", t0.Add(time.Hour), line, line))
	p = c.Remove(p, "o2")
	if p.Value() != 10000 || !p.Completed() {
		t.Errorf("expected a completed challenge to keep its progress, got %d completed=%v", p.Value(), p.Completed())
	}
}

func TestContributionAfterRefundsAndRevise(t *testing.T) {
	t.Parallel()
	can := earning.Line{SKU: "COLA", Quantity: 3, UnitPrice: 100}
	bread := earning.Line{SKU: "BREAD", Quantity: 1, UnitPrice: 250}
	o := ord("o1", t0.Add(time.Hour), can, bread) // line ids "0" (cans) and "1" (bread)
	base := Challenge{ID: "c", Name: "c", Target: 10, SKUs: []string{"COLA"}, StartsAt: t0, EndsAt: t0.AddDate(0, 1, 0), RewardPoints: 1}
	tests := []struct {
		name    string
		goal    Goal
		refunds []earning.RefundLine
		want    int64
	}{
		{"units: a returned can no longer counts", GoalCount, []earning.RefundLine{{LineID: "0", Quantity: 1, Amount: 100}}, 2},
		{"units: refunds of other lines change nothing", GoalCount, []earning.RefundLine{{LineID: "1", Quantity: 1, Amount: 250}}, 3},
		{"spend: the refunded amount comes off", GoalSpend, []earning.RefundLine{{LineID: "0", Amount: 150}}, 150},
		{"orders: the order counts while a matching unit is kept", GoalOrders, []earning.RefundLine{{LineID: "0", Quantity: 2, Amount: 200}}, 1},
		{"orders: returning every matching unit removes the order", GoalOrders, []earning.RefundLine{{LineID: "0", Quantity: 3, Amount: 300}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			c.Goal = tt.goal
			if got := c.ContributionAfter(o, tt.refunds); got != tt.want {
				t.Errorf("expected the order to count %d after the refunds, got %d", tt.want, got)
			}
		})
	}

	c := base
	c.Goal = GoalCount
	p, _ := c.Record(Progress{}, o)
	if got := c.Revise(p, "o1", 1).Value(); got != 1 {
		t.Errorf("expected a revised order to count 1, got %d", got)
	}
	if got := c.Revise(p, "o1", 0).ByOrder; len(got) != 0 {
		t.Errorf("expected an order counting nothing to leave the progress, got %v", got)
	}
	if got := c.Revise(p, "o1", 9).Value(); got != 3 {
		t.Errorf("expected a revision never to raise an order's part (3), got %d", got)
	}
	done := Progress{ByOrder: map[string]int64{"o1": 10}, CompletedAt: t0}
	if got := c.Revise(done, "o1", 0); got.Value() != 10 {
		t.Errorf("expected a completed challenge unchanged, got %d", got.Value())
	}
}
