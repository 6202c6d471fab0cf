package ports

import (
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

var strategies = map[recommendationv1.Strategy]recommend.Strategy{
	recommendationv1.Strategy_STRATEGY_UNSPECIFIED:  recommend.Auto,
	recommendationv1.Strategy_STRATEGY_CROSS_SELL:   recommend.CrossSell,
	recommendationv1.Strategy_STRATEGY_UPSELL:       recommend.Upsell,
	recommendationv1.Strategy_STRATEGY_PERSONALIZED: recommend.Personalized,
	recommendationv1.Strategy_STRATEGY_BUY_AGAIN:    recommend.BuyAgain,
	recommendationv1.Strategy_STRATEGY_CART_TOP_UP:  recommend.CartTopUp,
	recommendationv1.Strategy_STRATEGY_TRENDING:     recommend.Trending,
}

func strategyToProto(s recommend.Strategy) recommendationv1.Strategy {
	for k, v := range strategies {
		if v == s && k != recommendationv1.Strategy_STRATEGY_UNSPECIFIED {
			return k
		}
	}
	return recommendationv1.Strategy_STRATEGY_UNSPECIFIED
}

var placements = map[recommendationv1.Placement]recommend.Placement{
	recommendationv1.Placement_PLACEMENT_UNSPECIFIED:        recommend.PlacementUnspecified,
	recommendationv1.Placement_PLACEMENT_HOME:               recommend.PlacementUnspecified,
	recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE:       recommend.ProductPage,
	recommendationv1.Placement_PLACEMENT_CART:               recommend.Cart,
	recommendationv1.Placement_PLACEMENT_CHECKOUT:           recommend.Checkout,
	recommendationv1.Placement_PLACEMENT_ORDER_CONFIRMATION: recommend.OrderConfirmation,
	recommendationv1.Placement_PLACEMENT_EMAIL:              recommend.Email,
}

// reasonToProto maps the engine's finer reasons onto the API's kinds; the
// text keeps the nuance ("also bought" vs "bought together").
func reasonToProto(r recommend.Reason) *recommendationv1.Reason {
	out := &recommendationv1.Reason{}
	reasonInto(out, r)
	return out
}

// reasonInto is reasonToProto into a zero message the caller allocated.
func reasonInto(out *recommendationv1.Reason, r recommend.Reason) {
	out.SourceProductId, out.Category, out.Text = r.ProductID, r.Category, r.String()
	switch r.Kind {
	case recommend.ReasonBoughtTogether, recommend.ReasonAlsoBought:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER
	case recommend.ReasonUpgradeFrom:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_UPGRADE
	case recommend.ReasonBecauseYouBought, recommend.ReasonBecauseYouViewed:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_BECAUSE_YOU_BOUGHT
	case recommend.ReasonBuyAgain:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_BUY_AGAIN
	case recommend.ReasonCartTopUp:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_CART_TOP_UP
	case recommend.ReasonPopularInCategory, recommend.ReasonPopularInSegment, recommend.ReasonPopular:
		out.Kind = recommendationv1.ReasonKind_REASON_KIND_POPULAR
	}
	// A buy-again item is its own anchor, and a segment is no product.
	if r.Kind == recommend.ReasonBuyAgain || r.Kind == recommend.ReasonPopularInSegment {
		out.SourceProductId = ""
	}
}

// productFromProto converts a catalog product from the API or a product
// event. A backordered product cannot ship now, so it is not recommended.
func productFromProto(p *commercev1.Product, updatedAt time.Time) catalog.Product {
	out := catalog.Product{
		ID: p.GetProductId(), SKU: p.GetSku(), Title: p.GetTitle(), CategoryPath: p.GetCategoryPath(),
		Price: catalog.Money{Minor: p.GetPrice().GetAmountMinor(), Currency: p.GetPrice().GetCurrency()},
		Brand: p.GetBrand(), Tags: p.GetTags(), URL: p.GetUrl(), ImageURL: p.GetImageUrl(), UpdatedAt: updatedAt,
	}
	if p.GetMargin() != nil {
		out.Margin, out.HasMargin = p.GetMargin().GetAmountMinor(), true
	}
	switch p.GetStockStatus() {
	case commercev1.StockStatus_STOCK_STATUS_IN_STOCK:
		out.Stock = catalog.InStock
	case commercev1.StockStatus_STOCK_STATUS_LOW_STOCK:
		out.Stock = catalog.LowStock
	case commercev1.StockStatus_STOCK_STATUS_OUT_OF_STOCK, commercev1.StockStatus_STOCK_STATUS_BACKORDER:
		out.Stock = catalog.OutOfStock
	case commercev1.StockStatus_STOCK_STATUS_DISCONTINUED:
		out.Stock = catalog.Discontinued
	}
	switch p.GetDurability() {
	case commercev1.Durability_DURABILITY_CONSUMABLE:
		out.Kind = catalog.Consumable
	case commercev1.Durability_DURABILITY_DURABLE:
		out.Kind = catalog.Durable
	}
	return out
}

// productMessages holds one read-only API message per catalog product, for
// the version of the product it was built from, so that answers share
// them instead of building ten per answer (which was two fifths of what a
// full-view answer allocated). Messages are only marshalled, which
// protobuf allows concurrently. Slots are indexed by the product's ref,
// read with one atomic load each (a sync.Map lookup cost more than
// building the message).
//
// Beside each message it keeps the message already encoded as a
// RecommendedItem's product field (itemField): GetRecommendations hands
// that encoding on instead of the message, so a product is marshalled
// once per version rather than once per answer.
type productMessages struct {
	mu    sync.Mutex // serializes growth
	slots catalog.RefSlots[atomic.Pointer[productMessage]]
}

type productMessage struct {
	src *catalog.Product
	msg *commercev1.Product
	// field is msg encoded as RecommendedItem.product: the field's tag,
	// its length and the message, deterministic; its capacity is its
	// length, so nothing appends to it in place.
	field []byte
}

// of returns p's message, building it when p (the catalog's shared product
// version) is not the one the held message was built from.
func (pm *productMessages) of(p *catalog.Product) *commercev1.Product { return pm.entry(p).msg }

// itemField returns p's message encoded as a RecommendedItem's product
// field (see setItemProduct).
func (pm *productMessages) itemField(p *catalog.Product) []byte { return pm.entry(p).field }

func (pm *productMessages) entry(p *catalog.Product) *productMessage {
	slot := pm.slots.At(p.Ref())
	if slot == nil {
		pm.mu.Lock()
		slot = pm.slots.Grow(p.Ref())
		pm.mu.Unlock()
	}
	if e := slot.Load(); e != nil && e.src == p {
		return e
	}
	msg := productToProto(*p)
	e := &productMessage{src: p, msg: msg, field: encodeItemProduct(msg)}
	slot.Store(e)
	return e
}

// itemProductField is RecommendedItem.product's field number.
var itemProductField = (&recommendationv1.RecommendedItem{}).ProtoReflect().Descriptor().Fields().ByName("product").Number()

// encodeItemProduct encodes msg as a RecommendedItem's product field.
func encodeItemProduct(msg *commercev1.Product) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		// A message built from a stored product always marshals; nil
		// leaves the item without its product rather than failing the
		// answer.
		return nil
	}
	out := protowire.AppendTag(nil, itemProductField, protowire.BytesType)
	out = protowire.AppendBytes(out, b)
	return out[:len(out):len(out)]
}

// setItemProduct makes it marshal with field (itemField) as its product:
// the encoding goes out as the item's unknown fields, which protobuf
// writes verbatim after the known ones. Decoders do not depend on the
// order of fields, and product is the item's last field anyway, so the
// bytes on the wire are the same as with the message set: every client
// (and the REST gateway, which calls over gRPC) decodes a product.
// The item must not be read as a message in this process afterwards: its
// Product field stays nil.
func setItemProduct(it *recommendationv1.RecommendedItem, field []byte) {
	it.ProtoReflect().SetUnknown(field)
}

// productToProto is a recommended product's API message.
//
// The margin is left out: recommended items go to storefronts, to
// customers calling with their own token and into e-mails, none of which
// may learn what the shop earns on a product. Margin boosts use it inside
// the service only.
func productToProto(p catalog.Product) *commercev1.Product {
	out := &commercev1.Product{
		ProductId: p.ID, Sku: p.SKU, Title: p.Title, CategoryPath: p.CategoryPath,
		Price: &commercev1.Money{AmountMinor: p.Price.Minor, Currency: p.Price.Currency},
		Brand: p.Brand, Tags: p.Tags, Url: p.URL, ImageUrl: p.ImageURL,
	}
	switch p.Stock {
	case catalog.InStock:
		out.StockStatus = commercev1.StockStatus_STOCK_STATUS_IN_STOCK
	case catalog.LowStock:
		out.StockStatus = commercev1.StockStatus_STOCK_STATUS_LOW_STOCK
	case catalog.OutOfStock:
		out.StockStatus = commercev1.StockStatus_STOCK_STATUS_OUT_OF_STOCK
	case catalog.Discontinued:
		out.StockStatus = commercev1.StockStatus_STOCK_STATUS_DISCONTINUED
	}
	switch p.Kind {
	case catalog.Consumable:
		out.Durability = commercev1.Durability_DURABILITY_CONSUMABLE
	case catalog.Durable:
		out.Durability = commercev1.Durability_DURABILITY_DURABLE
	}
	return out
}
