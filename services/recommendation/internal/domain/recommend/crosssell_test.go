package recommend

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

func TestKthLargestFindsTheThresholdOfTheBestK(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	random := make([]float64, 500)
	for i := range random {
		random[i] = float64(rng.IntN(50)) / 7 // many ties
	}
	ascending, descending := make([]float64, 300), make([]float64, 300)
	for i := range ascending {
		ascending[i], descending[i] = float64(i), float64(300-i)
	}
	for _, tc := range []struct {
		name string
		xs   []float64
		k    int
	}{
		{"one value", []float64{3}, 1},
		{"the best of two", []float64{1, 2}, 1},
		{"the worst of two", []float64{1, 2}, 2},
		{"all equal", []float64{4, 4, 4, 4, 4}, 3},
		{"random with ties, k in the middle", random, 50},
		{"random with ties, k the last", random, len(random)},
		{"already ascending", ascending, 30},
		{"descending", descending, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := slices.Clone(tc.xs)
			slices.Sort(want)
			slices.Reverse(want)
			if got := kthLargest(slices.Clone(tc.xs), tc.k); got != want[tc.k-1] {
				t.Errorf("k=%d of %d values: got %v, want %v", tc.k, len(tc.xs), got, want[tc.k-1])
			}
		})
	}
}

// A known customer's cross-sell list draws on two sources: the anchors'
// co-purchase neighbours ("bought together with X") and, weighted lower,
// the neighbours of the customer's own purchases ("because you bought W").
// Every item's reason names a product it was actually bought with.
func TestCrossSellAddsTheNeighboursOfTheCustomersPurchases(t *testing.T) {
	t.Parallel()
	gardener := Customer{ID: "c1", Events: []interaction.Event{ev("spade", interaction.Purchase, 3)}}
	for _, tc := range []struct {
		name        string
		history     float64
		cust        Customer
		wantHistory bool
	}{
		{"a customer with purchases gets their neighbours", 0.2, gardener, true},
		{"the source switched off", 0, gardener, false},
		{"an anonymous visitor has no purchases to draw on", 0.2, Customer{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, func(c *Config) { c.CrossSell.HistoryWeight = tc.history })
			resp, err := s.engine.Recommend(Request{CustomerID: tc.cust.ID, ProductIDs: []string{"teapot"}, Strategy: CrossSell, Limit: 5}, tc.cust, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Items) == 0 || resp.Items[0].ProductID != "tea" || resp.Items[0].Reason.Kind != ReasonBoughtTogether || resp.Items[0].Reason.ProductID != "teapot" {
				t.Fatalf("got %+v, want the tea first, bought together with the teapot", resp.Items)
			}
			fromHistory := 0
			for _, it := range resp.Items {
				if it.ProductID == "spade" {
					t.Errorf("the owned spade was offered again: %v", itemIDs(resp.Items))
				}
				if it.Strategy != CrossSell {
					continue
				}
				anchor := it.Reason.ProductID
				switch it.Reason.Kind {
				case ReasonBoughtTogether, ReasonAlsoBought:
					if anchor != "teapot" {
						t.Errorf("%s is explained as bought with %q, which is not in the request", it.ProductID, anchor)
					}
				case ReasonBecauseYouBought:
					fromHistory++
					if anchor != "spade" {
						t.Errorf("%s is explained by the purchase %q, want the spade", it.ProductID, anchor)
					}
				default:
					t.Errorf("%s has reason %v, want a co-purchase reason", it.ProductID, it.Reason.Kind)
				}
				if s.bought.Score(anchor, it.ProductID) <= 0 {
					t.Errorf("%s is explained by %s but was never bought with it", it.ProductID, anchor)
				}
			}
			if got := fromHistory > 0; got != tc.wantHistory {
				t.Errorf("items from the customer's purchases: %d in %v, want some: %v", fromHistory, itemIDs(resp.Items), tc.wantHistory)
			}
		})
	}
}

// The candidates the latent model re-ranks are still co-purchase
// neighbours: whatever the model prefers, each cross-sell item is one
// that was bought with the product its reason names.
func TestCrossSellWithTheLatentModelKeepsItsReasonsTrue(t *testing.T) {
	t.Parallel()
	s := newShop(t, nil)
	e := withLatent(t, s, 1.5)
	for _, cust := range []Customer{
		{ID: "g01", Events: []interaction.Event{ev("spade", interaction.Purchase, 2), ev("gloves", interaction.Purchase, 2)}},
		{ID: "k01", Events: []interaction.Event{ev("grinder", interaction.Purchase, 2)}},
		{ID: "new", Events: []interaction.Event{ev("tea", interaction.Purchase, 1)}},
	} {
		for _, anchors := range [][]string{{"espresso-machine"}, {"teapot"}, {"espresso-machine", "spade"}, nil} {
			resp, err := e.Recommend(Request{CustomerID: cust.ID, ProductIDs: anchors, Strategy: CrossSell, Limit: 10}, cust, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range resp.Items {
				if it.Strategy != CrossSell {
					continue
				}
				if s.bought.Score(it.Reason.ProductID, it.ProductID) <= 0 {
					t.Errorf("customer %s, anchors %v: %s is explained by %s (%v) but was never bought with it", cust.ID, anchors, it.ProductID, it.Reason.ProductID, it.Reason.Kind)
				}
				if it.Reason.Kind == ReasonBecauseYouBought && slices.Contains(anchors, it.Reason.ProductID) {
					t.Errorf("customer %s: %s explained as a past purchase of the anchor %s", cust.ID, it.ProductID, it.Reason.ProductID)
				}
			}
		}
	}
}

func TestCrossSellSettingsAreValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*CrossSellConfig)
	}{
		{"negative latent weight", func(c *CrossSellConfig) { c.LatentWeight = -1 }},
		{"NaN history weight", func(c *CrossSellConfig) { c.HistoryWeight = math.NaN() }},
		{"too many history items", func(c *CrossSellConfig) { c.HistoryItems = 100000 }},
		{"negative history neighbours", func(c *CrossSellConfig) { c.HistoryNeighbors = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			tc.mutate(&cfg.CrossSell)
			if err := cfg.Validate(); err == nil {
				t.Errorf("config with %s validated", tc.name)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}
