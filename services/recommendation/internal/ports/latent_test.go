package ports_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

// personalTier returns the items of a personalized answer that the
// personalized strategy itself proposed: the list is ranked in tiers
// (personalized, then the trending fallback), and an item's score is its
// tier's offset (2 for the first of two tiers) plus a fraction.
func personalTier(resp *recommendationv1.GetRecommendationsResponse) []string {
	var out []string
	for _, it := range resp.GetItems() {
		if it.GetScore() > 2 {
			out = append(out, it.GetProductId())
		}
	}
	slices.Sort(out)
	return out
}

// sameAnswer reports how two answers differ (ids, scores, reasons), or "".
// Scores may differ by 1e-4: interactions fade with time between the reads.
func sameAnswer(a, b *recommendationv1.GetRecommendationsResponse) string {
	if !slices.Equal(ids(a.GetItems()), ids(b.GetItems())) {
		return fmt.Sprintf("items %v, want %v", ids(a.GetItems()), ids(b.GetItems()))
	}
	for i, it := range a.GetItems() {
		w := b.GetItems()[i]
		if d := it.GetScore() - w.GetScore(); d > 1e-4 || d < -1e-4 || it.GetReason().GetText() != w.GetReason().GetText() {
			return fmt.Sprintf("item %s: score %v reason %q, want %v %q", it.GetProductId(), it.GetScore(), it.GetReason().GetText(), w.GetScore(), w.GetReason().GetText())
		}
	}
	return ""
}

// The latent-factor model is trained in the background every
// RECO_LATENT_INTERVAL from the customer states and snapshotted. The test
// checks the model changes what personalized serves once trained, and
// that a restart (which does not train) serves exactly the same answer
// from the snapshot, where without the snapshot co-occurrence would rank
// alone again.
func TestTheTrainedLatentModelPersonalizesAfterTrainingAndAfterARestartFromItsSnapshot(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_LATENT_INTERVAL": "0s"})
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// c bought A. A is bought with B; B also with X; E sells on its own.
	// Co-occurrence offers c only A's neighbour B; the model, which places
	// c among A's buyers, scores every product it knows for them, and the
	// blend adds the best sellers of the moment beside it.
	at := time.Now().Add(-2 * time.Hour)
	var orders []*commercev1.OrderEvent
	for i := range 4 {
		orders = append(orders, order(fmt.Sprintf("ab-%d", i), fmt.Sprintf("u%d", i), at, "A", "B"), order(fmt.Sprintf("bx-%d", i), fmt.Sprintf("w%d", i), at, "B", "X"))
	}
	for i := range 3 {
		orders = append(orders, order(fmt.Sprintf("e-%d", i), fmt.Sprintf("v%d", i), at, "E"))
	}
	orders = append(orders, order("c-1", "c", at.Add(time.Minute), "A"))
	want := len(orders)
	req := &recommendationv1.GetRecommendationsRequest{CustomerId: "c", Strategy: recommendationv1.Strategy_STRATEGY_PERSONALIZED, Limit: 8}

	// Without the model (RECO_LATENT_INTERVAL 0): co-occurrence alone.
	svc := s.start()
	upsert(t, svc.client, product{id: "A", price: 100}, product{id: "B", price: 100}, product{id: "X", price: 100}, product{id: "E", price: 100}, product{id: "F", price: 100})
	for _, o := range orders {
		s.publish(topics.CommerceOrders, o.GetCustomerId(), o)
	}
	var off *recommendationv1.GetRecommendationsResponse
	eventually(t, 60*time.Second, "every order folded, c offered A's neighbour B", func() (bool, string) {
		if n := count(t, pool, "SELECT count(DISTINCT order_id) FROM baskets"); n != want {
			return false, fmt.Sprintf("%d of %d orders stored", n, want)
		}
		off = crossSell(t, svc.client, req)
		return slices.Equal(personalTier(off), []string{"B"}), fmt.Sprint(ids(off.GetItems()))
	})
	svc.stop()

	// With the model: trained every 200 ms once started.
	s.env["RECO_LATENT_INTERVAL"] = "200ms"
	svc = s.start()
	var on *recommendationv1.GetRecommendationsResponse
	eventually(t, 60*time.Second, "a trained model in the answer", func() (bool, string) {
		if count(t, pool, "SELECT count(*) FROM model_snapshots WHERE name = 'latent'") == 0 {
			return false, "no latent snapshot yet"
		}
		on = crossSell(t, svc.client, req)
		got := personalTier(on)
		return len(got) > 1 && slices.Contains(got, "B"), fmt.Sprint(ids(on.GetItems()), got)
	})
	// Every training on the same data gives the same model: the answer
	// after one more training is the same.
	var taken time.Time
	if err := pool.QueryRow(context.Background(), "SELECT taken_at FROM model_snapshots WHERE name = 'latent'").Scan(&taken); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "another training", func() (bool, string) {
		var now time.Time
		if err := pool.QueryRow(context.Background(), "SELECT taken_at FROM model_snapshots WHERE name = 'latent'").Scan(&now); err != nil {
			t.Fatal(err)
		}
		return now.After(taken), "snapshot not replaced"
	})
	on = crossSell(t, svc.client, req)
	if got, base := personalTier(on), personalTier(off); len(got) <= len(base) || !slices.Contains(got, "B") || sameAnswer(on, off) == "" {
		t.Fatalf("with the trained model personalized proposed %v (answer %v), want more than co-occurrence's %v (answer %v)", got, ids(on.GetItems()), base, ids(off.GetItems()))
	}
	for _, it := range on.GetItems() {
		if it.GetProductId() == "A" {
			t.Errorf("the model offered c the durable A they own: %v", ids(on.GetItems()))
		}
	}
	svc.stop()

	// A restart that does not train within the test serves the snapshot.
	s.env["RECO_LATENT_INTERVAL"] = "1h"
	svc = s.start()
	if diff := sameAnswer(crossSell(t, svc.client, req), on); diff != "" {
		t.Errorf("after a restart from the latent snapshot: %s", diff)
	}
	svc.stop()

	// The control: without the snapshot the restarted service ranks by
	// co-occurrence alone, so the snapshot is what kept the answer.
	if _, err := pool.Exec(context.Background(), "DELETE FROM model_snapshots WHERE name = 'latent'"); err != nil {
		t.Fatal(err)
	}
	svc = s.start()
	if diff := sameAnswer(crossSell(t, svc.client, req), off); diff != "" {
		t.Errorf("after a restart without a latent snapshot, want co-occurrence's answer: %s", diff)
	}
}

// Upsell ranks pricier products of the anchor's category by the co-view
// substitution signal, built with the latent model. It is snapshotted too,
// so a restart serves the same upsell answers at once rather than without
// substitution until the first rebuild.
func TestARestartServesTheSameUpsellFromTheCoViewSnapshot(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_LATENT_INTERVAL": "200ms"})
	pool, err := postgres.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc := s.start()
	// P costs 11.00 (the harness adds 10.00 to price); Q1 is the smallest
	// step up, which closeness in price prefers; Q2 is the product
	// shoppers looked at instead of P.
	upsert(t, svc.client, product{id: "P", category: "Kitchen/Grinders", price: 100}, product{id: "Q1", category: "Kitchen/Grinders", price: 250}, product{id: "Q2", category: "Kitchen/Grinders", price: 900})
	for i := range 4 {
		shopper := fmt.Sprintf("shopper-%d", i)
		for _, p := range []string{"P", "Q2"} {
			s.publish(topics.CommerceInteractions, shopper, &commercev1.InteractionEvent{Kind: commercev1.InteractionEvent_KIND_VIEW, CustomerId: shopper, ProductId: p, OccurredAt: timestamppb.New(time.Now().Add(-time.Hour))})
		}
	}
	req := &recommendationv1.GetRecommendationsRequest{ProductIds: []string{"P"}, Strategy: recommendationv1.Strategy_STRATEGY_UPSELL, Limit: 2}
	var built *recommendationv1.GetRecommendationsResponse
	eventually(t, 60*time.Second, "Q2 first once the co-view model is built", func() (bool, string) {
		if count(t, pool, "SELECT count(*) FROM model_snapshots WHERE name = 'viewed'") == 0 {
			return false, "no co-view snapshot yet"
		}
		built = crossSell(t, svc.client, req)
		return slices.Equal(ids(built.GetItems()), []string{"Q2", "Q1"}), fmt.Sprint(ids(built.GetItems()))
	})
	svc.stop()

	s.env["RECO_LATENT_INTERVAL"] = "1h"
	svc = s.start()
	if diff := sameAnswer(crossSell(t, svc.client, req), built); diff != "" {
		t.Errorf("upsell after a restart from the co-view snapshot: %s", diff)
	}
	svc.stop()

	// The control: without the snapshot, closeness in price ranks Q1
	// first until the next rebuild.
	if _, err := pool.Exec(context.Background(), "DELETE FROM model_snapshots WHERE name = 'viewed'"); err != nil {
		t.Fatal(err)
	}
	svc = s.start()
	if got := ids(crossSell(t, svc.client, req).GetItems()); !slices.Equal(got, []string{"Q1", "Q2"}) {
		t.Errorf("upsell after a restart without the co-view snapshot = %v, want [Q1 Q2] (no substitution signal)", got)
	}
}
