package cooccur

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// buildSynthetic fills a model with orders over a catalog whose popularity
// follows a power law, like real retail, so popular rows are long.
func buildSynthetic(tb testing.TB, products, orders int) (*Model, []string) {
	tb.Helper()
	m := mustNew(tb, DefaultConfig())
	names := make([]string, products)
	for i := range names {
		names[i] = fmt.Sprintf("sku-%06d", i)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(products-1))
	basket := make([]string, 0, 8)
	hist := make([]string, 0, 8)
	for range orders {
		basket = basket[:0]
		for range 1 + rng.IntN(6) {
			basket = append(basket, names[zipf.Uint64()])
		}
		hist = hist[:0]
		for range rng.IntN(4) {
			hist = append(hist, names[zipf.Uint64()])
		}
		m.Observe(basket, hist, 1)
	}
	return m, names
}

func BenchmarkObserve(b *testing.B) {
	m, names := buildSynthetic(b, 50_000, 10_000)
	rng := rand.New(rand.NewPCG(1, 1))
	basket := make([]string, 4)
	hist := make([]string, 3)
	b.ReportAllocs()
	for b.Loop() {
		for i := range basket {
			basket[i] = names[rng.IntN(len(names))]
		}
		for i := range hist {
			hist[i] = names[rng.IntN(len(names))]
		}
		m.Observe(basket, hist, 1)
	}
}

func BenchmarkNeighborsCached(b *testing.B) {
	m, names := buildSynthetic(b, 50_000, 200_000)
	for _, n := range names[:1000] {
		m.Neighbors(n, 20)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Neighbors(names[i%1000], 20)
		i++
	}
}

func BenchmarkNeighborsAfterUpdate(b *testing.B) {
	m, names := buildSynthetic(b, 50_000, 200_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// The worst case: the item was just touched by an order, so its
		// row is re-ranked on read.
		m.Observe([]string{names[i%100], names[100+i%5000]}, nil, 1)
		m.Neighbors(names[i%100], 20)
		i++
	}
}

// BenchmarkNeighborsOfAHistory reads the lists of 30 products, as a
// request does for a customer's history, from two goroutines at once:
// one NeighborsRef per product against one NeighborsRefs for all.
func BenchmarkNeighborsOfAHistory(b *testing.B) {
	m, names := buildSynthetic(b, 50_000, 200_000)
	refs := make([]int32, 1000)
	for i, n := range names[:1000] {
		refs[i] = catalog.Intern(n)
		m.NeighborsRef(refs[i], 20)
	}
	const history = 30
	b.Run("one_lock_each", func(b *testing.B) {
		b.SetParallelism(1)
		b.RunParallel(func(pb *testing.PB) {
			i, sum := 0, 0
			for pb.Next() {
				for j := range history {
					sum += len(m.NeighborsRef(refs[(i+j*31)%len(refs)], 20))
				}
				i++
			}
			_ = sum
		})
	})
	b.Run("one_lock_for_all", func(b *testing.B) {
		b.SetParallelism(1)
		b.RunParallel(func(pb *testing.PB) {
			batch := make([]int32, history)
			out := make([][]Neighbor, history)
			i, sum := 0, 0
			for pb.Next() {
				for j := range history {
					batch[j] = refs[(i+j*31)%len(refs)]
				}
				m.NeighborsRefs(batch, 20, out)
				for _, ns := range out {
					sum += len(ns)
				}
				i++
			}
			_ = sum
		})
	})
}
