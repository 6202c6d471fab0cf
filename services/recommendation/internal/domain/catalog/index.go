package catalog

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Index is the in-memory catalog every request reads. Products are kept by
// id and, per full category key, sorted by price so that an upsell price band
// is a binary search rather than a scan of the catalog. It is safe for
// concurrent use; writes are rare (catalog updates) and reads are per request.
type Index struct {
	mu sync.RWMutex
	// byID holds pointers so that the request path can read a product
	// without copying its 250 bytes (see Ref); a stored product is
	// replaced by a new pointer on upsert, never modified in place.
	byID  map[string]*Product
	byCat map[string][]Product // sorted by price then id
	// version counts applied upserts, so a cache of looked-up products
	// can tell that it may be stale (see Version).
	version atomic.Uint64
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byID: make(map[string]*Product), byCat: make(map[string][]Product)}
}

// Upsert stores p unless a newer version is already present (UpdatedAt
// strictly after p's), and reports whether it was applied. Equal timestamps
// apply, so a re-sent correction with the same time still lands.
func (x *Index) Upsert(p Product) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[p.ID]; ok {
		if old.UpdatedAt.After(p.UpdatedAt) {
			return false
		}
		x.removeFromCategory(*old)
	}
	p.categoryKey = strings.Join(p.CategoryPath, "/")
	stored := p
	x.version.Add(1)
	x.byID[p.ID] = &stored
	key := p.CategoryKey()
	list := x.byCat[key]
	i, _ := slices.BinarySearchFunc(list, p, comparePrice)
	x.byCat[key] = slices.Insert(list, i, p)
	return true
}

func (x *Index) removeFromCategory(p Product) {
	key := p.CategoryKey()
	list := x.byCat[key]
	i, found := slices.BinarySearchFunc(list, p, comparePrice)
	if found {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(x.byCat, key)
		return
	}
	x.byCat[key] = list
}

func comparePrice(a, b Product) int {
	if a.Price.Minor != b.Price.Minor {
		if a.Price.Minor < b.Price.Minor {
			return -1
		}
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

// Get returns the product with the given id.
func (x *Index) Get(id string) (Product, bool) {
	x.mu.RLock()
	p, ok := x.byID[id]
	x.mu.RUnlock()
	if !ok {
		return Product{}, false
	}
	return *p, true
}

// Ref returns the stored product with the given id without copying it,
// for the request path, which reads thousands of products per second. The
// product is shared and must not be modified; it stays valid (as the
// version current at the call) after later upserts, which store a new
// product rather than change this one.
func (x *Index) Ref(id string) (*Product, bool) {
	x.mu.RLock()
	p, ok := x.byID[id]
	x.mu.RUnlock()
	return p, ok
}

// Version changes whenever an upsert is applied. Pointers returned by Ref
// while Version returned v are still the current products while it still
// returns v, which lets the engine cache them.
func (x *Index) Version() uint64 { return x.version.Load() }

// Len is the number of products, the denominator of catalog coverage.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// PriceBand calls fn for products in exactly the category key whose price
// in currency lies in [lo, hi] minor units, cheapest first, until fn returns
// false. Other currencies are skipped: prices in different currencies are
// not comparable without rates, which the recommender does not own.
func (x *Index) PriceBand(categoryKey, currency string, lo, hi int64, fn func(Product) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	list := x.byCat[categoryKey]
	i, _ := slices.BinarySearchFunc(list, lo, func(p Product, v int64) int {
		if p.Price.Minor < v {
			return -1
		}
		return 1
	})
	for ; i < len(list) && list[i].Price.Minor <= hi; i++ {
		if list[i].Price.Currency != currency {
			continue
		}
		if !fn(list[i]) {
			return
		}
	}
}
