package ports

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

func TestAnswersShareAProductsMessageUntilTheProductChanges(t *testing.T) {
	t.Parallel()
	idx := catalog.NewIndex()
	at := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	p := catalog.Product{ID: "shared-msg-1", Title: "Mug", CategoryPath: []string{"Kitchen", "Mugs"},
		Price: catalog.Money{Minor: 1200, Currency: "EUR"}, Margin: 400, HasMargin: true,
		Stock: catalog.InStock, Kind: catalog.Durable, UpdatedAt: at}
	idx.Upsert(p)
	var pm productMessages
	v1, _ := idx.Ref(p.ID)
	first := pm.of(v1)
	if again := pm.of(v1); again != first {
		t.Error("the same product version: expected the same message twice, got two")
	}
	if first.GetTitle() != "Mug" || first.GetPrice().GetAmountMinor() != 1200 || first.GetMargin() != nil {
		t.Errorf("message for the first version: expected title Mug, price 1200 and no margin, got %v", first)
	}

	p.Title, p.Price.Minor, p.UpdatedAt = "Big mug", 1500, at.Add(time.Minute)
	idx.Upsert(p)
	v2, _ := idx.Ref(p.ID)
	second := pm.of(v2)
	if second == first || second.GetTitle() != "Big mug" || second.GetPrice().GetAmountMinor() != 1500 {
		t.Errorf("after an upsert: expected a new message with title Big mug and price 1500, got %v", second)
	}
	if first.GetTitle() != "Mug" {
		t.Errorf("a message handed out before the upsert changed: %v", first)
	}

	// Answers marshal the shared messages concurrently.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := proto.Marshal(pm.of(v2)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	// Products over more than one chunk of slots, asked for concurrently
	// while the slots grow.
	many := make([]*catalog.Product, 5000) // beyond one chunk of slots
	for i := range many {
		q := p
		q.ID = fmt.Sprintf("shared-msg-many-%d", i)
		idx.Upsert(q)
		many[i], _ = idx.Ref(q.ID)
	}
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(many); i += 4 {
				if got := pm.of(many[i]); got.GetProductId() != many[i].ID {
					t.Errorf("message for %s: got %s", many[i].ID, got.GetProductId())
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAnItemsEncodedProductIsTheMessageOnTheWire(t *testing.T) {
	t.Parallel()
	idx := catalog.NewIndex()
	p := catalog.Product{ID: "encoded-1", SKU: "SKU-1", Title: "Kettle ☕", CategoryPath: []string{"Kitchen", "Kettles"},
		Price: catalog.Money{Minor: 3999, Currency: "EUR"}, Margin: 900, HasMargin: true, Brand: "Acme", Tags: []string{"steel", "1.7l"},
		Stock: catalog.LowStock, Kind: catalog.Durable, URL: "https://shop.example/k", ImageURL: "https://cdn.example/k.jpg",
		UpdatedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	idx.Upsert(p)
	ref, _ := idx.Ref(p.ID)
	var pm productMessages
	reason := &recommendationv1.Reason{Kind: recommendationv1.ReasonKind_REASON_KIND_BOUGHT_TOGETHER, SourceProductId: "x", Text: "bought together with X"}

	want := &recommendationv1.GetRecommendationsResponse{RecommendationId: "r1", Items: []*recommendationv1.RecommendedItem{
		{ProductId: p.ID, Score: 0.5, Reason: reason, Product: pm.of(ref)},
	}}
	got := &recommendationv1.GetRecommendationsResponse{RecommendationId: "r1", Items: []*recommendationv1.RecommendedItem{
		{ProductId: p.ID, Score: 0.5, Reason: reason},
	}}
	setItemProduct(got.Items[0], pm.itemField(ref))

	wantWire, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	gotWire, err := proto.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotWire, wantWire) {
		t.Fatalf("wire with the encoded product differs from the message's:\n got %x\nwant %x", gotWire, wantWire)
	}
	if n := proto.Size(got); n != len(wantWire) {
		t.Errorf("size with the encoded product: expected %d, got %d", len(wantWire), n)
	}
	var decoded recommendationv1.GetRecommendationsResponse
	if err := proto.Unmarshal(gotWire, &decoded); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&decoded, want) {
		t.Errorf("decoded answer: expected %v, got %v", want, &decoded)
	}
	if decoded.GetItems()[0].GetProduct().GetMargin() != nil {
		t.Error("the encoded product carries the margin")
	}
	if len(decoded.GetItems()[0].ProtoReflect().GetUnknown()) != 0 {
		t.Error("the decoded item kept unknown fields: the product was not read as field 4")
	}

	// A new version of the product gets a new encoding; the old one is
	// left as it was (answers being written may still hold it).
	held := pm.itemField(ref)
	old := slices.Clone(held)
	p.Title, p.UpdatedAt = "Kettle 2", p.UpdatedAt.Add(time.Minute)
	idx.Upsert(p)
	ref2, _ := idx.Ref(p.ID)
	if bytes.Equal(pm.itemField(ref2), old) {
		t.Error("after an upsert: expected a new encoding")
	}
	if !bytes.Equal(held, old) {
		t.Error("the encoding handed out before the upsert changed")
	}
	if f := pm.itemField(ref2); cap(f) != len(f) {
		t.Errorf("the shared encoding has spare capacity (%d > %d): an append could write into it", cap(f), len(f))
	}
}
