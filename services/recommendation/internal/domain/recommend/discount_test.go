package recommend

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// discountBySorting is how ranking applied the anchor discount before
// pageDiscounted: sort the tier, discount every candidate by d^k in that
// order (k counted per anchor, uses carrying earlier tiers' counts), sort
// again and page. It is the reference the merge must reproduce exactly.
func discountBySorting(seg []*candidate, why []Reason, uses map[string]int, d float64, limit, capN, tiers int) ([]Item, bool) {
	order := func(a, b *candidate) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.p.ID, b.p.ID)
	}
	slices.SortFunc(seg, order)
	for _, c := range seg {
		if reason := why[c.why]; (c.strategy == CrossSell || c.strategy == Personalized) && reason.ProductID != "" {
			c.score *= math.Pow(d, float64(uses[reason.ProductID]))
			uses[reason.ProductID]++
		}
	}
	slices.SortFunc(seg, order)
	paged := map[int32]int{}
	var items []Item
	for _, c := range seg {
		if len(items) == limit {
			return items, true
		}
		if capN > 0 && paged[c.attrs.Category] >= capN {
			continue
		}
		paged[c.attrs.Category]++
		items = append(items, Item{ProductID: c.p.ID, Score: float64(tiers-c.tier) + c.score/(1+c.score), Reason: why[c.why], Strategy: c.strategy, Product: c.p})
	}
	return items, false
}

// The anchor discount pages a tier by merging the anchors' candidate lists
// instead of sorting the whole tier twice; over random tiers (ties in
// score, several anchors, undiscounted candidates, a diversity cap, counts
// carried from an earlier tier) the page, its scores and whether more
// remain must equal those of sorting.
func TestTheAnchorDiscountPagesAsSortingTheTierWould(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 8))
	for round := range 300 {
		n := 1 + rng.IntN(120)
		anchors := 1 + rng.IntN(8)
		limit := 1 + rng.IntN(20)
		capN := rng.IntN(4)
		d := []float64{0.5, 0.7, 0.9}[rng.IntN(3)]
		products := make([]catalog.Product, n)
		var a, b []*candidate
		var why []Reason
		for i := range n {
			products[i] = catalog.Product{ID: fmt.Sprintf("p%03d", rng.IntN(1000)*1000+i)}
			c := candidate{p: &products[i], tier: 1, score: float64(1 + rng.IntN(6)), strategy: Personalized, why: int32(len(why))}
			var reason Reason
			switch k := rng.IntN(10); {
			case k == 0:
				c.strategy = Trending
			case k == 1:
				c.strategy = CrossSell
			default:
				if k < 5 {
					c.strategy = CrossSell
				}
				// Distinct strings of one anchor id, as requests and
				// models spell them.
				reason.ProductID = strings.Clone(fmt.Sprintf("anchor%d", rng.IntN(anchors)))
			}
			reason.Title = "t"
			// Candidates share reasons, as an anchor's do in a request:
			// half of them take an earlier one of the same strategy and
			// anchor (reason kinds here only tell their strategies apart).
			reason.Kind = ReasonKind(len(c.strategy))
			if j := slices.Index(why, reason); j >= 0 && rng.IntN(2) == 0 {
				c.why = int32(j)
			} else {
				why = append(why, reason)
			}
			c.attrs.Category = int32(rng.IntN(5))
			dup := c
			a, b = append(a, &c), append(b, &dup)
		}
		carried := map[string]int{"anchor0": rng.IntN(3), "anchor1": rng.IntN(2)}
		want, wantMore := discountBySorting(a, why, maps.Clone(carried), d, limit, capN, 2)

		r := newRun()
		r.cfg, r.req.Limit, r.capN = &Config{}, limit, capN
		r.begin()
		r.why = why
		for k, v := range carried {
			r.uses[k] = v
		}
		order := func(x, y *candidate) int {
			if c := cmp.Compare(y.score, x.score); c != 0 {
				return c
			}
			return strings.Compare(x.p.ID, y.p.ID)
		}
		got, gotMore := r.pageDiscounted(b, nil, 2, d, order)
		if gotMore != wantMore || !slices.EqualFunc(got, want, func(x, y Item) bool {
			return x.ProductID == y.ProductID && x.Score == y.Score && x.Reason == y.Reason && x.Strategy == y.Strategy
		}) {
			t.Fatalf("round %d (n %d, anchors %d, limit %d, cap %d, d %v): got %v more=%v, want %v more=%v",
				round, n, anchors, limit, capN, d, itemIDs(got), gotMore, itemIDs(want), wantMore)
		}
	}
}
