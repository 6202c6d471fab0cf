package recommend

import (
	"fmt"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// ReasonKind says why an item was recommended; storefronts render it ("Often
// bought together with ...") and analytics group CTR by it.
type ReasonKind int

// Reason kinds.
const (
	ReasonUnspecified ReasonKind = iota
	// ReasonBoughtTogether: in the same basket as the anchor product.
	ReasonBoughtTogether
	// ReasonAlsoBought: bought by the same customers as the anchor, in other orders.
	ReasonAlsoBought
	// ReasonUpgradeFrom: a pricier alternative to the anchor.
	ReasonUpgradeFrom
	// ReasonBecauseYouBought / ReasonBecauseYouViewed: a neighbour of the customer's
	// own anchor item.
	ReasonBecauseYouBought
	ReasonBecauseYouViewed
	// ReasonBuyAgain: a consumable the customer is due to run out of.
	ReasonBuyAgain
	// ReasonCartTopUp: brings the cart over the threshold (Amount is the gap).
	ReasonCartTopUp
	// ReasonPopularInCategory / ReasonPopularInSegment / ReasonPopular: trending fallbacks.
	ReasonPopularInCategory
	ReasonPopularInSegment
	ReasonPopular
)

var reasonNames = [...]string{"unspecified", "bought_together", "also_bought", "upgrade_from", "because_you_bought", "because_you_viewed", "buy_again", "cart_top_up", "popular_in_category", "popular_in_segment", "popular"}

// String returns the snake_case name used in APIs and metrics.
func (k ReasonKind) String() string {
	if k < 0 || int(k) >= len(reasonNames) {
		return fmt.Sprintf("reason(%d)", int(k))
	}
	return reasonNames[k]
}

// Reason explains one recommended item.
type Reason struct {
	Kind ReasonKind
	// ProductID and Title name the anchor product ("X" in "bought together
	// with X"), when there is one.
	ProductID string
	Title     string
	// Category is set for ReasonPopularInCategory, Segment for ReasonPopularInSegment.
	Category string
	Segment  string
	// Amount is the remaining gap to the threshold for ReasonCartTopUp.
	Amount catalog.Money
	// Since is the time since the last purchase for ReasonBuyAgain.
	Since time.Duration
}

// String is an English rendering for logs, e-mails and storefronts that do
// not localize; localized storefronts render from Kind and the fields.
func (r Reason) String() string {
	name := r.Title
	if name == "" {
		name = r.ProductID
	}
	switch r.Kind {
	case ReasonBoughtTogether:
		return "bought together with " + name
	case ReasonAlsoBought:
		return "customers who bought " + name + " also bought this"
	case ReasonUpgradeFrom:
		return "upgrade from " + name
	case ReasonBecauseYouBought:
		return "because you bought " + name
	case ReasonBecauseYouViewed:
		return "because you viewed " + name
	case ReasonBuyAgain:
		return fmt.Sprintf("buy again: you last bought this %d days ago", int(r.Since.Hours()/24))
	case ReasonCartTopUp:
		return fmt.Sprintf("adds enough to reach free delivery (%d %s to go)", r.Amount.Minor, r.Amount.Currency)
	case ReasonPopularInCategory:
		return "popular in " + r.Category
	case ReasonPopularInSegment:
		return "popular with customers like you"
	case ReasonPopular:
		return "popular right now"
	}
	return "recommended"
}
