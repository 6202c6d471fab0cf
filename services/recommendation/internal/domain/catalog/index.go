package catalog

import (
	"math"
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
	// byRef holds the same pointers as byID by interned id, so the
	// request path reads a product with two loads and no lock or hash (see
	// At). rules holds, apart from them, the attributes the business rules
	// and ranking read for every product a request considers (see
	// RefAttrs): 16 bytes a product, four to a cache line, and contiguous.
	// A request checks a few hundred products, and each check was mostly a
	// cache miss on a slot that also held the pointer. Each word is written
	// atomically on upsert; a reader racing an upsert may see fields of
	// either version, as it may see either product.
	byRef RefSlots[atomic.Pointer[Product]]
	rules RefSlots[ruleSlot]
}

// ruleSlot is a product's packed rule attributes (packAttrs).
type ruleSlot struct {
	attrs, margin atomic.Uint64
}

// Bits of ruleSlot.attrs above the category.
const (
	attrAvailable  = 1 << 32
	attrConsumable = 1 << 33
	// attrStored marks a stored product: the slot is written after the
	// product's pointer, so a reader that sees it also sees the product.
	attrStored = 1 << 34
)

// Attrs are a product's rule attributes as RefAttrs returns them.
type Attrs struct {
	// Category is the product's CategoryRef.
	Category int32
	// Available is Stock.Available(); Consumable is Kind == Consumable.
	Available, Consumable bool
	// MarginRatio is the product's MarginRatio().
	MarginRatio float64
}

func packAttrs(p *Product) (uint64, uint64) {
	a := uint64(uint32(p.category)) | attrStored
	if p.Stock.Available() {
		a |= attrAvailable
	}
	if p.Kind == Consumable {
		a |= attrConsumable
	}
	return a, math.Float64bits(p.MarginRatio())
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
	p.ref, p.category = Intern(p.ID), internCategory(p.categoryKey)
	p.Price.Currency = Currency(p.Price.Currency)
	stored := p
	x.byID[p.ID] = &stored
	a, m := packAttrs(&stored)
	x.byRef.Grow(p.ref).Store(&stored)
	rules := x.rules.Grow(p.ref)
	rules.margin.Store(m)
	rules.attrs.Store(a)
	key := p.CategoryKey()
	list := x.byCat[key]
	i, _ := slices.BinarySearchFunc(list, p, comparePrice)
	x.byCat[key] = slices.Insert(list, i, p)
	// Counted once the product is visible, so a reader that sees the new
	// count also sees the product (see Version).
	x.version.Add(1)
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

// At returns the stored product whose Ref is ref, or nil, without a lock:
// the request path's lookup. The product is shared and read only, like
// Ref's.
func (x *Index) At(ref int32) *Product {
	if s := x.byRef.At(ref); s != nil {
		return s.Load()
	}
	return nil
}

// RefAttrs returns the rule attributes of the stored product whose Ref is
// ref, and false if there is none, without reading the product or even
// its pointer: the request path checks and ranks most products from
// these alone, and reads the product (At) only for the few it pages.
func (x *Index) RefAttrs(ref int32) (Attrs, bool) {
	s := x.rules.At(ref)
	if s == nil {
		return Attrs{}, false
	}
	a := s.attrs.Load()
	if a&attrStored == 0 {
		return Attrs{}, false
	}
	return Attrs{Category: int32(uint32(a)), Available: a&attrAvailable != 0, Consumable: a&attrConsumable != 0, MarginRatio: math.Float64frombits(s.margin.Load())}, true
}

// AttrsOf returns p's rule attributes, as RefAttrs does for a stored
// product.
func AttrsOf(p *Product) Attrs {
	return Attrs{Category: p.category, Available: p.Stock.Available(), Consumable: p.Kind == Consumable, MarginRatio: p.MarginRatio()}
}

// Ref returns the stored product with the given id without copying it,
// for the request path, which reads thousands of products per second. The
// product is shared and must not be modified; it stays valid (as the
// version current at the call) after later upserts, which store a new
// product rather than change this one.
func (x *Index) Ref(id string) (*Product, bool) {
	r, ok := Lookup(id)
	if !ok {
		return nil, false
	}
	p := x.At(r)
	return p, p != nil
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
