package ports

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

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
