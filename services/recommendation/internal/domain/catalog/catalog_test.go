package catalog

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func valid() Product {
	return Product{
		ID: "mug-1", Title: "Mug", CategoryPath: []string{"Home", "Kitchen", "Mugs"},
		Price: Money{Minor: 1299, Currency: "EUR"}, Margin: 400, HasMargin: true,
		Stock: InStock, Brand: "acme", Tags: []string{"ceramic", "white"}, Kind: Durable, UpdatedAt: t0,
	}
}

func TestProductValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Product)
		field  string
	}{
		{"a complete product is valid", func(*Product) {}, ""},
		{"a free product is valid", func(p *Product) { p.Price.Minor = 0; p.HasMargin = false }, ""},
		{"a malformed id is rejected", func(p *Product) { p.ID = "mug 1" }, "id"},
		{"a product without a category is rejected", func(p *Product) { p.CategoryPath = nil }, "category_path"},
		{"a category level with a slash is rejected", func(p *Product) { p.CategoryPath = []string{"Home/Kitchen"} }, "category_path"},
		{"a blank category level is rejected", func(p *Product) { p.CategoryPath = []string{"Home", " "} }, "category_path"},
		{"a lower-case currency is rejected", func(p *Product) { p.Price.Currency = "eur" }, "price.currency"},
		{"a two-letter currency is rejected", func(p *Product) { p.Price.Currency = "EU" }, "price.currency"},
		{"a negative price is rejected", func(p *Product) { p.Price.Minor = -1 }, "price.minor"},
		{"a margin above the price is rejected", func(p *Product) { p.Margin = 2000 }, "margin"},
		{"an unknown stock status is rejected", func(p *Product) { p.Stock = 9 }, "stock"},
		{"an unknown kind is rejected", func(p *Product) { p.Kind = -1 }, "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := valid()
			tc.mutate(&p)
			err := p.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("expected valid, got %v", err)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("expected an error on %q, got %v", tc.field, err)
			}
		})
	}
}

func TestInCategoryMatchesWholeLevels(t *testing.T) {
	t.Parallel()
	p := valid()
	cases := []struct {
		key  string
		want bool
	}{
		{"Home", true}, {"Home/Kitchen", true}, {"/Home/Kitchen/", true}, {"Home/Kitchen/Mugs", true},
		{"Home/Kitch", false}, {"Home/Kitchen/Mugs/Big", false}, {"Garden", false}, {"", true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q matches %v", tc.key, tc.want), func(t *testing.T) {
			t.Parallel()
			if got := p.InCategory(tc.key); got != tc.want {
				t.Fatalf("InCategory(%q): expected %v, got %v", tc.key, tc.want, got)
			}
		})
	}
}

func TestMarginRatio(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		p    Product
		want float64
	}{
		{"a known margin is divided by the price", Product{Price: Money{Minor: 1000}, Margin: 250, HasMargin: true}, 0.25},
		{"an unknown margin never boosts", Product{Price: Money{Minor: 1000}, Margin: 250}, 0},
		{"a free product has no ratio", Product{Price: Money{Minor: 0}, Margin: 0, HasMargin: true}, 0},
		{"a negative margin counts as zero", Product{Price: Money{Minor: 1000}, Margin: -5, HasMargin: true}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.MarginRatio(); got != tc.want {
				t.Fatalf("expected %v, got %v", tc.want, got)
			}
		})
	}
}

func TestSimilarity(t *testing.T) {
	t.Parallel()
	a := valid()
	cases := []struct {
		name   string
		mutate func(*Product)
		want   float64
	}{
		{"a product is fully similar to itself", func(*Product) {}, 1},
		{"another brand loses the brand share", func(p *Product) { p.Brand = "other" }, 0.7},
		{"a sibling category keeps two thirds of the category share", func(p *Product) { p.CategoryPath = []string{"Home", "Kitchen", "Cups"} }, 1 - 0.4/3},
		{"half the tags shared gives a third of the tag share", func(p *Product) { p.Tags = []string{"ceramic", "blue"} }, 0.7 + 0.3/3},
		{"nothing in common scores zero", func(p *Product) {
			p.CategoryPath, p.Brand, p.Tags = []string{"Garden"}, "x", []string{"y"}
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := valid()
			tc.mutate(&b)
			if got := Similarity(a, b); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("expected %v, got %v", tc.want, got)
			}
			if got, rev := Similarity(a, b), Similarity(b, a); math.Abs(got-rev) > 1e-9 {
				t.Fatalf("expected a symmetric score, got %v and %v", got, rev)
			}
		})
	}
}

func TestIndexIgnoresOlderUpdates(t *testing.T) {
	t.Parallel()
	x := NewIndex()
	p := valid()
	if !x.Upsert(p) {
		t.Fatalf("expected the first upsert applied")
	}
	older := p
	older.Title, older.UpdatedAt = "Old mug", t0.Add(-time.Hour)
	if x.Upsert(older) {
		t.Fatalf("expected an older version ignored")
	}
	same := p
	same.Title = "Corrected mug"
	if !x.Upsert(same) {
		t.Fatalf("expected a same-time correction applied")
	}
	if got, _ := x.Get("mug-1"); got.Title != "Corrected mug" || x.Len() != 1 {
		t.Fatalf("expected one product titled Corrected mug, got %q (len %d)", got.Title, x.Len())
	}
}

func TestPriceBand(t *testing.T) {
	t.Parallel()
	x := NewIndex()
	for i, price := range []int64{500, 1000, 1500, 2000, 2500} {
		p := valid()
		p.ID, p.Price.Minor = fmt.Sprintf("m%d", i), price
		x.Upsert(p)
	}
	usd := valid()
	usd.ID, usd.Price = "m-usd", Money{Minor: 1500, Currency: "USD"}
	x.Upsert(usd)
	moved := valid()
	moved.ID, moved.Price.Minor = "m4", 1200
	moved.UpdatedAt = t0.Add(time.Hour)
	x.Upsert(moved) // repriced from 2500 to 1200
	var got []string
	x.PriceBand("Home/Kitchen/Mugs", "EUR", 1000, 2000, func(p Product) bool {
		got = append(got, p.ID)
		return true
	})
	if want := []string{"m1", "m4", "m2", "m3"}; !slices.Equal(got, want) {
		t.Fatalf("expected %v cheapest first, got %v", want, got)
	}
	got = got[:0]
	x.PriceBand("Home/Kitchen/Mugs", "EUR", 0, 10_000, func(p Product) bool {
		got = append(got, p.ID)
		return len(got) < 2
	})
	if len(got) != 2 {
		t.Fatalf("expected the scan to stop after 2, got %v", got)
	}
}
