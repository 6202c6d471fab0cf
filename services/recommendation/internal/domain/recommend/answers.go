package recommend

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// The answer cache keeps the first pages answered to visitors without any
// state of their own: no history, segments, tier or trained vector, which
// is every first-time anonymous visitor, the bulk of a storefront's
// product-page traffic. Their answer depends only on the request and the
// shared models, so the next such visitor asking the same gets it without
// ranking again.
//
// An answer is kept only while nothing it was computed from has changed:
// it carries a stamp of the configuration in force and of the versions of
// the catalog, the co-purchase and co-view models, the trending board and
// the latent model, and a lookup that finds any of them changed computes
// afresh. Writers bump a version after their change is visible and a
// request reads the stamp before it reads the models, so an answer never
// carries a stamp newer than its data. Time is the one input not stamped:
// an answer is kept at most Config.AnswerCacheTTL, and never past the
// next start or end of a time-limited boost. Within that time the order
// of trending items cannot change (every trending score decays by the same
// factor), only the decayed scores reported, by a few parts per million.

// answerShards spreads the cache over locks so concurrent requests rarely
// wait for each other.
const answerShards = 16

type answerCache struct {
	seed   maphash.Seed
	shards [answerShards]answerShard
	hits   atomic.Uint64
	misses atomic.Uint64
}

type answerShard struct {
	mu sync.RWMutex
	m  map[string]*answer
}

// answer is a cached first page. items, plan and more are read only.
type answer struct {
	stamp   modelStamp
	at      time.Time
	expires time.Time
	items   []Item
	plan    []Strategy
	more    bool
}

// modelStamp identifies the state of everything a stateless answer reads.
type modelStamp struct {
	cfg      *Config
	catalog  uint64
	bought   uint64
	viewed   *cooccur.Model
	viewedV  uint64
	trending uint64
	latent   *latent.Model
}

// AnswerCacheStats counts the answer cache's lookups since the start.
type AnswerCacheStats struct {
	Hits, Misses uint64
	Entries      int
}

func newAnswerCache() *answerCache {
	c := &answerCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*answer)
	}
	return c
}

// stamp reads the versions of the models, before they are read for an
// answer.
func (e *Engine) stamp(cfg *Config) modelStamp {
	s := modelStamp{
		cfg: cfg, catalog: e.m.Catalog.Version(), bought: e.m.Bought.Version(),
		trending: e.m.Trending.Version(), latent: e.m.Latent.Load(),
	}
	if v := e.viewed.Load(); v != nil {
		s.viewed, s.viewedV = v, v.Version()
	}
	return s
}

// stateless reports whether cust's answer depends on nothing of their own:
// no events, owned products, segments or tier, and no vector trained for
// them in lm (a customer whose events aged out may still have one).
func stateless(cust Customer, lm *latent.Model) bool {
	if len(cust.Events) > 0 || len(cust.Owned) > 0 || len(cust.Segments) > 0 || cust.Tier != "" {
		return false
	}
	return lm == nil || cust.ID == "" || lm.Customer(cust.ID) == nil
}

// answerKey spells every field of a first-page request except the
// customer, with separators no id or category may contain (ValidateID and
// the category checks reject control characters).
func answerKey(req Request) string {
	var b strings.Builder
	n := 32
	for _, l := range [][]string{req.ProductIDs, req.ExcludeIDs, req.IncludeCategories, req.ExcludeCategories} {
		for _, s := range l {
			n += len(s) + 1
		}
	}
	b.Grow(n)
	b.WriteString(string(req.Placement))
	b.WriteByte(1)
	b.WriteString(string(req.Strategy))
	b.WriteByte(1)
	b.WriteString(strconv.Itoa(req.Limit))
	b.WriteByte(1)
	b.WriteString(strconv.Itoa(req.MaxPerCategory))
	for _, l := range [][]string{req.ProductIDs, req.ExcludeIDs, req.IncludeCategories, req.ExcludeCategories} {
		b.WriteByte(1)
		for _, s := range l {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	return b.String()
}

func (c *answerCache) shard(key string) *answerShard {
	return &c.shards[maphash.String(c.seed, key)%answerShards]
}

// get returns the answer under key if it was computed from the models as
// stamped and is still fresh at now.
func (c *answerCache) get(key string, stamp modelStamp, now time.Time) (*answer, bool) {
	sh := c.shard(key)
	sh.mu.RLock()
	a := sh.m[key]
	sh.mu.RUnlock()
	if a == nil || a.stamp != stamp || now.Before(a.at) || !now.Before(a.expires) {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return a, true
}

// put stores a, evicting an arbitrary answer of the shard when it holds
// its share of size already (map iteration starts at a random entry).
func (c *answerCache) put(key string, a *answer, size int) {
	sh := c.shard(key)
	limit := max(1, size/answerShards)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; !ok && len(sh.m) >= limit {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[key] = a
}

func (c *answerCache) stats() AnswerCacheStats {
	st := AnswerCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		st.Entries += len(sh.m)
		sh.mu.RUnlock()
	}
	return st
}

// AnswerCacheStats reports the answer cache's hits, misses and size.
func (e *Engine) AnswerCacheStats() AnswerCacheStats { return e.answers.stats() }

// expiry is when an answer computed at now stops being fresh: after the
// configured time, or at the next start or end of a time-limited boost,
// whichever comes first.
func (cfg *Config) answerExpiry(now time.Time) time.Time {
	exp := now.Add(cfg.AnswerCacheTTL)
	for _, b := range cfg.Boosts {
		for _, t := range []time.Time{b.From, b.Until} {
			if !t.IsZero() && t.After(now) && t.Before(exp) {
				exp = t
			}
		}
	}
	return exp
}

// respond builds a page from a cached answer for a request whose
// fingerprint is fp; the items are copied, so the caller owns them.
func (a *answer) respond(cfg *Config, fp uint64) Response {
	resp := Response{Items: slices.Clone(a.items), Plan: a.plan}
	if a.more && len(a.items) < cfg.MaxServed {
		resp.NextPageToken = nextToken(fp, nil, a.items)
	}
	return resp
}
