package app

import (
	"sync"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// customerCache keeps recently read customer state for a short time, so a
// shopper paging through a site costs one database read per TTL instead of
// three per request. Writes made through this replica invalidate their
// customer at once; writes through other replicas are seen within the TTL.
type customerCache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]cachedCustomer
}

type cachedCustomer struct {
	c       recommend.Customer
	expires time.Time
}

func newCustomerCache(ttl time.Duration, max int) *customerCache {
	return &customerCache{ttl: ttl, max: max, m: make(map[string]cachedCustomer)}
}

func (c *customerCache) get(key string, now time.Time) (recommend.Customer, bool) {
	if c.ttl <= 0 {
		return recommend.Customer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.expires) {
		return recommend.Customer{}, false
	}
	return e.c, true
}

func (c *customerCache) put(key string, cust recommend.Customer, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Map iteration order is random: dropping the first entries seen
		// is random eviction, which needs no bookkeeping on reads.
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= c.max/8+1 {
				break
			}
		}
	}
	c.m[key] = cachedCustomer{c: cust, expires: now.Add(c.ttl)}
}

func (c *customerCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
