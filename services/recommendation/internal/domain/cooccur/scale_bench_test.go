package cooccur

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkBuildAtScale builds the co-occurrence model and every item's
// neighbour list from synthetic orders of SCALE_CUSTOMERS customers
// (default 2,000,000) over SCALE_PRODUCTS products (default 200,000), each
// customer placing 1 to 4 orders of 1 to 6 items, every basket paired with
// the customer's earlier items as the service does. It reports the build
// time, the neighbour ranking time and the heap in use afterwards. Run it
// once: -benchtime 1x.
func BenchmarkBuildAtScale(b *testing.B) {
	customers, products := envInt(b, "SCALE_CUSTOMERS", 2_000_000), envInt(b, "SCALE_PRODUCTS", 200_000)
	names := make([]string, products)
	for i := range names {
		names[i] = fmt.Sprintf("sku-%07d", i)
	}
	for b.Loop() {
		runtime.GC()
		m := mustNew(b, DefaultConfig())
		rng := rand.New(rand.NewPCG(42, 7))
		zipf := rand.NewZipf(rng, 1.05, 8, uint64(products-1))
		start := time.Now()
		orders := 0
		basket := make([]string, 0, 6)
		var hist []string
		for range customers {
			hist = hist[:0]
			for range 1 + rng.IntN(4) {
				basket = basket[:0]
				lead := int(zipf.Uint64())
				basket = append(basket, names[lead])
				for range rng.IntN(6) {
					// Mostly the lead's neighbourhood (its "category"), sometimes anything.
					if rng.IntN(3) > 0 {
						basket = append(basket, names[(lead/100)*100+rng.IntN(100)%products])
					} else {
						basket = append(basket, names[zipf.Uint64()])
					}
				}
				m.Observe(basket, hist, 1)
				orders++
				for i := len(basket) - 1; i >= 0; i-- {
					hist = append([]string{basket[i]}, hist...)
				}
				if len(hist) > DefaultConfig().MaxHistory {
					hist = hist[:DefaultConfig().MaxHistory]
				}
			}
		}
		build := time.Since(start)
		start = time.Now()
		for _, n := range names {
			m.Neighbors(n, 20)
		}
		rank := time.Since(start)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := m.Stats()
		b.Logf("%d customers, %d orders, %d products: counted in %s, all neighbour lists ranked in %s; %d items, %d pairs, heap in use %.0f MB",
			customers, orders, products, build.Round(time.Millisecond), rank.Round(time.Millisecond), st.Items, st.Pairs, float64(ms.HeapInuse)/(1<<20))
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(rank.Seconds(), "rank-s")
		b.ReportMetric(float64(orders)/build.Seconds(), "orders/s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	}
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		b.Fatalf("%s=%q: want an integer of at least 2", name, v)
	}
	return n
}
