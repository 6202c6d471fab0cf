package recommend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// BenchmarkCrossSellCart is the serving mix's cart request alone: a known
// customer with about a dozen purchases in five orders and three products
// in the cart, the plan cross-sell then personalized; without and with a
// latent model (trained on the benchmark's customers), which cross-sell
// and personalized blend in. home_with_latent is the home page of the
// same customers (personalized first), with the model, measured after a
// first visit of every customer: customers come back, and the model's
// best products for each are cached after their first visit.
func BenchmarkCrossSellCart(b *testing.B) {
	s := loadBigShop(b)
	rng := rand.New(rand.NewPCG(13, 13))
	popular := func() string { return s.products[int(rng.ExpFloat64()*500)%len(s.products)].ID }
	reqs := make([]Request, 4096)
	custs := make([]Customer, len(reqs))
	for i := range reqs {
		c := s.syntheticBuyer(rng, fmt.Sprintf("c%d", i))
		custs[i] = c
		reqs[i] = Request{Placement: Cart, CustomerID: c.ID, ProductIDs: []string{popular(), popular(), popular()}, Limit: 10}
	}
	events := make(map[string][]interaction.Event, len(custs))
	for _, c := range custs {
		events[c.ID] = c.Events
	}
	lm, err := latent.TrainEvents(context.Background(), latent.DefaultConfig(), events, now)
	if err != nil {
		b.Fatal(err)
	}
	h := &latent.Holder{}
	h.Store(lm)
	withModel, err := NewEngine(s.engine.Config(), Models{Catalog: s.engine.m.Catalog, Bought: s.engine.m.Bought, Trending: s.engine.m.Trending, Latent: h})
	if err != nil {
		b.Fatal(err)
	}
	home := make([]Request, len(reqs))
	for i, c := range custs {
		home[i] = Request{CustomerID: c.ID, Limit: 10}
	}
	for _, bc := range []struct {
		name string
		e    *Engine
		reqs []Request
	}{{"without_latent", s.engine, reqs}, {"with_latent", withModel, reqs}, {"home_with_latent", withModel, home}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := range bc.reqs {
				if _, err := bc.e.Recommend(bc.reqs[i], custs[i], now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := bc.e.Recommend(bc.reqs[i%len(bc.reqs)], custs[i%len(bc.reqs)], now); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
