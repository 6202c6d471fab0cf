package ports_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

// TestAnOldDurablePurchaseIsNeverOfferedAgain: the serving state keeps
// only the customer's newest RECO_RECENT_EVENTS interactions, but the "no
// repeat purchase of an owned durable" rule must see every purchase. c9
// bought the durable D and then F1..F6 one order each; with a window of 5,
// D and F1 are older than the window and must still never come back.
func TestAnOldDurablePurchaseIsNeverOfferedAgain(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"RECO_RECENT_EVENTS": "5"})
	svc := s.start()
	later := []string{"F1", "F2", "F3", "F4", "F5", "F6"}
	catalog := []product{{id: "A", category: "Kitchen/Mugs"}, {id: "D", category: "Kitchen/Pans"}}
	for _, id := range later {
		catalog = append(catalog, product{id: id, category: "Kitchen/" + id})
	}
	upsert(t, svc.client, catalog...)

	// Other customers buy each of D and F1..F6 with A, so all seven are A's
	// bought-together neighbours.
	for i, id := range append([]string{"D"}, later...) {
		s.publish(topics.CommerceOrders, fmt.Sprintf("x%d", i), order(fmt.Sprintf("x%d", i), fmt.Sprintf("x%d", i), t0, "A", id))
	}
	s.publish(topics.CommerceOrders, "c9", order("c9-old", "c9", t0.Add(time.Hour), "D"))
	// c8 bought D too but returned it, also before the window: D is not
	// owned, so it may be offered again.
	s.publish(topics.CommerceOrders, "c8", order("c8-old", "c8", t0.Add(time.Hour), "D"),
		&commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: "c8-old", CustomerId: "c8", OccurredAt: timestamppb.New(t0.Add(90 * time.Minute)),
			RefundedLines: []*commercev1.RefundedLine{{LineId: "1", Quantity: 1}}})
	for _, c := range []string{"c9", "c8"} {
		for i, id := range later {
			s.publish(topics.CommerceOrders, c, order(fmt.Sprintf("%s-%d", c, i), c, t0.Add(time.Duration(i+2)*time.Hour), id))
		}
	}

	answer := func(customer string) []string {
		return ids(crossSell(t, svc.client, &recommendationv1.GetRecommendationsRequest{CustomerId: customer, ProductIds: []string{"A"},
			Strategy: recommendationv1.Strategy_STRATEGY_CROSS_SELL, Limit: 20}).GetItems())
	}
	eventually(t, 90*time.Second, "all seven neighbours of A served to a customer without history", func() (bool, string) {
		got := answer("")
		return len(got) == 7 && slices.Contains(got, "D") && slices.Contains(got, "F1"), fmt.Sprint(got)
	})
	// c9's orders are on one partition, in order: once the newest (F6) is
	// in c9's state, so are all the others.
	for _, c := range []string{"c9", "c8"} {
		eventually(t, 30*time.Second, c+"'s newest purchase (F6) loaded", func() (bool, string) {
			got := answer(c)
			return !slices.Contains(got, "F6"), fmt.Sprint(got)
		})
	}
	got := answer("c9")
	for _, owned := range append([]string{"D"}, later...) {
		if slices.Contains(got, owned) {
			t.Errorf("c9 owns the durable %s and was offered it again: %v, want none of D, F1..F6", owned, got)
		}
	}
	if got := answer("c8"); !slices.Contains(got, "D") || slices.Contains(got, "F1") {
		t.Errorf("c8 returned D and owns F1..F6: got %v, want D offered and none of F1..F6", got)
	}
}
