package app

import (
	"context"
	"slices"
	"sync"

	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// customerStates holds every customer's serving state (newest interactions,
// segments, tier) in memory, so a request never reads the database. It is
// loaded at start and kept current by the tailer, which reloads each
// customer named in customer_changes (written in commit order by every
// writer of customer state, on any replica). Customers without state
// (first-time anonymous visitors) are simply absent.
type customerStates struct {
	// loading serializes reloads (the tailer's and SyncCustomers'), so
	// states are stored in the order they were read and an older read
	// never overwrites a newer one.
	loading sync.Mutex
	mu      sync.RWMutex
	m       map[string]recommend.Customer
}

func newCustomerStates() *customerStates {
	return &customerStates{m: make(map[string]recommend.Customer)}
}

func (c *customerStates) get(key string) (recommend.Customer, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cust, ok := c.m[key]
	return cust, ok
}

func (c *customerStates) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// loadCustomersBatch is how many customers one reload reads.
const loadCustomersBatch = 2000

// reload reads the customers' stored state and replaces theirs in memory;
// a customer with nothing stored any more (an anonymous visitor whose
// interactions moved to a customer) is dropped.
func (c *customerStates) reload(ctx context.Context, s *store.Store, ids []string, recent int) error {
	c.loading.Lock()
	defer c.loading.Unlock()
	for len(ids) > 0 {
		n := min(len(ids), loadCustomersBatch)
		batch := ids[:n]
		ids = ids[n:]
		st, err := s.StatesOf(ctx, batch, recent)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for _, id := range batch {
			evs, segs, tier, owned := st.Events[id], st.Segments[id], st.Tiers[id], st.Owned[id]
			if len(evs) == 0 && len(segs) == 0 && tier == "" {
				delete(c.m, id)
				continue
			}
			// Only what ranking reads is kept: order ids are dropped and
			// ids shared (the interned spelling), which more than halves
			// the memory per event. Each event's ref goes with it, so
			// requests need not look the ids up. Interning stored ids is
			// safe: they come from ingested events, not from requests.
			refs := make([]int32, len(evs))
			for i := range evs {
				refs[i] = catalog.Intern(evs[i].ProductID)
				evs[i].ProductID, evs[i].CustomerID, evs[i].OrderID = catalog.Name(refs[i]), id, ""
			}
			c.m[id] = recommend.Customer{ID: id, Events: slices.Clone(evs), Segments: segs, Tier: tier, Owned: ownedRefs(owned), Refs: refs}
		}
		c.mu.Unlock()
	}
	return nil
}

// loadAll reads every customer with stored state.
func (c *customerStates) loadAll(ctx context.Context, s *store.Store, recent int) error {
	ids, err := s.CustomerKeys(ctx)
	if err != nil {
		return err
	}
	return c.reload(ctx, s, ids, recent)
}

// noneOwned is the Owned of every customer who owns nothing: non-nil, so
// the engine does not derive it from the recent events, and shared.
var noneOwned = []int32{}

// ownedRefs interns the customer's owned products (read over the whole
// history, see store.CustomerStates.Owned) into sorted refs: four bytes a
// product instead of a string. Interning stored ids is safe: they come
// from ingested orders, not from requests, so the table stays bounded.
func ownedRefs(ids []string) []int32 {
	if len(ids) == 0 {
		return noneOwned
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = catalog.Intern(id)
	}
	slices.Sort(out)
	return out
}
