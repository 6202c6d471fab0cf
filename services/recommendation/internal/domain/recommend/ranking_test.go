package recommend

import (
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// With a diversity cap, an upsell whose candidates all share the anchor's
// category must still fall back to trending so the list is full.
func TestADiversityCapStillFillsTheList(t *testing.T) {
	t.Parallel()
	s := newShop(t, func(c *Config) { c.MaxPerCategory = 1 })
	resp, err := s.engine.Recommend(Request{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 3}, Customer{}, now)
	if err != nil {
		t.Fatal(err)
	}
	got := itemIDs(resp.Items)
	// The shop has three categories, so three is the most a cap of one allows.
	if len(got) != 3 {
		t.Fatalf("got %d items %v, want a full list of 3", len(got), got)
	}
	seen := map[string]bool{}
	for _, it := range resp.Items {
		p, _ := s.cat.Get(it.ProductID)
		if seen[p.CategoryKey()] {
			t.Errorf("%v has two items of %s with a cap of 1", got, p.CategoryKey())
		}
		seen[p.CategoryKey()] = true
	}
}

// The trending prior lifts a related product that sells now above an
// equally related one that does not; without it the order is by relation.
func TestTheTrendingPriorPrefersWhatSellsNow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		prior float64
		first string
	}{
		{"without the prior, relation alone", 0, "filters"},
		{"with the prior, the bestseller", 50, "coffee-beans"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, func(cfg *Config) { cfg.TrendingPrior = c.prior; cfg.MarginBoost = 0 })
			// Equal relation to the new anchor; coffee-beans sells far more.
			for range 3 {
				s.bought.Observe([]string{"kettle", "filters"}, nil, 1)
				s.bought.Observe([]string{"kettle", "coffee-beans"}, nil, 1)
			}
			resp, err := s.engine.Recommend(Request{ProductIDs: []string{"kettle"}, Strategy: CrossSell, Limit: 2}, Customer{}, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := itemIDs(resp.Items); len(got) == 0 || got[0] != c.first {
				t.Errorf("got %v, want %s first", got, c.first)
			}
		})
	}
}

// Anchor diversity lets a second anchor's neighbour into the list ahead of
// the first anchor's weaker ones.
func TestAnchorDiversitySpreadsTheListOverTheCustomersInterests(t *testing.T) {
	t.Parallel()
	// The espresso machine is the much stronger interest.
	cust := Customer{ID: "c1", Events: []interaction.Event{
		ev("espresso-machine", interaction.Purchase, 1), ev("espresso-machine", interaction.Purchase, 2),
		ev("espresso-machine", interaction.Purchase, 3), ev("espresso-machine", interaction.Purchase, 4),
		ev("spade", interaction.Purchase, 20),
	}}
	for _, c := range []struct {
		name      string
		diversity float64
		wantSpade bool
	}{
		{"off, the strongest anchor fills the top", 0, false},
		{"on, the second anchor gets a place", 0.1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, func(cfg *Config) { cfg.AnchorDiversity = c.diversity; cfg.CategoryAffinity = 0 })
			resp, err := s.engine.Recommend(Request{CustomerID: "c1", Strategy: Personalized, Limit: 2}, cust, now)
			if err != nil {
				t.Fatal(err)
			}
			fromSpade := false
			for _, it := range resp.Items {
				if it.Reason.ProductID == "spade" {
					fromSpade = true
				}
			}
			if fromSpade != c.wantSpade {
				t.Errorf("items %v: one because of the spade = %v, want %v", itemIDs(resp.Items), fromSpade, c.wantSpade)
			}
		})
	}
}
