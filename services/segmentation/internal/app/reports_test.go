package app_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

func anonymousView(t *testing.T, id, anon string, at time.Time) events.Message {
	return msg(t, topics.CommerceInteractions, id, at, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_VIEW, AnonymousId: anon,
		Sku: "spade", OccurredAt: timestamppb.New(at)})
}

func identify(t *testing.T, id, customer string, at time.Time, anons ...string) events.Message {
	return msg(t, topics.CommerceCustomers, id, at, &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED,
		Customer: &commercev1.Customer{CustomerId: customer, AnonymousIds: anons}, OccurredAt: timestamppb.New(at)})
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestAnIdentifyMergesAnonymousHistoryExactlyOnceWhateverTheOrder(t *testing.T) {
	t.Parallel()
	at := t0.Add(-time.Hour)
	v1 := func(t *testing.T) events.Message { return anonymousView(t, "v1", "anon-1", at) }
	v2 := func(t *testing.T) events.Message { return anonymousView(t, "v2", "anon-1", at.Add(time.Minute)) }
	id1 := func(t *testing.T) events.Message { return identify(t, "id1", "c1", t0, "anon-1") }
	id2 := func(t *testing.T) events.Message { return identify(t, "id2", "c1", t0.Add(time.Minute), "anon-1") }
	other := func(t *testing.T) events.Message { return identify(t, "id3", "c2", t0.Add(time.Minute), "anon-1") }
	type batch []func(*testing.T) events.Message
	for _, tc := range []struct {
		name    string
		batches []batch
	}{
		{"history first, then the identify", []batch{{v1}, {v2}, {id1}}},
		{"the identify first, then the history", []batch{{id1}, {v1}, {v2}}},
		{"everything in one batch", []batch{{v1, id1, v2}}},
		{"duplicates and a second identify", []batch{{v1}, {id1}, {v1, v2}, {id2}, {v2}, {id1}}},
		{"another customer identifying the same id later gets nothing", []batch{{v1}, {v2}, {id1}, {other}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.createSegment("browsers", `interactions.count("view", days(7)) >= 2`)
			for _, b := range tc.batches {
				var msgs []events.Message
				for _, m := range b {
					msgs = append(msgs, m(t))
				}
				f.deliver(msgs...)
			}
			v := f.traits("c1")
			if n := len(v.Profile.Interactions); n != 2 {
				t.Errorf("c1 has %d interactions, want the 2 anonymous views", n)
			}
			if got := f.announced(); !reflect.DeepEqual(got, []string{"+browsers/c1"}) {
				t.Errorf("announced %v, want [+browsers/c1] once", got)
			}
			if n := f.count("SELECT count(*) FROM anonymous_events"); n != 0 {
				t.Errorf("%d anonymous interactions left unmerged, want 0", n)
			}
			if n := f.count("SELECT count(*) FROM profiles WHERE customer_id = 'anon-1'"); n != 0 {
				t.Errorf("the anonymous id got a profile of its own, want none")
			}
			if c2, err := f.app.Customer(context.Background(), "c2"); err == nil && len(c2.Profile.Interactions) != 0 {
				t.Errorf("c2 got %d of c1's interactions, want 0", len(c2.Profile.Interactions))
			}
		})
	}
}

func TestAnAnonymousInteractionIsKeptUntilItsVisitorIsIdentified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	custom := msg(t, topics.CommerceInteractions, "x1", t0, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_CUSTOM, AnonymousId: "anon-9", OccurredAt: timestamppb.New(t0)})
	f.deliver(anonymousView(t, "v1", "anon-9", t0), anonymousView(t, "v1", "anon-9", t0), custom)
	if n := f.count("SELECT count(*) FROM anonymous_events WHERE anonymous_id = 'anon-9'"); n != 1 {
		t.Errorf("stored %d anonymous interactions for a duplicated view and a custom event, want 1", n)
	}
	f.clock.Set(t0.Add(segment.MaxWindow + time.Hour))
	if err := f.app.RecordSizes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.count("SELECT count(*) FROM anonymous_events"); n != 0 {
		t.Errorf("an anonymous interaction older than the longest window survived the purge (%d left)", n)
	}
}

// cancelled is a cancellation of an order.
func cancelled(orderID, customer string, at time.Time) *commercev1.OrderEvent {
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: orderID, CustomerId: customer, OccurredAt: timestamppb.New(at)}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func TestPopulationStatsOnASmallHandCheckedPopulation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	n := 0
	ord := func(customer string, at time.Time, total int64) string {
		n++
		id := fmt.Sprintf("o%d", n)
		f.deliver(msg(t, topics.CommerceOrders, id, at, order(id, customer, at, total, "garden")))
		return id
	}
	// a: a repeat buyer; b and e: one old order each (e's drops out of the
	// 365-day window during April); c: new in April, its second order fully
	// refunded (does not count); d: a cancelled order and a view in May;
	// f: signed up, never bought.
	ord("a", day(2024, 12, 10), 10000)
	ord("a", day(2025, 3, 5), 5000)
	a3 := ord("a", day(2025, 5, 20), 3000)
	ord("b", day(2024, 7, 1), 2000)
	ord("c", day(2025, 4, 10), 4000)
	c2 := ord("c", day(2025, 4, 20), 1000)
	f.deliver(msg(t, topics.CommerceOrders, "r1", day(2025, 4, 22), refund("r1", c2, "c", day(2025, 4, 22), 1000)))
	d1 := ord("d", day(2025, 3, 15), 6000)
	f.deliver(msg(t, topics.CommerceOrders, "x1", day(2025, 3, 16), cancelled(d1, "d", day(2025, 3, 16))))
	f.deliver(msg(t, topics.CommerceInteractions, "i1", day(2025, 5, 30), &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_VIEW,
		CustomerId: "d", Sku: "spade", OccurredAt: timestamppb.New(day(2025, 5, 30))}))
	ord("e", day(2024, 4, 15), 1000)
	f.deliver(identify(t, "s1", "f", day(2025, 1, 1)))

	st, err := f.app.Population(context.Background(), "month", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// Now is t0 = 2025-06-01 12:00: active in the last 30 days are a (order
	// 05-20) and d (view 05-30); six counted orders worth 250.00.
	wantTotals := app.PopulationTotals{Customers: 6, Buyers: 4, RepeatBuyers: 1, Active30d: 2, Orders: 6, Revenue: 25000}
	if st.Totals != wantTotals {
		t.Errorf("totals = %+v\nwant     %+v", st.Totals, wantTotals)
	}
	m := func(mo time.Month) time.Time { return time.Date(2025, mo, 1, 0, 0, 0, 0, time.UTC) }
	want := []app.PopulationPeriod{
		{Start: m(3), End: m(4), CustomersAtStart: 3, NewCustomers: 0, CustomersAtEnd: 3, ActiveCustomers: 1, Orders: 1, Revenue: 5000, BuyersByEnd: 3, RepeatByEnd: 1},
		{Start: m(4), End: m(5), CustomersAtStart: 3, NewCustomers: 1, CustomersAtEnd: 3, ActiveCustomers: 1, Orders: 1, Revenue: 4000, BuyersByEnd: 4, RepeatByEnd: 1},
		{Start: m(5), End: m(6), CustomersAtStart: 3, NewCustomers: 0, CustomersAtEnd: 3, ActiveCustomers: 2, Orders: 1, Revenue: 3000, BuyersByEnd: 4, RepeatByEnd: 1},
	}
	if !reflect.DeepEqual(st.Periods, want) {
		t.Errorf("periods:\n got %+v\nwant %+v", st.Periods, want)
	}
	for i, r := range []float64{1, 2.0 / 3, 1} {
		if i < len(st.Periods) && math.Abs(st.Periods[i].RetentionRate()-r) > 1e-9 {
			t.Errorf("period %d retention = %v, want %v", i, st.Periods[i].RetentionRate(), r)
		}
	}
	// The SQL counts the same orders as the traits do.
	var traitOrders int
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		traitOrders += f.traits(c).Traits.OrderCount
	}
	if int64(traitOrders) != st.Totals.Orders {
		t.Errorf("the traits count %d orders, the population figures %d; want them equal", traitOrders, st.Totals.Orders)
	}

	// Later events reach the figures: a's May order is refunded in full
	// (a stays a repeat buyer with two orders) and g buys for the first time.
	f.deliver(msg(t, topics.CommerceOrders, "r2", day(2025, 5, 25), refund("r2", a3, "a", day(2025, 5, 25), 3000)))
	ord("g", day(2025, 5, 28), 7000)
	st, err = f.app.Population(context.Background(), "month", time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	wantTotals = app.PopulationTotals{Customers: 7, Buyers: 5, RepeatBuyers: 1, Active30d: 3, Orders: 6, Revenue: 29000}
	if st.Totals != wantTotals {
		t.Errorf("totals after a refund and a new buyer = %+v\nwant %+v", st.Totals, wantTotals)
	}
	wantMay := app.PopulationPeriod{Start: m(5), End: m(6), CustomersAtStart: 3, NewCustomers: 1, CustomersAtEnd: 4, ActiveCustomers: 3, Orders: 1, Revenue: 7000, BuyersByEnd: 5, RepeatByEnd: 1}
	if len(st.Periods) != 1 || st.Periods[0] != wantMay {
		t.Errorf("May after a refund and a new buyer = %+v\nwant [%+v]", st.Periods, wantMay)
	}
}

func TestPeriodsFollowTheIntervalAndStopAtTheEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// 2025-06-01 is a Sunday: weeks start on Monday, the last one is cut.
	st, err := f.app.Population(context.Background(), "week", day(2025, 6, 1), day(2025, 6, 10))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range st.Periods {
		got = append(got, p.Start.Format("01-02 15h")+".."+p.End.Format("01-02 15h"))
	}
	want := []string{"05-26 00h..06-02 00h", "06-02 00h..06-09 00h", "06-09 00h..06-10 12h"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("weekly periods = %v, want %v", got, want)
	}
	if n := app.PeriodCount("week", day(2025, 6, 1), day(2025, 6, 10)); n != 3 {
		t.Errorf("PeriodCount = %d, want 3", n)
	}
}

func TestTheRFMGridCountsTheLatestScoringPerCellAndGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.app.RFMGridNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.ScoredAt != nil || len(g.Cells) != 25 {
		t.Fatalf("before scoring: scored at %v with %d cells, want nil and 25 empty cells", g.ScoredAt, len(g.Cells))
	}
	// As in the RFM test: c_k orders k times for 1000·k each and scores k on
	// every dimension.
	for c := 1; c <= 5; c++ {
		for o := range c {
			at := t0.AddDate(0, 0, -10*(6-c)-o)
			id := fmt.Sprintf("c%d-o%d", c, o)
			f.deliver(msg(t, topics.CommerceOrders, id, at, order(id, fmt.Sprintf("c%d", c), at, int64(1000*c), "garden")))
		}
	}
	rep, err := f.app.RecomputeRFM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, err = f.app.RFMGridNow(ctx); err != nil {
		t.Fatal(err)
	}
	if g.ScoredAt == nil || !g.ScoredAt.Equal(rep.ScoredAt) || g.Population != 5 {
		t.Errorf("grid scored at %v for %d customers, want %v and 5", g.ScoredAt, g.Population, rep.ScoredAt)
	}
	for i, c := range g.Cells {
		r, fr := i/5+1, i%5+1
		want := app.RFMCell{R: r, F: fr}
		if r == fr {
			want.Customers, want.AverageMonetary = 1, int64(1000*r*r)
		}
		if c != want {
			t.Errorf("cell %d = %+v, want %+v", i, c, want)
		}
	}
	wantGroups := map[rfm.Group]int64{rfm.Champions: 1, rfm.Loyal: 1, rfm.NeedAttention: 1, rfm.Hibernating: 1, rfm.Lost: 1}
	if !reflect.DeepEqual(g.Groups, wantGroups) {
		t.Errorf("groups = %v, want %v", g.Groups, wantGroups)
	}
}

func TestEveryTemplateCompilesPreviewsAndCreatesASegment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for c := range 3 {
		id := fmt.Sprintf("c%d", c)
		f.deliver(msg(t, topics.CommerceOrders, id, t0, order(id, id, t0.AddDate(0, 0, -c*200), int64(30000*(c+1)), "garden")))
	}
	for _, tpl := range segment.Templates {
		t.Run(tpl.ID, func(t *testing.T) {
			if _, err := f.app.PreviewRule(ctx, tpl.Rule, 5); err != nil {
				t.Fatalf("preview of template %s: %v", tpl.ID, err)
			}
			err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
				_, err := f.app.CreateSegment(ctx, tx, segment.Segment{ID: tpl.ID, Name: tpl.Name, Rule: tpl.Rule, TemplateID: tpl.ID})
				return err
			})
			if err != nil {
				t.Fatalf("create from template %s: %v", tpl.ID, err)
			}
			s, err := f.app.GetSegment(ctx, tpl.ID)
			if err != nil || s.TemplateID != tpl.ID {
				t.Errorf("stored segment template id = %q (%v), want %q", s.TemplateID, err, tpl.ID)
			}
			if got, ok := app.Template(tpl.ID); !ok || got.Rule != tpl.Rule {
				t.Errorf("Template(%q) = %+v, %v; want the template", tpl.ID, got, ok)
			}
		})
	}
	if _, err := f.app.Recompute(ctx, app.ScopeAll); err != nil {
		t.Errorf("recompute with every template saved: %v", err)
	}
}

func TestASegmentsSizeIsChartedPerBucketWithTheCurrentSizeLast(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.createSegment("big", `total_spend > 5000`) // records size 0 at t0
	f.clock.Set(t0.Add(time.Hour))
	for _, c := range []string{"c1", "c2"} {
		f.deliver(msg(t, topics.CommerceOrders, c, t0, order(c, c, t0, 9000, "garden")))
	}
	if err := f.app.RecordSizes(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(t0.Add(25 * time.Hour))
	f.deliver(msg(t, topics.CommerceOrders, "c3", t0, order("c3", "c3", t0, 9000, "garden")))
	if err := f.app.RecordSizes(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(t0.Add(48 * time.Hour))
	type point struct {
		Start          string
		Size, Min, Max int64
	}
	for _, tc := range []struct {
		interval string
		want     []point
	}{
		{"day", []point{{"06-01", 2, 0, 2}, {"06-02", 3, 3, 3}, {"06-03", 3, 3, 3}}},
		// 2025-06-01 is a Sunday, in the week of Monday 05-26.
		{"week", []point{{"05-26", 2, 0, 2}, {"06-02", 3, 3, 3}}},
		{"month", []point{{"06-01", 3, 0, 3}}},
	} {
		got, err := f.app.SizeSeries(ctx, "big", tc.interval, t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 3))
		if err != nil {
			t.Fatal(err)
		}
		var ps []point
		for _, p := range got {
			ps = append(ps, point{p.Start.Format("01-02"), p.Size, p.Min, p.Max})
		}
		if !reflect.DeepEqual(ps, tc.want) {
			t.Errorf("%s sizes = %v, want %v", tc.interval, ps, tc.want)
		}
	}
	if _, err := f.app.SizeSeries(ctx, "nope", "day", t0, t0.Add(time.Hour)); err == nil {
		t.Error("sizes of an unknown segment: got no error, want not found")
	}
}

func TestMembershipSaysSinceWhenACustomerIsInASegment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.createSegment("big", `total_spend > 5000`)
	f.clock.Set(t0.Add(time.Hour))
	f.deliver(msg(t, topics.CommerceOrders, "o1", t0, order("o1", "c1", t0, 9000, "garden")))
	m, err := f.app.CheckMembership(ctx, "big", "c1")
	if err != nil || !m.Member || !m.EnteredAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("c1 in big = %+v (%v), want member since %v", m, err, t0.Add(time.Hour))
	}
	if m, err := f.app.CheckMembership(ctx, "big", "stranger"); err != nil || m.Member {
		t.Errorf("an unknown customer in big = %+v (%v), want not a member", m, err)
	}
	if _, err := f.app.CheckMembership(ctx, "nope", "c1"); err == nil {
		t.Error("membership of an unknown segment: got no error, want not found")
	}
}

func TestAnOnDemandRFMScoringNeverOverlapsTheScheduledOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.deliver(msg(t, topics.CommerceOrders, "o1", t0, order("o1", "c1", t0, 1000, "garden")))
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := f.app.RunScheduled(ctx, app.RFMPass, 24*time.Hour, func(ctx context.Context) error {
			close(started)
			<-release
			_, err := f.app.ScoreRFM(ctx)
			// A run's time is its key in rfm_runs: the on-demand run
			// waiting behind this one scores a minute later.
			f.clock.Set(t0.Add(time.Minute))
			return err
		})
		done <- err
	}()
	<-started
	// A caller that cannot wait gets ErrScoringRunning when its context ends.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := f.app.RecomputeRFM(short); !errors.Is(err, app.ErrScoringRunning) {
		t.Errorf("on-demand scoring while the scheduled one runs, with 300 ms to wait: %v, want ErrScoringRunning", err)
	}
	// One that can wait runs after the scheduled scoring, not beside it.
	type result struct {
		rep app.RFMReport
		err error
	}
	waited := make(chan result, 1)
	go func() {
		rep, err := f.app.RecomputeRFM(ctx)
		waited <- result{rep, err}
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("scheduled scoring: %v", err)
	}
	r := <-waited
	if r.err != nil || r.rep.Population != 1 {
		t.Fatalf("on-demand scoring waiting for the scheduled one = %+v, %v; want 1 customer scored", r.rep, r.err)
	}
	ran, err := f.app.RunScheduled(ctx, app.RFMPass, 24*time.Hour, func(context.Context) error { return nil })
	if err != nil || ran {
		t.Errorf("the scheduled scoring right after an on-demand one ran = %v (%v), want skipped", ran, err)
	}
}

// fedOrder is an order fed to the population test, with what happened to
// it afterwards, for the independent computation of the figures.
type fedOrder struct {
	id, customer string
	at           time.Time
	currency     string
	total        int64
	refunded     int64 // in the order's currency
	cancelled    bool
}

// population is a generated customer base: the events to feed and the
// facts the expected figures are computed from, directly in Go.
type population struct {
	msgs      []events.Message
	customers map[string]bool
	orders    []fedOrder
	activity  map[string][]time.Time // customer -> interaction and survey times kept (younger than MaxWindow)
}

// newPopulation generates n customers buying over [from, to): most buy one
// to eight times (a few only sign up or only browse), some orders are in
// another currency, some are cancelled, some refunded in part, in full or
// in two parts (sometimes in a later month than the order). Times are
// spread over the whole day, with some exactly on month boundaries. now is
// the clock at import: interactions older than MaxWindow before it are
// compacted away, so they are not activity.
func newPopulation(t *testing.T, seed uint64, n int, from, to, now time.Time) *population {
	rng := rand.New(rand.NewPCG(seed, 0))
	p := &population{customers: map[string]bool{}, activity: map[string][]time.Time{}}
	type timed struct {
		at time.Time
		m  events.Message
	}
	var evs []timed
	add := func(at time.Time, m events.Message) { evs = append(evs, timed{at, m}) }
	span := to.Sub(from)
	randTime := func() time.Time {
		if rng.IntN(20) == 0 { // exactly at the start of a month, or the last microsecond before it
			m := time.Date(from.Year(), from.Month()+time.Month(1+rng.IntN(11)), 1, 0, 0, 0, 0, time.UTC)
			if rng.IntN(2) == 0 {
				m = m.Add(-time.Microsecond)
			}
			if !m.Before(from) && m.Before(to) {
				return m
			}
		}
		return from.Add(time.Duration(rng.Int64N(int64(span))))
	}
	ev := 0
	for c := range n {
		cust := fmt.Sprintf("c%03d", c)
		p.customers[cust] = true
		signup := randTime()
		ev++
		add(signup, identify(t, fmt.Sprintf("u%d", ev), cust, signup))
		orders := []int{0, 1, 1, 1, 2, 2, 3, 4, 6, 8}[rng.IntN(10)]
		for k := range orders {
			at := randTime()
			o := fedOrder{id: fmt.Sprintf("%s-o%d", cust, k), customer: cust, at: at, currency: "EUR", total: 500 + rng.Int64N(30000)}
			if rng.IntN(20) == 0 {
				o.currency = "USD"
			}
			ev++
			oe := order(o.id, cust, at, o.total, "garden")
			oe.Totals.Total.Currency, oe.Lines[0].UnitPrice.Currency = o.currency, o.currency
			add(at, msg(t, topics.CommerceOrders, fmt.Sprintf("e%d", ev), at, oe))
			switch r := rng.IntN(20); {
			case r == 0:
				o.cancelled = true
				ev++
				add(at.Add(time.Hour), msg(t, topics.CommerceOrders, fmt.Sprintf("e%d", ev), at.Add(time.Hour), cancelled(o.id, cust, at.Add(time.Hour))))
			case r <= 3: // refunded: in part, in full, or in two parts, up to 60 days later
				parts := []int64{o.total / 2}
				if r == 2 {
					parts = []int64{o.total}
				} else if r == 3 {
					parts = []int64{o.total / 3, o.total - o.total/3}
				}
				for i, amount := range parts {
					rat := at.Add(time.Duration(1+rng.IntN(60*24)) * time.Hour)
					ev++
					rf := refund(fmt.Sprintf("%s-r%d", o.id, i), o.id, cust, rat, amount)
					rf.Totals.Total.Currency = o.currency
					add(rat, msg(t, topics.CommerceOrders, fmt.Sprintf("e%d", ev), rat, rf))
					o.refunded += amount
				}
			}
			p.orders = append(p.orders, o)
		}
		for range []int{0, 0, 0, 1, 3}[rng.IntN(5)] {
			at := randTime()
			ev++
			add(at, msg(t, topics.CommerceInteractions, fmt.Sprintf("e%d", ev), at, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_VIEW,
				CustomerId: cust, Sku: "spade", OccurredAt: timestamppb.New(at)}))
			if !at.Before(now.Add(-segment.MaxWindow)) {
				p.activity[cust] = append(p.activity[cust], at)
			}
		}
		if rng.IntN(10) == 0 {
			at := randTime()
			ev++
			add(at, msg(t, topics.CommerceInteractions, fmt.Sprintf("e%d", ev), at, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_SURVEY_ANSWER,
				CustomerId: cust, Survey: &commercev1.SurveyAnswer{Kind: commercev1.SurveyAnswer_KIND_NPS, Score: 9}, OccurredAt: timestamppb.New(at)}))
			p.activity[cust] = append(p.activity[cust], at)
		}
	}
	// Published in time order, as the importer does.
	slices.SortStableFunc(evs, func(a, b timed) int { return a.at.Compare(b.at) })
	for _, e := range evs {
		p.msgs = append(p.msgs, e.m)
	}
	return p
}

// counted reports whether an order counts (not cancelled, in the reporting
// currency, positive net).
func (o fedOrder) counted() bool {
	return !o.cancelled && o.currency == "EUR" && o.total-o.refunded > 0
}

// expectTotals computes the totals now from the fed facts.
func (p *population) expectTotals(now time.Time) app.PopulationTotals {
	t := app.PopulationTotals{Customers: int64(len(p.customers))}
	per := map[string]int{}
	active := map[string]bool{}
	for _, o := range p.orders {
		if !o.cancelled && o.at.After(now.Add(-30*24*time.Hour)) && !o.at.After(now) {
			active[o.customer] = true
		}
		if o.counted() {
			per[o.customer]++
			t.Orders++
			t.Revenue += o.total - o.refunded
		}
	}
	for c, ats := range p.activity {
		for _, at := range ats {
			if at.After(now.Add(-30*24*time.Hour)) && !at.After(now) {
				active[c] = true
			}
		}
	}
	t.Buyers, t.Active30d = int64(len(per)), int64(len(active))
	for _, k := range per {
		if k >= 2 {
			t.RepeatBuyers++
		}
	}
	return t
}

// expectPeriods computes every period's figures from the fed facts, by the
// formulas of docs/segmentation.md, one period at a time (no running sums).
func (p *population) expectPeriods(interval string, from, to time.Time) []app.PopulationPeriod {
	var counted []fedOrder
	for _, o := range p.orders {
		if o.counted() {
			counted = append(counted, o)
		}
	}
	countingAt := func(t time.Time) int64 {
		in := map[string]bool{}
		for _, o := range counted {
			if !o.at.Before(t.Add(-365*24*time.Hour)) && o.at.Before(t) {
				in[o.customer] = true
			}
		}
		return int64(len(in))
	}
	first := map[string]time.Time{}
	for _, o := range counted {
		if f, ok := first[o.customer]; !ok || o.at.Before(f) {
			first[o.customer] = o.at
		}
	}
	var out []app.PopulationPeriod
	start := from.UTC().Truncate(24 * time.Hour)
	switch interval {
	case "week":
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
	case "month":
		start = time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	for ps := start; ps.Before(to); {
		next := map[string]time.Time{"day": ps.AddDate(0, 0, 1), "week": ps.AddDate(0, 0, 7), "month": ps.AddDate(0, 1, 0)}[interval]
		pe := next
		if to.Before(pe) {
			pe = to
		}
		per := app.PopulationPeriod{Start: ps, End: pe, CustomersAtStart: countingAt(ps), CustomersAtEnd: countingAt(pe)}
		for _, f := range first {
			if !f.Before(ps) && f.Before(pe) {
				per.NewCustomers++
			}
		}
		byEnd := map[string]int{}
		active := map[string]bool{}
		for _, o := range p.orders {
			if !o.cancelled && !o.at.Before(ps) && o.at.Before(pe) {
				active[o.customer] = true
			}
			if !o.counted() {
				continue
			}
			if o.at.Before(pe) {
				byEnd[o.customer]++
			}
			if !o.at.Before(ps) && o.at.Before(pe) {
				per.Orders++
				per.Revenue += o.total - o.refunded
			}
		}
		for c, ats := range p.activity {
			for _, at := range ats {
				if !at.Before(ps) && at.Before(pe) {
					active[c] = true
				}
			}
		}
		per.ActiveCustomers, per.BuyersByEnd = int64(len(active)), int64(len(byEnd))
		for _, k := range byEnd {
			if k >= 2 {
				per.RepeatByEnd++
			}
		}
		out = append(out, per)
		ps = next
	}
	return out
}

func TestPopulationStatsOfARealisticPopulationMatchAnIndependentCount(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	type query struct {
		interval string
		from, to time.Time
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time // when the orders were placed
		queries  []query
	}{
		{
			name: "orders imported with their original dates, fifteen years ago",
			from: time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC), to: time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC),
			queries: []query{
				{"month", time.Date(2010, 11, 15, 0, 0, 0, 0, time.UTC), time.Date(2012, 3, 1, 0, 0, 0, 0, time.UTC)},
				{"month", time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2011, 9, 17, 6, 0, 0, 0, time.UTC)},
				{"week", time.Date(2011, 2, 20, 0, 0, 0, 0, time.UTC), time.Date(2011, 5, 1, 0, 0, 0, 0, time.UTC)},
				{"day", time.Date(2011, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2011, 12, 12, 0, 0, 0, 0, time.UTC)},
			},
		},
		{
			name: "orders over the last fourteen months up to now",
			from: now.AddDate(0, -14, 0), to: now.Add(-time.Hour),
			queries: []query{
				{"month", now.AddDate(-1, 0, 0), now}, // the RPC's default: the last year, the current month cut at now
				// The console's overview: whole calendar months, the current one ending in the future.
				{"month", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
				{"week", now.AddDate(0, -3, 0), now},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.clock.Set(now)
			// Periods are UTC whatever the server's time zone: run on one
			// far from UTC (and across a date line) to prove it.
			if _, err := f.pool.Exec(context.Background(), "ALTER DATABASE "+f.pool.Config().ConnConfig.Database+" SET timezone = 'Pacific/Auckland'"); err != nil {
				t.Fatal(err)
			}
			f.pool.Reset()
			pop := newPopulation(t, 7, 300, tc.from, tc.to, now)
			for b := 0; b < len(pop.msgs); b += 250 {
				f.deliver(pop.msgs[b:min(b+250, len(pop.msgs))]...)
			}
			for _, q := range tc.queries {
				st, err := f.app.Population(context.Background(), q.interval, q.from, q.to)
				if err != nil {
					t.Fatal(err)
				}
				if want := pop.expectTotals(now); st.Totals != want {
					t.Errorf("totals = %+v\nwant     %+v", st.Totals, want)
				}
				want := pop.expectPeriods(q.interval, q.from, q.to)
				if len(st.Periods) != len(want) {
					t.Errorf("%s periods from %v to %v: got %d, want %d", q.interval, q.from, q.to, len(st.Periods), len(want))
				}
				for i := range min(len(st.Periods), len(want)) {
					if st.Periods[i] != want[i] {
						t.Errorf("%s period %d:\n got %+v\nwant %+v", q.interval, i, st.Periods[i], want[i])
					}
				}
			}
		})
	}
}

// customerOf is the customer a fed event is about (its Kafka key).
func customerOf(t *testing.T, m events.Message) string {
	t.Helper()
	var err error
	var id string
	switch m.Topic {
	case topics.CommerceOrders:
		var e commercev1.OrderEvent
		err, id = m.Decode(&e), e.GetCustomerId()
	case topics.CommerceInteractions:
		var e commercev1.InteractionEvent
		err, id = m.Decode(&e), e.GetCustomerId()
	default:
		var e commercev1.CustomerEvent
		err, id = m.Decode(&e), e.GetCustomer().GetCustomerId()
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The statistics read copies kept current through profiles.changed_xid;
// this checks that the copies miss nothing when the figures are asked for
// again and again while an import is being consumed: two partitions
// (keyed by customer, as Kafka keys them) committing concurrently with the
// syncs, then one last call that must match the independent count.
func TestPopulationStatsAskedForDuringAnImportMissNoProfile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	from, to := time.Date(2010, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t)
	f.clock.Set(now)
	pop := newPopulation(t, 11, 300, time.Date(2010, 12, 1, 8, 0, 0, 0, time.UTC), time.Date(2011, 12, 9, 12, 0, 0, 0, time.UTC), now)
	var parts [2][]events.Message
	for _, m := range pop.msgs {
		k := 0
		for _, c := range customerOf(t, m) {
			k += int(c)
		}
		parts[k%2] = append(parts[k%2], m)
	}
	ctx := context.Background()
	importing := make(chan struct{})
	asked := make(chan int)
	go func() {
		n := 0
		defer func() { asked <- n }()
		for {
			select {
			case <-importing:
				return
			default:
			}
			if _, err := f.app.Population(ctx, "month", from, to); err != nil {
				t.Errorf("population during the import: %v", err)
				return
			}
			n++
		}
	}()
	errs := make(chan error, len(parts))
	for _, part := range parts {
		go func() {
			for b := 0; b < len(part); b += 20 {
				batch := part[b:min(b+20, len(part))]
				if err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error { return f.app.HandleMessages(ctx, tx, batch) }); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range parts {
		if err := <-errs; err != nil {
			t.Fatalf("import: %v", err)
		}
	}
	close(importing)
	t.Logf("the figures were computed %d times during the import", <-asked)
	st, err := f.app.Population(ctx, "month", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if want := pop.expectTotals(now); st.Totals != want {
		t.Errorf("totals after the import = %+v\nwant %+v", st.Totals, want)
	}
	want := pop.expectPeriods("month", from, to)
	if len(st.Periods) != len(want) {
		t.Fatalf("got %d periods, want %d", len(st.Periods), len(want))
	}
	for i := range want {
		if st.Periods[i] != want[i] {
			t.Errorf("period %d after the import:\n got %+v\nwant %+v", i, st.Periods[i], want[i])
		}
	}
}

func TestTheBackgroundSyncCopiesNewOrdersBeforeAnyoneAsks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i, c := range []string{"a", "b", "c"} {
		id := fmt.Sprintf("o%d", i)
		f.deliver(msg(t, topics.CommerceOrders, id, t0, order(id, c, t0.AddDate(0, -i, 0), 1000, "garden")))
	}
	workers := f.app.ReportWorkers()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(workers))
	for _, w := range workers {
		go func() { done <- w(ctx) }()
	}
	// The first pass runs at once; wait for it (bounded, not timed).
	n := 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n = f.count("SELECT count(*) FROM stats_orders"); n == 3 {
			break
		}
	}
	cancel()
	for range workers {
		if err := <-done; err != nil {
			t.Errorf("worker returned %v, want nil on cancel", err)
		}
	}
	if n != 3 {
		t.Errorf("the background sync copied %d orders, want the 3 delivered", n)
	}
	if ran := f.count("SELECT count(*) FROM scheduler_runs WHERE name = 'population statistics' AND last_error = ''"); ran != 1 {
		t.Errorf("%d recorded runs of the population statistics pass, want 1 without error", ran)
	}
}
