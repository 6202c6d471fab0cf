package latent

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"
)

// CustomerTop must answer exactly as Top for every customer, page size and
// filter: from the cached list when it decides the answer, by a new scan
// when the filter leaves too few or a tie sits at the last place.
func TestCustomerTopAnswersAsTop(t *testing.T) {
	t.Parallel()
	for _, scan := range []int{0, 12} { // all 203 products; fewer than k+slack
		cfg := testConfig()
		cfg.ScanProducts = scan
		m, err := Train(context.Background(), cfg, manyProducts())
		if err != nil {
			t.Fatal(err)
		}
		// Filters decide by a hash of the id, so both calls see the same
		// answers whatever order they ask in.
		drop := func(id string, seed uint64, outOf int) bool {
			h := fnv.New64a()
			h.Write([]byte(id))
			return (h.Sum64()^seed)%10 < uint64(outOf)
		}
		rng := rand.New(rand.NewPCG(3, 9))
		for c := range 60 {
			customer := fmt.Sprintf("rc%02d", c)
			for _, k := range []int{1, 5, 20, 100, 300} {
				seed := rng.Uint64()
				filters := map[string]func(id string) bool{
					"none":        nil,
					"a third out": func(id string) bool { return !drop(id, seed, 3) },
					"most out":    func(id string) bool { return !drop(id, seed, 9) },
					"all out":     func(string) bool { return false },
				}
				for name, filter := range filters {
					want := m.Top(m.Customer(customer), k, filter)
					for call := range 2 { // a miss, then a hit
						got, ok := m.CustomerTop(customer, k, filter)
						if !ok {
							t.Fatalf("CustomerTop(%s): not ok for a trained customer", customer)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("scan %d, %s, k %d, filter %q, call %d: CustomerTop = %v; Top = %v", scan, customer, k, name, call, got, want)
						}
					}
				}
			}
		}
	}
}

func TestCustomerTopIsNotForCustomersTheModelDoesNotKnow(t *testing.T) {
	t.Parallel()
	m, err := Train(context.Background(), testConfig(), manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	if top, ok := m.CustomerTop("not-trained", 10, nil); ok || top != nil {
		t.Errorf("CustomerTop(unknown) = %v, %v; expected nil, false", top, ok)
	}
}

// Ties at the k-th place are settled by row, so a cached list cut inside
// a run of equal scores must not answer.
func TestCustomerTopSettlesTiesAsTop(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Factors = 1
	m, err := Train(context.Background(), cfg, manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	// One factor and equal product vectors: every product ties.
	for i := range m.y {
		m.y[i] = 0.5
	}
	m.prepareScan()
	for _, k := range []int{1, 7, 40} {
		drop := map[string]bool{}
		for i, id := range m.products {
			if i%3 == 0 {
				drop[id] = true
			}
		}
		keep := func(id string) bool { return !drop[id] }
		want := m.Top(m.Customer("rc01"), k, keep)
		got, _ := m.CustomerTop("rc01", k, keep)
		if !slices.Equal(got, want) {
			t.Errorf("k %d: CustomerTop = %v; Top = %v", k, got, want)
		}
	}
}

func TestTheTopCacheStaysWithinItsBound(t *testing.T) {
	t.Parallel()
	m, err := Train(context.Background(), testConfig(), manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	m.tops.limit = 5
	for c := range 60 {
		customer := fmt.Sprintf("rc%02d", c)
		want := m.Top(m.Customer(customer), 10, nil)
		if got, _ := m.CustomerTop(customer, 10, nil); !slices.Equal(got, want) {
			t.Fatalf("%s: CustomerTop = %v; Top = %v", customer, got, want)
		}
		if n := len(m.tops.m); n > 5 {
			t.Fatalf("after %s the cache holds %d customers; expected at most 5", customer, n)
		}
	}
}
