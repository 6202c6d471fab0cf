// Package recommend is the recommendation engine: it turns a request (who,
// which products are in context, which placement) and the customer's state
// into a ranked, filtered, paged list of products, each with a score and a
// reason. It composes the strategies (cross-sell, upsell, personalized,
// buy-again, cart top-up, trending) over the in-memory models, then applies
// the merchandiser's business rules before cutting the list to the limit, so
// a page is always full while enough eligible products exist.
//
// The engine is pure: models are read from memory, customer state is passed
// in by the app layer, and time is a parameter.
package recommend

import (
	"errors"
	"fmt"
	"strings"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
)

// Strategy names a way of finding candidates.
type Strategy string

// Strategies. Auto picks a blend by placement (see Plan).
const (
	Auto         Strategy = "auto"
	CrossSell    Strategy = "cross_sell"
	Upsell       Strategy = "upsell"
	Personalized Strategy = "personalized"
	BuyAgain     Strategy = "buy_again"
	CartTopUp    Strategy = "cart_top_up"
	Trending     Strategy = "trending"
)

// Strategies lists every strategy a request may name, for validation
// messages and the evaluation command.
var Strategies = []Strategy{Auto, CrossSell, Upsell, Personalized, BuyAgain, CartTopUp, Trending}

// ErrUnknownStrategy is wrapped in the ValidationError for a strategy name
// the engine does not know.
var ErrUnknownStrategy = errors.New("unknown strategy")

// ErrUnknownPlacement is wrapped for an unknown placement name.
var ErrUnknownPlacement = errors.New("unknown placement")

// ErrInvalidPageToken is wrapped for a page token that is malformed,
// tampered with, or belongs to a different request.
var ErrInvalidPageToken = errors.New("invalid page token")

// ParseStrategy accepts the snake_case names; the empty string means Auto.
func ParseStrategy(s string) (Strategy, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Auto, nil
	}
	for _, k := range Strategies {
		if string(k) == s {
			return k, nil
		}
	}
	return "", &domain.ValidationError{Field: "strategy", Reason: fmt.Sprintf("unknown strategy %q; known: %v", s, Strategies), Err: ErrUnknownStrategy}
}

// Placement is where the storefront shows the list.
type Placement string

// Placements.
const (
	PlacementUnspecified Placement = ""
	ProductPage          Placement = "product_page"
	Cart                 Placement = "cart"
	Checkout             Placement = "checkout"
	OrderConfirmation    Placement = "order_confirmation"
	Email                Placement = "email"
)

// ParsePlacement accepts the snake_case names and the empty string.
func ParsePlacement(s string) (Placement, error) {
	switch p := Placement(strings.ToLower(strings.TrimSpace(s))); p {
	case PlacementUnspecified, ProductPage, Cart, Checkout, OrderConfirmation, Email:
		return p, nil
	}
	return "", &domain.ValidationError{Field: "placement", Reason: fmt.Sprintf("unknown placement %q", s), Err: ErrUnknownPlacement}
}

// Plan is the ordered list of strategies a request runs. Candidates of an
// earlier strategy rank above those of a later one; trending always closes
// the plan as the fallback that keeps the list full. Auto blends by
// placement: the product page and cart lead with what goes with the
// products in view, checkout first tries to lift the cart over the free
// delivery threshold, email leads with what the customer is due to re-buy.
func Plan(p Placement, s Strategy) []Strategy {
	var plan []Strategy
	switch s {
	case Auto, "":
		switch p {
		case ProductPage, Cart, OrderConfirmation:
			plan = []Strategy{CrossSell, Personalized}
		case Checkout:
			plan = []Strategy{CartTopUp, CrossSell}
		case Email:
			plan = []Strategy{BuyAgain, Personalized}
		default:
			plan = []Strategy{Personalized, CrossSell}
		}
	default:
		plan = []Strategy{s}
	}
	if plan[len(plan)-1] != Trending {
		plan = append(plan, Trending)
	}
	return plan
}

// Request is one call for recommendations.
type Request struct {
	// CustomerID is optional; anonymous visitors get non-personal lists.
	CustomerID string
	// ProductIDs are the products in context: the product on the page, the
	// cart, or the order just placed. They are never recommended back.
	ProductIDs []string
	Placement  Placement
	Strategy   Strategy
	Limit      int
	// PageToken continues a previous answer; see NextPageToken.
	PageToken string
	// ExcludeIDs are never returned (for example items shown elsewhere on
	// the page).
	ExcludeIDs []string
	// IncludeCategories, when set, restrict results to these category keys
	// ("Home/Kitchen" matches everything below it).
	IncludeCategories []string
	ExcludeCategories []string
	// MaxPerCategory caps items per leaf category for diversity; 0 uses the
	// configured default.
	MaxPerCategory int
}

// Validate checks the request against the configured limits. Field names
// are the protobuf request's.
func (r Request) Validate(cfg Config) error {
	if r.CustomerID != "" {
		if err := domain.ValidateID("customer_id", r.CustomerID); err != nil {
			return err
		}
	}
	if _, err := ParsePlacement(string(r.Placement)); err != nil {
		return err
	}
	if _, err := ParseStrategy(string(r.Strategy)); err != nil {
		return err
	}
	if r.Limit < 1 || r.Limit > cfg.MaxLimit {
		return domain.Invalid("limit", fmt.Sprintf("must be between 1 and %d, got %d", cfg.MaxLimit, r.Limit))
	}
	if len(r.ProductIDs) > cfg.MaxProductIDs {
		return domain.Invalid("product_ids", fmt.Sprintf("at most %d, got %d", cfg.MaxProductIDs, len(r.ProductIDs)))
	}
	for i, id := range r.ProductIDs {
		// The indexed field name is formatted only for the error: a
		// request validates every id, and formatting each cost an allocation.
		if domain.ValidateID("product_ids", id) != nil {
			return domain.ValidateID(fmt.Sprintf("product_ids[%d]", i), id)
		}
	}
	if len(r.ExcludeIDs) > cfg.MaxExcludeIDs {
		return domain.Invalid("exclude_ids", fmt.Sprintf("at most %d, got %d", cfg.MaxExcludeIDs, len(r.ExcludeIDs)))
	}
	for i, id := range r.ExcludeIDs {
		// The indexed field name is formatted only for the error: a
		// request validates every id, and formatting each cost an allocation.
		if domain.ValidateID("exclude_ids", id) != nil {
			return domain.ValidateID(fmt.Sprintf("exclude_ids[%d]", i), id)
		}
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"include_categories", r.IncludeCategories}, {"exclude_categories", r.ExcludeCategories}} {
		if len(f.list) > 100 {
			return domain.Invalid(f.name, fmt.Sprintf("at most 100, got %d", len(f.list)))
		}
		for i, c := range f.list {
			if strings.Trim(c, "/ ") == "" || len(c) > 512 {
				return domain.Invalid(fmt.Sprintf("%s[%d]", f.name, i), "must be a non-empty category path of at most 512 bytes")
			}
		}
	}
	if r.MaxPerCategory < 0 {
		return domain.Invalid("max_per_category", fmt.Sprintf("must not be negative, got %d", r.MaxPerCategory))
	}
	if r.Strategy == Upsell && len(r.ProductIDs) == 0 {
		return domain.Invalid("product_ids", "upsell needs at least one product to upgrade from")
	}
	if len(r.PageToken) > maxTokenLength {
		return domain.InvalidWrap("page_token", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPageToken, maxTokenLength))
	}
	return nil
}
