package auth

import (
	"slices"
	"sync"
	"time"
)

// verifiedCacheSize bounds how many verified tokens a Verifier remembers. A
// storefront sends the same customer's token on every page view, so a few
// thousand recent tokens cover the working set; each entry is a token
// (a few hundred bytes) and its claims.
const verifiedCacheSize = 8192

// verifiedCache remembers tokens whose signature was already checked, so a
// token seen again skips parsing and signature verification (a JWT check
// costs more than a small RPC's handler). It keeps two generations: lookups
// promote entries from the older one, and when the current one is full the
// older is dropped, which approximates LRU without per-hit bookkeeping.
//
// An entry is only ever served while its token is unexpired (with the same
// leeway Verify allows), and the whole cache is dropped whenever the key set
// is reloaded, so a key removed from the JWKS stops being accepted at once.
type verifiedCache struct {
	mu       sync.RWMutex
	cur, old map[string]verifiedEntry
	// gen counts clears. A verification that began before a clear (with a
	// key that may since have been withdrawn) must not be stored after it.
	gen uint64
}

type verifiedEntry struct {
	claims Claims
	// until is when the token stops being accepted: its exp plus leeway.
	until time.Time
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{cur: make(map[string]verifiedEntry, verifiedCacheSize/2)}
}

// get returns the claims of a verified token still valid at now. The roles
// are copied: callers may hold on to and change the claims they get.
func (c *verifiedCache) get(token string, now time.Time) (Claims, bool) {
	c.mu.RLock()
	e, ok := c.cur[token]
	promote := false
	if !ok {
		e, ok = c.old[token]
		promote = ok
	}
	gen := c.gen
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Claims{}, false
	}
	if promote {
		c.put(token, e, gen)
	}
	claims := e.claims
	claims.Roles = slices.Clone(claims.Roles)
	return claims, true
}

// generation is read before verifying a token and handed to put.
func (c *verifiedCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores a token verified under generation gen, unless the keys were
// reloaded since.
func (c *verifiedCache) put(token string, e verifiedEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.cur) >= verifiedCacheSize/2 {
		c.old, c.cur = c.cur, make(map[string]verifiedEntry, verifiedCacheSize/2)
	}
	c.cur[token] = e
}

// clear forgets every verified token; called when the keys change.
func (c *verifiedCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.old, c.cur = nil, make(map[string]verifiedEntry, verifiedCacheSize/2)
	c.gen++
}
