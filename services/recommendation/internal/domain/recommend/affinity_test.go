package recommend

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// The run's affinities (by ref, in a slice) must be exactly the
// interaction package's map by id: same weights to the bit, strongest kind
// and newest time, for ids models know and ids they do not, with the
// customer's refs given or looked up.
func TestAffinitiesByRefAreTheAffinitiesByID(t *testing.T) {
	t.Parallel()
	known := make([]string, 20)
	for i := range known {
		known[i] = fmt.Sprintf("aff-known-%d", i)
		catalog.Intern(known[i])
	}
	unknown := []string{"aff-never-interned-1", "aff-never-interned-2"}
	rng := rand.New(rand.NewPCG(7, 7))
	kinds := []interaction.Kind{interaction.View, interaction.SearchClick, interaction.AddToCart, interaction.RemoveFromCart,
		interaction.Purchase, interaction.Refund, interaction.Dismiss, interaction.Click}
	cfg := DefaultConfig()
	for round := range 200 {
		var events []interaction.Event
		for range rng.IntN(90) {
			id := known[rng.IntN(len(known))]
			if rng.IntN(8) == 0 {
				id = unknown[rng.IntN(len(unknown))]
			}
			events = append(events, interaction.Event{CustomerID: "c", ProductID: id, Kind: kinds[rng.IntN(len(kinds))],
				Quantity: rng.IntN(4), At: now.Add(-time.Duration(rng.IntN(5)) * 24 * time.Hour)})
		}
		want := cfg.Weights.Affinities(events, cfg.Decay, now)
		for _, c := range []Customer{{ID: "c", Events: events}, withRefs(Customer{ID: "c", Events: events})} {
			r := newRun()
			r.cfg, r.now = &cfg, now
			r.begin()
			r.affinities(c)
			got := map[string]interaction.Affinity{}
			seen := map[string]bool{}
			for i, x := range r.affs {
				if seen[x.a.ProductID] {
					t.Fatalf("round %d: %s listed twice", round, x.a.ProductID)
				}
				seen[x.a.ProductID] = true
				got[x.a.ProductID] = x.a
				if wantRef, ok := catalog.Lookup(x.a.ProductID); (ok && x.ref != wantRef) || (!ok && x.ref != -1) {
					t.Fatalf("round %d: %s has ref %d", round, x.a.ProductID, x.ref)
				}
				if x.ref >= 0 && r.product(x.ref).aff != int32(i+1) {
					t.Fatalf("round %d: the slot of %s does not point at its affinity", round, x.a.ProductID)
				}
			}
			if len(want) == 0 && len(got) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d (refs given: %v): got %v, want %v", round, c.Refs != nil, got, want)
			}
			for id, a := range want {
				if r.weightOf(id) != a.Weight {
					t.Fatalf("round %d: weightOf(%s) = %v, want %v", round, id, r.weightOf(id), a.Weight)
				}
			}
		}
	}
}

// Customers whose refs are given get the answers of customers whose ids
// are looked up.
func TestCustomerRefsGiveTheSameAnswers(t *testing.T) {
	t.Parallel()
	s, err := buildBigShopOnce()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 9))
	placements := []Request{{Placement: Cart, Limit: 10}, {Limit: 10}, {Placement: Checkout, Limit: 10}, {Placement: OrderConfirmation, Limit: 10}}
	for i := range 200 {
		c := s.syntheticBuyer(rng, fmt.Sprintf("refs-%d", i))
		c.Events = append(c.Events,
			interaction.Event{CustomerID: c.ID, ProductID: c.Events[0].ProductID, Kind: interaction.Dismiss, At: now.Add(-time.Hour)},
			interaction.Event{CustomerID: c.ID, ProductID: "refs-never-interned", Kind: interaction.Purchase, At: now.Add(-time.Hour)},
			interaction.Event{CustomerID: c.ID, ProductID: s.products[s.zipf(rng)].ID, Kind: interaction.View, At: now.Add(-2 * time.Hour)})
		req := placements[i%len(placements)]
		req.CustomerID = c.ID
		if req.Placement == Cart || req.Placement == Checkout {
			req.ProductIDs = []string{s.products[s.zipf(rng)].ID}
		}
		want, err := s.engine.Recommend(req, c, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.engine.Recommend(req, withRefs(c), now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("customer %d, %+v: with refs %v, without %v", i, req, itemIDs(got.Items), itemIDs(want.Items))
		}
		// As the service holds customers: their owned products known.
		owned := c
		owned.Owned = OwnedFrom(c.Events)
		want, err = s.engine.Recommend(req, owned, now)
		if err != nil {
			t.Fatal(err)
		}
		ownedWithRefs := withRefs(owned)
		if got, err = s.engine.Recommend(req, ownedWithRefs, now); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("customer %d with owned products, %+v: with refs %v, without %v", i, req, itemIDs(got.Items), itemIDs(want.Items))
		}
	}
}
