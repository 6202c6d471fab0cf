package recommend

import (
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// shop is a small, hand-made store whose right answers are known.
//
//	Kitchen/Coffee:  espresso-machine (durable, 300.00), grinder (durable, 120.00),
//	                 premium-grinder (durable, 200.00), luxury-grinder (durable, 400.00),
//	                 budget-grinder (durable, 100.00), coffee-beans (consumable, 15.00),
//	                 filters (consumable, 5.00), descaler (consumable, 10.00, OUT OF STOCK)
//	Kitchen/Tea:     teapot (durable, 40.00), tea (consumable, 8.00)
//	Garden/Tools:    spade (durable, 30.00), gloves (durable, 12.00), shears (durable, 25.00)
type shop struct {
	cat      *catalog.Index
	bought   *cooccur.Model
	viewed   *cooccur.Model
	trending *trending.Board
	engine   *Engine
}

func product(id, cat string, price int64, kind catalog.Kind, stock catalog.StockStatus) catalog.Product {
	path := map[string][]string{
		"coffee": {"Kitchen", "Coffee"},
		"tea":    {"Kitchen", "Tea"},
		"garden": {"Garden", "Tools"},
	}[cat]
	return catalog.Product{
		ID: id, Title: "The " + id, CategoryPath: path,
		Price: catalog.Money{Minor: price, Currency: "EUR"},
		Kind:  kind, Stock: stock, Brand: "acme", UpdatedAt: now.Add(-time.Hour),
	}
}

func newShop(t testing.TB, mutate func(*Config)) *shop {
	t.Helper()
	s := &shop{cat: catalog.NewIndex()}
	D, C, in, out := catalog.Durable, catalog.Consumable, catalog.InStock, catalog.OutOfStock
	for _, p := range []catalog.Product{
		product("espresso-machine", "coffee", 30000, D, in),
		product("grinder", "coffee", 12000, D, in),
		product("premium-grinder", "coffee", 20000, D, in),
		product("luxury-grinder", "coffee", 40000, D, in),
		product("budget-grinder", "coffee", 10000, D, in),
		product("coffee-beans", "coffee", 1500, C, in),
		product("filters", "coffee", 500, C, in),
		product("descaler", "coffee", 1000, C, out),
		product("teapot", "tea", 4000, D, in),
		product("tea", "tea", 800, C, in),
		product("spade", "garden", 3000, D, in),
		product("gloves", "garden", 1200, D, in),
		product("shears", "garden", 2500, D, in),
	} {
		if err := p.Validate(); err != nil {
			t.Fatalf("fixture product %s invalid: %v", p.ID, err)
		}
		s.cat.Upsert(p)
	}
	var err error
	cfg := cooccur.DefaultConfig()
	if s.bought, err = cooccur.New(cfg); err != nil {
		t.Fatal(err)
	}
	if s.viewed, err = cooccur.New(cfg); err != nil {
		t.Fatal(err)
	}
	if s.trending, err = trending.New(trending.DefaultConfig(), now.Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	orders := []struct {
		n     int
		items []string
	}{
		{6, []string{"espresso-machine", "coffee-beans", "descaler"}},
		{4, []string{"espresso-machine", "grinder"}},
		{3, []string{"espresso-machine", "filters"}},
		{5, []string{"grinder", "coffee-beans"}},
		{3, []string{"teapot", "tea"}},
		{2, []string{"tea", "coffee-beans"}},
		{4, []string{"spade", "gloves"}},
		{2, []string{"spade", "shears"}},
	}
	for _, o := range orders {
		for range o.n {
			s.bought.Observe(o.items, nil, 1)
			for _, id := range o.items {
				p, _ := s.cat.Get(id)
				s.trending.Add(trending.GlobalKey, id, 1, now.Add(-24*time.Hour))
				for _, k := range trending.CategoryKeys(p.CategoryPath) {
					s.trending.Add(k, id, 1, now.Add(-24*time.Hour))
				}
			}
		}
	}
	s.trending.Add(trending.SegmentKey("gardeners"), "shears", 5, now.Add(-time.Hour))
	// Shoppers looking at the grinder also look at the premium one (a
	// substitute), rarely at the luxury one.
	for range 5 {
		s.viewed.Observe([]string{"grinder", "premium-grinder"}, nil, 1)
	}
	s.viewed.Observe([]string{"grinder", "luxury-grinder"}, nil, 1)

	ec := DefaultConfig()
	// The hand-made answers of the tests rank by relation alone; the
	// trending prior and anchor diversity have their own tests.
	ec.TrendingPrior, ec.AnchorDiversity = 0, 0
	if mutate != nil {
		mutate(&ec)
	}
	s.engine, err = NewEngine(ec, Models{Catalog: s.cat, Bought: s.bought, Viewed: s.viewed, Trending: s.trending})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return s
}

func ev(product string, kind interaction.Kind, daysAgo int) interaction.Event {
	return interaction.Event{CustomerID: "c1", ProductID: product, Kind: kind, Quantity: 1, At: now.Add(-time.Duration(daysAgo) * 24 * time.Hour)}
}

func itemIDs(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ProductID
	}
	return out
}
