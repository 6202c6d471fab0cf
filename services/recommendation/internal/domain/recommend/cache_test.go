package recommend

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// The engine reads products and trending boards by interned id and
// recycles its per-request state; these tests change the models between two
// identical requests and expect the second answer to follow the change,
// as an engine without caches would.
func TestTrendingFallbackFollowsModelChangesBetweenRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(t *testing.T, s *shop)
		gone   string // no longer recommended after the change
		added  string // recommended only after the change
	}{
		{
			name: "a trending product that goes out of stock leaves the next answer",
			change: func(t *testing.T, s *shop) {
				p, _ := s.cat.Get("coffee-beans")
				p.Stock, p.UpdatedAt = catalog.OutOfStock, now
				if !s.cat.Upsert(p) {
					t.Fatal("upsert of coffee-beans: expected it to apply, it did not")
				}
			},
			gone: "coffee-beans",
		},
		{
			name: "a product that starts trending enters the next answer",
			change: func(_ *testing.T, s *shop) {
				s.trending.Add(trending.GlobalKey, "luxury-grinder", 500, now.Add(-time.Minute))
			},
			added: "luxury-grinder",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, nil)
			req := Request{Strategy: Trending, Limit: 5}
			before, err := s.engine.Recommend(req, Customer{}, now)
			if err != nil {
				t.Fatalf("first request: expected no error, got %v", err)
			}
			tc.change(t, s)
			after, err := s.engine.Recommend(req, Customer{}, now)
			if err != nil {
				t.Fatalf("second request: expected no error, got %v", err)
			}
			b, a := itemIDs(before.Items), itemIDs(after.Items)
			if tc.gone != "" && (!slices.Contains(b, tc.gone) || slices.Contains(a, tc.gone)) {
				t.Errorf("expected %s before the change and not after, got before %v, after %v", tc.gone, b, a)
			}
			if tc.added != "" && (slices.Contains(b, tc.added) || !slices.Contains(a, tc.added)) {
				t.Errorf("expected %s after the change and not before, got before %v, after %v", tc.added, b, a)
			}
		})
	}
}

func TestRepeatedRequestsAnswerTheSame(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) { c.MaxPerCategory = 2 })
	cust := Customer{ID: "c1", Events: nil, Segments: []string{"gardeners"}}
	reqs := []Request{
		{ProductIDs: []string{"espresso-machine"}, Placement: ProductPage, Limit: 4},
		{Strategy: Trending, Limit: 6},
		{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 3},
		{Placement: Email, CustomerID: "c1", Limit: 5},
	}
	first := make([][]Item, len(reqs))
	for round := range 3 {
		for i, req := range reqs {
			resp, err := s.engine.Recommend(req, cust, now)
			if err != nil {
				t.Fatalf("round %d request %d: expected no error, got %v", round, i, err)
			}
			if round == 0 {
				first[i] = resp.Items
				continue
			}
			if !slices.Equal(resp.Items, first[i]) {
				t.Errorf("round %d request %d: expected the first answer %v, got %v", round, i, first[i], resp.Items)
			}
		}
	}
}

// Requests run concurrently with catalog and trending updates share the
// engine's caches and recycled state; each answer must still be a valid
// list (run with -race to check the sharing itself).
func TestConcurrentRequestsDuringUpdatesAnswerValidLists(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) { c.MaxPerCategory = 2 })
	reqs := []Request{
		{ProductIDs: []string{"espresso-machine"}, Placement: ProductPage, Limit: 4},
		{Strategy: Trending, Limit: 6},
		{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 3},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			p, _ := s.cat.Get("tea")
			p.UpdatedAt = now.Add(time.Duration(i) * time.Second)
			s.cat.Upsert(p)
			s.trending.Add(trending.GlobalKey, "gloves", 0.5, now.Add(-time.Hour))
		}
	}()
	errs := make(chan string, 4)
	for w := range 4 {
		go func() {
			for i := range 200 {
				resp, err := s.engine.Recommend(reqs[(w+i)%len(reqs)], Customer{}, now)
				if err != nil {
					errs <- err.Error()
					return
				}
				ids := itemIDs(resp.Items)
				slices.Sort(ids)
				if len(ids) == 0 || len(slices.Compact(ids)) != len(resp.Items) {
					errs <- "expected a non-empty list without repeats, got " + strings.Join(itemIDs(resp.Items), ",")
					return
				}
			}
			errs <- ""
		}()
	}
	for range 4 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	<-done
}

// The engine keeps per-product state of a request in recycled arrays told
// apart by a generation number; nothing of one request (products in
// context, excluded, owned, dismissed, or candidates and category counts)
// may leak into the next.
func TestARequestDoesNotInheritThePreviousRequestsState(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) { c.MaxPerCategory = 2 })
	probe := Request{Strategy: Trending, Limit: 10}
	want, err := s.engine.Recommend(probe, Customer{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Items) < 3 {
		t.Fatalf("fixture: expected at least 3 trending items, got %v", want.Items)
	}
	top := want.Items[0].ProductID
	owner := Customer{ID: "c9", Events: []interaction.Event{ev(top, interaction.Purchase, 1), ev(want.Items[1].ProductID, interaction.Dismiss, 1)}}
	for _, before := range []struct {
		name string
		req  Request
		cust Customer
	}{
		{"the previous request had the product in context", Request{ProductIDs: []string{top}, Placement: Cart, Limit: 5}, Customer{}},
		{"the previous request excluded it", Request{Strategy: Trending, Limit: 5, ExcludeIDs: []string{top}}, Customer{}},
		{"the previous customer owned one and dismissed another", Request{Strategy: Trending, Limit: 5, CustomerID: "c9"}, owner},
	} {
		t.Run(before.name, func(t *testing.T) {
			for range 3 {
				if _, err := s.engine.Recommend(before.req, before.cust, now); err != nil {
					t.Fatal(err)
				}
				got, err := s.engine.Recommend(probe, Customer{}, now)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Items, want.Items) {
					t.Fatalf("expected the same answer as without the previous request %v, got %v", want.Items, got.Items)
				}
			}
		})
	}
}
