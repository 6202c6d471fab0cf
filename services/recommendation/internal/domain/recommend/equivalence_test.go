package recommend

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// TestAnswersOverTheBigShop writes every answer of 18,000 requests over the
// serving benchmark's shop (the placement mix, second pages through page
// tokens, category filters, exclusions, segment and tier boosts, and a
// latent model for some of them) to the file named by RECO_ANSWERS_DUMP,
// one line per answer, and logs the digest. Speed work on the engine must
// leave this file byte-identical: run it before and after and compare (cmp).
// Skipped without the variable: building the shop takes seconds. With
// RECO_ANSWERS_SERVICE_FORM=1 the customers come as the service holds
// them, with their owned products (Owned) and their events' refs (Refs);
// the answers then differ from the default form's only where a customer
// bought a product no model knows.
func TestAnswersOverTheBigShop(t *testing.T) {
	path := os.Getenv("RECO_ANSWERS_DUMP")
	if path == "" {
		t.Skip("set RECO_ANSWERS_DUMP=/tmp/answers.txt to write the answers")
	}
	serviceForm := os.Getenv("RECO_ANSWERS_SERVICE_FORM") != ""
	s, err := buildBigShopOnce()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	h := sha256.New()
	write := func(i int, resp Response, err error) {
		line := fmt.Sprintf("%d err=%v plan=%v next=%q", i, err, resp.Plan, resp.NextPageToken)
		for _, it := range resp.Items {
			line += fmt.Sprintf(" | %s %.17g %s %s %q %q %q %q %d %v", it.ProductID, it.Score, it.Strategy, it.Reason.Kind, it.Reason.ProductID, it.Reason.Title, it.Reason.Category, it.Reason.Segment, it.Reason.Since, it.Reason.Amount)
		}
		line += "\n"
		w.WriteString(line)
		h.Write([]byte(line))
	}
	// A latent model over some of the synthetic customers, so the blend
	// and cross-sell personalisation paths are covered too.
	rng := rand.New(rand.NewPCG(31, 7))
	hist := map[string][]interaction.Event{}
	for c := range 3000 {
		id := fmt.Sprintf("c%d", c)
		for j := range 8 {
			hist[id] = append(hist[id], interaction.Event{CustomerID: id, ProductID: s.products[s.zipf(rng)].ID, Kind: interaction.Purchase, Quantity: 1, At: now.Add(-time.Duration(j+1) * 48 * time.Hour)})
		}
	}
	lc := latent.DefaultConfig()
	lc.Factors = 8
	lm, err := latent.TrainEvents(context.Background(), lc, hist, now)
	if err != nil {
		t.Fatal(err)
	}
	holder := &latent.Holder{}
	holder.Store(lm)
	base := s.engine.Config()
	withLatent := base
	withLatent.Boosts = []Boost{
		{Name: "promo", Multiplier: 1.5, ProductIDs: []string{s.products[3].ID, s.products[11].ID, s.products[500].ID}},
		{Name: "dept", Multiplier: 1.3, Categories: []string{"dept01"}},
		{Name: "vip", Multiplier: 2, Categories: []string{"dept02/aisle21"}, Tier: "gold"},
		{Name: "seg", Multiplier: 1.2, Categories: []string{"dept03"}, Segment: "s1"},
	}
	lat, err := NewEngine(withLatent, Models{Catalog: s.engine.m.Catalog, Bought: s.engine.m.Bought, Viewed: s.engine.viewed.Load(), Trending: s.engine.m.Trending, Latent: holder})
	if err != nil {
		t.Fatal(err)
	}
	// The serving benchmark's settings: a diversity cap and a cart
	// threshold.
	cappedCfg := base
	cappedCfg.MaxPerCategory = 3
	cappedCfg.CartThreshold = catalog.Money{Minor: 5000, Currency: "EUR"}
	capped, err := NewEngine(cappedCfg, Models{Catalog: s.engine.m.Catalog, Bought: s.engine.m.Bought, Trending: s.engine.m.Trending})
	if err != nil {
		t.Fatal(err)
	}
	rng = rand.New(rand.NewPCG(77, 78))
	for i := range 18_000 {
		req, cust := s.request(rng)
		e := s.engine
		switch i % 6 {
		case 1:
			e = lat
			cust.Segments, cust.Tier = []string{"s1", "s2"}, "gold"
			if len(cust.Events) == 0 {
				cust.ID = fmt.Sprintf("c%d", rng.IntN(3000))
				cust.Events = hist[cust.ID]
				req.CustomerID = cust.ID
			}
		case 2:
			req.ExcludeIDs = []string{s.products[s.zipf(rng)].ID, s.products[s.zipf(rng)].ID}
			req.ExcludeCategories = []string{fmt.Sprintf("dept%02d", rng.IntN(10))}
		case 3:
			req.IncludeCategories = []string{fmt.Sprintf("dept%02d", rng.IntN(10)), fmt.Sprintf("dept%02d/aisle%02d", rng.IntN(10), rng.IntN(50))}
		case 5:
			e = capped
			req.MaxPerCategory = 0
			if i%12 == 5 && len(req.ProductIDs) > 0 {
				req.Placement = Checkout
			}
		case 4:
			req.Strategy = []Strategy{Upsell, CrossSell, BuyAgain, CartTopUp, Trending, Personalized}[rng.IntN(6)]
			if len(req.ProductIDs) == 0 {
				req.ProductIDs = []string{s.products[s.zipf(rng)].ID}
			}
		}
		if serviceForm && len(cust.Events) > 0 {
			cust = withRefs(cust)
			cust.Owned = OwnedFrom(cust.Events)
		}
		resp, err := e.Recommend(req, cust, now)
		write(i, resp, err)
		if err == nil && resp.NextPageToken != "" && i%3 == 0 {
			req.PageToken = resp.NextPageToken
			resp, err = e.Recommend(req, cust, now)
			write(i, resp, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("answers digest %s; answer cache %+v, %+v, %+v", hex.EncodeToString(h.Sum(nil)), s.engine.AnswerCacheStats(), lat.AnswerCacheStats(), capped.AnswerCacheStats())
}
