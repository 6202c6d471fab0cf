package catalog

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Product ids are interned process-wide into dense int32 numbers (refs) so
// that the request path can keep its per-request state in arrays indexed
// by ref instead of string-keyed maps: hashing product ids was most of a
// request's cost. The catalog, the co-occurrence models, the trending
// boards and the latent model intern the ids they store (the first three
// return refs with them), so the engine meets every product as a ref;
// requests' ids are only looked up (Lookup), never interned, so a caller
// cannot grow the table with made-up ids. A ref is never reused: the
// table grows with the distinct ids the models have stored, which is the
// catalog plus whatever orders and events named.
var refs = interner{index: make(map[string]int32)}

type interner struct {
	mu    sync.RWMutex
	index map[string]int32
	// names holds the ids by ref, so that Name reads them without a lock:
	// a slot is written once, before the ref is published through index.
	names RefSlots[string]
	n     atomic.Int32
}

// Intern returns id's ref, assigning the next one if id has none yet.
func Intern(id string) int32 {
	refs.mu.RLock()
	r, ok := refs.index[id]
	refs.mu.RUnlock()
	if ok {
		return r
	}
	refs.mu.Lock()
	defer refs.mu.Unlock()
	if r, ok := refs.index[id]; ok {
		return r
	}
	r = refs.n.Load()
	*refs.names.Grow(r) = id
	refs.index[id] = r
	refs.n.Store(r + 1)
	return r
}

// Lookup returns id's ref if any model stored id.
func Lookup(id string) (int32, bool) {
	refs.mu.RLock()
	r, ok := refs.index[id]
	refs.mu.RUnlock()
	return r, ok
}

// Name returns the id of a ref returned by Intern or Lookup.
func Name(ref int32) string {
	return *refs.names.At(ref)
}

// Refs is the number of refs assigned so far: every ref is below it, so
// arrays indexed by ref need this length.
func Refs() int { return int(refs.n.Load()) }

// Category ids are interned the same way (full category keys), for the
// per-category counts of the diversity cap.
var categories = struct {
	mu    sync.RWMutex
	index map[string]int32
}{index: make(map[string]int32)}

func internCategory(key string) int32 {
	categories.mu.RLock()
	c, ok := categories.index[key]
	categories.mu.RUnlock()
	if ok {
		return c
	}
	categories.mu.Lock()
	defer categories.mu.Unlock()
	if c, ok := categories.index[key]; ok {
		return c
	}
	c = int32(len(categories.index))
	categories.index[key] = c
	return c
}

// Categories is the number of category ids assigned so far.
func Categories() int {
	categories.mu.RLock()
	defer categories.mu.RUnlock()
	return len(categories.index)
}

// currencies holds one string per currency code stored in a catalog.
var currencies sync.Map // string -> string

// Currency returns the process's one copy of a currency code, the one the
// catalog's products carry (Index.Upsert stores it): two copies of one
// string compare by pointer, without reading either string's bytes, which
// filters over many products' prices did once per product. Callers pass
// validated codes (products' and the configuration's), so the table stays
// small.
func Currency(code string) string {
	if v, ok := currencies.Load(code); ok {
		return v.(string)
	}
	v, _ := currencies.LoadOrStore(strings.Clone(code), strings.Clone(code))
	return v.(string)
}
