package recommend

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// withLatent trains a latent model on customers who, in separate orders,
// buy garden tools and a teapot: the co-occurrence model never pairs the
// spade with the teapot (no shared basket in the shop fixture), but the
// latent model learns that spade buyers are teapot buyers.
func withLatent(t *testing.T, s *shop, weight float64) *Engine {
	t.Helper()
	customers := map[string][]interaction.Event{}
	for i := range 30 {
		id := fmt.Sprintf("g%02d", i)
		for j, p := range []string{"spade", "gloves", "teapot"} {
			customers[id] = append(customers[id], interaction.Event{CustomerID: id, ProductID: p, Kind: interaction.Purchase, At: now.Add(-time.Duration(j+1) * 24 * time.Hour)})
		}
	}
	for i := range 30 {
		id := fmt.Sprintf("k%02d", i)
		for _, p := range []string{"espresso-machine", "grinder", "coffee-beans"} {
			customers[id] = append(customers[id], interaction.Event{CustomerID: id, ProductID: p, Kind: interaction.Purchase, At: now.Add(-48 * time.Hour)})
		}
	}
	lc := latent.DefaultConfig()
	lc.Factors, lc.Regularization = 4, 5
	m, err := latent.TrainEvents(context.Background(), lc, customers, now)
	if err != nil {
		t.Fatal(err)
	}
	h := &latent.Holder{}
	h.Store(m)
	cfg := s.engine.Config()
	cfg.LatentWeight = weight
	e, err := NewEngine(cfg, Models{Catalog: s.cat, Bought: s.bought, Viewed: s.viewed, Trending: s.trending, Latent: h})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPersonalizedBlendsInTheLatentModelWithinTheRules(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	cust := Customer{ID: "new-gardener", Events: []interaction.Event{
		ev("spade", interaction.Purchase, 2),
		ev("shears", interaction.Dismiss, 1),
	}}
	for _, tc := range []struct {
		name       string
		weight     float64
		wantTeapot bool
	}{
		{"with the latent model", 1, true},
		{"with the latent model switched off", 0, false},
	} {
		e := withLatent(t, s, tc.weight)
		resp, err := e.Recommend(Request{CustomerID: cust.ID, Strategy: Personalized, Limit: 5}, cust, now)
		if err != nil {
			t.Fatalf("%s: expected no error, got %v", tc.name, err)
		}
		var teapot *Item
		for i, it := range resp.Items {
			if it.ProductID == "spade" || it.ProductID == "shears" || it.ProductID == "descaler" {
				t.Errorf("%s: got %s, which the rules exclude (owned durable, dismissed, out of stock): %v", tc.name, it.ProductID, itemIDs(resp.Items))
			}
			if it.ProductID == "teapot" && it.Strategy == Personalized {
				teapot = &resp.Items[i]
			}
		}
		if (teapot != nil) != tc.wantTeapot {
			t.Fatalf("%s: personalized teapot offered = %v, want %v (items %v)", tc.name, teapot != nil, tc.wantTeapot, itemIDs(resp.Items))
		}
		if teapot != nil && (teapot.Reason.Kind != ReasonBecauseYouBought || teapot.Reason.ProductID != "spade") {
			t.Errorf("%s: teapot's reason = %+v, want because you bought spade", tc.name, teapot.Reason)
		}
	}
}

func TestCrossSellFollowsAKnownCustomersTaste(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	// Filters, the grinder and the beans all go with the espresso machine.
	// In the latent model's training, machine owners who drink tea bought
	// the beans, the others the filters and the grinder.
	customers := map[string][]interaction.Event{}
	for i := range 30 {
		for prefix, items := range map[string][]string{
			"t": {"espresso-machine", "coffee-beans", "tea"},
			"f": {"espresso-machine", "filters", "grinder"},
		} {
			id := fmt.Sprintf("%s%02d", prefix, i)
			for _, p := range items {
				customers[id] = append(customers[id], interaction.Event{CustomerID: id, ProductID: p, Kind: interaction.Purchase, At: now.Add(-48 * time.Hour)})
			}
		}
	}
	lc := latent.DefaultConfig()
	lc.Factors, lc.Regularization = 4, 5
	m, err := latent.TrainEvents(context.Background(), lc, customers, now)
	if err != nil {
		t.Fatal(err)
	}
	h := &latent.Holder{}
	h.Store(m)
	answer := func(weight float64, cust Customer) []string {
		t.Helper()
		cfg := s.engine.Config()
		// Cross-sell's own latent weight; the customer's purchases as a
		// second source are off, so only the anchor's neighbours compete.
		cfg.CrossSell.LatentWeight, cfg.CrossSell.HistoryWeight = weight, 0
		e, err := NewEngine(cfg, Models{Catalog: s.cat, Bought: s.bought, Viewed: s.viewed, Trending: s.trending, Latent: h})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.Recommend(Request{CustomerID: cust.ID, ProductIDs: []string{"espresso-machine"}, Strategy: CrossSell, Limit: 3}, cust, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range resp.Items {
			if it.Strategy == CrossSell && it.Reason.ProductID != "espresso-machine" {
				t.Errorf("cross-sell item %s explained by %q, want the anchor espresso-machine", it.ProductID, it.Reason.ProductID)
			}
		}
		return itemIDs(resp.Items)
	}
	teaDrinker := Customer{ID: "new", Events: []interaction.Event{ev("tea", interaction.Purchase, 2)}}
	plain := answer(0, teaDrinker)
	if plain[0] == "coffee-beans" {
		t.Fatalf("without the model the beans already lead (%v); the fixture no longer tests the re-rank", plain)
	}
	if got := answer(1.5, teaDrinker); got[0] != "coffee-beans" {
		t.Errorf("a tea drinker got %v with the model, want the beans first (without it: %v)", got, plain)
	}
	if got := answer(1.5, Customer{}); !slices.Equal(got, plain) {
		t.Errorf("an anonymous visitor got %v with the model, want the co-occurrence order %v", got, plain)
	}
}
