package offline

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/evaluation"
)

var retail = flag.Bool("retail", false, "run the evaluation on ../shared/datasets/online-retail (about a minute)")

const sample = `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536366,POST,POSTAGE,1,12/1/2010 8:28,18.00,17850,United Kingdom
C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,12/1/2010 9:41,2.55,17850,United Kingdom
536380,71053,WHITE METAL LANTERN,2,12/1/2010 9:45,3.39,,United Kingdom
536381,22728,"ALARM CLOCK BAKELIKE PINK, RED",4,12/2/2010 10:01,3.75,13047,United Kingdom
`

func TestLoadingKeepsOnlySalesOfProductsToKnownCustomers(t *testing.T) {
	t.Parallel()
	d, err := parseOnlineRetail(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Purchases) != 3 || d.Skipped != 3 {
		t.Fatalf("kept %d lines and skipped %d, want 3 kept (two products of 536365 and 22728) and 3 skipped (postage, return, anonymous)", len(d.Purchases), d.Skipped)
	}
	p := d.Products["22728"]
	if p.Title != "ALARM CLOCK BAKELIKE PINK, RED" || p.Price.Minor != 375 || p.Price.Currency != "GBP" {
		t.Errorf("product 22728 = %+v, want its title and 3.75 GBP", p)
	}
	if got := d.Purchases[2].At; !got.Equal(time.Date(2010, 12, 2, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("invoice date parsed as %s", got)
	}
}

func TestLoadingRejectsAFileWithoutTheColumns(t *testing.T) {
	t.Parallel()
	if _, err := parseOnlineRetail(strings.NewReader("a,b\n1,2\n")); err == nil {
		t.Error("a CSV without the Online Retail columns loaded without error")
	}
}

// datasetPath finds ../shared/datasets/online-retail from the repository root.
func datasetPath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "..", "shared", "datasets", "online-retail", "online_retail.csv.gz")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

// On the split (train on the ten months before October 2011, test
// on the rest), with the service's defaults (RECO_RECENT_EVENTS included),
// cross-sell and personalized must beat the popularity baseline by the
// margins measured when the defaults were chosen (see
// docs/recommendation.md). The goal is 2x on NDCG@10 and hit
// rate@10: cross-sell reaches it (hit rate 2.03-2.10x over three random
// starts of the latent model, NDCG 2.74-2.81x), and so does personalized
// (hit rate 2.03-2.05x, NDCG 2.74-2.76x).
func TestOnlineRetailEvaluationBeatsThePopularityBaseline(t *testing.T) {
	if !*retail {
		t.Skip("pass -retail to run the Online Retail evaluation")
	}
	path := datasetPath(t)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") != "" {
			t.Fatalf("dataset %s missing in CI", path)
		}
		t.Skipf("dataset %s not present", path)
	}
	d, err := LoadOnlineRetail(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	res, err := Evaluate(d, Options{Cutoff: time.Date(2011, 10, 1, 0, 0, 0, 0, time.UTC), TrendingHalfLife: cfg.TrendingHalfLife, RecentEvents: cfg.RecentEvents})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := res.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	base := res.Rows[0].Report
	rows := map[string]evaluation.Report{}
	for _, row := range res.Rows {
		rows[row.Name] = row.Report
	}
	// The margins reached (docs/recommendation.md) with the default
	// random start: cross-sell 2.10x on hit rate and 2.81x on NDCG,
	// personalized 2.05x and 2.76x. Another start moves hit rate by up to
	// 0.07x and NDCG by 0.07x, so the guards sit a little lower: the
	// issue's 2x for cross-sell's hit rate, 1.95x for personalized's, and
	// 2.5x on NDCG for both.
	for name, hit := range map[string]float64{"cross_sell": 2, "personalized": 1.95} {
		row := rows[name]
		if row.NDCG < 2.5*base.NDCG {
			t.Errorf("%s NDCG@10 %.4f, want at least 2.5x the baseline's %.4f", name, row.NDCG, base.NDCG)
		}
		if row.HitRate < hit*base.HitRate {
			t.Errorf("%s hit rate@10 %.4f, want at least %.2fx the baseline's %.4f", name, row.HitRate, hit, base.HitRate)
		}
	}
	// The latent model is served only because the blend beats
	// co-occurrence alone on held-out data.
	if p, c := rows["personalized"], rows["personalized_cooccurrence"]; p.HitRate <= c.HitRate || p.NDCG <= c.NDCG {
		t.Errorf("personalized with the latent model (hit rate %.4f, NDCG %.4f) does not beat co-occurrence alone (%.4f, %.4f)", p.HitRate, p.NDCG, c.HitRate, c.NDCG)
	}
}
