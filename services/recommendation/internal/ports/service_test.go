package ports_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationeventsv1 "github.com/affinity-platform/affinity/proto/recommendation/events/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func crossSell(t *testing.T, c recommendationv1.RecommendationServiceClient, req *recommendationv1.GetRecommendationsRequest) *recommendationv1.GetRecommendationsResponse {
	t.Helper()
	resp, err := c.GetRecommendations(context.Background(), req)
	if err != nil {
		t.Fatalf("GetRecommendations(%v): %v", req, err)
	}
	return resp
}

func TestAnOrderEventChangesTheNextAnswerWithinASecond(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "A"}, product{id: "B"}, product{id: "X"})
	req := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"A"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 5}
	boughtWithA := func(id string) func() (bool, string) {
		return func() (bool, string) {
			resp := crossSell(t, svc.client, req)
			for _, it := range resp.GetItems() {
				if it.GetProductId() == id && it.GetReason().GetKind() == recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER && it.GetReason().GetSourceProductId() == "A" {
					return true, ""
				}
			}
			return false, fmt.Sprint(ids(resp.GetItems()))
		}
	}
	// The first event also waits for the consumer group to form, which
	// takes seconds on a busy machine; only the second one is timed.
	s.publish(topics.CommerceOrders, "c1", order("o1", "c1", t0, "A", "B"))
	eventually(t, 90*time.Second, "B bought together with A", boughtWithA("B"))
	if ok, got := boughtWithA("X")(); ok {
		t.Fatalf("X is bought together with A before any order says so: %s", got)
	}

	s.publish(topics.CommerceOrders, "c2", order("o2", "c2", t0.Add(time.Hour), "A", "X"))
	published := time.Now()
	eventually(t, 30*time.Second, "X bought together with A", boughtWithA("X"))
	if took := time.Since(published); took > time.Second {
		t.Errorf("the order changed the answer after %s, want within 1s", took)
	}
}

// rulesCatalog: A is the product on the page, C is in the cart, O is out of
// stock, D is a durable customer c9 already owns, Q1 a consumable c9 owns,
// and the Cups category has three candidates for a cap of two.
var rulesCatalog = []product{
	{id: "A", category: "Kitchen/Mugs"}, {id: "C", category: "Kitchen/Mugs"},
	{id: "O", category: "Kitchen/Pans", stock: commercev1.StockStatus_STOCK_STATUS_OUT_OF_STOCK},
	{id: "D", category: "Kitchen/Pans"},
	{id: "K1", category: "Kitchen/Cups", price: 1}, {id: "K2", category: "Kitchen/Cups", price: 2}, {id: "K3", category: "Kitchen/Cups", price: 3},
	{id: "P1", category: "Kitchen/Plates"}, {id: "P2", category: "Kitchen/Plates"},
	{id: "Q1", category: "Kitchen/Tea", durability: commercev1.Durability_DURABILITY_CONSUMABLE},
	{id: "T1", category: "Garden/Tools"}, {id: "T2", category: "Garden/Tools"}, {id: "T3", category: "Garden/Hoses"},
}

func rulesOrders() []*commercev1.OrderEvent {
	var evs []*commercev1.OrderEvent
	for i, p := range []string{"O", "D", "K1", "K2", "K3", "P1", "P2"} {
		evs = append(evs, order(fmt.Sprintf("r%d", i), fmt.Sprintf("x%d", i), t0.Add(time.Duration(i)*time.Minute), "A", p))
	}
	evs = append(evs,
		// A three-item basket counts 1/log2(3) per pair, below the
		// minimum evidence of 1, so it takes two.
		order("r-c", "x9", t0.Add(time.Hour), "A", "C", "Q1"),
		order("r-c2", "x10", t0.Add(time.Hour), "A", "C", "Q1"),
		order("r-c9", "c9", t0.Add(2*time.Hour), "D", "Q1"),
		order("r-t1", "y1", t0.Add(3*time.Hour), "T1", "T2"),
		order("r-t2", "y2", t0.Add(3*time.Hour), "T1", "T3"),
		order("r-t3", "y3", t0.Add(3*time.Hour), "T1"),
	)
	return evs
}

// waitForRulesData publishes the orders and waits until they are folded:
// the answer for A lists the want products bought with it that the rules
// allow, and T1's neighbours are in.
func waitForRulesData(t *testing.T, s *stack, svc *running, want int) {
	t.Helper()
	for _, o := range rulesOrders() {
		s.publish(topics.CommerceOrders, o.GetCustomerId(), o)
	}
	eventually(t, 90*time.Second, "all orders folded", func() (bool, string) {
		resp := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"A"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 20})
		n := 0
		for _, it := range resp.GetItems() {
			if it.GetReason().GetKind() == recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER {
				n++
			}
		}
		return n == want, fmt.Sprint(ids(resp.GetItems()))
	})
	eventually(t, 30*time.Second, "c9's order folded", func() (bool, string) {
		resp := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"T1"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 2})
		return len(resp.GetItems()) == 2 && resp.GetItems()[0].GetReason().GetKind() == recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER, fmt.Sprint(ids(resp.GetItems()))
	})
}

func TestBusinessRulesHoldBeforeTheLimitIsCut(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_MAX_PER_CATEGORY": "2"})
	svc := s.start()
	upsert(t, svc.client, rulesCatalog...)
	// K1, K2 (cap 2), D, P1, P2, C, Q1; O is out of stock.
	waitForRulesData(t, s, svc, 7)
	leaf := map[string]string{}
	for _, p := range rulesCatalog {
		leaf[p.id] = p.category
	}

	cases := []struct {
		name      string
		req       *recommendationv1.GetRecommendationsRequest
		forbidden []string
	}{
		{
			name: "the cart, out-of-stock items and durables the customer owns are never offered",
			req: &recommendationv1.GetRecommendationsRequest{CustomerId: "c9", ProductIds: []string{"A", "C"}, Placement: recommendationv1.Placement_PLACEMENT_CART,
				Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 5},
			forbidden: []string{"A", "C", "O", "D"},
		},
		{
			name: "excluded ids and categories are never offered",
			req: &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"A"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 5,
				ExcludeProductIds: []string{"P1"}, ExcludeCategories: []string{"Kitchen/Cups"}},
			forbidden: []string{"A", "O", "P1", "K1", "K2", "K3"},
		},
		{
			name:      "an include filter keeps to its categories",
			req:       &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"A"}, Limit: 3, IncludeCategories: []string{"Garden"}},
			forbidden: []string{"A", "O", "D", "K1", "K2", "K3", "P1", "P2", "Q1", "C"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp := crossSell(t, svc.client, c.req)
			got := ids(resp.GetItems())
			if len(got) != int(c.req.GetLimit()) {
				t.Errorf("got %d items %v, want a full list of %d", len(got), got, c.req.GetLimit())
			}
			perCat := map[string]int{}
			for _, id := range got {
				if slices.Contains(c.forbidden, id) {
					t.Errorf("%s is in %v; the rules forbid %v", id, got, c.forbidden)
				}
				perCat[leaf[id]]++
				if perCat[leaf[id]] > 2 {
					t.Errorf("%v has more than 2 items of %s, the diversity cap", got, leaf[id])
				}
			}
		})
	}

	t.Run("a consumable the customer owns may be offered again", func(t *testing.T) {
		t.Parallel()
		resp := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "c9", ProductIds: []string{"A", "C"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 5})
		if !slices.Contains(ids(resp.GetItems()), "Q1") {
			t.Errorf("Q1 (consumable, bought with A and C) missing from %v", ids(resp.GetItems()))
		}
	})

	t.Run("pages never repeat an item", func(t *testing.T) {
		t.Parallel()
		seen := map[string]int{}
		req := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"A"}, Limit: 3}
		for page := 1; page <= 4; page++ {
			resp := crossSell(t, svc.client, req)
			for _, id := range ids(resp.GetItems()) {
				if p, dup := seen[id]; dup {
					t.Errorf("%s on page %d was already on page %d", id, page, p)
				}
				seen[id] = page
			}
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if len(seen) < 9 {
			t.Errorf("paged through %d items, want at least 9 of the eligible catalog", len(seen))
		}
	})
}

func TestColdStartAnswersWithTrendingItems(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "H1"}, product{id: "H2"}, product{id: "H3"}, product{id: "NEW"})
	s.publish(topics.CommerceOrders, "u1", order("h1", "u1", t0, "H1", "H2"), order("h2", "u1", t0.Add(time.Hour), "H1"))
	s.publish(topics.CommerceOrders, "u2", order("h3", "u2", t0.Add(time.Hour), "H1", "H3"))

	for _, req := range []*recommendationv1.GetRecommendationsRequest{
		{CustomerId: "never-seen", Limit: 3},
		{AnonymousId: "visitor-1", ProductIds: []string{"NEW"}, Placement: recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, Limit: 3},
	} {
		eventually(t, 90*time.Second, fmt.Sprintf("a full trending list for %v", req), func() (bool, string) {
			resp := crossSell(t, svc.client, req)
			got := ids(resp.GetItems())
			if len(got) != 3 {
				return false, fmt.Sprint(got)
			}
			for _, it := range resp.GetItems() {
				if it.GetReason().GetKind() != recommendationv1.ReasonKind_REASON_KIND_POPULAR {
					return false, fmt.Sprintf("%s has reason %v, want popular", it.GetProductId(), it.GetReason())
				}
			}
			// H1 is in three orders, the others in one.
			return got[0] == "H1" && resp.GetStrategy() == recommendationv1.Strategy_STRATEGY_TRENDING, fmt.Sprint(got, resp.GetStrategy())
		})
	}
}

func TestARestartServesTheSameAnswersFromPersistedState(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		snapshot bool
	}{
		{"replaying every stored order", false},
		{"from a snapshot and the orders after it", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			restartServesTheSameAnswers(t, c.snapshot)
		})
	}
}

func restartServesTheSameAnswers(t *testing.T, snapshot bool) {
	// Between refreshes a neighbour list not touched by new orders keeps
	// its ranking; a restart ranks everything afresh. The answers compared
	// are therefore taken after a refresh.
	env := map[string]string{"RECO_REFRESH_INTERVAL": "1s", "RECO_SNAPSHOT_INTERVAL": "0s"}
	if snapshot {
		env["RECO_SNAPSHOT_INTERVAL"] = "200ms"
	}
	s := newStack(t, env)
	svc := s.start()
	upsert(t, svc.client, rulesCatalog...)
	// K1, K2, K3, D, P1, P2, C, Q1; O is out of stock.
	waitForRulesData(t, s, svc, 8)
	if snapshot {
		pool, err := postgres.Connect(context.Background(), s.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		eventually(t, 30*time.Second, "a snapshot of every basket", func() (bool, string) {
			n := count(t, pool, "SELECT count(*) FROM model_snapshots WHERE watermark = (SELECT max(seq) FROM baskets)")
			return n == 1, "no snapshot at the latest basket"
		})
		// The next instance takes no snapshots, so the order it folds is
		// certain to come after the stored snapshot.
		svc.stop()
		s.env["RECO_SNAPSHOT_INTERVAL"] = "0s"
		svc = s.start()
		s.publish(topics.CommerceOrders, "late", order("late-1", "late", t0.Add(4*time.Hour), "A", "T3"), order("late-2", "late2", t0.Add(4*time.Hour), "A", "T3"))
		eventually(t, 30*time.Second, "the late orders folded", func() (bool, string) {
			got := ids(crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"T3"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 1}).GetItems())
			return slices.Equal(got, []string{"A"}), fmt.Sprint(got)
		})
		if n := count(t, pool, "SELECT count(*) FROM model_snapshots WHERE watermark < (SELECT max(seq) FROM baskets)"); n != 1 {
			t.Fatalf("want the snapshot to predate the late orders; %d snapshots do", n)
		}
	}
	reqs := []*recommendationv1.GetRecommendationsRequest{
		{ProductIds: []string{"A"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 6},
		{CustomerId: "c9", Strategy: recommendationv1.Strategy_STRATEGY_PERSONALIZED, Limit: 6},
		{CustomerId: "c9", ProductIds: []string{"A"}, Placement: recommendationv1.Placement_PLACEMENT_CART, Limit: 6},
		{Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 6},
	}
	read := func() []*recommendationv1.GetRecommendationsResponse {
		out := make([]*recommendationv1.GetRecommendationsResponse, len(reqs))
		for i, r := range reqs {
			out[i] = crossSell(t, svc.client, r)
		}
		return out
	}
	same := func(a, b []*recommendationv1.GetRecommendationsResponse) bool {
		for i := range a {
			if !slices.Equal(ids(a[i].GetItems()), ids(b[i].GetItems())) {
				return false
			}
		}
		return true
	}
	// Two equal reads more than a refresh period apart have a refresh
	// between them, so the second one is fresh.
	before := read()
	eventually(t, 60*time.Second, "answers stable across a refresh", func() (bool, string) {
		time.Sleep(1100 * time.Millisecond)
		cur := read()
		ok := same(before, cur)
		before = cur
		return ok, "answers still changing"
	})
	svc.stop()

	again := s.start()
	compare(t, reqs, before, again)
	if snapshot {
		// The snapshot plus the orders after it is the same model as a
		// replay of every order.
		again.stop()
		pool, err := postgres.Connect(context.Background(), s.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), "DELETE FROM model_snapshots"); err != nil {
			t.Fatal(err)
		}
		compare(t, reqs, before, s.start())
	}
}

// compare asks svc each request and checks it answers as before.
func compare(t *testing.T, reqs []*recommendationv1.GetRecommendationsRequest, before []*recommendationv1.GetRecommendationsResponse, again *running) {
	t.Helper()
	for i, r := range reqs {
		after := crossSell(t, again.client, r)
		if !slices.Equal(ids(before[i].GetItems()), ids(after.GetItems())) {
			t.Errorf("request %v: after restart %v, before %v", r, ids(after.GetItems()), ids(before[i].GetItems()))
			continue
		}
		for j, it := range after.GetItems() {
			b := before[i].GetItems()[j]
			if math.Abs(it.GetScore()-b.GetScore()) > 1e-4 || it.GetReason().GetText() != b.GetReason().GetText() {
				t.Errorf("request %v item %s: after restart score %v reason %q, before %v %q", r, it.GetProductId(), it.GetScore(), it.GetReason().GetText(), b.GetScore(), b.GetReason().GetText())
			}
		}
	}
}

func TestInvalidRequestsGetInvalidArgumentNamingTheField(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	cases := []struct {
		name  string
		req   *recommendationv1.GetRecommendationsRequest
		field string
	}{
		{"an unknown strategy", &recommendationv1.GetRecommendationsRequest{Strategy: 99, Limit: 10}, "strategy"},
		{"an unknown placement", &recommendationv1.GetRecommendationsRequest{Placement: 42, Limit: 10}, "placement"},
		{"limit 0", &recommendationv1.GetRecommendationsRequest{Limit: 0}, "limit"},
		{"limit 10,000", &recommendationv1.GetRecommendationsRequest{Limit: 10000}, "limit"},
		{"a product id with a space", &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"ok", "not ok"}, Limit: 10}, "product_ids[1]"},
		{"a customer id with a control character", &recommendationv1.GetRecommendationsRequest{CustomerId: "c\x00", Limit: 10}, "customer_id"},
		{"an over-long exclude id", &recommendationv1.GetRecommendationsRequest{ExcludeProductIds: []string{strings.Repeat("x", 200)}, Limit: 10}, "exclude_product_ids[0]"},
		{"upsell without a product", &recommendationv1.GetRecommendationsRequest{Strategy: recommendationv1.Strategy_STRATEGY_UPSELL, Limit: 10}, "product_ids"},
		{"a forged page token", &recommendationv1.GetRecommendationsRequest{Limit: 10, PageToken: "bm90IGEgdG9rZW4"}, "page_token"},
		{"an unknown view", &recommendationv1.GetRecommendationsRequest{Limit: 10, View: 7}, "view"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.client.GetRecommendations(context.Background(), c.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !slices.Contains(fields, c.field) {
				t.Errorf("violations name %v, want %q", fields, c.field)
			}
		})
	}

	t.Run("over REST limit 0 is a 400", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequest(http.MethodGet, "http://"+svc.addrs.HTTP+"/v1/recommendations?limit=0&strategy=STRATEGY_TRENDING", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token(t, serviceClaims))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
}

func TestRESTServesRecommendationsToAStorefront(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "R1"}, product{id: "R2"})
	s.publish(topics.CommerceOrders, "u1", order("ro1", "u1", t0, "R1", "R2"))
	eventually(t, 90*time.Second, "REST answer with R2 for R1", func() (bool, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+svc.addrs.HTTP+"/v1/recommendations?productIds=R1&placement=PLACEMENT_PRODUCT_PAGE&limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+token(t, serviceClaims))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode == 200 && strings.Contains(body.String(), `"productId":"R2"`) && strings.Contains(body.String(), "REASON_KIND_BOUGHT_TOGETHER"), body.String()
	})
}

func TestTheBasicViewAnswersTheSameItemsWithoutCatalogData(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "V1"}, product{id: "V2"}, product{id: "V3"})
	s.publish(topics.CommerceOrders, "u1", order("vo1", "u1", t0, "V1", "V2", "V3"))
	full := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"V1"}, Placement: recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, Limit: 2}
	var want *recommendationv1.GetRecommendationsResponse
	eventually(t, 90*time.Second, "V2 and V3 recommended with V1", func() (bool, string) {
		want = crossSell(t, svc.client, full)
		got := ids(want.GetItems())
		return slices.Equal(got, []string{"V2", "V3"}) || slices.Equal(got, []string{"V3", "V2"}), fmt.Sprint(got)
	})
	basic := proto.Clone(full).(*recommendationv1.GetRecommendationsRequest)
	basic.View = recommendationv1.ItemView_ITEM_VIEW_BASIC
	got := crossSell(t, svc.client, basic)
	if len(got.GetItems()) != len(want.GetItems()) {
		t.Fatalf("basic view: %d items, full view %d", len(got.GetItems()), len(want.GetItems()))
	}
	for i, it := range got.GetItems() {
		w := want.GetItems()[i]
		if w.GetProduct().GetTitle() == "" {
			t.Errorf("full view: %s came without its catalog data", w.GetProductId())
		}
		if it.GetProduct() != nil {
			t.Errorf("basic view: %s came with catalog data %v", it.GetProductId(), it.GetProduct())
		}
		if it.GetProductId() != w.GetProductId() || it.GetScore() != w.GetScore() || !proto.Equal(it.GetReason(), w.GetReason()) {
			t.Errorf("item %d: basic view %v, full view %v without the product", i, it, w)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+svc.addrs.HTTP+"/v1/recommendations?productIds=V1&placement=PLACEMENT_PRODUCT_PAGE&limit=2&view=ITEM_VIEW_BASIC", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, serviceClaims))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"productId":"V2"`) || strings.Contains(string(body), `"product":`) {
		t.Errorf("REST basic view: status %d, body %s; want 200 with V2 and no product", resp.StatusCode, body)
	}
}

func TestFeedbackCountsAgainstDismissedItemsAndAnnouncesClicks(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "F1"}, product{id: "F2"}, product{id: "F3"})
	s.publish(topics.CommerceOrders, "u1", order("f1", "u1", t0, "F1", "F2"), order("f2", "u1", t0.Add(time.Minute), "F1", "F3"))
	req := &recommendationv1.GetRecommendationsRequest{CustomerId: "shopper", ProductIds: []string{"F1"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 2}
	var first *recommendationv1.GetRecommendationsResponse
	eventually(t, 90*time.Second, "F2 and F3 recommended with F1", func() (bool, string) {
		first = crossSell(t, svc.client, req)
		got := ids(first.GetItems())
		return slices.Contains(got, "F2") && slices.Contains(got, "F3"), fmt.Sprint(got)
	})

	// A second replica, started before the feedback.
	other := s.start()
	fb := &recommendationv1.RecordFeedbackRequest{IdempotencyKey: "fb-1", CustomerId: "shopper", Feedback: []*recommendationv1.Feedback{
		{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_IMPRESSION, ProductId: "F2", RecommendationId: first.GetRecommendationId()},
		{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_CLICK, ProductId: "F3", RecommendationId: first.GetRecommendationId(), Position: 1, Placement: recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE},
		{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_DISMISS, ProductId: "F2", RecommendationId: first.GetRecommendationId()},
	}}
	for attempt := 1; attempt <= 2; attempt++ {
		resp, err := svc.client.RecordFeedback(context.Background(), fb)
		if err != nil || resp.GetRecordedCount() != 3 {
			t.Fatalf("RecordFeedback attempt %d = %v, %v; want 3 recorded", attempt, resp, err)
		}
	}
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if n := count(t, pool, "SELECT count(*) FROM feedback"); n != 3 {
		t.Errorf("a retried feedback call stored %d rows, want 3", n)
	}
	if got := ids(crossSell(t, svc.client, req).GetItems()); slices.Contains(got, "F2") {
		t.Errorf("dismissed F2 still recommended: %v", got)
	}
	// The second replica never saw the call: its tailer reloads the
	// customer from the change the feedback committed.
	eventually(t, 30*time.Second, "another replica stops recommending dismissed F2", func() (bool, string) {
		got := ids(crossSell(t, other.client, req).GetItems())
		return slices.Contains(got, "F3") && !slices.Contains(got, "F2"), fmt.Sprint(got)
	})

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.broker.Addrs(), GroupID: "test-reader", Topic: topics.RecommendationEvents, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	km, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no event on %s: %v", topics.RecommendationEvents, err)
	}
	m, err := events.Parse(km)
	if err != nil {
		t.Fatal(err)
	}
	var ev recommendationeventsv1.RecommendationEvent
	if err := m.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	c := ev.GetRecommendationClicked()
	if c.GetProductId() != "F3" || c.GetCustomerId() != "shopper" || c.GetRecommendationId() != first.GetRecommendationId() || c.GetPosition() != 1 {
		t.Errorf("event = %v, want a click on F3 by shopper at position 1 of %s", &ev, first.GetRecommendationId())
	}
}

func TestProductEventsAndRefundsUpdateTheAnswers(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "G1"}, product{id: "G2"}, product{id: "G3"})
	s.publish(topics.CommerceOrders, "u1", order("g1", "u1", t0, "G1", "G2"), order("g2", "u1", t0.Add(time.Minute), "G1", "G3"))
	req := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"G1"}, Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 2}
	eventually(t, 90*time.Second, "G2 and G3 bought with G1", func() (bool, string) {
		got := ids(crossSell(t, svc.client, req).GetItems())
		return slices.Contains(got, "G2") && slices.Contains(got, "G3"), fmt.Sprint(got)
	})

	out := product{id: "G2", stock: commercev1.StockStatus_STOCK_STATUS_OUT_OF_STOCK}.proto()
	s.publish(topics.CommerceProducts, "G2", &commercev1.ProductEvent{Kind: commercev1.ProductEvent_KIND_UPSERTED, Product: out})
	eventually(t, 30*time.Second, "G2 out of stock and gone", func() (bool, string) {
		got := ids(crossSell(t, svc.client, req).GetItems())
		return !slices.Contains(got, "G2"), fmt.Sprint(got)
	})

	s.publish(topics.CommerceOrders, "u1", &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_CANCELLED, OrderId: "g2", CustomerId: "u1"})
	eventually(t, 30*time.Second, "the cancelled order's pair gone", func() (bool, string) {
		resp := crossSell(t, svc.client, req)
		for _, it := range resp.GetItems() {
			if it.GetProductId() == "G3" && it.GetReason().GetKind() == recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER {
				return false, fmt.Sprint(ids(resp.GetItems()))
			}
		}
		return true, ""
	})
}

func count(t *testing.T, pool *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAConsumableDueForReplenishmentIsAnnouncedOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_REPLENISH_INTERVAL": "100ms"})
	svc := s.start()
	upsert(t, svc.client, product{id: "TEA", durability: commercev1.Durability_DURABILITY_CONSUMABLE}, product{id: "MUG"})
	now := time.Now().UTC()
	// Bought every ten days, last ten days ago: due now. The mug is durable.
	s.publish(topics.CommerceOrders, "r1",
		order("t1", "r1", now.Add(-20*24*time.Hour), "TEA", "MUG"),
		order("t2", "r1", now.Add(-10*24*time.Hour), "TEA"))

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.broker.Addrs(), GroupID: "test-reader", Topic: topics.RecommendationEvents, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	km, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no event on %s: %v", topics.RecommendationEvents, err)
	}
	m, err := events.Parse(km)
	if err != nil {
		t.Fatal(err)
	}
	var ev recommendationeventsv1.RecommendationEvent
	if err := m.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	due := ev.GetReplenishmentDue()
	if due.GetCustomerId() != "r1" || due.GetProductId() != "TEA" || math.Abs(due.GetIntervalDays()-10) > 0.01 {
		t.Fatalf("event = %v, want TEA due for r1 every 10 days", &ev)
	}

	// Further scans run every 100ms; none may announce the same occurrence.
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// A pause, not a timed assertion: it lets several scans run, and the
	// check below fails only if one of them announced again.
	time.Sleep(500 * time.Millisecond)
	if n := count(t, pool, "SELECT count(*) FROM replenishment_sent"); n != 1 {
		t.Errorf("%d reminders recorded, want exactly 1", n)
	}
	resp := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "r1", Placement: recommendationv1.Placement_PLACEMENT_EMAIL, Limit: 1})
	if got := resp.GetItems(); len(got) != 1 || got[0].GetProductId() != "TEA" || got[0].GetReason().GetKind() != recommendationv1.ReasonKind_REASON_KIND_BUY_AGAIN {
		t.Errorf("email placement for r1 = %v, want TEA to buy again", got)
	}
}

func TestExperimentVariantsAreServedAndAttributedToFeedback(t *testing.T) {
	t.Parallel()
	// Everyone lands in "trend" (the control has no weight), which serves
	// trending on the cart placement.
	s := newStack(t, map[string]string{"RECO_EXPERIMENTS": `[{"ID":"cart-test","Placement":"cart","Variants":[{"Name":"control","Weight":0},{"Name":"trend","Weight":1,"Strategy":"trending"}]}]`})
	svc := s.start()
	upsert(t, svc.client, product{id: "E1"}, product{id: "E2"}, product{id: "E3"})
	s.publish(topics.CommerceOrders, "u1", order("e1", "u1", t0, "E1", "E2"), order("e2", "u2", t0, "E3"))
	var resp *recommendationv1.GetRecommendationsResponse
	eventually(t, 90*time.Second, "a trending answer in the cart", func() (bool, string) {
		resp = crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "shopper", ProductIds: []string{"E1"}, Placement: recommendationv1.Placement_PLACEMENT_CART, Limit: 2})
		return len(resp.GetItems()) == 2 && resp.GetStrategy() == recommendationv1.Strategy_STRATEGY_TRENDING, fmt.Sprint(ids(resp.GetItems()), resp.GetStrategy())
	})
	if resp.GetVariant() != "trend" {
		t.Errorf("variant = %q, want trend", resp.GetVariant())
	}
	other := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "shopper", ProductIds: []string{"E1"}, Placement: recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, Limit: 2})
	if other.GetVariant() != "" {
		t.Errorf("the product page, outside the experiment, reports variant %q", other.GetVariant())
	}
	_, err := svc.client.RecordFeedback(context.Background(), &recommendationv1.RecordFeedbackRequest{IdempotencyKey: "x1", CustomerId: "shopper", Feedback: []*recommendationv1.Feedback{
		{Kind: recommendationv1.FeedbackKind_FEEDBACK_KIND_CLICK, ProductId: resp.GetItems()[0].GetProductId(), RecommendationId: resp.GetRecommendationId(), Placement: recommendationv1.Placement_PLACEMENT_CART},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if n := count(t, pool, "SELECT count(*) FROM feedback WHERE experiment_id = 'cart-test' AND variant = 'trend' AND kind = 2"); n != 1 {
		t.Errorf("%d clicks attributed to cart-test/trend, want 1", n)
	}

	marketer, err := grpc.NewClient(svc.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(withToken(auth.Claims{Subject: "m1", Roles: []auth.Role{auth.RoleMarketer}})))
	if err != nil {
		t.Fatal(err)
	}
	defer marketer.Close()
	mc := recommendationv1.NewRecommendationServiceClient(marketer)
	results, err := mc.GetExperimentResults(context.Background(), &recommendationv1.GetExperimentResultsRequest{ExperimentId: "cart-test"})
	if err != nil {
		t.Fatalf("GetExperimentResults: %v", err)
	}
	if vs := results.GetVariants(); len(vs) != 2 || vs[0].GetVariant() != "control" || vs[1].GetVariant() != "trend" || vs[1].GetClicks() != 1 || vs[0].GetClicks() != 0 {
		t.Errorf("results = %v, want control with no clicks, then trend with 1 click", results)
	}
	for _, c := range []struct {
		name string
		c    recommendationv1.RecommendationServiceClient
		id   string
		want codes.Code
	}{
		{"an unknown experiment is not found", mc, "nope", codes.NotFound},
		{"a malformed id is invalid", mc, "bad id!", codes.InvalidArgument},
		{"a storefront may not read results", svc.client, "cart-test", codes.PermissionDenied},
	} {
		if _, err := c.c.GetExperimentResults(context.Background(), &recommendationv1.GetExperimentResultsRequest{ExperimentId: c.id}); status.Code(err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, err, c.want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+svc.addrs.HTTP+"/v1/experiments/cart-test/results", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, auth.Claims{Subject: "m1", Roles: []auth.Role{auth.RoleMarketer}}))
	hresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	body, _ := io.ReadAll(hresp.Body)
	if hresp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"variant":"trend"`) || !strings.Contains(string(body), `"clicks":"1"`) {
		t.Errorf("REST results = %d %s, want 200 with trend's click", hresp.StatusCode, body)
	}
}

func TestWhatAnAnonymousVisitorViewedPersonalizesOnceTheySignIn(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "V1"}, product{id: "V2"}, product{id: "V3"}, product{id: "V4"})
	s.publish(topics.CommerceOrders, "u1", order("v1", "u1", t0, "V1", "V2"), order("v2", "u2", t0, "V3", "V4"), order("v3", "u3", t0, "V3", "V4"))
	s.publish(topics.CommerceInteractions, "visitor-7", &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_VIEW, AnonymousId: "visitor-7", ProductId: "V1", OccurredAt: timestamppb.Now()})
	personal := func(req *recommendationv1.GetRecommendationsRequest) func() (bool, string) {
		return func() (bool, string) {
			resp := crossSell(t, svc.client, req)
			got := resp.GetItems()
			return len(got) > 0 && got[0].GetProductId() == "V2" && got[0].GetReason().GetSourceProductId() == "V1", fmt.Sprint(ids(got))
		}
	}
	eventually(t, 90*time.Second, "V2 for the visitor who viewed V1", personal(&recommendationv1.GetRecommendationsRequest{AnonymousId: "visitor-7", Strategy: recommendationv1.Strategy_STRATEGY_PERSONALIZED, Limit: 1}))
	s.publish(topics.CommerceCustomers, "c-77", &commercev1.CustomerEvent{Kind: commercev1.CustomerEvent_KIND_CREATED, Customer: &commercev1.Customer{CustomerId: "c-77", AnonymousIds: []string{"visitor-7"}}})
	eventually(t, 90*time.Second, "V2 for the customer the visitor became", personal(&recommendationv1.GetRecommendationsRequest{CustomerId: "c-77", Strategy: recommendationv1.Strategy_STRATEGY_PERSONALIZED, Limit: 1}))
}

func TestCatalogUpsertsAreIdempotentAndValidated(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	ctx := context.Background()
	req := &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "feed-1", Products: []*commercev1.Product{product{id: "I1"}.proto(), product{id: "I2"}.proto()}}
	first, err := svc.client.BatchUpsertProducts(ctx, req)
	if err != nil || first.GetCreatedCount() != 2 {
		t.Fatalf("first upsert = %v, %v; want 2 created", first, err)
	}
	again, err := svc.client.BatchUpsertProducts(ctx, req)
	if err != nil || again.GetCreatedCount() != 2 || again.GetUpdatedCount() != 0 {
		t.Errorf("a retry with the same key = %v, %v; want the first answer (2 created)", again, err)
	}
	changed := &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "feed-1", Products: []*commercev1.Product{product{id: "I3"}.proto()}}
	if _, err := svc.client.BatchUpsertProducts(ctx, changed); status.Code(err) != codes.AlreadyExists {
		t.Errorf("the same key with another body = %v, want AlreadyExists", err)
	}
	update := &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "feed-2", Products: []*commercev1.Product{product{id: "I1", price: 5}.proto()}}
	if resp, err := svc.client.BatchUpsertProducts(ctx, update); err != nil || resp.GetUpdatedCount() != 1 {
		t.Errorf("an update under a new key = %v, %v; want 1 updated", resp, err)
	}

	bad := []struct {
		name  string
		req   *recommendationv1.BatchUpsertProductsRequest
		field string
	}{
		{"no idempotency key", &recommendationv1.BatchUpsertProductsRequest{Products: []*commercev1.Product{product{id: "I1"}.proto()}}, "idempotency_key"},
		{"no products", &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "k"}, "products"},
		{"a product without a category", &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "k", Products: []*commercev1.Product{{ProductId: "x", Price: &commercev1.Money{AmountMinor: 1, Currency: "EUR"}}}}, "products[0].category_path"},
		{"a lower-case currency", &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "k", Products: []*commercev1.Product{{ProductId: "x", CategoryPath: []string{"a"}, Price: &commercev1.Money{AmountMinor: 1, Currency: "eur"}}}}, "products[0].price.currency"},
		{"a malformed product id", &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "k", Products: []*commercev1.Product{product{id: "a b"}.proto()}}, "products[0].product_id"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.client.BatchUpsertProducts(ctx, c.req)
			st := status.Convert(err)
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if st.Code() != codes.InvalidArgument || !slices.Contains(fields, c.field) {
				t.Errorf("got %v naming %v, want InvalidArgument naming %s", st.Code(), fields, c.field)
			}
		})
	}
}

func TestACustomerReadsOnlyTheirOwnRecommendations(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	conn, err := grpc.NewClient(svc.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(withToken(auth.Claims{Subject: "c1", Roles: []auth.Role{auth.RoleCustomer}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := recommendationv1.NewRecommendationServiceClient(conn)
	if _, err := c.GetRecommendations(context.Background(), &recommendationv1.GetRecommendationsRequest{CustomerId: "c1", Limit: 3}); err != nil {
		t.Errorf("own recommendations: %v", err)
	}
	if _, err := c.GetRecommendations(context.Background(), &recommendationv1.GetRecommendationsRequest{CustomerId: "c2", Limit: 3}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("another customer's recommendations = %v, want PermissionDenied", err)
	}
	if _, err := c.BatchUpsertProducts(context.Background(), &recommendationv1.BatchUpsertProductsRequest{IdempotencyKey: "k", Products: []*commercev1.Product{product{id: "x"}.proto()}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a customer writing the catalog = %v, want PermissionDenied", err)
	}
}

// Customers may call GetRecommendations with their own token, and
// storefronts and e-mails show what it returns: the products it carries
// must never say what the shop earns on them.
func TestRecommendedProductsNeverCarryTheMargin(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "M1", margin: 400}, product{id: "M2", margin: 900}, product{id: "M3", margin: 50})
	s.publish(topics.CommerceOrders, "u1", order("m1", "u1", t0, "M1", "M2", "M3"))
	conn, err := grpc.NewClient(svc.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(withToken(auth.Claims{Subject: "c9", Roles: []auth.Role{auth.RoleCustomer}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	customer := recommendationv1.NewRecommendationServiceClient(conn)
	eventually(t, 90*time.Second, "three recommended products", func() (bool, string) {
		resp, err := customer.GetRecommendations(context.Background(), &recommendationv1.GetRecommendationsRequest{CustomerId: "c9", Limit: 3})
		if err != nil {
			return false, err.Error()
		}
		if len(resp.GetItems()) != 3 {
			return false, fmt.Sprint(ids(resp.GetItems()))
		}
		for _, it := range resp.GetItems() {
			if it.GetProduct().GetPrice().GetAmountMinor() == 0 {
				t.Fatalf("%s came without its catalog data: %v", it.GetProductId(), it.GetProduct())
			}
			if it.GetProduct().GetMargin() != nil {
				t.Fatalf("%s came with its margin: %v", it.GetProductId(), it.GetProduct().GetMargin())
			}
		}
		return true, ""
	})
}

func TestSegmentMembersSeeWhatTheirSegmentBuys(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "G1", category: "Garden/Shears"}, product{id: "H1", category: "Home/Lamps"})
	for _, c := range []string{"gardener-1", "gardener-2"} {
		s.publish(topics.SegmentationEvents, c, &segmentationeventsv1.SegmentationEvent{Event: &segmentationeventsv1.SegmentationEvent_SegmentEntered{SegmentEntered: &segmentationeventsv1.SegmentEntered{SegmentId: "gardeners", CustomerId: c, OccurredAt: timestamppb.New(t0)}}})
	}
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	eventually(t, 90*time.Second, "both gardeners stored", func() (bool, string) {
		n := count(t, pool, "SELECT count(*) FROM customer_segments WHERE member")
		return n == 2, fmt.Sprintf("%d members", n)
	})
	// The shop as a whole buys lamps; the one gardener who ordered bought shears.
	s.publish(topics.CommerceOrders, "x", order("s1", "x1", t0, "H1"), order("s2", "x2", t0, "H1"), order("s3", "x3", t0, "H1"), order("s4", "gardener-1", t0, "G1"))
	req := &recommendationv1.GetRecommendationsRequest{CustomerId: "gardener-2", Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 2}
	eventually(t, 90*time.Second, "shears first, popular in the gardeners' segment", func() (bool, string) {
		got := crossSell(t, svc.client, req).GetItems()
		return len(got) == 2 && got[0].GetProductId() == "G1" && got[0].GetReason().GetText() == "popular with customers like you" && got[1].GetProductId() == "H1",
			fmt.Sprint(ids(got), got)
	})
	outsider := crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: "x9", Strategy: recommendationv1.Strategy_STRATEGY_TRENDING, Limit: 2}).GetItems()
	if len(outsider) == 0 || outsider[0].GetProductId() != "H1" {
		t.Errorf("a customer outside the segment got %v, want the shop's bestseller H1 first", ids(outsider))
	}
}

// Not parallel: a service installs its meter process-wide, so the metrics
// read here must be this service's alone.
func TestTheAnswerCacheIsMeasuredOnTheAdminPort(t *testing.T) {
	s := newStack(t, nil)
	svc := s.start()
	upsert(t, svc.client, product{id: "M1"}, product{id: "M2"})
	s.publish(topics.CommerceOrders, "u1", order("m1", "u1", t0, "M1", "M2"))
	req := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"M1"}, Placement: recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, Limit: 1}
	eventually(t, 90*time.Second, "M2 bought together with M1", func() (bool, string) {
		got := ids(crossSell(t, svc.client, req).GetItems())
		return slices.Equal(got, []string{"M2"}), fmt.Sprint(got)
	})
	// Two first-time visitors ask what the last answer answered.
	for _, v := range []string{"visitor-1", "visitor-2"} {
		r := proto.Clone(req).(*recommendationv1.GetRecommendationsRequest)
		r.AnonymousId = v
		crossSell(t, svc.client, r)
	}
	resp, err := http.Get("http://" + svc.addrs.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var hits float64
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "recommendation_answer_cache_lookups_total{") && strings.Contains(line, `result="hit"`) {
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &hits); err != nil {
				t.Fatalf("hits in %q: %v", line, err)
			}
		}
	}
	if hits < 2 || !strings.Contains(string(body), "recommendation_answer_cache_entries") {
		t.Errorf("admin /metrics: expected at least 2 answer cache hits and the entries gauge, got %v hits in:\n%s", hits, grepLines(string(body), "answer_cache"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
