package app_test

import (
	"cmp"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/outbox"
	"github.com/affinity-platform/affinity/pkg/pgtest"
	"github.com/affinity-platform/affinity/pkg/postgres"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
)

// retailRow is one invoice line of the UCI Online Retail dataset.
type retailRow struct {
	invoice, stock, customer string
	qty                      int64
	pence                    int64
	at                       time.Time
}

// datasetPath finds ../shared/datasets/online-retail/<name> relative to the
// repository root (the directory holding go.work).
func datasetPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "datasets", "online-retail", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dataset %s missing in CI: %v", p, err)
		}
		t.Skipf("dataset %s not present (%v); it lives in ../shared/datasets/online-retail", p, err)
	}
	return p
}

func readRetail(t testing.TB) []retailRow {
	t.Helper()
	f, err := os.Open(datasetPath(t, "online_retail.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(gz)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	var out []retailRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec[6] == "" {
			continue // guest purchases have no profile
		}
		qty, err1 := strconv.ParseInt(rec[3], 10, 64)
		price, err2 := strconv.ParseFloat(rec[5], 64)
		at, err3 := time.Parse("1/2/2006 15:04", rec[4])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("row %v: %v", rec, err)
		}
		out = append(out, retailRow{invoice: rec[0], stock: rec[1], customer: rec[6], qty: qty, pence: int64(math.Round(price * 100)), at: at})
	}
	return out
}

// retailEvents turns invoice lines into commerce events: an invoice is a
// completed order; a cancellation invoice ("C…") refunds the customer's
// latest earlier invoice, because the dataset does not say which one it
// cancels (cancellations before any invoice of the customer are dropped).
func retailEvents(t testing.TB, rows []retailRow) []events.Message {
	t.Helper()
	type invoice struct {
		id, customer string
		at           time.Time
		lines        []retailRow
	}
	byID := map[string]*invoice{}
	var ids []string
	for _, r := range rows {
		inv := byID[r.invoice]
		if inv == nil {
			inv = &invoice{id: r.invoice, customer: r.customer, at: r.at}
			byID[r.invoice] = inv
			ids = append(ids, r.invoice)
		}
		inv.lines = append(inv.lines, r)
	}
	invs := make([]*invoice, len(ids))
	for i, id := range ids {
		invs[i] = byID[id]
	}
	// Orders before cancellations at the same minute, then by id: the
	// order the SQL below numbers them in.
	cancel := func(i *invoice) int {
		if strings.HasPrefix(i.id, "C") {
			return 1
		}
		return 0
	}
	slices.SortFunc(invs, func(a, b *invoice) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(cancel(a), cancel(b)), cmp.Compare(a.id, b.id))
	})
	latest := map[string]string{} // customer -> latest order id so far
	var out []events.Message
	for _, inv := range invs {
		gbp := func(v int64) *commercev1.Money { return &commercev1.Money{AmountMinor: v, Currency: "GBP"} }
		var total int64
		for _, l := range inv.lines {
			total += l.qty * l.pence
		}
		if strings.HasPrefix(inv.id, "C") {
			orderID, ok := latest[inv.customer]
			if !ok {
				continue
			}
			e := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_REFUNDED, OrderId: orderID, RefundId: inv.id, CustomerId: inv.customer,
				Totals: &commercev1.OrderTotals{Total: gbp(-total)}, OccurredAt: timestamppb.New(inv.at)}
			out = append(out, msg(t, topics.CommerceOrders, "ev-"+inv.id, inv.at, e))
			continue
		}
		e := &commercev1.OrderEvent{Kind: commercev1.OrderEvent_KIND_COMPLETED, OrderId: inv.id, CustomerId: inv.customer, Channel: commercev1.Channel_CHANNEL_WEB,
			Totals: &commercev1.OrderTotals{Total: gbp(total)}, OrderedAt: timestamppb.New(inv.at), OccurredAt: timestamppb.New(inv.at)}
		for _, l := range inv.lines {
			e.Lines = append(e.Lines, &commercev1.OrderLine{Sku: l.stock, Quantity: l.qty, UnitPrice: gbp(l.pence)})
		}
		latest[inv.customer] = inv.id
		out = append(out, msg(t, topics.CommerceOrders, "ev-"+inv.id, inv.at, e))
	}
	return out
}

// retailRFMSQL computes every customer's RFM scores from the raw invoice
// lines, independently of the service's profiles, with the same mapping
// of cancellations and the quintile formula documented in package rfm.
const retailRFMSQL = `
WITH inv AS (
    SELECT invoice, customer, min(at) AS at, sum(qty * pence) AS total,
           bool_or(qty <= 0 OR pence < 0) AS bad, invoice LIKE 'C%' AS cancel
    FROM retail GROUP BY invoice, customer
), seq AS (
    -- grp numbers each customer's invoices by the orders seen so far, so a
    -- cancellation shares its grp with the latest order before it.
    SELECT *, count(*) FILTER (WHERE NOT cancel) OVER (PARTITION BY customer ORDER BY at, cancel, invoice) AS grp
    FROM inv
), refunded AS (
    SELECT o.invoice AS order_id, sum(-c.total) AS amount
    FROM seq c JOIN seq o ON o.customer = c.customer AND o.grp = c.grp AND NOT o.cancel
    WHERE c.cancel GROUP BY o.invoice
), net AS (
    SELECT o.customer, o.at, greatest(0, o.total - coalesce(r.amount, 0)) AS net
    FROM inv o LEFT JOIN refunded r ON r.order_id = o.invoice
    WHERE NOT o.cancel AND NOT o.bad AND o.total >= 0
), pop AS (
    SELECT customer, count(*) AS f, sum(net) AS m,
           floor(extract(epoch FROM ($1::timestamptz - max(at))) / 86400)::int AS recency
    FROM net WHERE net > 0 GROUP BY customer
)
SELECT customer,
       1 + (5 * (rank() OVER (ORDER BY recency DESC) - 1)) / count(*) OVER () AS r,
       1 + (5 * (rank() OVER (ORDER BY f) - 1)) / count(*) OVER () AS f,
       1 + (5 * (rank() OVER (ORDER BY m) - 1)) / count(*) OVER () AS m
FROM pop`

func TestRFMGroupsOfTheOnlineRetailDatasetMatchAnIndependentSQLComputation(t *testing.T) {
	t.Parallel()
	rows := readRetail(t)
	msgs := retailEvents(t, rows)

	pool := pgtest.NewDB(t, outbox.Migrations, consumer.Migrations, idempotency.Migrations, db.Migrations)
	now := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	cfg := app.DefaultConfig()
	cfg.Currency = "GBP"
	a, err := app.New(pool, cfg, nil, app.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	started := time.Now()
	for start := 0; start < len(msgs); start += 2000 {
		batch := msgs[start:min(len(msgs), start+2000)]
		if err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error { return a.HandleMessages(ctx, tx, batch) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("imported %d events in %s", len(msgs), time.Since(started))
	rep, err := a.ScoreRFM(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The scoring also fitted the lifetime-value model on the population.
	var models int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM clv_models`).Scan(&models); err != nil || models != 1 {
		t.Errorf("clv models after scoring = %d (%v), want 1", models, err)
	}

	// The independent computation, on the raw lines.
	if _, err := pool.Exec(ctx, `CREATE TABLE retail (invoice text, customer text, qty bigint, pence bigint, at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"retail"}, []string{"invoice", "customer", "qty", "pence", "at"}, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		return []any{r.invoice, r.customer, r.qty, r.pence, r.at}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scored in %s", time.Since(started))
	sqlRows, err := pool.Query(ctx, retailRFMSQL, now)
	if err != nil {
		t.Fatal(err)
	}
	type score struct{ r, f, m int }
	want := map[string]score{}
	for sqlRows.Next() {
		var id string
		var s score
		if err := sqlRows.Scan(&id, &s.r, &s.f, &s.m); err != nil {
			t.Fatal(err)
		}
		want[id] = s
	}
	if err := sqlRows.Err(); err != nil {
		t.Fatal(err)
	}
	wantSizes := map[rfm.Group]int{}
	for _, s := range want {
		wantSizes[rfm.GroupFor(s.r, (s.f+s.m+1)/2)]++
	}

	got, err := pool.Query(ctx, `SELECT customer_id, rfm_r, rfm_f, rfm_m FROM profiles WHERE rfm_group <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	n, mismatches := 0, 0
	for got.Next() {
		var id string
		var s score
		if err := got.Scan(&id, &s.r, &s.f, &s.m); err != nil {
			t.Fatal(err)
		}
		n++
		if w, ok := want[id]; !ok || w != s {
			if mismatches++; mismatches <= 5 {
				t.Errorf("customer %s: service scored %+v, SQL %+v (present %v)", id, s, w, ok)
			}
		}
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) || rep.Population != len(want) {
		t.Errorf("scored customers: service %d (report %d), SQL %d", n, rep.Population, len(want))
	}
	for _, g := range rfm.Groups {
		t.Logf("%-18s %5d", g, rep.Sizes[g])
		if rep.Sizes[g] != wantSizes[g] {
			t.Errorf("group %s: service %d customers, SQL %d", g, rep.Sizes[g], wantSizes[g])
		}
	}
}
