package recommend

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// bigShop is the serving benchmark's store: 50,000 products in 500 leaf
// categories, models built from 500,000 synthetic orders whose baskets mix
// a Zipf-popular product with products of the same and neighbouring
// categories, as real baskets do.
type bigShop struct {
	engine   *Engine
	products []catalog.Product
	zipf     func(r *rand.Rand) int
	build    time.Duration
	heap     uint64
}

var (
	bigOnce sync.Once
	big     *bigShop
	bigErr  error
)

const (
	bigProducts   = 50_000
	bigCategories = 500
	bigOrders     = 500_000
)

// loadBigShop returns the shared synthetic shop with an engine of its own
// whose answer cache is off: the engine benchmarks measure ranking, and
// repeated anonymous requests would otherwise measure cache hits
// (BenchmarkRecommendByPlacement/cached_product_page measures one).
func loadBigShop(b *testing.B) *bigShop {
	b.Helper()
	bigOnce.Do(func() { big, bigErr = buildBigShop() })
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	cfg := big.engine.Config()
	cfg.AnswerCacheTTL = 0
	e, err := NewEngine(cfg, big.engine.m)
	if err != nil {
		b.Fatal(err)
	}
	e.SetViewed(big.engine.Viewed())
	s := *big
	s.engine = e
	return &s
}

// buildBigShopOnce is loadBigShop for tests.
func buildBigShopOnce() (*bigShop, error) {
	bigOnce.Do(func() { big, bigErr = buildBigShop() })
	return big, bigErr
}

func buildBigShop() (*bigShop, error) {
	start := time.Now()
	rng := rand.New(rand.NewPCG(2026, 5))
	idx := catalog.NewIndex()
	products := make([]catalog.Product, bigProducts)
	byCat := make([][]int, bigCategories)
	for i := range products {
		c := i % bigCategories
		kind := catalog.Durable
		if i%10 == 0 {
			kind = catalog.Consumable
		}
		stock := catalog.InStock
		if i%50 == 7 {
			stock = catalog.OutOfStock
		}
		p := catalog.Product{
			ID:           fmt.Sprintf("sku-%06d", i),
			Title:        fmt.Sprintf("Product %d", i),
			CategoryPath: []string{fmt.Sprintf("dept%02d", c/50), fmt.Sprintf("aisle%02d", c/10), fmt.Sprintf("cat%03d", c)},
			Price:        catalog.Money{Minor: int64(100 + rng.IntN(50_000)), Currency: "EUR"},
			Margin:       int64(rng.IntN(50)), HasMargin: true,
			Kind: kind, Stock: stock, Brand: fmt.Sprintf("brand%d", i%40),
			Tags: []string{fmt.Sprintf("t%d", i%17), fmt.Sprintf("t%d", i%23)},
		}
		products[i] = p
		idx.Upsert(p)
		byCat[c] = append(byCat[c], i)
	}
	bought, err := cooccur.New(cooccur.DefaultConfig())
	if err != nil {
		return nil, err
	}
	viewed, err := cooccur.New(cooccur.DefaultConfig())
	if err != nil {
		return nil, err
	}
	t0 := now.Add(-90 * 24 * time.Hour)
	board, err := trending.New(trending.DefaultConfig(), t0)
	if err != nil {
		return nil, err
	}
	z := rand.NewZipf(rng, 1.05, 4, bigProducts-1)
	zipf := func(*rand.Rand) int { return int(z.Uint64()) }
	basket := make([]string, 0, 8)
	for o := range bigOrders {
		basket = basket[:0]
		anchor := zipf(rng)
		basket = append(basket, products[anchor].ID)
		c := anchor % bigCategories
		for range rng.IntN(5) {
			cc := c
			if rng.IntN(3) == 0 {
				cc = (c + 1 + rng.IntN(3)) % bigCategories
			}
			list := byCat[cc]
			basket = append(basket, products[list[min(len(list)-1, int(rng.ExpFloat64()*5))]].ID)
		}
		bought.Observe(basket, nil, 1)
		if o%5 == 0 {
			viewed.Observe(basket[:1], []string{products[byCat[c][rng.IntN(len(byCat[c]))]].ID}, 1)
		}
		at := t0.Add(time.Duration(o) * (90 * 24 * time.Hour / bigOrders))
		for _, id := range basket {
			p, _ := idx.Get(id)
			board.Add(trending.GlobalKey, id, 1, at)
			for _, k := range trending.CategoryKeys(p.CategoryPath) {
				board.Add(k, id, 1, at)
			}
		}
	}
	e, err := NewEngine(DefaultConfig(), Models{Catalog: idx, Bought: bought, Viewed: viewed, Trending: board})
	if err != nil {
		return nil, err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &bigShop{engine: e, products: products, zipf: zipf, build: time.Since(start), heap: ms.HeapAlloc}, nil
}

// request draws one request of the placement mix: product page 40%, cart
// 25%, checkout 10%, personalized 15%, e-mail 10%.
func (s *bigShop) request(rng *rand.Rand) (Request, Customer) {
	pick := func() string { return s.products[s.zipf(rng)].ID }
	cust := Customer{ID: fmt.Sprintf("c%d", rng.IntN(1_000_000))}
	switch k := rng.IntN(100); {
	case k < 40:
		return Request{ProductIDs: []string{pick()}, Placement: ProductPage, Limit: 10}, Customer{}
	case k < 65:
		return Request{ProductIDs: []string{pick(), pick(), pick()}, Placement: Cart, Limit: 10, MaxPerCategory: 3}, cust
	case k < 75:
		return Request{ProductIDs: []string{pick(), pick()}, Placement: Checkout, Limit: 8}, cust
	default:
		for i := range 20 {
			kind := []interaction.Kind{interaction.View, interaction.View, interaction.AddToCart, interaction.Purchase}[i%4]
			cust.Events = append(cust.Events, interaction.Event{CustomerID: cust.ID, ProductID: pick(), Kind: kind, Quantity: 1, At: now.Add(-time.Duration(i) * 36 * time.Hour)})
		}
		// The app layer gives every loaded customer the products owned over
		// the whole history; these events are the whole history.
		cust.Owned = OwnedFrom(cust.Events)
		if k < 90 {
			return Request{CustomerID: cust.ID, Placement: PlacementUnspecified, Strategy: Personalized, Limit: 10}, cust
		}
		return Request{CustomerID: cust.ID, Placement: Email, Limit: 10}, cust
	}
}

// BenchmarkRecommendMix reports, besides ns/op, the latency percentiles of
// single requests, the time to build the store and models, and the heap
// they occupy.
func BenchmarkRecommendMix(b *testing.B) {
	s := loadBigShop(b)
	rng := rand.New(rand.NewPCG(9, 9))
	reqs := make([]Request, 4096)
	custs := make([]Customer, 4096)
	for i := range reqs {
		reqs[i], custs[i] = s.request(rng)
	}
	// Warm the lazily ranked neighbour lists, as a serving pod is warm
	// after its first requests.
	for i := range reqs {
		if _, err := s.engine.Recommend(reqs[i], custs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := time.Now()
		if _, err := s.engine.Recommend(reqs[i%len(reqs)], custs[i%len(reqs)], now); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t))
		}
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(s.build.Seconds(), "build-s")
	b.ReportMetric(float64(s.heap)/(1<<20), "heap-MiB")
}

func BenchmarkRecommendMixParallel(b *testing.B) {
	s := loadBigShop(b)
	rng := rand.New(rand.NewPCG(10, 10))
	reqs := make([]Request, 4096)
	custs := make([]Customer, 4096)
	for i := range reqs {
		reqs[i], custs[i] = s.request(rng)
	}
	for i := range reqs {
		if _, err := s.engine.Recommend(reqs[i], custs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next sync.Mutex
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		i := n * 1000
		n++
		next.Unlock()
		for pb.Next() {
			if _, err := s.engine.Recommend(reqs[i%len(reqs)], custs[i%len(reqs)], now); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkRecommendByPlacement(b *testing.B) {
	s := loadBigShop(b)
	for _, pl := range []struct {
		name string
		req  func(rng *rand.Rand) (Request, Customer)
	}{
		{"product_page", func(rng *rand.Rand) (Request, Customer) {
			return Request{ProductIDs: []string{s.products[s.zipf(rng)].ID}, Placement: ProductPage, Limit: 10}, Customer{}
		}},
		{"upsell", func(rng *rand.Rand) (Request, Customer) {
			return Request{ProductIDs: []string{s.products[s.zipf(rng)].ID}, Strategy: Upsell, Limit: 10}, Customer{}
		}},
		{"trending_cold_start", func(*rand.Rand) (Request, Customer) {
			return Request{Placement: ProductPage, Limit: 10, ProductIDs: []string{"unknown-sku"}}, Customer{}
		}},
	} {
		b.Run(pl.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(11, 11))
			b.ReportAllocs()
			for b.Loop() {
				req, cust := pl.req(rng)
				if _, err := s.engine.Recommend(req, cust, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A first-time visitor's product page answered from the answer cache.
	b.Run("cached_product_page", func(b *testing.B) {
		cached, err := NewEngine(DefaultConfig(), s.engine.m)
		if err != nil {
			b.Fatal(err)
		}
		req := Request{ProductIDs: []string{s.products[s.zipf(rand.New(rand.NewPCG(11, 11)))].ID}, Placement: ProductPage, Limit: 10}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cached.Recommend(req, Customer{ID: "anon:v1"}, now); err != nil {
				b.Fatal(err)
			}
		}
		if st := cached.AnswerCacheStats(); st.Misses != 1 {
			b.Fatalf("expected one miss then hits, got %+v", st)
		}
	})
}

// BenchmarkServingMix is the gRPC serving benchmark's request mix
// (internal/ports BenchmarkServing) on the engine alone, with the same
// settings (diversity cap 3, a cart threshold): anonymous product pages
// 40%, carts of known customers 20%, personalized home pages 20%,
// checkout 10%, upsell 10%. Customers have about a dozen purchases in five
// orders, as the serving benchmark's synthetic shop gives them.
func BenchmarkServingMix(b *testing.B) {
	s := loadBigShop(b)
	cfg := s.engine.Config()
	cfg.MaxPerCategory = 3
	cfg.CartThreshold = catalog.Money{Minor: 5000, Currency: "EUR"}
	e, err := NewEngine(cfg, Models{Catalog: s.engine.m.Catalog, Bought: s.engine.m.Bought, Trending: s.engine.m.Trending})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(12, 12))
	popular := func() string { return s.products[int(rng.ExpFloat64()*500)%len(s.products)].ID }
	custs := make([]Customer, 5000)
	for i := range custs {
		// As the service holds its customers: with their events' refs
		// and their owned products.
		custs[i] = withRefs(s.syntheticBuyer(rng, fmt.Sprintf("c%d", i)))
		custs[i].Owned = OwnedFrom(custs[i].Events)
	}
	reqs := make([]Request, 4096)
	rc := make([]Customer, len(reqs))
	for i := range reqs {
		cust := custs[rng.IntN(len(custs))]
		switch n := rng.IntN(10); {
		case n < 4:
			reqs[i] = Request{Placement: ProductPage, ProductIDs: []string{popular()}, Limit: 10}
		case n < 6:
			reqs[i], rc[i] = Request{Placement: Cart, CustomerID: cust.ID, ProductIDs: []string{popular(), popular(), popular()}, Limit: 10}, cust
		case n < 8:
			reqs[i], rc[i] = Request{CustomerID: cust.ID, Limit: 10}, cust
		case n < 9:
			reqs[i], rc[i] = Request{Placement: Checkout, CustomerID: cust.ID, ProductIDs: []string{popular()}, Limit: 10}, cust
		default:
			reqs[i] = Request{Placement: ProductPage, Strategy: Upsell, ProductIDs: []string{popular()}, Limit: 10}
		}
	}
	for i := range reqs {
		if _, err := e.Recommend(reqs[i], rc[i], now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	// CPU time per request besides wall time: on a machine shared with
	// other jobs, wall time mostly measures the scheduler.
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		if _, err := e.Recommend(reqs[i%len(reqs)], rc[i%len(reqs)], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// syntheticBuyer is a customer as the serving benchmark's synthetic shop
// makes them: five orders of one to four Zipf-popular products, 200 hours
// apart, the newest 200 hours before now.
func (s *bigShop) syntheticBuyer(rng *rand.Rand, id string) Customer {
	c := Customer{ID: id}
	for o := range 5 {
		for range 1 + rng.IntN(4) {
			c.Events = append(c.Events, interaction.Event{CustomerID: id, ProductID: s.products[s.zipf(rng)].ID, Kind: interaction.Purchase, Quantity: 1, At: now.Add(-time.Duration(o+1) * 200 * time.Hour)})
		}
	}
	return c
}

// withRefs returns c with its events' refs (Customer.Refs), -1 for an id
// no model interned.
func withRefs(c Customer) Customer {
	c.Refs = make([]int32, len(c.Events))
	for i, e := range c.Events {
		c.Refs[i] = -1
		if ref, ok := catalog.Lookup(e.ProductID); ok {
			c.Refs[i] = ref
		}
	}
	return c
}
