package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/services/loyalty/db"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newApp(t *testing.T, opts ...app.Option) (*app.App, *clock) {
	t.Helper()
	pool := pgtest.NewDB(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a, err := app.New(pool, app.Config{
		Program: earning.Program{Currency: "EUR", BaseRate: earning.Rate{Points: 1, Per: money.New(100, "EUR")},
			Expiry: expiry.Policy{Kind: expiry.FixedPeriod, Months: 1}},
		Conversion: money.Conversion{Points: 100, Value: money.New(100, "EUR")}, DebtPolicy: ledger.AllowNegative,
		HoldTTL: 15 * time.Minute, ExpiringWindow: 30 * 24 * time.Hour, CouponValidity: 24 * time.Hour,
	}, append([]app.Option{app.WithClock(clk.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func earn(t *testing.T, a *app.App, customer, orderID string, cents int64) {
	t.Helper()
	err := a.InTx(context.Background(), func(u *app.Unit) error {
		_, err := u.EarnOrder(context.Background(), app.EarnOrder{Order: earning.Order{ID: orderID, CustomerID: customer, Currency: "EUR",
			CompletedAt: u.Now(), Lines: []earning.Line{{LineID: "l1", SKU: "a", Quantity: 1, UnitPrice: cents}}}})
		return err
	})
	if err != nil {
		t.Fatalf("earn %s: %v", orderID, err)
	}
}

func TestRuleTotalsSumWhatEachRuleAwardedAndToHowManyMembers(t *testing.T) {
	t.Parallel()
	a, _ := newApp(t)
	ctx := context.Background()
	var ruleID string
	err := a.InTx(ctx, func(u *app.Unit) error {
		r, err := u.CreateRule(ctx, earning.Rule{Name: "Bonus", Trigger: earning.TriggerOrder, Kind: earning.AwardBonus, BonusPoints: 5,
			Status: earning.StatusActive})
		ruleID = r.Value.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	earn(t, a, "m1", "o1", 1000)
	earn(t, a, "m1", "o2", 1000)
	earn(t, a, "m2", "o3", 1000)
	got, err := a.RuleTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (app.RuleTotal{RuleID: ruleID, Name: "Bonus", Points: 15, Members: 2}) {
		t.Errorf("expected the bonus rule to have awarded 15 points to 2 members, got %+v", got)
	}
	for _, m := range []string{"m1", "m2"} {
		if err := a.LedgerCheck(ctx, m); err != nil {
			t.Errorf("expected %s's ledger to check out, got %v", m, err)
		}
	}
}

func TestJobsRunningOnSeveralReplicasAtOnceExpireEachLotOnce(t *testing.T) {
	t.Parallel()
	a, clk := newApp(t)
	ctx := context.Background()
	for _, m := range []string{"m1", "m2", "m3"} {
		earn(t, a, m, "o-"+m, 5000)
	}
	clk.advance(40 * 24 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.RunJobs(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("expected every replica's run to succeed, got %v", err)
		}
	}
	var expirations int
	if err := a.Pool().QueryRow(ctx, "SELECT count(*) FROM entries WHERE type = 'expiration'").Scan(&expirations); err != nil {
		t.Fatal(err)
	}
	if expirations != 3 {
		t.Errorf("expected exactly one expiration per member (3), got %d", expirations)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		if err := a.LedgerCheck(ctx, m); err != nil {
			t.Errorf("expected %s's ledger to check out, got %v", m, err)
		}
	}
}
