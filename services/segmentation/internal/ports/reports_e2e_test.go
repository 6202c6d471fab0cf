package ports_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	segev "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

// enteredEvent reads the service's events until the customer enters the
// segment (other events may come first), failing after a minute per event.
func (s *stack) enteredEvent(segmentID, customerID string) *segev.SegmentEntered {
	s.t.Helper()
	for range 100 {
		e := s.segmentationEvents(1)[0].GetSegmentEntered()
		if e.GetSegmentId() == segmentID && e.GetCustomerId() == customerID {
			return e
		}
	}
	s.t.Fatalf("no SegmentEntered %s/%s among the next 100 events", segmentID, customerID)
	return nil
}

func TestTheConsoleQueriesAnswerOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := as(context.Background(), t, "mia", auth.RoleMarketer)
	mia := token(t, "mia", auth.RoleMarketer)

	body := s.rest(http.MethodGet, "/v1/segment-templates", mia, nil, http.StatusOK)
	for _, want := range []string{`"templateId":"win-back"`, `"templateId":"champions"`, `"templateId":"high-churn-risk"`, `"templateId":"new-customers"`} {
		if !strings.Contains(body, want) {
			t.Errorf("templates over REST lack %s:\n%s", want, body)
		}
	}
	body = s.rest(http.MethodPost, "/v1/segment-templates/champions:instantiate", mia, strings.NewReader(`{"idempotencyKey":"t1","name":"Our champions"}`), http.StatusOK)
	for _, want := range []string{`"segmentId":"champions"`, `"templateId":"champions"`, `"name":"Our champions"`, `"rule":"in_rfm_group(\"Champions\")"`} {
		if !strings.Contains(body, want) {
			t.Errorf("instantiating a template answered %s, want %s", body, want)
		}
	}
	for _, seg := range []*segmentationv1.Segment{
		{SegmentId: "big", Name: "Big", Rule: `total_spend >= 10000`},
		{SegmentId: "browsers", Name: "Browsers", Rule: `interactions.count("view", days(7)) >= 2`},
	} {
		if _, err := s.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{IdempotencyKey: "c-" + seg.SegmentId, Segment: seg}); err != nil {
			t.Fatalf("CreateSegment %s: %v", seg.SegmentId, err)
		}
	}

	now := time.Now().UTC()
	s.publish(topics.CommerceOrders,
		events.Event{Subject: "c1", Key: "c1", Payload: completed("o1", "c1", 15000, now.Add(-48*time.Hour))},
		events.Event{Subject: "c2", Key: "c2", Payload: completed("o2", "c2", 20000, now.Add(-24*time.Hour))},
		events.Event{Subject: "c3", Key: "c3", Payload: completed("o3", "c3", 500, now.Add(-time.Hour))})
	s.enteredEvent("big", "c1")
	s.enteredEvent("big", "c2")

	// Is a customer in a segment: customers may ask about themselves only.
	body = s.rest(http.MethodGet, "/v1/segments/big/members/c1", token(t, "c1", auth.RoleCustomer), nil, http.StatusOK)
	if !strings.Contains(body, `"member":true`) || !strings.Contains(body, `"enteredAt"`) {
		t.Errorf("c1 in big over REST = %s, want a member with enteredAt", body)
	}
	s.rest(http.MethodGet, "/v1/segments/big/members/c2", token(t, "c1", auth.RoleCustomer), nil, http.StatusForbidden)
	if m, err := s.client.CheckSegmentMembership(ctx, &segmentationv1.CheckSegmentMembershipRequest{SegmentId: "big", CustomerId: "c3"}); err != nil || m.GetMember() || m.GetEnteredAt() != nil {
		t.Errorf("c3 in big = %v, %v; want not a member", m, err)
	}
	if _, err := s.client.CheckSegmentMembership(ctx, &segmentationv1.CheckSegmentMembershipRequest{SegmentId: "nope", CustomerId: "c3"}); status.Code(err) != codes.NotFound {
		t.Errorf("membership in an unknown segment: %v, want NotFound", err)
	}

	// The export, a page at a time.
	var exported []string
	pageToken := ""
	for range 10 {
		pg, err := s.client.ExportSegmentMembers(ctx, &segmentationv1.ExportSegmentMembersRequest{SegmentId: "big", PageSize: 1, PageToken: pageToken})
		if err != nil {
			t.Fatal(err)
		}
		if pg.GetSegmentSize() != 2 {
			t.Errorf("export page says the segment has %d members, want 2", pg.GetSegmentSize())
		}
		for _, m := range pg.GetMembers() {
			exported = append(exported, m.GetCustomerId())
		}
		if pageToken = pg.GetNextPageToken(); pageToken == "" {
			break
		}
	}
	if strings.Join(exported, ",") != "c1,c2" {
		t.Errorf("exported %v, want [c1 c2]", exported)
	}
	body = s.rest(http.MethodGet, "/v1/segments/big/members:export?pageSize=1", mia, nil, http.StatusOK)
	if !strings.Contains(body, `"customerId":"c1"`) || !strings.Contains(body, `"nextPageToken":"c1"`) {
		t.Errorf("export over REST = %s, want c1 and a next page", body)
	}

	// Size over time: the current size is the last point.
	body = s.rest(http.MethodGet, "/v1/segments/big/sizes?interval=day", mia, nil, http.StatusOK)
	if !strings.Contains(body, `"size":"2"`) || !strings.Contains(body, `"interval":"day"`) {
		t.Errorf("sizes over REST = %s, want a point of size 2", body)
	}

	// Anonymous history: two views before login, then the identify.
	svc := token(t, "shop", auth.RoleService)
	for i, key := range []string{"v1", "v2"} {
		view := `{"idempotencyKey":"` + key + `","anonymousId":"dev-1","event":{"kind":"KIND_VIEW","sku":"spade","occurredAt":"` +
			now.Add(time.Duration(i-10)*time.Minute).Format(time.RFC3339) + `"}}`
		s.rest(http.MethodPost, "/v1/events:track", svc, strings.NewReader(view), http.StatusOK)
	}
	s.rest(http.MethodPost, "/v1/customers:identify", svc, strings.NewReader(`{"idempotencyKey":"id1","customerId":"c3","anonymousId":"dev-1"}`), http.StatusOK)
	s.enteredEvent("browsers", "c3")

	// RFM on demand, then the grid.
	body = s.rest(http.MethodPost, "/v1/rfm:recompute", mia, strings.NewReader(`{"idempotencyKey":"r1"}`), http.StatusOK)
	if !strings.Contains(body, `"population":"3"`) || !strings.Contains(body, `"group":"RFM_GROUP_CHAMPIONS"`) {
		t.Errorf("RFM recompute answered %s, want 3 customers and the group sizes", body)
	}
	grid, err := s.client.GetRfmGrid(ctx, &segmentationv1.GetRfmGridRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var inCells, inGroups int64
	for _, c := range grid.GetCells() {
		inCells += c.GetCustomers()
	}
	for _, g := range grid.GetGroups() {
		inGroups += g.GetCustomers()
	}
	if grid.GetPopulation() != 3 || len(grid.GetCells()) != 25 || inCells != 3 || inGroups != 3 || len(grid.GetGroups()) != 11 || grid.GetScoredAt() == nil {
		t.Errorf("grid: population %d, %d cells holding %d, %d groups holding %d, scored at %v; want 3, 25 cells and 11 groups holding 3",
			grid.GetPopulation(), len(grid.GetCells()), inCells, len(grid.GetGroups()), inGroups, grid.GetScoredAt())
	}

	// The overview: three buyers, 355.00 in three orders.
	body = s.rest(http.MethodGet, "/v1/population/stats?interval=month", mia, nil, http.StatusOK)
	for _, want := range []string{`"customers":"3"`, `"buyers":"3"`, `"orders":"3"`, `"amountMinor":"35500"`, `"periodStartTime"`} {
		if !strings.Contains(body, want) {
			t.Errorf("population stats over REST lack %s:\n%s", want, body)
		}
	}

	// Invalid requests name their field; a marketer only may recompute.
	for _, c := range []struct {
		name, field string
		call        func() error
	}{
		{"an unknown interval", "interval", func() error {
			_, err := s.client.ListSegmentSizes(ctx, &segmentationv1.ListSegmentSizesRequest{SegmentId: "big", Interval: "year"})
			return err
		}},
		{"a range that ends before it starts", "start_time", func() error {
			_, err := s.client.GetPopulationStats(ctx, &segmentationv1.GetPopulationStatsRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Hour))})
			return err
		}},
		{"too many periods", "start_time", func() error {
			_, err := s.client.GetPopulationStats(ctx, &segmentationv1.GetPopulationStatsRequest{Interval: "day", StartTime: timestamppb.New(now.AddDate(-3, 0, 0))})
			return err
		}},
		{"a template instantiated without a key", "idempotency_key", func() error {
			_, err := s.client.CreateSegmentFromTemplate(ctx, &segmentationv1.CreateSegmentFromTemplateRequest{TemplateId: "win-back"})
			return err
		}},
		{"a bad segment id for a template", "segment_id", func() error {
			_, err := s.client.CreateSegmentFromTemplate(ctx, &segmentationv1.CreateSegmentFromTemplateRequest{TemplateId: "win-back", IdempotencyKey: "x", SegmentId: "Bad Id"})
			return err
		}},
		{"a membership check without a customer", "customer_id", func() error {
			_, err := s.client.CheckSegmentMembership(ctx, &segmentationv1.CheckSegmentMembershipRequest{SegmentId: "big"})
			return err
		}},
		{"an RFM recompute without a key", "idempotency_key", func() error {
			_, err := s.client.RecomputeRfm(ctx, &segmentationv1.RecomputeRfmRequest{})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
			}
			if v := fieldViolations(err); v[c.field] == "" {
				t.Errorf("violations = %v, want one on %s", v, c.field)
			}
		})
	}
	if _, err := s.client.CreateSegmentFromTemplate(ctx, &segmentationv1.CreateSegmentFromTemplateRequest{TemplateId: "nope", IdempotencyKey: "y"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown template: %v, want NotFound", err)
	}
	s.rest(http.MethodPost, "/v1/rfm:recompute", token(t, "c1", auth.RoleCustomer), strings.NewReader(`{"idempotencyKey":"r2"}`), http.StatusForbidden)
}

// TestTheOverviewCountsAnImportedHistoryPerMonth publishes a history of
// orders placed fifteen years ago (as the Online Retail demo with its
// original dates), with refunds, through the broker, and asks for the
// figures over REST as the console's overview does (whole UTC months); every
// month's orders, revenue and new customers must match a count made here
// directly from the published orders.
func TestTheOverviewCountsAnImportedHistoryPerMonth(t *testing.T) {
	t.Parallel()
	s := startService(t)
	mia := token(t, "mia", auth.RoleMarketer)
	rng := rand.New(rand.NewPCG(3, 0))
	first := time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC)
	span := time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC).Sub(first)
	type month struct{ orders, revenue, newCustomers int64 }
	want := map[string]*month{}
	at := func(t time.Time) *month {
		k := t.Format("2006-01")
		if want[k] == nil {
			want[k] = &month{}
		}
		return want[k]
	}
	var orders, refunds []events.Event
	var totalOrders, totalRevenue int64
	for c := range 200 {
		cust := fmt.Sprintf("c%03d", c)
		var firstOrder time.Time
		for k := range 1 + rng.IntN(5) {
			placed := first.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Minute)
			total := 1000 + rng.Int64N(20000)
			id := fmt.Sprintf("%s-%d", cust, k)
			orders = append(orders, events.Event{Subject: cust, Key: cust, Time: placed, Payload: completed(id, cust, total, placed)})
			net := total
			if rng.IntN(5) == 0 { // a partial refund, weeks later
				r := total / 4
				ra := placed.Add(time.Duration(1+rng.IntN(40)) * 24 * time.Hour)
				refunds = append(refunds, events.Event{Subject: cust, Key: cust, Time: ra, Payload: &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED,
					OrderId: id, RefundId: id + "-r", CustomerId: cust, Totals: &commercev1.OrderTotals{Total: &commercev1.Money{AmountMinor: r, Currency: "EUR"}},
					OccurredAt: timestamppb.New(ra)}})
				net -= r
			}
			m := at(placed)
			m.orders++
			m.revenue += net
			totalOrders++
			totalRevenue += net
			if firstOrder.IsZero() || placed.Before(firstOrder) {
				firstOrder = placed
			}
		}
		at(firstOrder).newCustomers++
	}
	s.publish(topics.CommerceOrders, orders...)
	s.publish(topics.CommerceOrders, refunds...)

	q := "/v1/population/stats?interval=month&startTime=2010-11-01T00:00:00Z&endTime=2012-01-01T00:00:00Z"
	var got segmentationv1.GetPopulationStatsResponse
	deadline := time.Now().Add(2 * time.Minute)
	for {
		body := s.rest(http.MethodGet, q, mia, nil, http.StatusOK)
		if err := protojson.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		tot := got.GetTotals()
		if tot.GetOrders() == totalOrders && tot.GetRevenue().GetAmountMinor() == totalRevenue {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two minutes after publishing, the totals are %d orders worth %d, want %d worth %d", tot.GetOrders(), tot.GetRevenue().GetAmountMinor(), totalOrders, totalRevenue)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := len(got.GetPeriods()); n != 14 {
		t.Fatalf("got %d monthly periods from 2010-11 to 2011-12, want 14", n)
	}
	for _, p := range got.GetPeriods() {
		k := p.GetPeriodStartTime().AsTime().Format("2006-01")
		w := want[k]
		if w == nil {
			w = &month{}
		}
		if p.GetOrders() != w.orders || p.GetRevenue().GetAmountMinor() != w.revenue || p.GetNewCustomers() != w.newCustomers {
			t.Errorf("%s: %d orders worth %d, %d new customers; want %d worth %d, %d new", k, p.GetOrders(), p.GetRevenue().GetAmountMinor(), p.GetNewCustomers(),
				w.orders, w.revenue, w.newCustomers)
		}
		if w.orders > 0 && (p.GetAverageOrderValue().GetAmountMinor() == 0 || p.GetActiveCustomers() == 0) {
			t.Errorf("%s had orders but its average order value is %d and active customers %d", k, p.GetAverageOrderValue().GetAmountMinor(), p.GetActiveCustomers())
		}
	}
}
