package ports

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// FuzzGetRecommendationsRequest decodes arbitrary bytes as a request, as
// the gRPC server would, and checks that the validator never panics, that
// it answers InvalidArgument or nothing, and that whatever it accepts the
// engine accepts too (so a valid request never fails deeper down).
func FuzzGetRecommendationsRequest(f *testing.F) {
	for _, r := range []*recommendationv1.GetRecommendationsRequest{
		{CustomerId: "c1", ProductIds: []string{"A", "B"}, Placement: recommendationv1.Placement_PLACEMENT_CART, Limit: 10},
		{Strategy: recommendationv1.Strategy_STRATEGY_UPSELL, Limit: 5},
		{Strategy: 99, Limit: 0, ProductIds: []string{"a b"}, IncludeCategories: []string{"/"}},
		{Limit: 10000, PageToken: "x", ExcludeProductIds: []string{"é"}},
		{AnonymousId: strings.Repeat("v", 125), Limit: 3},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := recommend.DefaultConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		var req recommendationv1.GetRecommendationsRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		err := validateGetRecommendations(&req)
		if err != nil {
			if st, ok := status.FromError(err); !ok || st.Code() != codes.InvalidArgument {
				t.Fatalf("validator error %v is not InvalidArgument", err)
			}
			return
		}
		dr := recommend.Request{
			CustomerID: req.GetCustomerId(), ProductIDs: req.GetProductIds(), Placement: placements[req.GetPlacement()],
			Strategy: strategies[req.GetStrategy()], Limit: int(req.GetLimit()), ExcludeIDs: req.GetExcludeProductIds(),
			IncludeCategories: req.GetIncludeCategories(), ExcludeCategories: req.GetExcludeCategories(),
		}
		if dr.CustomerID == "" && req.GetAnonymousId() != "" {
			dr.CustomerID = app.AnonymousKey(req.GetAnonymousId())
		}
		if err := dr.Validate(cfg); err != nil {
			t.Fatalf("the validator accepted %v but the engine rejects it: %v", &req, err)
		}
	})
}

// FuzzEventDecoding feeds arbitrary bytes as the payload of every consumed
// topic, in both content types, and converts whatever decodes the way the
// consumer does: it must never panic, and a conversion that fails must fail
// with a validation error (which the consumer skips) rather than anything
// that would hold up the partition forever.
func FuzzEventDecoding(f *testing.F) {
	order, _ := proto.Marshal(&commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: "o1", CustomerId: "c1",
		Lines: []*commercev1.OrderLine{{LineId: "1", ProductId: "A", Quantity: 2}, {Sku: "B"}}})
	product, _ := proto.Marshal(&commercev1.ProductEvent{Kind: commercev1.ProductEvent_KIND_UPSERTED, Product: &commercev1.Product{ProductId: "A", CategoryPath: []string{"x"}}})
	f.Add(order, false)
	f.Add(product, false)
	f.Add([]byte(`{"kind":"KIND_COMPLETED","orderId":"o 1","lines":[{"productId":""}]}`), true)
	f.Add([]byte(`{"kind":"KIND_VIEW","anonymousId":"v1","productId":"A"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		ct := "application/protobuf"
		if asJSON {
			ct = "application/json"
		}
		for _, topic := range ConsumedTopics {
			m := events.Message{Topic: topic, ContentType: ct, Value: data, Time: time.Unix(1700000000, 0)}
			pm, err := Decode(m)
			if err != nil {
				continue
			}
			switch ev := pm.(type) {
			case *commercev1.OrderEvent:
				o := OrderFromEvent(ev, m.Time)
				if len(o.Lines) != len(ev.GetLines()) {
					t.Fatalf("order with %d lines converted to %d", len(ev.GetLines()), len(o.Lines))
				}
			case *commercev1.ProductEvent:
				err := productFromProto(ev.GetProduct(), m.Time).Validate()
				var ve *domain.ValidationError
				if err != nil && !errors.As(err, &ve) {
					t.Fatalf("product validation failed with %T %v, want a *domain.ValidationError", err, err)
				}
			}
		}
	})
}
