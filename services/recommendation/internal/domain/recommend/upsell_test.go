package recommend

import (
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
)

func TestUpsellPrefersSubstitutesOverProductsBoughtTogether(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// premiumBoughtWithGrinder is how many orders hold both the grinder
		// and the premium grinder.
		premiumBoughtWithGrinder int
		want                     string
	}{
		{"co-viewed most and never bought together", 0, "premium-grinder"},
		{"co-viewed most but usually bought together", 8, "pro-grinder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newShop(t, nil)
			s.cat.Upsert(product("pro-grinder", "coffee", 15000, catalog.Durable, catalog.InStock))
			for range tc.premiumBoughtWithGrinder {
				s.bought.Observe([]string{"grinder", "premium-grinder"}, nil, 1)
			}
			// The periodic rebuild swaps in a new co-view model: shoppers
			// look at the grinder with the premium one more often than with
			// the pro one.
			viewed, err := cooccur.New(cooccur.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			for range 12 {
				viewed.Observe([]string{"grinder", "premium-grinder"}, nil, 1)
			}
			for range 2 {
				viewed.Observe([]string{"grinder", "pro-grinder"}, nil, 1)
			}
			s.engine.SetViewed(viewed)
			resp, err := s.engine.Recommend(Request{ProductIDs: []string{"grinder"}, Strategy: Upsell, Limit: 2}, Customer{}, now)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if len(resp.Items) == 0 || resp.Items[0].ProductID != tc.want || resp.Items[0].Strategy != Upsell {
				t.Fatalf("expected %s first as an upgrade from grinder, got %+v", tc.want, resp.Items)
			}
		})
	}
}
