package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app/offline"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// evaluate is the `recommendation evaluate` subcommand: it imports the
// Online Retail dataset, splits it by time, and prints the metrics table of
// every strategy against the popularity baseline.
func evaluate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	cc, ec := cooccur.DefaultConfig(), recommend.DefaultConfig()
	data := fs.String("data", "", "Online Retail CSV (.csv or .csv.gz); default ../shared/datasets/online-retail/online_retail.csv.gz from the repository root")
	cutoff := fs.String("cutoff", "2011-10-01", "first day of the test period (YYYY-MM-DD); the ten months before it train")
	k := fs.Int("k", 10, "list length scored")
	fs.Float64Var(&cc.Alpha, "alpha", cc.Alpha, "co-occurrence popularity damping (0.5 = cosine)")
	fs.Float64Var(&cc.Shrinkage, "shrinkage", cc.Shrinkage, "co-occurrence shrinkage of rare pairs")
	fs.Float64Var(&cc.HistoryWeight, "history-weight", cc.HistoryWeight, "weight of cross-order pairs against same-basket pairs")
	fs.IntVar(&ec.RecentItems, "recent-items", ec.RecentItems, "customer items anchoring personalized candidates")
	fs.Float64Var(&ec.TrendingPrior, "trending-prior", ec.TrendingPrior, "weight of current popularity in cross-sell and personalized scores")
	fs.Float64Var(&ec.AnchorDiversity, "anchor-diversity", ec.AnchorDiversity, "score factor per better item explained by the same anchor (1 = off)")
	fs.IntVar(&ec.NeighborsPerAnchor, "neighbors", ec.NeighborsPerAnchor, "neighbours per anchor")
	fs.Float64Var(&ec.CrossSell.LatentWeight, "cross-sell-latent-weight", ec.CrossSell.LatentWeight, "weight of the latent-factor model in cross-sell's ranking of the co-purchase neighbours (0 = co-purchase only; the service's RECO_CROSS_SELL_LATENT_WEIGHT)")
	fs.Float64Var(&ec.CrossSell.HistoryWeight, "cross-sell-history-weight", ec.CrossSell.HistoryWeight, "weight of the neighbours of the customer's own purchases in cross-sell (0 = off; RECO_CROSS_SELL_HISTORY_WEIGHT)")
	fs.IntVar(&ec.CrossSell.HistoryItems, "cross-sell-history-items", ec.CrossSell.HistoryItems, "strongest purchases whose neighbours join cross-sell (RECO_CROSS_SELL_HISTORY_ITEMS)")
	fs.IntVar(&ec.CrossSell.HistoryNeighbors, "cross-sell-history-neighbors", ec.CrossSell.HistoryNeighbors, "neighbours each of those purchases brings")
	lc := latent.DefaultConfig()
	fs.Float64Var(&ec.LatentWeight, "latent-weight", ec.LatentWeight, "weight of the latent-factor model in personalized (0 = co-occurrence only)")
	fs.Float64Var(&ec.PersonalTrendingWeight, "personal-trending-weight", ec.PersonalTrendingWeight, "weight of current best sellers as a third personalized source (with the latent model)")
	fs.IntVar(&ec.LatentCandidates, "latent-candidates", ec.LatentCandidates, "latent-factor candidates per customer")
	fs.IntVar(&lc.Factors, "latent-factors", lc.Factors, "latent factors per customer and product")
	fs.IntVar(&lc.Iterations, "latent-iterations", lc.Iterations, "ALS iterations")
	fs.Float64Var(&lc.Regularization, "latent-regularization", lc.Regularization, "ALS regularization")
	fs.Float64Var(&lc.Alpha, "latent-alpha", lc.Alpha, "ALS confidence per unit of purchase strength")
	fs.DurationVar(&lc.HalfLife, "latent-half-life", lc.HalfLife, "fading of old purchases in the latent model's training")
	fs.Float64Var(&lc.BM25K1, "latent-bm25-k1", lc.BM25K1, "BM25 saturation of purchase strengths in the latent model (0 = raw strengths)")
	fs.Float64Var(&lc.BM25B, "latent-bm25-b", lc.BM25B, "BM25 length normalisation of purchase strengths in the latent model")
	fs.Uint64Var(&lc.Seed, "latent-seed", lc.Seed, "random start of the latent model (to check a result is not one seed's luck)")
	recent := fs.Int("recent-events", app.DefaultConfig().RecentEvents, "newest events per customer the engine and the latent model see (the service's RECO_RECENT_EVENTS; 0 = all)")
	halfLife := fs.Duration("half-life", ec.Decay.HalfLife, "decay half-life of a customer's interactions")
	trendHalfLife := fs.Duration("trending-half-life", app.DefaultConfig().TrendingHalfLife, "decay half-life of trending popularity (the service's RECO_TRENDING_HALF_LIFE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ec.Decay.HalfLife = *halfLife
	at, err := time.Parse("2006-01-02", *cutoff)
	if err != nil {
		return fmt.Errorf("-cutoff: %w", err)
	}
	path := *data
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return fmt.Errorf("no -data given and %w", err)
		}
		path = filepath.Join(root, "..", "shared", "datasets", "online-retail", "online_retail.csv.gz")
	}
	d, err := offline.LoadOnlineRetail(path)
	if err != nil {
		return err
	}
	res, err := offline.Evaluate(d, offline.Options{Cutoff: at, K: *k, Cooccur: &cc, Engine: &ec, TrendingHalfLife: *trendHalfLife, Latent: &lc, RecentEvents: *recent})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Online Retail (%s), train before %s, test from it; %d rows skipped (returns, anonymous, non-product codes).\n\n", path, *cutoff, d.Skipped)
	return res.Markdown(out)
}

// repoRoot walks up from the working directory to the go.work file.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}
