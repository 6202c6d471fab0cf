// Package catalog is the recommendation service's replica of the product
// catalog: the product attributes every strategy and business rule reads
// (category path, price, margin, stock, kind), the attribute similarity used
// by upsell, and an in-memory index that serves category and price-band
// queries without touching the database on the request path.
package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Money is an amount in minor units (cents) of an ISO 4217 currency. Integer
// minor units keep prices exact; recommendation maths converts to float only
// for ratios.
type Money struct {
	Minor    int64
	Currency string
}

// Validate checks that the currency looks like an ISO 4217 code and that the
// amount is not negative (a catalog price never is).
func (m Money) Validate(field string) error {
	if len(m.Currency) != 3 || strings.ToUpper(m.Currency) != m.Currency || strings.ToLower(m.Currency) == m.Currency {
		return domain.Invalid(field+".currency", fmt.Sprintf("must be a three-letter upper-case ISO 4217 code, got %q", m.Currency))
	}
	if m.Minor < 0 {
		return domain.Invalid(field+".minor", fmt.Sprintf("must not be negative, got %d", m.Minor))
	}
	return nil
}

// StockStatus says whether a product can be recommended at all.
type StockStatus int

// Stock statuses. Unspecified is treated as in stock because a catalog feed
// that does not track stock should not make every product disappear.
const (
	StockUnspecified StockStatus = iota
	InStock
	LowStock
	OutOfStock
	Discontinued
)

// Available reports whether the product may be shown: out-of-stock and
// discontinued products never are.
func (s StockStatus) Available() bool { return s != OutOfStock && s != Discontinued }

// Kind separates products a customer buys again and again (consumables: the
// buy-again strategy targets them) from products bought once (durables: a
// customer who bought one is not shown it again).
type Kind int

// Product kinds. Unspecified behaves as durable for the repeat-purchase rule
// only when the product was bought; it is never offered as buy-again.
const (
	KindUnspecified Kind = iota
	Durable
	Consumable
)

// Product is one catalog entry as the recommender needs it.
type Product struct {
	ID    string
	Title string
	// CategoryPath runs from the root to the leaf, e.g. ["Home", "Kitchen", "Mugs"].
	CategoryPath []string
	Price        Money
	// Margin is the profit per unit in the price's currency; HasMargin says
	// whether the feed supplied one, because zero is a real margin.
	Margin    int64
	HasMargin bool
	Stock     StockStatus
	Brand     string
	Tags      []string
	Kind      Kind
	// SKU, URL and ImageURL are carried for rendering only; no rule reads
	// them.
	SKU, URL, ImageURL string
	// categoryKey caches CategoryKey for products held by an Index, since
	// every rule and ranking step of a request asks for it.
	categoryKey string
	// ref and category are the interned id and category key of a product
	// held by an Index (see Intern), set on upsert.
	ref, category int32
	// UpdatedAt orders catalog updates: an upsert older than the stored
	// product is ignored, so replaying or reordering product events converges.
	UpdatedAt time.Time
}

// Validate checks a product from the batch upsert API or a product event.
func (p Product) Validate() error {
	if err := domain.ValidateID("id", p.ID); err != nil {
		return err
	}
	if len(p.CategoryPath) == 0 {
		return domain.Invalid("category_path", "must have at least one level")
	}
	for i, c := range p.CategoryPath {
		if strings.TrimSpace(c) == "" || strings.Contains(c, "/") {
			return domain.Invalid("category_path", fmt.Sprintf("level %d must be non-empty and must not contain '/'", i))
		}
	}
	if err := p.Price.Validate("price"); err != nil {
		return err
	}
	if p.HasMargin && p.Margin > p.Price.Minor {
		return domain.Invalid("margin", fmt.Sprintf("must not exceed the price %d, got %d", p.Price.Minor, p.Margin))
	}
	if p.Stock < StockUnspecified || p.Stock > Discontinued {
		return domain.Invalid("stock", fmt.Sprintf("unknown stock status %d", p.Stock))
	}
	if p.Kind < KindUnspecified || p.Kind > Consumable {
		return domain.Invalid("kind", fmt.Sprintf("unknown kind %d", p.Kind))
	}
	return nil
}

// CategoryKey joins the full category path with '/', the form used in
// requests' include/exclude filters and in trending keys.
func (p Product) CategoryKey() string {
	if p.categoryKey != "" {
		return p.categoryKey
	}
	return strings.Join(p.CategoryPath, "/")
}

// Ref is the product's interned id (see Intern); valid for products
// returned by an Index.
func (p *Product) Ref() int32 { return p.ref }

// CategoryRef is the interned full category key of a product returned by
// an Index: equal for products of the same category, below Categories().
func (p *Product) CategoryRef() int32 { return p.category }

// Leaf is the most specific category, the one upsell and diversity use.
func (p Product) Leaf() string {
	if len(p.CategoryPath) == 0 {
		return ""
	}
	return p.CategoryPath[len(p.CategoryPath)-1]
}

// InCategory reports whether the product sits in the category key or below
// it: "Home/Kitchen" matches "Home/Kitchen/Mugs" but not "Home/Kitchenware".
func (p Product) InCategory(key string) bool {
	key = strings.Trim(key, "/")
	if key == "" {
		return true
	}
	full := p.CategoryKey()
	return full == key || strings.HasPrefix(full, key+"/")
}

// MarginRatio is margin divided by price, clamped to [0, 1]; 0 when unknown,
// so a missing margin never boosts.
func (p Product) MarginRatio() float64 {
	if !p.HasMargin || p.Price.Minor <= 0 || p.Margin <= 0 {
		return 0
	}
	r := float64(p.Margin) / float64(p.Price.Minor)
	if r > 1 {
		return 1
	}
	return r
}

// Similarity scores how alike two products are from their attributes, in
// [0, 1]: 0.4 for the shared share of the category path, 0.3 for the same
// brand and 0.3 for the Jaccard overlap of tags. Upsell uses it to prefer
// a better version of the same thing over a merely pricier neighbour; the
// weights favour category because a different category is rarely an upgrade.
func Similarity(a, b Product) float64 {
	var s float64
	depth := max(len(a.CategoryPath), len(b.CategoryPath))
	if depth > 0 {
		shared := 0
		for shared < len(a.CategoryPath) && shared < len(b.CategoryPath) &&
			strings.EqualFold(a.CategoryPath[shared], b.CategoryPath[shared]) {
			shared++
		}
		s += 0.4 * float64(shared) / float64(depth)
	}
	if a.Brand != "" && strings.EqualFold(a.Brand, b.Brand) {
		s += 0.3
	}
	if len(a.Tags) > 0 || len(b.Tags) > 0 {
		set := make(map[string]bool, len(a.Tags))
		for _, t := range a.Tags {
			set[strings.ToLower(t)] = true
		}
		inter, union := 0, len(set)
		seen := make(map[string]bool, len(b.Tags))
		for _, t := range b.Tags {
			t = strings.ToLower(t)
			if seen[t] {
				continue
			}
			seen[t] = true
			if set[t] {
				inter++
			} else {
				union++
			}
		}
		if union > 0 {
			s += 0.3 * float64(inter) / float64(union)
		}
	}
	return s
}

// Repository is the persistent catalog replica the app layer reads at start
// (to fill an Index) and writes on every upsert.
type Repository interface {
	// Upsert stores products whose UpdatedAt is not older than the stored
	// version and returns the ones actually applied.
	Upsert(ctx context.Context, products ...Product) ([]Product, error)
	// Get returns domain.ErrNotFound (wrapped) for an unknown id.
	Get(ctx context.Context, id string) (Product, error)
	// All streams the whole catalog, for warming the in-memory index.
	All(ctx context.Context, fn func(Product) error) error
}
