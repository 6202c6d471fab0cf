package recommend

import (
	"errors"
	"strings"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// FuzzRecommend feeds arbitrary request fields (as the ports layer would
// after decoding) and checks the engine's promises: only validation errors,
// never a panic, and every answer obeys the rules.
func FuzzRecommend(f *testing.F) {
	f.Add("c1", "espresso-machine,teapot", "cart", "", 5, "", "grinder", "Kitchen", "", 2)
	f.Add("", "grinder", "product_page", "upsell", 3, "", "", "", "Garden", 0)
	f.Add("c 1", "", "sidebar", "magic", 0, "!!", "", "/", "", -1)
	s := newShop(f, nil)
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	f.Fuzz(func(t *testing.T, customer, products, placement, strategy string, limit int, token, exclude, include, excludeCat string, maxPer int) {
		req := Request{
			CustomerID: customer, ProductIDs: split(products), Placement: Placement(placement), Strategy: Strategy(strategy),
			Limit: limit, PageToken: token, ExcludeIDs: split(exclude), IncludeCategories: split(include),
			ExcludeCategories: split(excludeCat), MaxPerCategory: maxPer,
		}
		for page := 0; page < 5; page++ {
			resp, err := s.engine.Recommend(req, Customer{ID: customer}, now)
			if err != nil {
				var ve *domain.ValidationError
				if !errors.As(err, &ve) || ve.Field == "" {
					t.Fatalf("expected only validation errors naming a field, got %v", err)
				}
				return
			}
			if len(resp.Items) > req.Limit {
				t.Fatalf("expected at most %d items, got %d", req.Limit, len(resp.Items))
			}
			banned := map[string]bool{}
			for _, id := range append(append([]string{}, req.ProductIDs...), req.ExcludeIDs...) {
				banned[id] = true
			}
			seen := map[string]bool{}
			for i, it := range resp.Items {
				p, ok := s.cat.Get(it.ProductID)
				switch {
				case !ok:
					t.Fatalf("unknown product %q returned", it.ProductID)
				case seen[it.ProductID]:
					t.Fatalf("duplicate %q", it.ProductID)
				case banned[it.ProductID]:
					t.Fatalf("context or excluded product %q returned", it.ProductID)
				case !p.Stock.Available():
					t.Fatalf("out-of-stock %q returned", it.ProductID)
				case i > 0 && it.Score > resp.Items[i-1].Score:
					t.Fatalf("scores not decreasing at %d", i)
				}
				seen[it.ProductID] = true
			}
			if resp.NextPageToken == "" {
				return
			}
			req.PageToken = resp.NextPageToken
		}
	})
}
