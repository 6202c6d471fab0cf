// Package trending keeps exponentially decayed popularity per key (the whole
// shop, a category, a segment) so that cold-start requests and fallbacks get
// what is popular now rather than what sold most since launch.
//
// It uses forward decay: an event at time t adds weight × 2^((t-epoch)/HalfLife)
// and a score is read as stored × 2^(-(now-epoch)/HalfLife). Because every
// stored value is scaled by the same factor at read time, the ranking only
// changes when events arrive, never as time passes, so a ranked top list can
// be cached and updated in O(k) per event. The result does not depend on the
// order in which events arrive.
package trending

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// Entry is one ranked item.
type Entry struct {
	ID    string
	Score float64
	// Ref is ID interned (catalog.Intern), for callers that keep state
	// in arrays indexed by product.
	Ref int32
}

// Config tunes a Board.
type Config struct {
	// HalfLife is how quickly popularity fades.
	HalfLife time.Duration
	// TopK entries per key are kept ranked for serving; reads beyond it
	// rank on demand.
	TopK int
}

// DefaultConfig fades popularity by half every three days.
func DefaultConfig() Config { return Config{HalfLife: 72 * time.Hour, TopK: 500} }

type board struct {
	// scores is keyed by interned id (catalog.Intern): int32 keys hash
	// faster than strings and leave the map free of pointers for the
	// garbage collector to scan.
	scores map[int32]float64
	// dense mirrors scores in an array by ref, for the whole shop's board
	// only (nil for the others): ranking reads a hundred or more of its
	// scores per request (the trending prior), and map lookups over tens
	// of thousands of products were mostly cache misses.
	dense []float64
	top   []Entry // ranked by stored score; nil when it must be rebuilt
	dirty bool
}

// set stores ref's score, 0 removing it.
func (bd *board) set(ref int32, v float64) {
	if v == 0 {
		delete(bd.scores, ref)
	} else {
		bd.scores[ref] = v
	}
	if bd.dense == nil {
		return
	}
	if int(ref) >= len(bd.dense) {
		if v == 0 {
			return
		}
		bd.dense = append(bd.dense, make([]float64, int(ref)+1-len(bd.dense)+len(bd.dense)/4)...)
	}
	bd.dense[ref] = v
}

// score returns ref's stored score.
func (bd *board) score(ref int32) float64 {
	if bd.dense != nil {
		if ref >= 0 && int(ref) < len(bd.dense) {
			return bd.dense[ref]
		}
		return 0
	}
	return bd.scores[ref]
}

// Board holds the decayed counters for many keys. It is safe for concurrent
// use.
type Board struct {
	cfg   Config
	mu    sync.RWMutex
	epoch time.Time
	keys  map[string]*board
	// version counts changes, bumped once each is complete (Version).
	version atomic.Uint64
}

// Version counts the board's changes. It is bumped after a change is
// complete, so a reader that reads Version before reading the board and
// finds the same Version later read no change made in between.
func (b *Board) Version() uint64 { return b.version.Load() }

// rebaseAt is the exponent beyond which stored values are rescaled to a new
// epoch, far below float64 overflow (2^1023).
const rebaseAt = 256

// New returns an empty board whose epoch is `epoch` (any fixed time; pass
// the service start or the Unix epoch for reproducible scores).
func New(cfg Config, epoch time.Time) (*Board, error) {
	if cfg.HalfLife <= 0 {
		return nil, fmt.Errorf("trending: half life must be positive, got %v", cfg.HalfLife)
	}
	if cfg.TopK < 1 {
		return nil, fmt.Errorf("trending: top k must be at least 1, got %d", cfg.TopK)
	}
	return &Board{cfg: cfg, epoch: epoch, keys: make(map[string]*board)}, nil
}

func (b *Board) exponent(t time.Time) float64 {
	return float64(t.Sub(b.epoch)) / float64(b.cfg.HalfLife)
}

// Add records weight for id under key at time at. Negative weights (a
// refund) lower the score; a score never goes below zero.
func (b *Board) Add(key, id string, weight float64, at time.Time) {
	if weight == 0 || math.IsNaN(weight) || math.IsInf(weight, 0) || id == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.version.Add(1)
	if e := b.exponent(at); e > rebaseAt {
		b.rebase(at)
	}
	bd := b.keys[key]
	if bd == nil {
		bd = &board{scores: make(map[int32]float64)}
		if key == GlobalKey {
			bd.dense = []float64{}
		}
		b.keys[key] = bd
	}
	ref := catalog.Intern(id)
	old := bd.scores[ref]
	v := math.Max(0, old+weight*math.Exp2(b.exponent(at)))
	bd.set(ref, v)
	if weight < 0 {
		// A falling item may drop below one outside the cached list, which
		// only a full re-rank can find.
		bd.dirty = true
		return
	}
	if !bd.dirty {
		bd.top = promote(bd.top, old, Entry{ID: id, Score: v, Ref: ref}, b.cfg.TopK)
	}
}

// promote updates a ranked list after e.ID's score rose from old to
// e.Score. The old entry is found by binary search on its old score, so an
// update costs O(log k) comparisons plus one memmove instead of a scan.
func promote(top []Entry, old float64, e Entry, k int) []Entry {
	if old > 0 {
		if i, found := slices.BinarySearchFunc(top, Entry{ID: e.ID, Score: old}, compareEntry); found {
			top = slices.Delete(top, i, i+1)
		}
	}
	if len(top) == k && compareEntry(e, top[k-1]) > 0 {
		return top
	}
	i, _ := slices.BinarySearchFunc(top, e, compareEntry)
	if i >= k {
		return top
	}
	top = slices.Insert(top, i, e)
	if len(top) > k {
		top = top[:k]
	}
	return top
}

func compareEntry(x, y Entry) int {
	if c := cmp.Compare(y.Score, x.Score); c != 0 {
		return c
	}
	return strings.Compare(x.ID, y.ID)
}

// rebase moves the epoch to at, rescaling every stored value, so stored
// numbers stay in range however long the service runs.
func (b *Board) rebase(at time.Time) {
	f := math.Exp2(-b.exponent(at))
	for _, bd := range b.keys {
		for id, v := range bd.scores {
			bd.set(id, max(0, v*f))
		}
		bd.dirty = true
	}
	b.epoch = at
}

// Top returns up to k entries of key, best first, with scores decayed to
// now. The ranking itself does not depend on now (see the package doc).
func (b *Board) Top(key string, k int, now time.Time) []Entry {
	if k <= 0 {
		return nil
	}
	b.mu.RLock()
	bd := b.keys[key]
	if bd == nil {
		b.mu.RUnlock()
		return nil
	}
	if bd.dirty || (k > len(bd.top) && len(bd.scores) > len(bd.top)) {
		b.mu.RUnlock()
		b.mu.Lock()
		if bd.dirty || len(bd.top) < min(b.cfg.TopK, len(bd.scores)) {
			bd.top = rank(bd.scores, b.cfg.TopK)
			bd.dirty = false
		}
		b.mu.Unlock()
		b.mu.RLock()
	}
	var src []Entry
	if k <= len(bd.top) || len(bd.scores) <= len(bd.top) {
		src = bd.top[:min(k, len(bd.top))]
	} else {
		// Beyond the cached top k: rank everything for this rare deep read.
		src = rank(bd.scores, k)
	}
	f := math.Exp2(-b.exponent(now))
	out := make([]Entry, len(src))
	for i, e := range src {
		out[i] = Entry{ID: e.ID, Score: e.Score * f, Ref: e.Ref}
	}
	b.mu.RUnlock()
	return out
}

// Visit calls fn with up to k entries of key, best first, scores decayed to
// now, until fn returns false. Unlike Top it copies nothing, which matters
// on the request path where every answer reads a few boards; fn runs under
// the board's read lock and must not call back into the board.
func (b *Board) Visit(key string, k int, now time.Time, fn func(Entry) bool) {
	if k <= 0 {
		return
	}
	b.mu.RLock()
	bd := b.keys[key]
	stale := bd != nil && (bd.dirty || (k > len(bd.top) && len(bd.scores) > len(bd.top)))
	b.mu.RUnlock()
	if bd == nil {
		return
	}
	if stale {
		// Deep or stale reads are rare; reuse Top's logic.
		for _, e := range b.Top(key, k, now) {
			if !fn(e) {
				return
			}
		}
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	f := math.Exp2(-b.exponent(now))
	for _, e := range bd.top[:min(k, len(bd.top))] {
		if !fn(Entry{ID: e.ID, Score: e.Score * f, Ref: e.Ref}) {
			return
		}
	}
}

func rank(scores map[int32]float64, k int) []Entry {
	all := make([]Entry, 0, len(scores))
	for ref, v := range scores {
		all = append(all, Entry{ID: catalog.Name(ref), Score: v, Ref: ref})
	}
	slices.SortFunc(all, compareEntry)
	if len(all) > k {
		all = slices.Clip(all[:k])
	}
	return all
}

// Score returns id's decayed score under key at now.
func (b *Board) Score(key, id string, now time.Time) float64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bd := b.keys[key]
	ref, ok := catalog.Lookup(id)
	if bd == nil || !ok {
		return 0
	}
	return bd.scores[ref] * math.Exp2(-b.exponent(now))
}

// ScoresInto sets out[i] to ids[i]'s decayed score under key at now, the
// same values as Score, under one read lock: ranking a request's
// candidates reads a few dozen scores, and taking the lock and computing
// the decay for each was a tenth of the request's cost. out must be at
// least as long as ids.
func (b *Board) ScoresInto(key string, ids []string, now time.Time, out []float64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bd := b.keys[key]
	if bd == nil {
		clear(out[:len(ids)])
		return
	}
	f := math.Exp2(-b.exponent(now))
	for i, id := range ids {
		out[i] = 0
		if ref, ok := catalog.Lookup(id); ok {
			out[i] = bd.scores[ref] * f
		}
	}
}

// RefScoresInto is ScoresInto by interned id (catalog.Intern), for the
// request path, which holds products by ref.
func (b *Board) RefScoresInto(key string, refs []int32, now time.Time, out []float64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bd := b.keys[key]
	if bd == nil {
		clear(out[:len(refs)])
		return
	}
	f := math.Exp2(-b.exponent(now))
	for i, ref := range refs {
		out[i] = bd.score(ref) * f
	}
}

// Key names. Keeping them here means the consumer that records and the
// engine that reads agree on spelling.

// GlobalKey is the whole shop.
const GlobalKey = "all"

// CategoryKey is a category path prefix such as "Home/Kitchen".
func CategoryKey(category string) string { return "cat:" + strings.Trim(category, "/") }

// SegmentKey is a segment id.
func SegmentKey(segment string) string { return "seg:" + segment }

// CategoryKeys returns the keys of every level of a category path, from the
// root down, so an order of a mug counts for "Home", "Home/Kitchen" and
// "Home/Kitchen/Mugs".
func CategoryKeys(path []string) []string {
	out := make([]string, 0, len(path))
	for i := range path {
		out = append(out, CategoryKey(strings.Join(path[:i+1], "/")))
	}
	return out
}
