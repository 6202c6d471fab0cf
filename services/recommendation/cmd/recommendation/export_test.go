package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/ports"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestExportWritesAListForEveryMemberOfTheSegment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	svc, err := ports.Service()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url}
	if err := platform.RunEnv(ctx, []string{"migrate"}, env, svc); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, q := range []string{
		`INSERT INTO products (product_id, title, category_path, price_minor, currency, stock, kind, updated_at, seq)
		 SELECT 'p' || i, 'Product ' || i, ARRAY['Home'], 1000 + i, 'EUR', 1, 1, now(), i FROM generate_series(1, 8) i`,
		`INSERT INTO baskets (order_id, customer_id, items, weight, occurred_at) VALUES
		 ('o1', 'vip1', ARRAY['p1','p2'], 1, now()), ('o2', 'vip2', ARRAY['p1','p3'], 1, now()), ('o3', 'other', ARRAY['p4','p5','p6'], 1, now())`,
		`INSERT INTO interactions (customer_id, product_id, kind, occurred_at) VALUES
		 ('vip1', 'p1', 5, now()), ('vip1', 'p2', 5, now()), ('vip2', 'p1', 5, now()), ('vip2', 'p3', 5, now())`,
		`INSERT INTO customer_segments (customer_id, segment_id, member, changed_at) VALUES
		 ('vip1', 'vip', true, now()), ('vip2', 'vip', true, now()), ('gone', 'vip', false, now()), ('other', 'bargain', true, now())`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := export(ctx, []string{"-segment", "vip", "-limit", "3"}, env, &out); err != nil {
		t.Fatal(err)
	}
	var got []exportLine
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e exportLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || got[0].CustomerID != "vip1" || got[1].CustomerID != "vip2" {
		t.Fatalf("exported %+v, want vip1 and vip2 (current members, in id order)", got)
	}
	for _, e := range got {
		if len(e.Items) != 3 || e.RecommendationID == "" {
			t.Errorf("%s got %d items and id %q, want 3 and an id", e.CustomerID, len(e.Items), e.RecommendationID)
		}
		for _, it := range e.Items {
			if (e.CustomerID == "vip1" && (it.ProductID == "p1" || it.ProductID == "p2")) || (e.CustomerID == "vip2" && (it.ProductID == "p1" || it.ProductID == "p3")) {
				t.Errorf("%s is offered %s, a durable they own", e.CustomerID, it.ProductID)
			}
		}
	}
	if err := export(ctx, []string{"-limit", "3"}, env, &out); err == nil || !strings.Contains(err.Error(), "-segment") {
		t.Errorf("export without -segment = %v, want an error naming -segment", err)
	}
}

func TestResultsReportCTRPerVariantAgainstTheControl(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDBURL(t)
	svc, err := ports.Service()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url, "RECO_EXPERIMENTS": `[{"ID":"cart-test","Placement":"cart","Variants":[{"Name":"control","Weight":1},{"Name":"personal","Weight":1,"Strategy":"personalized"}]}]`}
	if err := platform.RunEnv(ctx, []string{"migrate"}, env, svc); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// control: 1000 impressions, 20 clicks; personal: 1000 impressions, 60 clicks, 10 purchases.
	_, err = pool.Exec(ctx, `INSERT INTO feedback (product_id, kind, experiment_id, variant, occurred_at)
		SELECT 'p', k, 'cart-test', v, now() FROM (VALUES ('control', 1, 1000), ('control', 2, 20), ('personal', 1, 1000), ('personal', 2, 60), ('personal', 4, 10), ('other', 2, 5)) AS t(v, k, n), generate_series(1, n)`)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := results(ctx, []string{"-experiment", "cart-test"}, env, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| control | 1000 | 20 | 0 | 0.0200 |", "| personal | 1000 | 60 | 10 | 0.0600 | 0.0100 | +200.0% |", "(significant)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("results lack %q:\n%s", want, out.String())
		}
	}
	if err := results(ctx, []string{"-experiment", "nope"}, env, &out); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("results of an unknown experiment = %v, want not found", err)
	}
}
