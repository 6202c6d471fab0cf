package catalog

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func TestInternGivesEachIDOneStableRef(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ids  []string
	}{
		{"a few ids", []string{"intern-a", "intern-b", "intern-c"}},
		{"more ids than one chunk of the table", func() []string {
			ids := make([]string, refChunk+10)
			for i := range ids {
				ids[i] = fmt.Sprintf("intern-many-%d", i)
			}
			return ids
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refs := make(map[int32]string)
			for _, id := range tc.ids {
				r := Intern(id)
				if again := Intern(id); again != r {
					t.Fatalf("expected %q to keep ref %d, got %d", id, r, again)
				}
				if got, ok := Lookup(id); !ok || got != r {
					t.Fatalf("expected Lookup(%q) = %d, true; got %d, %v", id, r, got, ok)
				}
				if Name(r) != id {
					t.Fatalf("expected Name(%d) = %q, got %q", r, id, Name(r))
				}
				if int(r) >= Refs() {
					t.Fatalf("expected ref %d below Refs() %d", r, Refs())
				}
				if other, dup := refs[r]; dup {
					t.Fatalf("expected distinct refs, %q and %q share %d", other, id, r)
				}
				refs[r] = id
			}
		})
	}
}

func TestLookupDoesNotInternUnknownIDs(t *testing.T) {
	t.Parallel()
	if r, ok := Lookup("never-interned-id"); ok {
		t.Fatalf("expected an unknown id to have no ref, got %d", r)
	}
	if r, ok := Lookup("never-interned-id"); ok {
		t.Fatalf("expected Lookup not to intern, got ref %d on the second call", r)
	}
}

func TestAtReturnsTheCurrentProductByRef(t *testing.T) {
	t.Parallel()
	x := NewIndex()
	p := valid()
	p.ID = "at-mug"
	x.Upsert(p)
	first, ok := x.Ref("at-mug")
	if !ok || first.Ref() != Intern("at-mug") || x.At(first.Ref()) != first {
		t.Fatalf("expected At(Ref) to return the stored product, got %v, %v", first, ok)
	}
	p.Title, p.UpdatedAt = "Big mug", p.UpdatedAt.Add(time.Minute)
	x.Upsert(p)
	if got := x.At(first.Ref()); got == nil || got.Title != "Big mug" {
		t.Fatalf("expected At to return the updated product, got %+v", got)
	}
	if first.Title != "Mug" {
		t.Fatalf("expected a product read before the update to stay as it was, got %q", first.Title)
	}
	other := Intern("at-not-in-this-index")
	if got := x.At(other); got != nil {
		t.Fatalf("expected nil for a ref this index does not hold, got %+v", got)
	}
	if got := x.At(-1); got != nil {
		t.Fatalf("expected nil for a negative ref, got %+v", got)
	}
	q := valid()
	q.ID, q.CategoryPath = "at-teapot", []string{"Home", "Kitchen", "Teapots"}
	x.Upsert(q)
	a, _ := x.Ref("at-mug")
	b, _ := x.Ref("at-teapot")
	if a.CategoryRef() == b.CategoryRef() {
		t.Fatalf("expected different categories to have different refs, both %d", a.CategoryRef())
	}
	q.ID = "at-mug-2"
	q.CategoryPath = p.CategoryPath
	x.Upsert(q)
	c, _ := x.Ref("at-mug-2")
	if c.CategoryRef() != a.CategoryRef() || int(c.CategoryRef()) >= Categories() {
		t.Fatalf("expected the same category to share ref %d below %d, got %d", a.CategoryRef(), Categories(), c.CategoryRef())
	}
}

func TestConcurrentUpsertsAndReadsByRefAreSafe(t *testing.T) {
	t.Parallel()
	x := NewIndex()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 3000 {
			p := valid()
			p.ID = fmt.Sprintf("race-%d", i)
			x.Upsert(p)
		}
	}()
	for i := range 3000 {
		if r, ok := Lookup(fmt.Sprintf("race-%d", i%100)); ok {
			// Rule attributes are written after the product: whoever
			// sees them finds the product too.
			_, stored := x.RefAttrs(r)
			p := x.At(r)
			if p != nil && p.Ref() != r {
				t.Fatalf("expected the product at ref %d to carry it, got %d", r, p.Ref())
			}
			if stored && p == nil {
				t.Fatalf("ref %d has rule attributes but no product", r)
			}
		}
	}
	wg.Wait()
	for i := range 3000 {
		if _, ok := x.Ref(fmt.Sprintf("race-%d", i)); !ok {
			t.Fatalf("expected race-%d stored", i)
		}
	}
}

func TestRefAttrsMatchTheStoredProduct(t *testing.T) {
	t.Parallel()
	x := NewIndex()
	cases := []struct {
		name string
		edit func(*Product)
	}{
		{"an in-stock durable with a margin", func(p *Product) {}},
		{"an out-of-stock consumable", func(p *Product) { p.Stock, p.Kind = OutOfStock, Consumable }},
		{"a discontinued product without a margin", func(p *Product) { p.Stock, p.HasMargin = Discontinued, false }},
		{"a product in another category", func(p *Product) { p.CategoryPath = []string{"Garden", "Tools"} }},
	}
	for i, tc := range cases {
		p := valid()
		p.ID = fmt.Sprintf("attrs-%d", i)
		tc.edit(&p)
		x.Upsert(p)
		stored, _ := x.Ref(p.ID)
		a, ok := x.RefAttrs(stored.Ref())
		want := Attrs{Category: stored.CategoryRef(), Available: p.Stock.Available(), Consumable: p.Kind == Consumable, MarginRatio: p.MarginRatio()}
		if !ok || a != want || AttrsOf(stored) != want || x.At(stored.Ref()) != stored {
			t.Errorf("%s: expected %+v for %p, got %+v (stored %v) for %p (AttrsOf %+v)", tc.name, want, stored, a, ok, x.At(stored.Ref()), AttrsOf(stored))
		}
	}
	if a, ok := x.RefAttrs(Intern("attrs-not-stored")); ok || a != (Attrs{}) {
		t.Errorf("expected nothing for a ref the index does not hold, got %+v (stored %v)", a, ok)
	}
}

func TestStoredProductsShareOneCopyOfEachCurrencyCode(t *testing.T) {
	t.Parallel()
	idx := NewIndex()
	for i, code := range []string{string([]byte("EUR")), string([]byte("EUR")), string([]byte("GBP"))} {
		idx.Upsert(Product{ID: fmt.Sprintf("cur-%d", i), Title: "x", CategoryPath: []string{"A"}, Price: Money{Minor: 100, Currency: code}})
	}
	a, _ := idx.Ref("cur-0")
	b, _ := idx.Ref("cur-1")
	c, _ := idx.Ref("cur-2")
	eur := Currency(string([]byte("EUR")))
	if unsafe.StringData(a.Price.Currency) != unsafe.StringData(b.Price.Currency) || unsafe.StringData(a.Price.Currency) != unsafe.StringData(eur) {
		t.Error("two products priced in EUR and Currency(EUR): expected one copy of the code, got several")
	}
	if c.Price.Currency != "GBP" || a.Price.Currency != "EUR" {
		t.Errorf("expected the codes kept, got %q and %q", a.Price.Currency, c.Price.Currency)
	}
}
