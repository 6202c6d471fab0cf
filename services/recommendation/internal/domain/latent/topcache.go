package latent

import "sync"

// cachedCustomers bounds how many customers' lists CustomerTop keeps per
// model: about 1 kB each at the engine's 100 candidates, so about 20 MB.
const cachedCustomers = 20_000

// topSlack is how many products beyond k a cached list holds, so that the
// customer's own purchases, the products in view and the like, which the
// caller filters out, usually leave k to answer with.
const topSlack = 32

// topCache holds, per trained customer, the model's best products for
// them before any filter: a trained customer's vector, and so this list,
// only changes with the next model, which starts with an empty cache.
type topCache struct {
	mu sync.Mutex
	m  map[string]cachedTop
	// limit overrides cachedCustomers (tests); 0 keeps it.
	limit int
}

// cachedTop is top's unfiltered answer for n products.
type cachedTop struct {
	n    int
	list []rowScore
}

// CustomerTop answers Top(m.Customer(customerID), k, keep) for a customer
// the model was trained on, exactly, from the customer's cached list of
// best products when that list decides the answer; ok is false for a
// customer the model does not know (fold their events in and call Top).
//
// The cached list is Top's unfiltered answer for k+topSlack products, and
// every product left out of it scores no higher than its last. The
// filtered answer is the list's first k products that keep accepts when
// the k-th of them scores above the next accepted one (a tie at the k-th
// place is settled by row, which the cut list may not show) and, unless
// the list holds
// every product, above the list's last. Otherwise the products are
// scanned again with the filter.
func (m *Model) CustomerTop(customerID string, k int, keep func(id string) bool) (top []Scored, ok bool) {
	user := m.Customer(customerID)
	if user == nil {
		return nil, false
	}
	if k <= 0 {
		return nil, true
	}
	n := k + topSlack
	list, cached := m.tops.get(customerID, n)
	if !cached {
		list = m.top(user, n, nil)
		m.tops.put(customerID, cachedTop{n, list})
	}
	all := len(list) < n // the scan had no more products than these
	kept := make([]rowScore, 0, k+1)
	for _, r := range list {
		if keep == nil || keep(m.products[r.row]) {
			if kept = append(kept, r); len(kept) > k {
				break
			}
		}
	}
	switch {
	case len(kept) < k && all:
		return m.scored(kept), true
	case len(kept) < k:
	case len(kept) > k && kept[k-1].score <= kept[k].score:
	case !all && kept[k-1].score <= list[len(list)-1].score:
	default:
		return m.scored(kept[:k]), true
	}
	return m.Top(user, k, keep), true
}

// get returns the customer's cached list of n products.
func (c *topCache) get(customerID string, n int) ([]rowScore, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[customerID]
	return e.list, ok && e.n == n
}

// put stores a customer's list, dropping an arbitrary other one when the
// cache is full.
func (c *topCache) put(customerID string, e cachedTop) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedTop)
	}
	limit := cachedCustomers
	if c.limit > 0 {
		limit = c.limit
	}
	if _, ok := c.m[customerID]; !ok && len(c.m) >= limit {
		for id := range c.m {
			delete(c.m, id)
			break
		}
	}
	c.m[customerID] = e
}
