package latent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
)

// twoTastes is 40 customers in two groups: tea drinkers buy three of five
// tea products, coffee drinkers three of five coffee products, each a
// different three, so every product is bought by several customers of its
// own group and never by the other group.
func twoTastes() []Interaction {
	var out []Interaction
	for c := range 40 {
		group := "tea"
		if c%2 == 1 {
			group = "coffee"
		}
		for k := range 3 {
			out = append(out, Interaction{Customer: fmt.Sprintf("c%02d", c), Product: fmt.Sprintf("%s-%d", group, (c/2+k)%5), Strength: 1})
		}
	}
	return out
}

// testConfig regularises hard, as a model this small needs: with little
// regularisation, as many factors as a customer has purchases memorise
// each customer's own purchases and predict noise for the rest.
func testConfig() Config {
	c := DefaultConfig()
	c.Factors = 4
	c.Regularization = 5
	c.Iterations = 10
	return c
}

func TestACustomerIsRecommendedUnownedProductsOfTheirOwnTaste(t *testing.T) {
	t.Parallel()
	m, err := Train(context.Background(), testConfig(), twoTastes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		customer, taste string
	}{{"c00", "tea-"}, {"c01", "coffee-"}, {"c10", "tea-"}, {"c17", "coffee-"}} {
		owned := map[string]bool{}
		for _, in := range twoTastes() {
			if in.Customer == tc.customer {
				owned[in.Product] = true
			}
		}
		top := m.Top(m.Customer(tc.customer), 2, func(id string) bool { return !owned[id] })
		if len(top) != 2 {
			t.Fatalf("%s: got %d recommendations, want 2", tc.customer, len(top))
		}
		for _, s := range top {
			if !strings.HasPrefix(s.ProductID, tc.taste) {
				t.Errorf("%s got %s (score %.3f) among its top 2, want only %s products: %+v", tc.customer, s.ProductID, s.Score, tc.taste, top)
			}
		}
	}
}

func TestANewCustomerIsFoldedInFromTheirPurchases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"raw strengths", testConfig()}, {"BM25-weighted strengths", bm25Config()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			foldedInFromPurchases(t, tc.cfg)
		})
	}
}

func foldedInFromPurchases(t *testing.T, cfg Config) {
	m, err := Train(context.Background(), cfg, twoTastes())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	events := []interaction.Event{
		{CustomerID: "new", ProductID: "coffee-1", Kind: interaction.Purchase, At: now.Add(-time.Hour)},
		{CustomerID: "new", ProductID: "coffee-2", Kind: interaction.Purchase, At: now.Add(-time.Hour)},
		{CustomerID: "new", ProductID: "tea-1", Kind: interaction.View, At: now.Add(-time.Hour)},
	}
	v := m.UserVector("new", events, now)
	if v == nil {
		t.Fatal("no vector for a customer with purchases of known products")
	}
	top := m.Top(v, 3, func(id string) bool { return id != "coffee-1" && id != "coffee-2" })
	for _, s := range top {
		if !strings.HasPrefix(s.ProductID, "coffee-") {
			t.Errorf("folded-in coffee buyer got %s among the top 3, want coffee products only: %+v", s.ProductID, top)
		}
	}
	if m.UserVector("anon", nil, now) != nil {
		t.Error("a visitor without purchases got a vector, want nil")
	}
	if m.UserVector("refunded", []interaction.Event{
		{ProductID: "tea-1", Kind: interaction.Purchase, At: now},
		{ProductID: "tea-1", Kind: interaction.Refund, At: now},
	}, now) != nil {
		t.Error("a customer whose only purchase was refunded got a vector, want nil")
	}
}

func TestTrainingIsDeterministic(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	byCustomer := map[string][]interaction.Event{}
	for _, in := range twoTastes() {
		byCustomer[in.Customer] = append(byCustomer[in.Customer], interaction.Event{CustomerID: in.Customer, ProductID: in.Product, Kind: interaction.Purchase, At: now.Add(-24 * time.Hour)})
	}
	a, err := TrainEvents(context.Background(), testConfig(), byCustomer, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainEvents(context.Background(), testConfig(), byCustomer, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.y, b.y) || !slices.Equal(a.x, b.x) {
		t.Error("two trainings on the same events gave different vectors")
	}
}

func TestTrainingRejectsBadInput(t *testing.T) {
	t.Parallel()
	bad := DefaultConfig()
	bad.Factors = 0
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  Config
		data []Interaction
	}{
		{"zero factors", context.Background(), bad, twoTastes()},
		{"no positive interaction", context.Background(), DefaultConfig(), []Interaction{{Customer: "c", Product: "p", Strength: -1}}},
		{"a cancelled context", ctx, DefaultConfig(), twoTastes()},
	} {
		if m, err := Train(tc.ctx, tc.cfg, tc.data); err == nil || m != nil {
			t.Errorf("%s: got model %v and error %v, want an error", tc.name, m != nil, err)
		}
	}
	if _, err := Train(ctx, DefaultConfig(), twoTastes()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training returned %v, want context.Canceled", err)
	}
}

// bm25Config is testConfig with the BM25 weighting of strengths.
func bm25Config() Config {
	c := testConfig()
	c.BM25K1, c.BM25B = 100, 0.8
	return c
}

func TestARestoredModelAnswersAsTheOriginal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"raw strengths", testConfig()}, {"BM25-weighted strengths", bm25Config()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			restoredAnswersAsTheOriginal(t, tc.cfg)
		})
	}
}

func restoredAnswersAsTheOriginal(t *testing.T, cfg Config) {
	m, err := Train(context.Background(), cfg, twoTastes())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c00", "c01", "c39"} {
		a, b := m.Top(m.Customer(c), 10, nil), r.Top(r.Customer(c), 10, nil)
		if !slices.Equal(a, b) {
			t.Errorf("%s: restored model answers %v, want %v", c, b, a)
		}
	}
	// A customer folded in is weighted with the training's statistics,
	// which the snapshot must carry.
	items := []Weighted{{"coffee-1", 1}, {"coffee-2", 2}, {"tea-1", 0.5}}
	if a, b := m.FoldIn(items), r.FoldIn(items); !slices.Equal(a, b) {
		t.Errorf("restored model folds a customer in as %v, want %v", b, a)
	}
	if _, err := Restore(bytes.NewReader(buf.Bytes()[:buf.Len()/2])); err == nil {
		t.Error("a truncated snapshot was restored, want an error")
	}
}
