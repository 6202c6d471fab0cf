package recommend

import (
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// The per-request state about products is keyed by the products' interned
// ids (catalog.Intern), not by id strings: hashing ids was most of a
// request's cost. It lives in small open-addressing tables sized to the
// request's working set (a few hundred to a few thousand products), which
// stay in the CPU's caches where arrays over the whole catalog did not. A
// pooled run keeps its tables between requests and tells this request's
// entries from stale ones by a generation number, so nothing is cleared
// per request.

// Flags of a product for the current request.
const (
	flagContext uint8 = 1 << iota
	flagExcluded
	flagBought
	// flagNegative: the customer dismissed or returned it.
	flagNegative
)

// noCandidate marks a product not yet offered in this request.
const noCandidate = -2

// productSlot is a run's state about one product.
type productSlot struct {
	flags uint8
	// cand indexes run.arena, or is rejected or noCandidate.
	cand int32
	// aff is the product's index in run.affs plus one, 0 for none.
	aff int32
}

// accSlot is a product's personalized accumulator.
type accSlot struct {
	anchor      int32
	score, best float64
}

// categorySlot counts a category's candidates (the diversity cap while
// collecting) and its items on the page (while ranking).
type categorySlot struct {
	gen            uint32
	offered, paged int32
	// interest is the customer's personalized anchor weight in the
	// category (the category re-rank).
	interest float64
}

// refTable maps refs to values for one request: open addressing with
// linear probing over a power-of-two array, entries of older generations
// counting as empty.
type refTable[V any] struct {
	gen     uint32
	entries []refEntry[V]
	n       int
}

type refEntry[V any] struct {
	gen uint32
	key int32
	val V
}

// minTable is a table's initial size.
const minTable = 512

// reset empties the table for a new request.
func (t *refTable[V]) reset() {
	t.gen++
	t.n = 0
	if t.gen == 0 {
		// Wrapped around: stale entries could look current.
		clear(t.entries)
		t.gen = 1
	}
	if t.entries == nil {
		t.entries = make([]refEntry[V], minTable)
	}
}

func refHash(k int32) uint32 { return uint32(k) * 0x9E3779B1 }

// find returns k's value, or nil.
func (t *refTable[V]) find(k int32) *V {
	mask := uint32(len(t.entries) - 1)
	for i := refHash(k) & mask; ; i = (i + 1) & mask {
		e := &t.entries[i]
		if e.gen != t.gen {
			return nil
		}
		if e.key == k {
			return &e.val
		}
	}
}

// get returns k's value, adding it as zero (reporting false) when absent.
// The pointer is valid until the next get.
func (t *refTable[V]) get(k int32) (*V, bool) {
	if 2*(t.n+1) > len(t.entries) {
		t.grow()
	}
	mask := uint32(len(t.entries) - 1)
	for i := refHash(k) & mask; ; i = (i + 1) & mask {
		e := &t.entries[i]
		if e.gen != t.gen {
			var zero V
			*e = refEntry[V]{gen: t.gen, key: k, val: zero}
			t.n++
			return &e.val, false
		}
		if e.key == k {
			return &e.val, true
		}
	}
}

func (t *refTable[V]) grow() {
	old := t.entries
	t.entries = make([]refEntry[V], 2*len(old))
	gen := t.gen
	t.gen, t.n = 1, 0
	for _, e := range old {
		if e.gen == gen {
			v, _ := t.get(e.key)
			*v = e.val
		}
	}
}

// dense is a run's ref-keyed scratch.
type dense struct {
	products refTable[productSlot]
	acc      refTable[accSlot]
	// gen and cats: the category counts, in an array by category ref
	// (there are few categories).
	gen  uint32
	cats []categorySlot
	// touched lists the refs with an accumulator this pass.
	touched []int32
}

// begin starts a request.
func (d *dense) begin() {
	d.products.reset()
	d.acc.reset()
	d.gen++
	if d.gen == 0 {
		clear(d.cats)
		d.gen = 1
	}
	if n := catalog.Categories(); n > len(d.cats) {
		d.cats = append(d.cats, make([]categorySlot, n-len(d.cats)+n/8+8)...)
	}
}

// product returns ref's slot for this request; valid until the next call.
func (d *dense) product(ref int32) *productSlot {
	s, ok := d.products.get(ref)
	if !ok {
		s.cand = noCandidate
	}
	return s
}

// mark sets flags on the product named id, if any model knows it.
func (d *dense) mark(id string, f uint8) {
	if ref, ok := catalog.Lookup(id); ok {
		d.product(ref).flags |= f
	}
}

// category returns a category's counts for this request.
func (d *dense) category(c int32) *categorySlot {
	if int(c) >= len(d.cats) {
		d.cats = append(d.cats, make([]categorySlot, int(c)+1-len(d.cats)+8)...)
	}
	s := &d.cats[c]
	if s.gen != d.gen {
		*s = categorySlot{gen: d.gen}
	}
	return s
}

// add adds v to ref's personalized accumulator (recording ref in touched
// when it is new this pass) and makes anchor its reason when v is its
// largest contribution so far.
func (d *dense) add(ref int32, v float64, anchor int32) {
	s, ok := d.acc.get(ref)
	if !ok {
		s.anchor = -1
		d.touched = append(d.touched, ref)
	}
	s.score += v
	if v > s.best {
		s.best, s.anchor = v, anchor
	}
}

// accOf returns ref's accumulator of this pass (anchor -1 if none).
func (d *dense) accOf(ref int32) personalAcc {
	if s := d.acc.find(ref); s != nil {
		return personalAcc{score: s.score, best: s.best, anchor: s.anchor}
	}
	return personalAcc{anchor: -1}
}
