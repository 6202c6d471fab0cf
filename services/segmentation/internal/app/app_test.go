package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/profile"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/segment"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	app   *app.App
	clock *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.NewDB(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
	c := &clock{t: t0}
	a, err := app.New(pool, app.DefaultConfig(), nil, app.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, pool: pool, app: a, clock: c}
}

// msg builds a consumed message as the broker would deliver it.
func msg(t testing.TB, topic, id string, at time.Time, payload proto.Message) events.Message {
	t.Helper()
	v, err := proto.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return events.Message{ID: id, Topic: topic, Time: at, ContentType: events.ContentTypeProtobuf, Value: v}
}

func (f *fixture) deliver(msgs ...events.Message) {
	f.t.Helper()
	ctx := context.Background()
	if err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error { return f.app.HandleMessages(ctx, tx, msgs) }); err != nil {
		f.t.Fatalf("handle messages: %v", err)
	}
}

func (f *fixture) createSegment(id, rule string) {
	f.t.Helper()
	ctx := context.Background()
	err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := f.app.CreateSegment(ctx, tx, segment.Segment{ID: id, Name: id, Rule: rule})
		return err
	})
	if err != nil {
		f.t.Fatalf("create segment %s: %v", id, err)
	}
	if _, err := f.app.RecomputeSegments(ctx, id); err != nil {
		f.t.Fatalf("evaluate segment %s: %v", id, err)
	}
}

// announced returns the membership events in the outbox, in commit order,
// as "+segment/customer" and "-segment/customer".
func (f *fixture) announced() []string {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", topics.SegmentationEvents)
	if err != nil {
		f.t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, p := range payloads {
		var e segev.SegmentationEvent
		if err := proto.Unmarshal(p, &e); err != nil {
			f.t.Fatal(err)
		}
		switch {
		case e.GetSegmentEntered() != nil:
			out = append(out, "+"+e.GetSegmentEntered().GetSegmentId()+"/"+e.GetSegmentEntered().GetCustomerId())
		case e.GetSegmentExited() != nil:
			out = append(out, "-"+e.GetSegmentExited().GetSegmentId()+"/"+e.GetSegmentExited().GetCustomerId())
		case e.GetCartAbandoned() != nil:
			out = append(out, "cart/"+e.GetCartAbandoned().GetCustomerId())
		}
	}
	return out
}

func money(v int64) *commercev1.Money { return &commercev1.Money{AmountMinor: v, Currency: "EUR"} }

func order(id, customer string, at time.Time, total int64, category string) *commercev1.OrderEvent {
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: id, CustomerId: customer, Channel: commercev1.Channel_CHANNEL_WEB,
		Lines:     []*commercev1.OrderLine{{LineId: "l1", Sku: "sku-" + category, CategoryPath: []string{category}, Quantity: 1, UnitPrice: money(total)}},
		Totals:    &commercev1.OrderTotals{Total: money(total)},
		OrderedAt: timestamppb.New(at), OccurredAt: timestamppb.New(at)}
}

func refund(id, orderID, customer string, at time.Time, amount int64) *commercev1.OrderEvent {
	return &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: orderID, RefundId: id, CustomerId: customer,
		Totals: &commercev1.OrderTotals{Total: money(amount)}, OccurredAt: timestamppb.New(at)}
}

func (f *fixture) traits(customer string) app.CustomerView {
	f.t.Helper()
	v, err := f.app.Customer(context.Background(), customer)
	if err != nil {
		f.t.Fatalf("profile of %s: %v", customer, err)
	}
	return v
}

func TestEventsArrivingOutOfOrderAndTwiceGiveTheSameProfile(t *testing.T) {
	t.Parallel()
	var seq []events.Message
	for i := range 6 {
		at := t0.AddDate(0, 0, -60+i*10)
		seq = append(seq, msg(t, topics.CommerceOrders, fmt.Sprintf("o%d", i), at, order(fmt.Sprintf("order-%d", i), "c1", at, int64(1000+100*i), []string{"garden", "kitchen"}[i%2])))
	}
	seq = append(seq,
		msg(t, topics.CommerceOrders, "r1", t0.AddDate(0, 0, -5), refund("refund-1", "order-2", "c1", t0.AddDate(0, 0, -5), 500)),
		msg(t, topics.CommerceOrders, "x1", t0.AddDate(0, 0, -4), &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: "order-4", CustomerId: "c1", OccurredAt: timestamppb.New(t0.AddDate(0, 0, -4))}),
		msg(t, topics.CommerceCustomers, "u1", t0.AddDate(0, 0, -90), &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, OccurredAt: timestamppb.New(t0.AddDate(0, 0, -90)),
			Customer: &commercev1.Customer{CustomerId: "c1", Country: "DE", Consent: &commercev1.Consent{EmailMarketing: true}}}),
		msg(t, topics.CommerceCustomers, "u2", t0.AddDate(0, 0, -3), &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_UPDATED, OccurredAt: timestamppb.New(t0.AddDate(0, 0, -3)),
			Customer: &commercev1.Customer{CustomerId: "c1", Country: "FR"}}),
	)

	inOrder := newFixture(t)
	inOrder.createSegment("gardeners", `spend.sum("garden", days(365)) >= 2000`)
	for _, m := range seq {
		inOrder.deliver(m)
	}
	want := inOrder.traits("c1")

	shuffled := newFixture(t)
	shuffled.createSegment("gardeners", `spend.sum("garden", days(365)) >= 2000`)
	rng := rand.New(rand.NewPCG(1, 2))
	mixed := append(append([]events.Message{}, seq...), seq[:5]...) // five delivered twice
	rng.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	for _, m := range mixed {
		shuffled.deliver(m)
	}
	got := shuffled.traits("c1")

	if !reflect.DeepEqual(got.Traits, want.Traits) {
		t.Errorf("traits after shuffled, duplicated delivery\n got %+v\nwant %+v", got.Traits, want.Traits)
	}
	if got.Traits.Country != "FR" || got.Traits.OrderCount != 5 || got.Traits.TotalSpend != 1000+1100+1200-500+1300+1500 {
		t.Errorf("traits = country %s, %d orders, spend %d; want FR, 5 orders, spend %d", got.Traits.Country, got.Traits.OrderCount, got.Traits.TotalSpend, 1000+1100+1200-500+1300+1500)
	}
	if g, w := len(got.Segments), len(want.Segments); g != w {
		t.Errorf("segments after shuffled delivery = %d, in order = %d", g, w)
	}
}

func TestARefundLowersSpendAndMovesTheCustomerOutOfASegment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("big-spenders", `total_spend >= 10000`)
	f.deliver(msg(t, topics.CommerceOrders, "o1", t0, order("order-1", "c1", t0, 15000, "garden")))
	if got := f.announced(); !reflect.DeepEqual(got, []string{"+big-spenders/c1"}) {
		t.Fatalf("after a 150.00 order, announced %v, want [+big-spenders/c1]", got)
	}
	f.deliver(msg(t, topics.CommerceOrders, "r1", t0.Add(time.Hour), refund("refund-1", "order-1", "c1", t0.Add(time.Hour), 8000)))
	v := f.traits("c1")
	if v.Traits.TotalSpend != 7000 {
		t.Errorf("spend after refunding 80.00 of 150.00 = %d, want 7000", v.Traits.TotalSpend)
	}
	if got := f.announced(); !reflect.DeepEqual(got, []string{"+big-spenders/c1", "-big-spenders/c1"}) {
		t.Errorf("announced %v, want entry then exit", got)
	}
	if ok, err := f.app.IsMember(context.Background(), "big-spenders", "c1"); err != nil || ok {
		t.Errorf("IsMember after refund = %v, %v; want false", ok, err)
	}
	seg, err := f.app.GetSegment(context.Background(), "big-spenders")
	if err != nil || seg.Size != 0 {
		t.Errorf("segment size after the exit = %d, %v; want 0", seg.Size, err)
	}
}

func TestMembershipEventsAreEmittedExactlyOncePerChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("buyers", `order_count >= 1`)
	f.createSegment("recent", `orders.count(days(30)) >= 1`)
	m := msg(t, topics.CommerceOrders, "o1", t0, order("order-1", "c1", t0, 1000, "garden"))
	f.deliver(m)
	f.deliver(m) // redelivered
	ctx := context.Background()
	for range 2 {
		if _, err := f.app.Recompute(ctx, app.ScopeAll); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"+buyers/c1", "+recent/c1"}
	if got := f.announced(); !reflect.DeepEqual(got, want) {
		t.Fatalf("announced %v, want %v", got, want)
	}
	// Time alone moves the customer out of "recent": the scheduled pass
	// announces it once, however often it runs.
	f.clock.Set(t0.AddDate(0, 0, 31))
	for range 2 {
		if _, err := f.app.Recompute(ctx, app.ScopeScheduled); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "-recent/c1")
	if got := f.announced(); !reflect.DeepEqual(got, want) {
		t.Errorf("after 31 days announced %v, want %v", got, want)
	}
}

func TestRFMScoresOnASmallHandCheckedPopulation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("champions", `in_rfm_group("Champions")`)
	// Five customers, one per quintile on every dimension: c5 bought most
	// recently, most often and most; c1 is the opposite.
	for c := 1; c <= 5; c++ {
		for o := range c {
			at := t0.AddDate(0, 0, -10*(6-c)-o)
			id := fmt.Sprintf("c%d-o%d", c, o)
			f.deliver(msg(t, topics.CommerceOrders, id, at, order(id, fmt.Sprintf("c%d", c), at, int64(1000*c), "garden")))
		}
	}
	rep, err := f.app.ScoreRFM(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Scores are 1 + floor(5·w/n) with w customers strictly worse: c_k
	// scores k on each dimension, so FM = k and the group table gives
	// c5 Champions, c4 Loyal, c3 Need Attention, c2 Hibernating, c1 Lost.
	want := map[string]string{"c5": "Champions", "c4": "Loyal", "c3": "Need Attention", "c2": "Hibernating", "c1": "Lost"}
	for c, g := range want {
		v := f.traits(c)
		k := int(c[1] - '0')
		if v.Traits.RFM.Group != g || v.Traits.RFM.R != k || v.Traits.RFM.F != k || v.Traits.RFM.M != k {
			t.Errorf("%s: RFM %+v, want %d%d%d %s", c, v.Traits.RFM, k, k, k, g)
		}
	}
	if rep.Population != 5 || rep.Sizes["Champions"] != 1 {
		t.Errorf("report: population %d, champions %d; want 5 and 1", rep.Population, rep.Sizes["Champions"])
	}
	if got := f.announced(); !reflect.DeepEqual(got, []string{"+champions/c5"}) {
		t.Errorf("after scoring announced %v, want [+champions/c5]", got)
	}
}

func TestAnAbandonedCartIsAnnouncedOnceWithItsItems(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("cart-abandoners", `has_abandoned_cart`)
	add := &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_ADD_TO_CART, CustomerId: "c1", Sku: "spade", Quantity: 2, UnitPrice: money(1500), OccurredAt: timestamppb.New(t0)}
	f.deliver(msg(t, topics.CommerceInteractions, "i1", t0, add))
	ctx := context.Background()
	if n, err := f.app.CheckCarts(ctx); err != nil || n != 0 {
		t.Fatalf("cart check right away announced %d (%v), want 0", n, err)
	}
	f.clock.Set(t0.Add(2 * time.Hour))
	for i := range 2 {
		n, err := f.app.CheckCarts(ctx)
		if err != nil || n != 1-i {
			t.Fatalf("cart check %d after two hours announced %d (%v), want %d", i+1, n, err, 1-i)
		}
	}
	want := []string{"+cart-abandoners/c1", "cart/c1"}
	got := f.announced()
	if !reflect.DeepEqual(got, want) && !reflect.DeepEqual(got, []string{"cart/c1", "+cart-abandoners/c1"}) {
		t.Errorf("announced %v, want %v", got, want)
	}
	v := f.traits("c1")
	if !v.Traits.HasAbandonedCart || v.Traits.AbandonedCartValue != 3000 {
		t.Errorf("abandoned cart trait = %v, value %d; want true, 3000", v.Traits.HasAbandonedCart, v.Traits.AbandonedCartValue)
	}
}

func TestPreviewReturnsTheSizeAndASampleWithoutSavingAnything(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for c := range 10 {
		id := fmt.Sprintf("c%02d", c)
		f.deliver(msg(t, topics.CommerceOrders, id, t0, order(id, id, t0, int64(1000*(c+1)), "garden")))
	}
	p, err := f.app.PreviewRule(context.Background(), `total_spend > 5000`, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 5 || p.Population != 10 || !reflect.DeepEqual(p.Sample, []string{"c05", "c06", "c07"}) {
		t.Errorf("preview = size %d of %d, sample %v; want 5 of 10, [c05 c06 c07]", p.Size, p.Population, p.Sample)
	}
	if got := f.announced(); len(got) != 0 {
		t.Errorf("preview announced %v, want nothing", got)
	}
}

func TestSegmentsUsingOtherSegmentsFollowThemInRealTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("buyers", `order_count >= 1`)
	f.createSegment("german-buyers", `in_segment("buyers") && country == "DE"`)
	f.deliver(msg(t, topics.CommerceCustomers, "u1", t0, &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, OccurredAt: timestamppb.New(t0), Customer: &commercev1.Customer{CustomerId: "c1", Country: "DE"}}))
	f.deliver(msg(t, topics.CommerceOrders, "o1", t0, order("order-1", "c1", t0, 1000, "garden")))
	want := []string{"+buyers/c1", "+german-buyers/c1"}
	if got := f.announced(); !reflect.DeepEqual(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}
}

func TestTheStoredSnapshotHoldsTheTraitsAndOrdersRulesRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.deliver(msg(t, topics.CommerceOrders, "o1", t0, order("order-1", "c1", t0, 1000, "garden")))
	var raw []byte
	if err := f.pool.QueryRow(context.Background(), "SELECT snapshot FROM profiles WHERE customer_id = 'c1'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var s profile.Snapshot
	if err := s.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if s.Traits.TotalSpend != 1000 || len(s.Orders) != 1 || s.Orders[0].Categories["garden"] != 1000 {
		t.Errorf("stored snapshot: spend %d, orders %+v; want 1000 and one garden order", s.Traits.TotalSpend, s.Orders)
	}
}

func TestChangingARuleRecomputesMembersAndDeletingASegmentAnnouncesTheirExits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("spenders", `total_spend >= 1000`)
	for i, total := range []int64{500, 1500, 2500} {
		id := fmt.Sprintf("c%d", i)
		f.deliver(msg(t, topics.CommerceOrders, id, t0, order(id, id, t0, total, "garden")))
	}
	ctx := context.Background()
	rule := `total_spend >= 2000`
	err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := f.app.UpdateSegment(ctx, tx, "spenders", app.SegmentPatch{Rule: &rule})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.RecomputeSegments(ctx, "spenders"); err != nil {
		t.Fatal(err)
	}
	if err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error { return f.app.DeleteSegment(ctx, tx, "spenders") }); err != nil {
		t.Fatal(err)
	}
	want := []string{"+spenders/c1", "+spenders/c2", "-spenders/c1", "-spenders/c2"}
	if got := f.announced(); !reflect.DeepEqual(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}
	if _, err := f.app.GetSegment(ctx, "spenders"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("GetSegment after delete: %v, want ErrNotFound", err)
	}
}

func TestASegmentOthersUseCannotBeDeletedAndCyclesAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.createSegment("a", `order_count >= 1`)
	f.createSegment("b", `in_segment("a")`)
	ctx := context.Background()
	if err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error { return f.app.DeleteSegment(ctx, tx, "a") }); !errors.Is(err, segment.ErrInUse) {
		t.Errorf("deleting a used segment: %v, want ErrInUse", err)
	}
	rule := `in_segment("b")`
	err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := f.app.UpdateSegment(ctx, tx, "a", app.SegmentPatch{Rule: &rule})
		return err
	})
	if !errors.Is(err, segment.ErrCycle) {
		t.Errorf("making a use b which uses a: %v, want ErrCycle", err)
	}
}
