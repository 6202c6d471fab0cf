package recommend

import (
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// freeRuns recycles the per-request state: its maps and slices keep their
// capacity between requests, so a warm server answers without growing a
// dozen maps from scratch, which was a large share of a request's cost.
// Nothing of a run escapes Recommend (items are copied out), so a run can
// be reused as soon as its request is answered.
//
// A bounded free list rather than a sync.Pool: a pool is emptied by every
// garbage collection, and a run's tables were then allocated and grown
// again by the next requests, feeding the next collection. At most
// maxPooledRuns runs (one per concurrent request) are kept.
var freeRuns = make(chan *run, maxPooledRuns)

// maxPooledRuns bounds the runs kept between requests: enough for the
// requests in flight on a busy replica. A run's tables hold at most
// 4 × maxPooledCandidates entries each (a run that needed more is not
// kept), about 3 MB, usually a few tens of kB.
const maxPooledRuns = 32

func newRun() *run {
	return &run{
		context:  make(map[string]bool),
		excluded: make(map[string]bool),
		bought:   make(map[string]bool),
		served:   make(map[uint32]bool),
		segments: make(map[string]bool),
		units:    make(map[string]int),
		uses:     make(map[string]int),
	}
}

// maxPooledCandidates bounds what a pooled run keeps: a rare huge request
// should not pin its scratch memory for the life of the process.
const maxPooledCandidates = 1 << 14

func getRun() *run {
	select {
	case r := <-freeRuns:
		return r
	default:
		return newRun()
	}
}

// putRun drops most references to the request's data and returns r to the
// pool.
func putRun(r *run) {
	if len(r.arena) > maxPooledCandidates || len(r.touched) > maxPooledCandidates || len(r.why) > maxPooledCandidates || len(r.affs) > maxPooledCandidates ||
		len(r.products.entries) > 4*maxPooledCandidates || len(r.acc.entries) > 4*maxPooledCandidates {
		return
	}
	// The candidates and their reasons (why) are not cleared: the next
	// request overwrites them, and clearing a few hundred of them
	// (pointers to shared products and reason strings, kept alive until
	// then by at most maxPooledRuns runs) cost several microseconds a
	// request. list points into arena.
	clear(r.pending)
	clear(r.lists[:cap(r.lists)])
	clear(r.viewedLists[:cap(r.viewedLists)])
	clear(r.pos)
	clear(r.neg)
	clear(r.ranked)
	clear(r.groups[:cap(r.groups)])
	clear(r.heads[:cap(r.heads)])
	clear(r.keys)
	for _, m := range []map[string]bool{r.context, r.excluded, r.bought, r.segments} {
		clear(m)
	}
	for _, m := range []map[string]int{r.units, r.uses} {
		clear(m)
	}
	clear(r.affs)
	clear(r.affWeight)
	clear(r.served)
	// The dense arrays are not cleared: the next request's generation
	// makes their entries stale.
	d := r.dense
	d.touched = d.touched[:0]
	*r = run{
		context: r.context, excluded: r.excluded, bought: r.bought, served: r.served,
		segments: r.segments, dense: d,
		units: r.units, uses: r.uses, affs: r.affs[:0], affWeight: r.affWeight,
		arena: r.arena[:0], list: r.list[:0], pending: r.pending[:0], pos: r.pos[:0],
		neg: r.neg[:0], ranked: r.ranked[:0], keys: r.keys[:0], why: r.why[:0],
		refs: r.refs[:0], pop: r.pop[:0], known: r.known[:0], groups: r.groups[:0], groupOf: r.groupOf[:0], byWhy: r.byWhy[:0], grouped: r.grouped[:0], heads: r.heads[:0], pows: r.pows[:0],
		anchorRefs: r.anchorRefs[:0], lists: r.lists[:0], viewedLists: r.viewedLists[:0],
	}
	select {
	case freeRuns <- r:
	default: // enough runs kept
	}
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
