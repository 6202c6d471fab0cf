// Package offline is the offline evaluation behind `recommendation
// evaluate`: it imports a purchase dataset (the UCI Online Retail CSV),
// splits it by time, trains the same models the service serves from on the
// earlier part, asks the same engine for each test customer's list, and
// scores every strategy and the popularity baseline on what the customers
// bought later (hit rate, precision, recall, NDCG, MAP at k and catalog
// coverage).
package offline

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/evaluation"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// Dataset is an imported purchase history with its catalog.
type Dataset struct {
	Purchases []evaluation.Purchase
	Products  map[string]catalog.Product
	// Quantities are the units of each (order, product), summed over the
	// order's lines, as the service's purchase events carry them.
	Quantities map[[2]string]int
	// Skipped counts the rows left out: returns, anonymous rows and
	// non-product stock codes (postage, fees, manual adjustments).
	Skipped int
}

// LoadOnlineRetail reads the UCI Online Retail CSV (gzip or plain) as
// published in ../shared/datasets/online-retail. Rows are kept when they
// are a sale (invoice not starting with C, positive quantity and price) to
// a known customer of a real product: stock codes starting with five digits
// ("85123A"); "POST", "D", "M", "BANK CHARGES" and the like are fees and
// adjustments, not products.
func LoadOnlineRetail(path string) (Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dataset{}, fmt.Errorf("open dataset: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return Dataset{}, fmt.Errorf("open dataset: %w", err)
		}
		defer gz.Close()
		r = gz
	}
	return parseOnlineRetail(r)
}

func parseOnlineRetail(r io.Reader) (Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return Dataset{}, fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	need := []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return Dataset{}, fmt.Errorf("header %v lacks column %s", head, n)
		}
	}
	d := Dataset{Products: map[string]catalog.Product{}, Quantities: map[[2]string]int{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Dataset{}, fmt.Errorf("line %d: %w", line, err)
		}
		inv, code, cust := rec[col["InvoiceNo"]], strings.ToUpper(rec[col["StockCode"]]), rec[col["CustomerID"]]
		q, qerr := strconv.Atoi(rec[col["Quantity"]])
		price, perr := strconv.ParseFloat(rec[col["UnitPrice"]], 64)
		if cust == "" || strings.HasPrefix(inv, "C") || !isProductCode(code) || qerr != nil || perr != nil || q <= 0 || price <= 0 {
			d.Skipped++
			continue
		}
		at, err := time.Parse("1/2/2006 15:04", rec[col["InvoiceDate"]])
		if err != nil {
			return Dataset{}, fmt.Errorf("line %d: invoice date: %w", line, err)
		}
		cust = strings.TrimSuffix(cust, ".0")
		d.Purchases = append(d.Purchases, evaluation.Purchase{CustomerID: cust, ProductID: code, OrderID: inv, At: at})
		d.Quantities[[2]string{inv, code}] += q
		p := d.Products[code]
		if p.ID == "" || at.After(p.UpdatedAt) {
			// The latest price and title win, as a catalog feed would.
			d.Products[code] = catalog.Product{
				ID: code, Title: strings.TrimSpace(rec[col["Description"]]), CategoryPath: []string{"All"},
				Price: catalog.Money{Minor: int64(price*100 + 0.5), Currency: "GBP"}, Stock: catalog.InStock,
				Kind: catalog.Durable, UpdatedAt: at,
			}
		}
	}
	return d, nil
}

func isProductCode(code string) bool {
	if len(code) < 5 {
		return false
	}
	for i := 0; i < 5; i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// Options tune one evaluation.
type Options struct {
	// Cutoff splits train (before) from test (at or after).
	Cutoff time.Time
	// K is the list length scored (10 in the issue).
	K int
	// Cooccur and Engine are the model and engine settings under test;
	// zero values mean the service's defaults.
	Cooccur *cooccur.Config
	Engine  *recommend.Config
	// TrendingHalfLife fades popularity for the trending strategy.
	TrendingHalfLife time.Duration
	// Latent is the latent-factor (implicit ALS) model's settings; nil
	// means latent.DefaultConfig.
	Latent *latent.Config
	// RecentEvents keeps each customer's newest events only, as the
	// service's RECO_RECENT_EVENTS does; 0 keeps every event.
	RecentEvents int
}

// Row is one strategy's scores.
type Row struct {
	Name string
	evaluation.Report
}

// Result is an evaluation's outcome.
type Result struct {
	Train, Test, Customers, Products int
	Build                            time.Duration
	Model                            cooccur.Stats
	// LatentBuild is the latent-factor model's training time and
	// LatentBytes the memory its vectors take.
	LatentBuild time.Duration
	LatentBytes int
	Rows        []Row
}

// Strategies evaluated, in report order; the baseline is first.
//
//   - personalized_cooccurrence is personalized without the latent model
//     (Config.LatentWeight 0), co-occurrence neighbours only;
//   - latent_als is the latent model alone: the customer's best predicted
//     products they do not own;
//   - personalized is what the service serves: both blended.
var Strategies = []string{"popularity", "trending", "cross_sell", "personalized_cooccurrence", "latent_als", "personalized"}

// Evaluate trains on the purchases before the cutoff and scores every
// strategy on each customer's new purchases after it.
func Evaluate(d Dataset, o Options) (Result, error) {
	t, err := prepare(d, o)
	if err != nil {
		return t.res, err
	}
	return t.score(t.engineConfig)
}

// trained is what an evaluation trains once: the split, the models and the
// customers' histories. Engine settings can then be scored against the same
// models (score), which is how the defaults were searched.
type trained struct {
	o            Options
	products     int
	truth        map[string]map[string]bool
	idx          *catalog.Index
	bought       *cooccur.Model
	board        *trending.Board
	holder       *latent.Holder
	h            *history
	engineConfig recommend.Config
	res          Result
}

// prepare splits the dataset and trains the models on the training part.
func prepare(d Dataset, o Options) (*trained, error) {
	if o.K <= 0 {
		o.K = 10
	}
	cc := cooccur.DefaultConfig()
	if o.Cooccur != nil {
		cc = *o.Cooccur
	}
	ec := recommend.DefaultConfig()
	if o.Engine != nil {
		ec = *o.Engine
	}
	if o.TrendingHalfLife <= 0 {
		o.TrendingHalfLife = 60 * 24 * time.Hour
	}
	train, test := evaluation.TimeSplit(d.Purchases, o.Cutoff)
	t := &trained{o: o, products: len(d.Products), truth: evaluation.GroundTruth(train, test), engineConfig: ec}
	t.res = Result{Train: len(train), Test: len(test), Customers: len(t.truth), Products: len(d.Products)}

	t.idx = catalog.NewIndex()
	for _, p := range d.Products {
		t.idx.Upsert(p)
	}
	var err error
	if t.bought, err = cooccur.New(cc); err != nil {
		return t, err
	}
	if t.board, err = trending.New(trending.Config{HalfLife: o.TrendingHalfLife, TopK: 500}, o.Cutoff.AddDate(-1, 0, 0)); err != nil {
		return t, err
	}
	start := time.Now()
	t.h = replay(train, d.Quantities, t.bought, t.board, cc.MaxHistory)
	if o.RecentEvents > 0 {
		// The service holds each customer's newest RECO_RECENT_EVENTS
		// interactions; requests and the latent model's training see no
		// more. The baseline and the ground truth keep the full history.
		for c, evs := range t.h.events {
			if len(evs) > o.RecentEvents {
				t.h.events[c] = evs[len(evs)-o.RecentEvents:]
			}
		}
	}
	t.res.Build, t.res.Model = time.Since(start), t.bought.Stats()
	lc := latent.DefaultConfig()
	if o.Latent != nil {
		lc = *o.Latent
	}
	start = time.Now()
	lat, err := latent.TrainEvents(context.Background(), lc, t.h.events, o.Cutoff)
	if err != nil {
		return t, err
	}
	t.res.LatentBuild, t.res.LatentBytes = time.Since(start), lat.Bytes()
	t.h.latent = lat
	t.holder = &latent.Holder{}
	t.holder.Store(lat)
	return t, nil
}

// score asks engines with settings ec for every test customer's lists and
// scores them.
func (t *trained) score(ec recommend.Config) (Result, error) {
	res, o := t.res, t.o
	// The co-occurrence-only engine is the same engine without the model,
	// for the row that shows whether the model earns its place.
	cooc := ec
	cooc.LatentWeight = 0
	coocEngine, err := recommend.NewEngine(cooc, recommend.Models{Catalog: t.idx, Bought: t.bought, Trending: t.board})
	if err != nil {
		return res, err
	}
	engine, err := recommend.NewEngine(ec, recommend.Models{Catalog: t.idx, Bought: t.bought, Trending: t.board, Latent: t.holder})
	if err != nil {
		return res, err
	}
	h := *t.h
	h.cooc = coocEngine

	custs := make([]string, 0, len(t.truth))
	for c := range t.truth {
		custs = append(custs, c)
	}
	slices.Sort(custs)
	workers := runtime.GOMAXPROCS(0)
	accs := make([]map[string]*evaluation.Accumulator, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		accs[w] = map[string]*evaluation.Accumulator{}
		for _, n := range Strategies {
			accs[w][n] = evaluation.NewAccumulator(o.K, t.products)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(custs); i += workers {
				if err := h.score(engine, o, custs[i], t.truth[custs[i]], accs[w]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	for _, n := range Strategies {
		acc := accs[0][n]
		for _, a := range accs[1:] {
			acc.Merge(a[n])
		}
		res.Rows = append(res.Rows, Row{Name: n, Report: acc.Report()})
	}
	return res, nil
}

// history is what training leaves per customer, for building requests.
type history struct {
	owned   map[string]map[string]bool
	events  map[string][]interaction.Event
	last    map[string][]string
	popular []string
	latent  *latent.Model
	cooc    *recommend.Engine
}

// replay folds the training orders in time order exactly as the service
// does: each basket paired with the customer's earlier items, newest first.
func replay(train []evaluation.Purchase, qty map[[2]string]int, bought *cooccur.Model, board *trending.Board, maxHistory int) *history {
	type order struct {
		cust  string
		at    time.Time
		items []string
	}
	byID := map[string]*order{}
	var ids []string
	for _, p := range train {
		o := byID[p.OrderID]
		if o == nil {
			o = &order{cust: p.CustomerID, at: p.At}
			byID[p.OrderID] = o
			ids = append(ids, p.OrderID)
		}
		if !slices.Contains(o.items, p.ProductID) {
			o.items = append(o.items, p.ProductID)
		}
	}
	slices.SortStableFunc(ids, func(a, b string) int { return byID[a].at.Compare(byID[b].at) })
	h := &history{owned: map[string]map[string]bool{}, events: map[string][]interaction.Event{}, last: map[string][]string{}}
	seq := map[string][]string{}
	counts := map[string]int{}
	for _, id := range ids {
		o := byID[id]
		prev := seq[o.cust]
		rev := make([]string, 0, maxHistory)
		seen := map[string]bool{}
		for i := len(prev) - 1; i >= 0 && len(rev) < maxHistory; i-- {
			if !seen[prev[i]] {
				seen[prev[i]] = true
				rev = append(rev, prev[i])
			}
		}
		bought.Observe(o.items, rev, 1)
		seq[o.cust] = append(prev, o.items...)
		h.last[o.cust] = o.items
		if h.owned[o.cust] == nil {
			h.owned[o.cust] = map[string]bool{}
		}
		for _, it := range o.items {
			board.Add(trending.GlobalKey, it, 1, o.at)
			counts[it]++
			h.owned[o.cust][it] = true
			h.events[o.cust] = append(h.events[o.cust], interaction.Event{CustomerID: o.cust, ProductID: it, Kind: interaction.Purchase, Quantity: max(1, qty[[2]string{id, it}]), At: o.at, OrderID: id})
		}
	}
	for id := range counts {
		h.popular = append(h.popular, id)
	}
	slices.SortFunc(h.popular, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return h
}

// score adds one customer's lists to the accumulators. The baseline is the
// most purchased products of the training period the customer does not
// own; the strategies are the engine's answers at the cutoff, cross-sell
// anchored on the customer's last order (the order confirmation page).
func (h *history) score(engine *recommend.Engine, o Options, cust string, rel map[string]bool, accs map[string]*evaluation.Accumulator) error {
	base := make([]string, 0, o.K)
	for _, id := range h.popular {
		if !h.owned[cust][id] {
			base = append(base, id)
			if len(base) == o.K {
				break
			}
		}
	}
	accs["popularity"].Add(base, rel)
	var als []string
	for _, s := range h.latent.Top(h.latent.Customer(cust), o.K, func(id string) bool { return !h.owned[cust][id] }) {
		als = append(als, s.ProductID)
	}
	accs["latent_als"].Add(als, rel)
	// Owned covers the whole training history, as the service's state
	// does, while Events may be cut to the newest RecentEvents.
	owned := make([]int32, 0, len(h.owned[cust]))
	for id := range h.owned[cust] {
		owned = append(owned, catalog.Intern(id))
	}
	slices.Sort(owned)
	c := recommend.Customer{ID: cust, Events: h.events[cust], Owned: owned}
	anchors := h.last[cust]
	if len(anchors) > 100 {
		anchors = anchors[:100]
	}
	for _, q := range []struct {
		name   string
		engine *recommend.Engine
		req    recommend.Request
	}{
		{"trending", engine, recommend.Request{CustomerID: cust, Strategy: recommend.Trending, Limit: o.K}},
		{"cross_sell", engine, recommend.Request{CustomerID: cust, ProductIDs: anchors, Strategy: recommend.CrossSell, Limit: o.K}},
		{"personalized_cooccurrence", h.cooc, recommend.Request{CustomerID: cust, Strategy: recommend.Personalized, Limit: o.K}},
		{"personalized", engine, recommend.Request{CustomerID: cust, Strategy: recommend.Personalized, Limit: o.K}},
	} {
		resp, err := q.engine.Recommend(q.req, c, o.Cutoff)
		if err != nil {
			return fmt.Errorf("%s for %s: %w", q.name, cust, err)
		}
		ids := make([]string, len(resp.Items))
		for i, it := range resp.Items {
			ids[i] = it.ProductID
		}
		accs[q.name].Add(ids, rel)
	}
	return nil
}

// Markdown writes the result as the table in docs/recommendation.md, with
// each strategy's ratio to the baseline on NDCG and hit rate.
func (r Result) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| strategy | hit rate@10 | precision@10 | recall@10 | NDCG@10 | MAP@10 | coverage | NDCG ÷ baseline | hit rate ÷ baseline |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	base := r.Rows[0].Report
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f× | %.2f× |\n", row.Name,
			row.HitRate, row.Precision, row.Recall, row.NDCG, row.MAP, row.Coverage, ratio(row.NDCG, base.NDCG), ratio(row.HitRate, base.HitRate))
	}
	fmt.Fprintf(&b, "\n%d training lines, %d test lines, %d test customers with new purchases, %d products; co-occurrence model built in %s (%d items, %d pairs); latent model trained in %s (%.1f MB of vectors).\n",
		r.Train, r.Test, r.Customers, r.Products, r.Build.Round(time.Millisecond), r.Model.Items, r.Model.Pairs, r.LatentBuild.Round(time.Millisecond), float64(r.LatentBytes)/1e6)
	_, err := io.WriteString(w, b.String())
	return err
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
