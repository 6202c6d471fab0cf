package recommend

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// uncached is an engine over s's models with the answer cache off: the
// answer every cached one must equal.
func uncached(t *testing.T, s *shop) *Engine {
	t.Helper()
	cfg := s.engine.Config()
	cfg.AnswerCacheTTL = 0
	e, err := NewEngine(cfg, Models{Catalog: s.cat, Bought: s.bought, Viewed: s.engine.Viewed(), Trending: s.trending})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Each change to something a stateless visitor's answer is computed from
// must show in the next identical request, exactly as an engine without
// the cache answers it; and the change must alter the answer, or the case
// proves nothing.
func TestTheAnswerCacheFollowsEveryChangeItsAnswersReadFrom(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		req    Request
		change func(t *testing.T, s *shop)
	}{
		{
			name: "orders make new products bought together",
			req:  Request{ProductIDs: []string{"teapot"}, Placement: ProductPage, Limit: 3},
			change: func(_ *testing.T, s *shop) {
				for range 20 {
					s.bought.Observe([]string{"teapot", "shears"}, nil, 1)
				}
			},
		},
		{
			name: "a recommended product goes out of stock",
			req:  Request{ProductIDs: []string{"espresso-machine"}, Placement: ProductPage, Limit: 3},
			change: func(t *testing.T, s *shop) {
				p, _ := s.cat.Get("coffee-beans")
				p.Stock, p.UpdatedAt = catalog.OutOfStock, now
				if !s.cat.Upsert(p) {
					t.Fatal("upsert of coffee-beans: expected it to apply")
				}
			},
		},
		{
			name: "a price change moves a product into the upsell band",
			req:  Request{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 5},
			change: func(t *testing.T, s *shop) {
				p, _ := s.cat.Get("espresso-machine")
				p.Price.Minor, p.UpdatedAt = 15000, now
				if !s.cat.Upsert(p) {
					t.Fatal("upsert of espresso-machine: expected it to apply")
				}
			},
		},
		{
			name: "a product starts trending",
			req:  Request{Strategy: Trending, Limit: 4},
			change: func(_ *testing.T, s *shop) {
				s.trending.Add(trending.GlobalKey, "gloves", 500, now.Add(-time.Minute))
			},
		},
		{
			name: "shoppers view other products together",
			req:  Request{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 5},
			change: func(_ *testing.T, s *shop) {
				for range 40 {
					s.engine.Viewed().Observe([]string{"grinder", "luxury-grinder"}, nil, 1)
				}
			},
		},
		{
			name: "the co-view model is rebuilt",
			req:  Request{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 5},
			change: func(t *testing.T, s *shop) {
				v, err := cooccur.New(cooccur.DefaultConfig())
				if err != nil {
					t.Fatal(err)
				}
				for range 40 {
					v.Observe([]string{"grinder", "luxury-grinder"}, nil, 1)
				}
				s.engine.SetViewed(v)
			},
		},
		{
			name: "a marketer adds a boost",
			req:  Request{Strategy: Trending, Limit: 4},
			change: func(t *testing.T, s *shop) {
				cfg := s.engine.Config()
				cfg.Boosts = []Boost{{Name: "garden week", Multiplier: 50, Categories: []string{"Garden"}}}
				if err := s.engine.SetConfig(cfg); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, nil)
			visitor := func(n int) Customer { return Customer{ID: fmt.Sprintf("anon:v%d", n)} }
			before, err := s.engine.Recommend(tc.req, visitor(1), now)
			if err != nil {
				t.Fatalf("first request: %v", err)
			}
			again, err := s.engine.Recommend(tc.req, visitor(2), now)
			if err != nil {
				t.Fatalf("second request: %v", err)
			}
			if st := s.engine.AnswerCacheStats(); st.Hits != 1 {
				t.Fatalf("the same request by a second stateless visitor: expected a cache hit, got %+v", st)
			}
			if !reflect.DeepEqual(before.Items, again.Items) {
				t.Fatalf("cached answer differs: %v, then %v", itemIDs(before.Items), itemIDs(again.Items))
			}
			tc.change(t, s)
			after, err := s.engine.Recommend(tc.req, visitor(3), now)
			if err != nil {
				t.Fatalf("request after the change: %v", err)
			}
			want, err := uncached(t, s).Recommend(tc.req, visitor(3), now)
			if err != nil {
				t.Fatalf("uncached request: %v", err)
			}
			if !reflect.DeepEqual(after, want) {
				t.Errorf("after the change: expected the uncached answer %v, got %v", itemIDs(want.Items), itemIDs(after.Items))
			}
			if reflect.DeepEqual(before.Items, want.Items) {
				t.Errorf("the change left the answer as it was (%v); the case tests nothing", itemIDs(want.Items))
			}
		})
	}
}

func TestTheAnswerCacheKeepsAnswersForAtMostItsTTLAndNotPastABoostBoundary(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) {
		c.AnswerCacheTTL = 10 * time.Second
		c.Boosts = []Boost{{Name: "garden hour", Multiplier: 50, Categories: []string{"Garden"}, From: now.Add(3 * time.Second)}}
	})
	req := Request{Strategy: Trending, Limit: 4}
	ask := func(at time.Time) Response {
		t.Helper()
		resp, err := s.engine.Recommend(req, Customer{}, at)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := ask(now)
	ask(now.Add(2 * time.Second))
	if st := s.engine.AnswerCacheStats(); st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("within the TTL and before the boost starts: expected one hit after one miss, got %+v", st)
	}
	// The boost starts at +3s: the answer computed at 0 is not served.
	boosted := ask(now.Add(3 * time.Second))
	want, err := uncached(t, s).Recommend(req, Customer{}, now.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(boosted, want) || reflect.DeepEqual(itemIDs(first.Items), itemIDs(want.Items)) {
		t.Fatalf("when the boost starts: expected the boosted answer %v (unlike %v), got %v", itemIDs(want.Items), itemIDs(first.Items), itemIDs(boosted.Items))
	}
	// Computed at +3s, it is kept until +13s and not at +13s.
	ask(now.Add(12 * time.Second))
	ask(now.Add(13 * time.Second))
	if st := s.engine.AnswerCacheStats(); st.Hits != 2 || st.Misses != 3 {
		t.Fatalf("expected a hit before the TTL ends and a miss at its end (2 hits, 3 misses), got %+v", st)
	}
	// An earlier time than the answer's (a clock stepped back) computes
	// afresh rather than serving an answer from the future.
	ask(now.Add(12 * time.Second))
	if st := s.engine.AnswerCacheStats(); st.Misses != 4 {
		t.Fatalf("a request timed before the cached answer: expected a miss, got %+v", st)
	}
}

func TestVisitorsWithStateOfTheirOwnAreNeverServedFromTheCache(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	req := Request{ProductIDs: []string{"espresso-machine"}, Placement: ProductPage, Limit: 4}
	for _, cust := range []Customer{
		{ID: "c1", Events: []interaction.Event{ev("grinder", interaction.Purchase, 3)}},
		{ID: "c2", Segments: []string{"gardeners"}},
		{ID: "c3", Tier: "gold"},
		{ID: "c4", Owned: []int32{catalog.Intern("grinder")}},
	} {
		for range 2 {
			if _, err := s.engine.Recommend(req, cust, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := s.engine.AnswerCacheStats(); st != (AnswerCacheStats{}) {
		t.Errorf("customers with history, segments, a tier or owned products: expected no cache use, got %+v", st)
	}
	// A customer with no recent events but a trained vector is answered
	// from the vector, so is not stateless either.
	hist := map[string][]interaction.Event{}
	for c := range 20 {
		id := fmt.Sprintf("c%d", c)
		for j, p := range []string{"grinder", "coffee-beans", "teapot", "spade"}[c%3:] {
			hist[id] = append(hist[id], interaction.Event{CustomerID: id, ProductID: p, Kind: interaction.Purchase, Quantity: 1, At: now.Add(-time.Duration(j+1) * 24 * time.Hour)})
		}
	}
	lc := latent.DefaultConfig()
	lc.Factors = 4
	lm, err := latent.TrainEvents(context.Background(), lc, hist, now)
	if err != nil {
		t.Fatal(err)
	}
	if stateless(Customer{ID: "c1"}, lm) {
		t.Error("a customer the latent model was trained on: expected not stateless")
	}
	if !stateless(Customer{ID: "anon:new"}, lm) || !stateless(Customer{}, lm) {
		t.Error("a visitor the latent model does not know: expected stateless")
	}
}

// A cached first page is shared, the page token is not: each visitor's
// token continues their own list.
func TestACachedFirstPageGivesEachVisitorTheirOwnPageToken(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	ref := uncached(t, s)
	req := Request{Strategy: Trending, Limit: 3}
	var firstPages []Response
	for _, v := range []string{"anon:a", "anon:b"} {
		cust := Customer{ID: v}
		r := req
		r.CustomerID = v
		page1, err := s.engine.Recommend(r, cust, now)
		if err != nil {
			t.Fatal(err)
		}
		want1, err := ref.Recommend(r, cust, now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(page1, want1) {
			t.Fatalf("%s first page: expected %+v, got %+v", v, want1, page1)
		}
		r.PageToken = page1.NextPageToken
		page2, err := s.engine.Recommend(r, cust, now)
		if err != nil {
			t.Fatalf("%s second page with their token: %v", v, err)
		}
		for _, id := range itemIDs(page2.Items) {
			if slices.Contains(itemIDs(page1.Items), id) {
				t.Errorf("%s: %s on both pages", v, id)
			}
		}
		firstPages = append(firstPages, page1)
	}
	if st := s.engine.AnswerCacheStats(); st.Hits != 1 {
		t.Errorf("the second visitor's first page: expected a cache hit, got %+v", st)
	}
	if firstPages[0].NextPageToken == firstPages[1].NextPageToken {
		t.Error("two visitors got the same page token; a token is bound to its visitor")
	}
}

func TestTheAnswerCacheStaysWithinItsSize(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) { c.AnswerCacheSize = answerShards })
	ids := []string{"espresso-machine", "grinder", "premium-grinder", "luxury-grinder", "budget-grinder", "coffee-beans", "filters", "teapot", "tea", "spade", "gloves", "shears"}
	for limit := 1; limit <= 10; limit++ {
		for _, id := range ids {
			if _, err := s.engine.Recommend(Request{ProductIDs: []string{id}, Placement: ProductPage, Limit: limit}, Customer{}, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := s.engine.AnswerCacheStats(); st.Entries > answerShards || st.Misses != 120 {
		t.Errorf("120 different requests into a cache of %d: expected at most %d entries and 120 misses, got %+v", answerShards, answerShards, st)
	}
}

func TestAnswerCacheSettingsMustNotBeNegative(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field  string
		mutate func(*Config)
	}{
		{"answer_cache_ttl", func(c *Config) { c.AnswerCacheTTL = -time.Second }},
		{"answer_cache_size", func(c *Config) { c.AnswerCacheSize = -1 }},
	} {
		cfg := DefaultConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s negative: expected an error naming it, got %v", tc.field, err)
		}
	}
}
