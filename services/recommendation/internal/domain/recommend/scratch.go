package recommend

import (
	"slices"
	"sync"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// runPool recycles the per-request state: its maps and slices keep their
// capacity between requests, so a warm server answers without growing a
// dozen maps from scratch, which was a large share of a request's cost.
// Nothing of a run escapes Recommend (items are copied out), so a run can
// be reused as soon as its request is answered.
var runPool = sync.Pool{New: func() any {
	return &run{
		context:  make(map[string]bool),
		excluded: make(map[string]bool),
		bought:   make(map[string]bool),
		served:   make(map[uint32]bool),
		segments: make(map[string]bool),
		cands:    make(map[string]int32),
		perCat:   make(map[string]int),
		units:    make(map[string]int),
		rankCat:  make(map[string]int),
		uses:     make(map[string]int),
		scores:   make(map[string]personalAcc),
		catInt:   make(map[string]float64),
	}
}}

// maxPooledCandidates bounds what a pooled run keeps: a rare huge request
// should not pin its scratch memory for the life of the process.
const maxPooledCandidates = 1 << 14

func getRun() *run { return runPool.Get().(*run) }

// putRun drops references to the request's data and returns r to the pool.
func putRun(r *run) {
	if len(r.arena) > maxPooledCandidates || len(r.scores) > maxPooledCandidates || len(r.cands) > maxPooledCandidates {
		return
	}
	clear(r.arena)
	clear(r.list)
	clear(r.pending)
	clear(r.pos)
	clear(r.neg)
	clear(r.ranked)
	clear(r.keys)
	clear(r.ids)
	clear(r.boardIDs)
	clear(r.boardProds)
	for _, m := range []map[string]bool{r.context, r.excluded, r.bought, r.segments} {
		clear(m)
	}
	for _, m := range []map[string]int{r.perCat, r.units, r.rankCat, r.uses} {
		clear(m)
	}
	clear(r.served)
	clear(r.cands)
	clear(r.scores)
	clear(r.catInt)
	*r = run{
		context: r.context, excluded: r.excluded, bought: r.bought, served: r.served,
		segments: r.segments, cands: r.cands, perCat: r.perCat,
		units: r.units, rankCat: r.rankCat, uses: r.uses, scores: r.scores, catInt: r.catInt,
		arena: r.arena[:0], list: r.list[:0], pending: r.pending[:0], pos: r.pos[:0],
		neg: r.neg[:0], ranked: r.ranked[:0], keys: r.keys[:0],
		ids: r.ids[:0], pop: r.pop[:0], boardIDs: r.boardIDs[:0], boardProds: r.boardProds[:0],
	}
	runPool.Put(r)
}

// boardCache is the catalog products of a trending board's leading
// entries, in board order (nil for an id the catalog does not know), as
// looked up at catalog version version. Values are never modified once
// stored; a newer visit replaces the whole value.
type boardCache struct {
	version uint64
	ids     []string
	prods   []*catalog.Product
}

// boardProducts returns the cached products of a trending board for
// catalog version v, or an empty cache. The trending fallback reads the
// same few boards for most requests and looked up each entry in the
// catalog every time; an entry whose id no longer matches its position
// (the board's order changed) is looked up again, so the cache only needs
// to be invalidated for catalog changes, which the version detects.
func (e *Engine) boardProducts(key string, v uint64) *boardCache {
	if c, ok := e.boards.Load(key); ok {
		if bc := c.(*boardCache); bc.version == v {
			return bc
		}
	}
	return &emptyBoardCache
}

var emptyBoardCache boardCache

// storeBoardProducts caches a visit's products (copied: ids and prods are
// the run's scratch).
func (e *Engine) storeBoardProducts(key string, v uint64, ids []string, prods []*catalog.Product) {
	e.boards.Store(key, &boardCache{version: v, ids: slices.Clone(ids), prods: slices.Clone(prods)})
}

// fillSet clears m and adds ids to it.
func fillSet(m map[string]bool, ids []string) map[string]bool {
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// categoryTrendKeys returns the trending keys of a category path, leaf
// first, cached per category key: every request with a product in context
// reads them, and building them joined and concatenated strings each time.
// The cache holds one entry per category of the catalog.
func (e *Engine) categoryTrendKeys(categoryKey string, path []string) []string {
	if v, ok := e.trendKeys.Load(categoryKey); ok {
		return v.([]string)
	}
	ks := trending.CategoryKeys(path)
	for i, j := 0, len(ks)-1; i < j; i, j = i+1, j-1 {
		ks[i], ks[j] = ks[j], ks[i]
	}
	e.trendKeys.Store(categoryKey, ks)
	return ks
}
