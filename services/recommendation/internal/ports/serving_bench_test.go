package ports_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/postgres"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	store "github.com/affinity-platform/affinity/services/recommendation/internal/adapters/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
)

// Serving benchmark sizes, from the issue: a 50,000-product catalog built
// from 500,000 synthetic orders.
const (
	benchProducts   = 50_000
	benchCategories = 500
	benchOrders     = 500_000
	benchCustomers  = 100_000
)

// seedShop writes the synthetic shop straight into the service's tables
// (products, baskets with history, purchase interactions), as if the
// orders had been consumed, so that the service's start replays them the
// way a restart does. Baskets mix a popular product with others of the
// same category, as real baskets do.
func seedShop(b *testing.B, dbURL string) (customers []string, products []string) {
	b.Helper()
	ctx := context.Background()
	pool := connectBench(b, dbURL)
	defer pool.Close()
	rng := rand.New(rand.NewPCG(2026, 11))
	now := time.Now().UTC()
	products = make([]string, benchProducts)
	rows := make([][]any, benchProducts)
	for i := range products {
		products[i] = fmt.Sprintf("p%05d", i)
		cat := i % benchCategories
		kind, stock := int16(1), int16(1)
		if i%10 == 0 {
			kind = 2 // consumable
		}
		if i%50 == 0 {
			stock = 3 // out of stock
		}
		rows[i] = []any{products[i], "Product " + products[i], []string{fmt.Sprintf("D%02d", cat/50), fmt.Sprintf("C%03d", cat)},
			int64(500 + rng.IntN(20000)), "EUR", stock, kind, now, int64(i + 1)}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"products"}, []string{"product_id", "title", "category_path", "price_minor", "currency", "stock", "kind", "updated_at", "seq"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT setval('product_seq', $1)", int64(benchProducts)); err != nil {
		b.Fatal(err)
	}
	zipf := rand.NewZipf(rng, 1.07, 2, benchProducts-1)
	customers = make([]string, benchCustomers)
	for i := range customers {
		customers[i] = "c" + strconv.Itoa(i)
	}
	history := make(map[string][]string, benchCustomers)
	baskets := make([][]any, 0, benchOrders)
	var inter [][]any
	start := now.Add(-180 * 24 * time.Hour)
	for o := range benchOrders {
		cust := customers[rng.IntN(benchCustomers)]
		at := start.Add(time.Duration(o) * (180 * 24 * time.Hour / benchOrders))
		lead := int(zipf.Uint64())
		items := []string{products[lead]}
		for range rng.IntN(5) {
			// Same category as the lead, or anything popular.
			if rng.IntN(3) > 0 {
				items = append(items, products[(lead%benchCategories)+benchCategories*rng.IntN(benchProducts/benchCategories)])
			} else {
				items = append(items, products[zipf.Uint64()])
			}
		}
		slices.Sort(items)
		items = slices.Compact(items)
		h := history[cust]
		rev := make([]string, 0, 30)
		for i := len(h) - 1; i >= 0 && len(rev) < 30; i-- {
			if !slices.Contains(items, h[i]) && !slices.Contains(rev, h[i]) {
				rev = append(rev, h[i])
			}
		}
		oid := "o" + strconv.Itoa(o)
		baskets = append(baskets, []any{oid, cust, items, rev, 1.0, at})
		for _, it := range items {
			inter = append(inter, []any{cust, it, int16(5), int32(1), oid, at})
		}
		history[cust] = append(h, items...)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"baskets"}, []string{"order_id", "customer_id", "items", "history", "weight", "occurred_at"}, pgx.CopyFromRows(baskets)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"interactions"}, []string{"customer_id", "product_id", "kind", "quantity", "order_id", "occurred_at"}, pgx.CopyFromRows(inter)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return customers, products
}

// loadResult is what one kind of request measured over its phases.
type loadResult struct {
	requests, errors int
	rps              float64
	p50, p99, max    time.Duration
}

// loadPhases gathers the phases of one kind of request: every call's
// latency, the errors and the time under load.
type loadPhases struct {
	lat     []time.Duration
	errors  int
	elapsed time.Duration
}

// load calls fn from workers goroutines for d and measures every call.
func (lp *loadPhases) load(workers int, d time.Duration, fn func(w int, rng *rand.Rand) error) {
	lat := make([][]time.Duration, workers)
	errs := make([]int, workers)
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	began := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(len(lp.lat))))
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := fn(w, rng); err != nil {
					errs[w]++
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	lp.elapsed += time.Since(began)
	for w := range workers {
		lp.lat = append(lp.lat, lat[w]...)
		lp.errors += errs[w]
	}
}

func (lp *loadPhases) result() loadResult {
	all := slices.Clone(lp.lat)
	slices.Sort(all)
	r := loadResult{requests: len(all), errors: lp.errors}
	if lp.elapsed > 0 {
		r.rps = float64(len(all)) / lp.elapsed.Seconds()
	}
	if len(all) > 0 {
		r.p50, r.p99, r.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	return r
}

// BenchmarkServing runs the service, as its own process (see process), on
// a real database and broker with the synthetic shop, then drives it with
// one load generator, alternating phases of the gRPC health check (this
// machine's baseline), of GetRecommendations for a mix of placements in
// the default (full) item view, and of the same mix in the basic view:
// BENCH_ROUNDS rounds (default 3) of BENCH_PHASE each (default 6s), so
// that a slow spell of a shared machine or a garbage collection weighs on
// all alike. Run it once: -benchtime 1x.
func BenchmarkServing(b *testing.B) { benchServing(b, false) }

// BenchmarkServingWithModel is BenchmarkServing with a latent model
// trained on the seeded purchases and restored at start (see
// storeLatentModel): serving as a deployment does from one
// RECO_LATENT_INTERVAL (an hour) after its first start, when personalized
// and cross-sell blend the model in. The goals are read from
// BenchmarkServing; this one is reported beside it.
func BenchmarkServingWithModel(b *testing.B) { benchServing(b, true) }

func benchServing(b *testing.B, withModel bool) {
	phase := 6 * time.Second
	if v := os.Getenv("BENCH_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_PHASE: %v", err)
		}
		phase = d
	}
	rounds := 3
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_ROUNDS: want a positive integer, got %q", v)
		}
		rounds = n
	}
	env := map[string]string{"RECO_MAX_PER_CATEGORY": "3", "RECO_CART_THRESHOLD_MINOR": "5000", "RECO_SNAPSHOT_INTERVAL": "2s"}
	s := newStack(b, env)
	s.migrate()
	seedStart := time.Now()
	customers, products := seedShop(b, s.dbURL)
	b.Logf("seeded %d products and %d orders in %s", benchProducts, benchOrders, time.Since(seedStart).Round(time.Millisecond))
	if withModel {
		storeLatentModel(b, s.dbURL)
	}
	bin := serviceBinary(b)
	startAt := time.Now()
	svc := s.startProcess(b, bin)
	startup := time.Since(startAt)
	rssServing := svc.rssMB()

	const workers = 16
	conns := make([]*grpc.ClientConn, 4)
	for i := range conns {
		c, err := grpc.NewClient(svc.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(withToken(auth.Claims{Subject: "storefront", Roles: []auth.Role{auth.RoleService}})))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	ctx := context.Background()
	// The service ranks its neighbour lists in the background right after
	// the start (well under a second) and snapshots its model a couple of
	// seconds later (RECO_SNAPSHOT_INTERVAL); either during the health
	// check would lower the baseline and flatter the share, so the load
	// starts once the snapshot of every order is stored.
	snapBytes := waitForSnapshot(b, s.dbURL)
	time.Sleep(time.Second)
	checkHealth := func(w int, _ *rand.Rand) error {
		_, err := healthpb.NewHealthClient(conns[w%len(conns)]).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	popular := func(rng *rand.Rand) string { return products[int(rng.ExpFloat64()*500)%benchProducts] }
	var firstErr error
	var errOnce sync.Once
	// recommend asks for the mix in the given item view: the full view
	// (the default, with each product's catalog data) is what the goals
	// are measured on; the basic view (ids, scores and reasons) is what a
	// storefront that renders from its own catalog asks for.
	recommend := func(view recommendationv1.ItemView) func(w int, rng *rand.Rand) error {
		return func(w int, rng *rand.Rand) error {
			c := recommendationv1.NewRecommendationServiceClient(conns[w%len(conns)])
			req := &recommendationv1.GetRecommendationsRequest{Limit: 10, View: view}
			switch n := rng.IntN(10); {
			case n < 4: // anonymous product page
				req.Placement, req.AnonymousId, req.ProductIds = recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, "v"+strconv.Itoa(rng.IntN(1e6)), []string{popular(rng)}
			case n < 6: // cart of a known customer
				req.Placement, req.CustomerId, req.ProductIds = recommendationv1.Placement_PLACEMENT_CART, customers[rng.IntN(len(customers))], []string{popular(rng), popular(rng), popular(rng)}
			case n < 8: // home page, personalized
				req.CustomerId = customers[rng.IntN(len(customers))]
			case n < 9: // checkout: cart top-up
				req.Placement, req.CustomerId, req.ProductIds = recommendationv1.Placement_PLACEMENT_CHECKOUT, customers[rng.IntN(len(customers))], []string{popular(rng)}
			default: // upsell on a product page
				req.Placement, req.Strategy, req.ProductIds = recommendationv1.Placement_PLACEMENT_PRODUCT_PAGE, recommendationv1.Strategy_STRATEGY_UPSELL, []string{popular(rng)}
			}
			resp, err := c.GetRecommendations(ctx, req)
			if err == nil && len(resp.GetItems()) != 10 {
				err = fmt.Errorf("%d items for %v, want 10", len(resp.GetItems()), req)
			}
			if err == nil && (resp.GetItems()[0].GetProduct() == nil) != (view == recommendationv1.ItemView_ITEM_VIEW_BASIC) {
				err = fmt.Errorf("view %v: first item's product %v", view, resp.GetItems()[0].GetProduct())
			}
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
			return err
		}
	}
	// BENCH_CPUPROFILE names a file for the service's CPU profile of the
	// first GetRecommendations phase (from its admin port's pprof); those
	// of the first health check and basic view phases go to <file>.health
	// and <file>.basic.
	// BENCH_MEMPROFILE names a file for the allocations of that phase: the
	// profile at its start goes to <file>.base and the one at its end to
	// <file>; compare them with go tool pprof -sample_index=alloc_space
	// -base <file>.base <file>.
	cpuProfile, memProfile := os.Getenv("BENCH_CPUPROFILE"), os.Getenv("BENCH_MEMPROFILE")
	// One kind of load per phase: its latencies, and the CPU time of the
	// service and of the load generator (this process) it took.
	type kind struct {
		phases    loadPhases
		svc, self time.Duration
		perPhase  []string // each phase's requests/s, for the log
	}
	var health, reco, basic kind
	run := func(k *kind, fn func(w int, rng *rand.Rand) error, profile string) {
		var profiled sync.WaitGroup
		if len(k.perPhase) == 0 && profile != "" {
			profiled.Go(func() {
				svc.fetchProfile(b, fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(phase.Seconds()))), profile)
			})
		}
		defer profiled.Wait()
		if len(k.perPhase) == 0 && profile != "" && os.Getenv("BENCH_LOADGEN_PROFILE") != "" {
			// The load generator's own profile of the same phase.
			f, err := os.Create(profile + ".loadgen")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		cpu0, self0 := svc.cpu(), selfCPU()
		n0, el0 := len(k.phases.lat), k.phases.elapsed
		k.phases.load(workers, phase, fn)
		k.svc, k.self = k.svc+svc.cpu()-cpu0, k.self+selfCPU()-self0
		k.perPhase = append(k.perPhase, fmt.Sprintf("%.0f", float64(len(k.phases.lat)-n0)/(k.phases.elapsed-el0).Seconds()))
	}
	// A warm-up of every kind first, unmeasured: the first requests after
	// the start touch memory the replay left cold and fill the service's
	// caches (answers, product messages), and the first collections after
	// the start trace the replay's garbage; one-time costs that would
	// otherwise land on whichever phase came first (in one run without it,
	// the first health check phase measured 22,441 requests/s and the
	// second 29,851). Both processes then collect their garbage.
	warm := phase
	if v := os.Getenv("BENCH_WARMUP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_WARMUP: %v", err)
		}
		warm = d
	}
	if warm > 0 {
		var discard loadPhases
		discard.load(workers, warm/3, checkHealth)
		discard.load(workers, warm/3, recommend(recommendationv1.ItemView_ITEM_VIEW_UNSPECIFIED))
		discard.load(workers, warm/3, recommend(recommendationv1.ItemView_ITEM_VIEW_BASIC))
		if discard.errors > 0 {
			b.Fatalf("warm-up: %d of %d calls failed; first GetRecommendations error: %v", discard.errors, len(discard.lat), firstErr)
		}
	}
	svc.collect(b)
	runtime.GC()
	profileTo := func(suffix string) string {
		if cpuProfile == "" {
			return ""
		}
		return cpuProfile + suffix
	}
	for round := range rounds {
		run(&health, checkHealth, profileTo(".health"))
		if round == 0 && memProfile != "" {
			svc.fetchAllocs(b, memProfile+".base")
		}
		run(&reco, recommend(recommendationv1.ItemView_ITEM_VIEW_UNSPECIFIED), profileTo(""))
		if round == 0 && memProfile != "" {
			svc.fetchAllocs(b, memProfile)
		}
		run(&basic, recommend(recommendationv1.ItemView_ITEM_VIEW_BASIC), profileTo(".basic"))
	}
	hr, rr, br := health.phases.result(), reco.phases.result(), basic.phases.result()
	rssAfter := svc.rssMB()
	if rr.errors+br.errors > 0 {
		b.Errorf("%d of %d GetRecommendations failed; first: %v", rr.errors+br.errors, rr.requests+br.requests, firstErr)
	}
	b.Logf("startup (replaying %d orders): %s; service RSS serving %.0f MB, after load %.0f MB", benchOrders, startup.Round(time.Millisecond), rssServing, rssAfter)
	b.Logf("%d rounds of %s per kind, alternating, 16 workers, after a warm-up of %s", rounds, phase, warm)
	b.Logf("req/s by round: health %s; GetRecommendations %s; basic view %s", strings.Join(health.perPhase, ", "), strings.Join(reco.perPhase, ", "), strings.Join(basic.perPhase, ", "))
	cpuPer := func(k kind, r loadResult) (svcUS, selfUS float64) {
		n := float64(max(1, r.requests))
		return k.svc.Seconds() * 1e6 / n, k.self.Seconds() * 1e6 / n
	}
	for _, l := range []struct {
		name string
		k    kind
		r    loadResult
	}{{"health check", health, hr}, {"GetRecommendations", reco, rr}, {"  basic view", basic, br}} {
		svcUS, selfUS := cpuPer(l.k, l.r)
		el := l.k.phases.elapsed.Seconds()
		b.Logf("%-19s %8.0f req/s (%3.0f%%)  p50 %-9s p99 %-9s max %-9s  CPU per request %3.0f + %2.0f µs, CPUs busy %.2f + %.2f (service + load generator; %d requests, %d errors)",
			l.name+":", l.r.rps, 100*l.r.rps/hr.rps, l.r.p50, l.r.p99, l.r.max, svcUS, selfUS, l.k.svc.Seconds()/el, l.k.self.Seconds()/el, l.r.requests, l.r.errors)
	}
	healthCPUPer, _ := cpuPer(health, hr)
	recoCPUPer, _ := cpuPer(reco, rr)
	basicCPUPer, _ := cpuPer(basic, br)
	b.ReportMetric(startup.Seconds(), "first-start-s")
	b.ReportMetric(hr.rps, "health-req/s")
	b.ReportMetric(rr.rps, "reco-req/s")
	b.ReportMetric(float64(rr.p99.Microseconds())/1000, "reco-p99-ms")
	b.ReportMetric(float64(rr.p50.Microseconds())/1000, "reco-p50-ms")
	b.ReportMetric(100*rr.rps/hr.rps, "reco-%-of-health")
	b.ReportMetric(100*br.rps/hr.rps, "basic-%-of-health")
	b.ReportMetric(float64(br.p99.Microseconds())/1000, "basic-p99-ms")
	b.ReportMetric(rssAfter, "RSS-MB")
	b.ReportMetric(healthCPUPer, "health-cpu-us/op")
	b.ReportMetric(recoCPUPer, "reco-cpu-us/op")
	b.ReportMetric(basicCPUPer, "basic-cpu-us/op")
	if withModel || os.Getenv("BENCH_SKIP_RESTART") != "" {
		// The restart is measured once, without a model; BENCH_SKIP_RESTART
		// is for iterating on serving speed.
		return
	}
	// A restart restores the snapshot the service took before the load
	// and replays only trending from the stored orders.
	svc.stop()
	restartAt := time.Now()
	s.startProcess(b, bin)
	restart := time.Since(restartAt)
	b.Logf("restart from a %.0f MB snapshot: %s", float64(snapBytes)/(1<<20), restart.Round(time.Millisecond))
	b.ReportMetric(restart.Seconds(), "restart-s")
}

// storeLatentModel trains the latent model on the seeded purchases and
// stores its snapshot where the service restores it at start.
func storeLatentModel(b *testing.B, dbURL string) {
	b.Helper()
	ctx := context.Background()
	pool := connectBench(b, dbURL)
	defer pool.Close()
	rows, err := pool.Query(ctx, "SELECT customer_id, product_id, quantity, occurred_at FROM interactions WHERE kind = $1", int16(interaction.Purchase))
	if err != nil {
		b.Fatal(err)
	}
	events := map[string][]interaction.Event{}
	for rows.Next() {
		var e interaction.Event
		var q int32
		if err := rows.Scan(&e.CustomerID, &e.ProductID, &q, &e.At); err != nil {
			b.Fatal(err)
		}
		e.Kind, e.Quantity = interaction.Purchase, int(q)
		events[e.CustomerID] = append(events[e.CustomerID], e)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	m, err := latent.TrainEvents(ctx, latent.DefaultConfig(), events, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		b.Fatal(err)
	}
	meta := cooccur.SnapshotMeta{Name: app.LatentSnapshot, TakenAt: time.Now(), Watermark: 1}
	if err := store.New(pool).SaveSnapshot(ctx, meta, buf.Bytes()); err != nil {
		b.Fatal(err)
	}
	b.Logf("latent model for %d customers and %d products trained in %s and stored (%d bytes)", m.Customers(), m.Products(), time.Since(began).Round(time.Millisecond), buf.Len())
}

// connectBench connects to the benchmark's database.
func connectBench(b *testing.B, dbURL string) *pgxpool.Pool {
	b.Helper()
	pool, err := postgres.Connect(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	return pool
}

// waitForSnapshot waits until the service has stored a snapshot of its
// model with every seeded order folded in, and returns its size.
func waitForSnapshot(b *testing.B, dbURL string) (bytes int64) {
	b.Helper()
	ctx := context.Background()
	pool := connectBench(b, dbURL)
	defer pool.Close()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := pool.QueryRow(ctx, "SELECT length(data) FROM model_snapshots WHERE watermark = (SELECT max(seq) FROM baskets)").Scan(&bytes)
		if err == nil {
			return bytes
		}
		if time.Now().After(deadline) {
			b.Fatalf("no snapshot of every order within 5 minutes: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
