package recommend

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/replenish"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// Customer is the state of the requesting customer that the app layer loads
// before calling the engine. The zero value is an anonymous visitor.
type Customer struct {
	ID string
	// Events are the customer's recent interactions, in any order.
	Events []interaction.Event
	// Segments the customer belongs to and the loyalty tier, for targeted
	// boosts and segment trending.
	Segments []string
	Tier     string
	// Owned are the interned refs (catalog.Intern) of the products the
	// customer still owns over their whole purchase history, sorted: the
	// "no repeat purchase of an owned durable" rule must see purchases
	// older than the recent Events too. nil means not known, and the
	// engine derives it from Events (OwnedFrom); an empty non-nil slice
	// means the customer owns nothing.
	Owned []int32
	// Refs, when set, are the interned refs (catalog.Intern) of the
	// Events' products, one per event in the same order, so that a
	// request need not look each id up; nil (or a length other than
	// Events') has the engine look them up.
	Refs []int32
}

// Models are the in-memory models the engine reads. Bought and Trending are
// required; Viewed (co-view) is optional and feeds upsell substitution and
// personalized neighbours.
type Models struct {
	Catalog  *catalog.Index
	Bought   *cooccur.Model
	Viewed   *cooccur.Model
	Trending *trending.Board
	// Typical gives products' typical re-purchase interval for buy-again
	// after a single purchase; optional.
	Typical replenish.Typical
	// Latent holds the periodically trained latent-factor model blended
	// into personalized candidates (Config.LatentWeight); optional, and
	// empty until the first training.
	Latent *latent.Holder
}

// Item is one recommended product.
type Item struct {
	ProductID string
	// Score orders the list: it decreases down the list. Its integer part
	// says which source of the plan produced the item (higher first), the
	// fraction how strongly.
	Score    float64
	Reason   Reason
	Strategy Strategy
	// Product is the catalog's product (shared, read only: the version
	// current when the request ran), so a caller need not look it up
	// again.
	Product *catalog.Product
}

// Response is the engine's answer.
type Response struct {
	Items []Item
	// NextPageToken continues the list without repeating an item; empty
	// when there is nothing more.
	NextPageToken string
	// Plan is the strategies that ran, in rank order.
	Plan []Strategy
}

// Engine answers recommendation requests from the models. It is safe for
// concurrent use; models are updated concurrently by the app layer's
// consumers and the configuration can be swapped atomically.
type Engine struct {
	m   Models
	cfg atomic.Pointer[Config]
	// viewed is the co-view model, swapped whole when it is rebuilt
	// (SetViewed); nil without one.
	viewed atomic.Pointer[cooccur.Model]
	// trendKeys caches categoryTrendKeys: category key -> []string.
	trendKeys sync.Map
	// answers keeps stateless visitors' first pages (answers.go).
	answers *answerCache
}

// NewEngine validates the configuration and the required models.
func NewEngine(cfg Config, m Models) (*Engine, error) {
	if m.Catalog == nil || m.Bought == nil || m.Trending == nil {
		return nil, fmt.Errorf("recommend: catalog, bought model and trending board are required")
	}
	e := &Engine{m: m, answers: newAnswerCache()}
	e.viewed.Store(m.Viewed)
	if err := e.SetConfig(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// SetConfig replaces the configuration for subsequent requests.
func (e *Engine) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("recommend: config: %w", err)
	}
	e.cfg.Store(&cfg)
	return nil
}

// SetViewed replaces the co-view model (products viewed by the same
// shoppers) that feeds upsell substitution and personalized neighbours;
// the app rebuilds it periodically.
func (e *Engine) SetViewed(m *cooccur.Model) { e.viewed.Store(m) }

// Viewed returns the co-view model in use, or nil without one.
func (e *Engine) Viewed() *cooccur.Model { return e.viewed.Load() }

// Config returns the current configuration.
func (e *Engine) Config() Config { return *e.cfg.Load() }

// candidate is one product under consideration.
type candidate struct {
	// p is the catalog's shared product, read only; nil until something
	// needs more than its rule attributes (see prod), which most
	// candidates never do.
	p     *catalog.Product
	tier  int
	score float64
	// why indexes the run's reasons (run.why): candidates share their
	// anchor's reason instead of each carrying a copy of about a hundred
	// bytes, which made adding a candidate a tenth of a request's cost.
	why      int32
	strategy Strategy
	// bestScore is the largest single contribution, whose reason is kept.
	bestScore float64
	// ref and attrs are p's interned id and rule attributes, read from the
	// catalog's slot so that most candidates are ranked without reading
	// the product itself.
	ref   int32
	attrs catalog.Attrs
}

// rejected marks a product (productSlot.cand) that failed eligibleFlags.
const rejected = -1

// run holds everything one request computes once and every stage reads.
type run struct {
	e    *Engine
	cfg  *Config
	req  Request
	cust Customer
	now  time.Time
	// affs are the customer's affinities (see affinities).
	affs []custAffinity
	// affWeight is affs' weights by id, built only for the latent
	// model's filter (weightOf).
	affWeight map[string]float64
	context   map[string]bool
	excluded  map[string]bool
	// bought holds the ids of the products the customer owns, for the
	// filters that only have ids (ownsID); it is filled when one asks,
	// or from the events when the customer's Owned is not known.
	// Otherwise ownership is the flagBought of the products' slots, and
	// nBought counts the owned products.
	bought       map[string]bool
	boughtFilled bool
	nBought      int
	served       map[uint32]bool
	segments     map[string]bool
	// dense holds the per-product state by interned id: flags (in the
	// context, excluded, owned, rejected by the customer) and the index
	// of the product's candidate in arena, which holds the candidates by
	// value so that a request allocates one growing slice rather than one
	// per candidate; a product the rules removed is marked rejected, so
	// one lookup answers both "already a candidate" and "already refused".
	dense
	arena []candidate
	// eligible counts candidates that can fill a page: with a diversity
	// cap, a category counts at most cap of its candidates, so a plan whose
	// candidates all share one category still falls back to trending and
	// the list stays full.
	eligible int
	capN     int
	pending  []pendingOffer

	// Scratch kept between requests by freeRuns (see scratch.go).
	units map[string]int
	uses  map[string]int
	list  []*candidate
	refs  []int32
	// anchorRefs and lists (and viewedLists) hold a strategy's anchors and
	// their neighbour lists, read under one lock (NeighborsRefs).
	anchorRefs  []int32
	lists       [][]cooccur.Neighbor
	viewedLists [][]cooccur.Neighbor
	pop         []float64
	known       []bool
	keys        []string
	// why holds the reasons of this request's candidates (candidate.why,
	// see because): each anchor's, board's or strategy's reason once.
	why    []Reason
	pos    []personalAnchor
	neg    []personalAnchor
	ranked []personalScore
	// pageDiscounted's scratch, and the anchor discount's powers for this
	// request (pow).
	groups  []anchorGroup
	groupOf []int32
	byWhy   []int32
	grouped []*candidate
	heads   []groupHead
	pows    []float64
}

// Recommend answers one request at now. It returns a *domain.ValidationError
// for bad input and nothing else: unknown products and empty models degrade
// to the trending fallback rather than failing.
func (e *Engine) Recommend(req Request, cust Customer, now time.Time) (Response, error) {
	cfg := e.cfg.Load()
	if err := req.Validate(*cfg); err != nil {
		return Response{}, err
	}
	// Validation accepted them, so parsing cannot fail; it canonicalises
	// spelling ("Cross_Sell", "" for auto) before planning and hashing.
	req.Strategy, _ = ParseStrategy(string(req.Strategy))
	req.Placement, _ = ParsePlacement(string(req.Placement))
	fp := req.fingerprint()
	served, err := decodeToken(req.PageToken, fp)
	if err != nil {
		return Response{}, err
	}
	// A first page for a visitor without state of their own may be
	// answered already (see answers.go).
	var key string
	var stamp modelStamp
	if req.PageToken == "" && cfg.AnswerCacheTTL > 0 && cfg.AnswerCacheSize > 0 && stateless(cust, e.m.Latent.Load()) {
		key, stamp = answerKey(req), e.stamp(cfg)
		if a, ok := e.answers.get(key, stamp, now); ok {
			return a.respond(cfg, fp), nil
		}
	}
	r := getRun()
	defer putRun(r)
	r.e, r.cfg, r.req, r.cust, r.now = e, cfg, req, cust, now
	r.begin()
	r.affinities(cust)
	for _, x := range r.affs {
		if x.a.Weight < 0 && x.ref >= 0 {
			r.product(x.ref).flags |= flagNegative
		}
	}
	fillSet(r.context, req.ProductIDs)
	for _, id := range req.ProductIDs {
		r.mark(id, flagContext)
	}
	fillSet(r.excluded, req.ExcludeIDs)
	for _, id := range req.ExcludeIDs {
		r.mark(id, flagExcluded)
	}
	if cust.Owned != nil {
		for _, ref := range cust.Owned {
			r.product(ref).flags |= flagBought
		}
		r.nBought = len(cust.Owned)
	} else {
		purchasedInto(r.bought, r.units, cust.Events)
		for id := range r.bought {
			r.mark(id, flagBought)
		}
		r.nBought, r.boughtFilled = len(r.bought), true
	}
	fillSet(r.segments, cust.Segments)
	for _, h := range served {
		r.served[h] = true
	}
	r.capN = req.MaxPerCategory
	if r.capN == 0 {
		r.capN = cfg.MaxPerCategory
	}
	plan := Plan(req.Placement, req.Strategy)
	for tier, s := range plan {
		if tier > 0 && r.eligible > req.Limit {
			// The earlier tiers fill the page, and leave more for the
			// next one, without this strategy or any after it: tiers
			// never mix (every candidate of a tier ranks above every
			// candidate of a later one), and eligible counts at most the
			// diversity cap per category, so the page takes Limit of
			// them with one to spare. The next page runs the plan
			// again and goes further down it when it needs to.
			break
		}
		r.generate(s, tier)
	}
	items, more := r.rank(len(plan))
	resp := Response{Items: items, Plan: plan}
	if more && len(served)+len(items) < cfg.MaxServed {
		resp.NextPageToken = nextToken(fp, served, items)
	}
	if key != "" {
		e.answers.put(key, &answer{stamp: stamp, at: now, expires: cfg.answerExpiry(now), items: slices.Clone(items), plan: plan, more: more}, cfg.AnswerCacheSize)
	}
	return resp, nil
}

// nextToken is the page token after items for a request whose fingerprint
// is fp and whose earlier pages served served.
func nextToken(fp uint64, served []uint32, items []Item) string {
	next := append(served[:len(served):len(served)], make([]uint32, 0, len(items))...)
	for _, it := range items {
		next = append(next, fingerprintID(it.ProductID))
	}
	return encodeToken(fp, next)
}

// custAffinity is the customer's affinity for one product.
type custAffinity struct {
	// ref is the product's interned id, -1 for one no model interned.
	ref int32
	a   interaction.Affinity
	// strongest is the largest weight of a single event in absolute
	// value (the one whose kind is a.Strongest).
	strongest float64
}

// affinities sets r.affs to the customer's affinities, one per product in
// the order of its first event: what interaction.Weights.Affinities
// computes, keyed by ref instead of a map by id (the product's slot
// remembers its entry), so that a request hashes no id strings for them.
// The customer's Refs give the refs; without them each id is looked up.
func (r *run) affinities(cust Customer) {
	affs := r.affs[:0]
	refs := cust.Refs
	if len(refs) != len(cust.Events) {
		refs = nil
	}
	w, d := r.cfg.Weights, r.cfg.Decay
	for i := range cust.Events {
		e := &cust.Events[i]
		ref := int32(-1)
		if refs != nil {
			ref = refs[i]
		} else if x, ok := catalog.Lookup(e.ProductID); ok {
			ref = x
		}
		j := -1
		if ref >= 0 {
			s := r.product(ref)
			if s.aff == 0 {
				affs = append(affs, custAffinity{ref: ref})
				s.aff = int32(len(affs))
			}
			j = int(s.aff) - 1
		} else {
			// An id no model knows (rare): found by a scan.
			j = slices.IndexFunc(affs, func(c custAffinity) bool { return c.ref < 0 && c.a.ProductID == e.ProductID })
			if j < 0 {
				affs = append(affs, custAffinity{ref: -1})
				j = len(affs) - 1
			}
		}
		x := &affs[j]
		x.a.Count(e, w.Weight(*e, d, r.now), &x.strongest)
	}
	r.affs = affs
}

// owns reports whether the customer owns the product of affinity x.
func (r *run) owns(x *custAffinity) bool {
	if x.ref >= 0 {
		return r.product(x.ref).flags&flagBought != 0
	}
	// An id no model interned is owned only by the events (Owned holds
	// interned refs).
	return r.bought[x.a.ProductID]
}

// ownsID reports whether the customer owns the product id, for filters
// that only have ids.
func (r *run) ownsID(id string) bool {
	if !r.boughtFilled {
		for _, ref := range r.cust.Owned {
			r.bought[catalog.Name(ref)] = true
		}
		r.boughtFilled = true
	}
	return r.bought[id]
}

// weightOf is the customer's affinity weight for the product id (0 for
// none), for filters that only have ids.
func (r *run) weightOf(id string) float64 {
	if r.affWeight == nil {
		r.affWeight = make(map[string]float64, len(r.affs))
	}
	if len(r.affWeight) == 0 {
		for _, x := range r.affs {
			r.affWeight[x.a.ProductID] = x.a.Weight
		}
	}
	return r.affWeight[id]
}

func (r *run) generate(s Strategy, tier int) {
	switch s {
	case CrossSell:
		r.crossSell(tier)
	case Upsell:
		r.upsell(tier)
	case Personalized:
		r.personalized(tier)
	case BuyAgain:
		r.buyAgain(tier)
	case CartTopUp:
		r.cartTopUp(tier)
	case Trending:
		r.trending(tier)
	}
}

// eligibleFlags applies the business rules that remove a product outright. It
// runs before ranking and before the limit is cut, so filtered products
// leave room for the next ones instead of leaving holes.
//
// Only offer calls it, for a product that is not yet a candidate; offer
// records a rejection in the product's slot (as rejected), so each
// product is looked up and checked once per request.
//
// p is the product when the caller already looked it up, nil to check
// the catalog's rule attributes of ref alone; f is the product's flags
// (the caller holds its slot).
func (r *run) eligibleFlags(f uint8, ref int32, p *catalog.Product) (catalog.Attrs, bool) {
	if p != nil {
		a := catalog.AttrsOf(p)
		return a, r.passesFlags(f, ref, p, a)
	}
	a, ok := r.e.m.Catalog.RefAttrs(ref)
	return a, ok && r.passesFlags(f, ref, nil, a)
}

// passesFlags applies the rules to the product ref (flags f, attributes
// a; p is the product if the caller has it, or nil): the product itself
// is only read for category filters.
func (r *run) passesFlags(f uint8, ref int32, p *catalog.Product, a catalog.Attrs) bool {
	switch {
	case !a.Available:
		return false
	case f&(flagContext|flagExcluded) != 0:
		return false
	case len(r.served) > 0 && r.served[fingerprintID(catalog.Name(ref))]:
		return false
	case f&flagBought != 0 && !a.Consumable:
		// Durables (and products of unknown kind, to be safe) are not
		// offered again to a customer who owns one.
		return false
	case f&flagNegative != 0:
		// Dismissed or returned: the customer told us no.
		return false
	}
	if p == nil && len(r.req.IncludeCategories)+len(r.req.ExcludeCategories) > 0 {
		if p = r.e.m.Catalog.At(ref); p == nil {
			return false
		}
	}
	if len(r.req.IncludeCategories) > 0 {
		in := false
		for _, c := range r.req.IncludeCategories {
			if p.InCategory(c) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, c := range r.req.ExcludeCategories {
		if p.InCategory(c) {
			return false
		}
	}
	return true
}

// offer adds score for a product from a strategy. The first strategy (the
// lowest tier) to offer a product owns it; later strategies cannot demote
// or re-explain it. Within a tier scores add up, and the reason is the one
// behind the largest single contribution.
func (r *run) offer(id string, tier int, s Strategy, score float64, why int32) {
	r.offerProduct(id, nil, tier, s, score, why)
}

// because stores reason among the request's reasons and returns its index
// for offer.
func (r *run) because(reason Reason) int32 {
	r.why = append(r.why, reason)
	return int32(len(r.why) - 1)
}

// offerProduct is offer for a caller that has already looked the product
// up (p, id's catalog entry), saving a second catalog lookup; p nil looks
// it up.
func (r *run) offerProduct(id string, p *catalog.Product, tier int, s Strategy, score float64, why int32) {
	if p != nil {
		r.offerRef(p.Ref(), p, tier, s, score, why)
		return
	}
	// A product no model has interned is in no catalog either, so it
	// would only be refused.
	if ref, ok := catalog.Lookup(id); ok && score > 0 {
		r.offerRef(ref, nil, tier, s, score, why)
	}
}

// offerRef is offer by interned id (the models return them with their
// ids), with the product when the caller has it (p nil looks it up).
func (r *run) offerRef(ref int32, p *catalog.Product, tier int, s Strategy, score float64, why int32) {
	r.offerAttrs(ref, p, nil, tier, s, score, why)
}

// offerAttrs is offerRef for a caller that has also read the product's
// rule attributes (attrs; nil when not read). p may be nil either way.
func (r *run) offerAttrs(ref int32, p *catalog.Product, attrs *catalog.Attrs, tier int, s Strategy, score float64, why int32) {
	if !(score > 0) {
		return
	}
	slot := r.product(ref)
	if i := slot.cand; i != noCandidate {
		if i == rejected {
			return
		}
		c := &r.arena[i]
		if c.tier != tier {
			return
		}
		if score > c.bestScore {
			c.why = why
			c.bestScore = score
		}
		c.score += score
		return
	}
	var a catalog.Attrs
	ok := false
	if attrs != nil {
		a = *attrs
		ok = r.passesFlags(slot.flags, ref, p, a)
	} else {
		a, ok = r.eligibleFlags(slot.flags, ref, p)
	}
	if !ok {
		slot.cand = rejected
		return
	}
	slot.cand = int32(len(r.arena))
	r.arena = append(r.arena, candidate{p: p, ref: ref, attrs: a, tier: tier, score: score, why: why, strategy: s, bestScore: score})
	if r.capN > 0 {
		c := r.category(a.Category)
		c.offered++
		if int(c.offered) > r.capN {
			return
		}
	}
	r.eligible++
}

// prod returns c's product, reading it from the catalog the first time:
// only boosts with conditions and the page need it. It is nil only if the
// catalog no longer holds the product, which it never removes.
func (r *run) prod(c *candidate) *catalog.Product {
	if c.p == nil {
		c.p = r.e.m.Catalog.At(c.ref)
	}
	return c.p
}

// rank applies boosts, orders by tier then score, enforces the diversity
// cap and cuts the page. more reports whether eligible items remain after
// the page.
//
// Tiers never mix (a lower tier ranks above any higher one, and boosts,
// the trending prior and the anchor discount only move scores within a
// tier), so the candidates are grouped by tier and each tier is scored and
// sorted only when the page still needs it: the trending fallback's long
// tail usually is not.
func (r *run) rank(tiers int) ([]Item, bool) {
	lead := 0.0
	if r.cfg.TrendingPrior > 0 {
		// Visit rather than Top: the same leader without allocating a list.
		r.e.m.Trending.Visit(trending.GlobalKey, 1, r.now, func(e trending.Entry) bool {
			lead = e.Score
			return false
		})
	}
	// Group by tier (a counting sort; plans have a handful of tiers).
	var start [maxTiers + 1]int
	for i := range r.arena {
		start[r.arena[i].tier+1]++
	}
	for t := 1; t <= maxTiers; t++ {
		start[t] += start[t-1]
	}
	list := slices.Grow(r.list[:0], len(r.arena))[:len(r.arena)]
	next := start
	for i := range r.arena {
		c := &r.arena[i]
		list[next[c.tier]] = c
		next[c.tier]++
	}
	r.list = list
	order := func(a, b *candidate) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(catalog.Name(a.ref), catalog.Name(b.ref))
	}
	items := make([]Item, 0, r.req.Limit)
	for t := 0; t < maxTiers; t++ {
		seg := list[start[t]:start[t+1]]
		if len(seg) == 0 {
			continue
		}
		if len(items) == r.req.Limit {
			// Anything left, even a product the cap kept off this page,
			// can fill the next one (the cap is per page).
			return items, true
		}
		r.score(seg, lead)
		d := r.cfg.AnchorDiversity
		if d > 0 && d < 1 && r.hasAnchored(seg) {
			var more bool
			if items, more = r.pageDiscounted(seg, items, tiers, d, order); more {
				return items, true
			}
			continue
		}
		// Without the anchor discount, only the tier's best are sorted:
		// enough for the rest of the page with room for the diversity
		// cap's skips; the remainder is sorted only if the page still
		// needs it.
		sorted := selectBest(seg, 4*(r.req.Limit-len(items))+16, order)
		for i := range seg {
			if i == sorted {
				slices.SortFunc(seg[i:], order)
			}
			if len(items) == r.req.Limit {
				return items, true
			}
			items = r.page(seg[i], items, tiers)
		}
	}
	return items, false
}

// page appends c to the page unless the diversity cap already holds its
// category.
func (r *run) page(c *candidate, items []Item, tiers int) []Item {
	cat := r.category(c.attrs.Category)
	if r.capN > 0 && int(cat.paged) >= r.capN {
		return items
	}
	p := r.prod(c)
	if p == nil {
		return items
	}
	cat.paged++
	// The reason is shared by the anchor's candidates: its title is looked
	// up for the first of them paged.
	reason := &r.why[c.why]
	if reason.ProductID != "" && reason.Title == "" {
		if a, ok := r.e.m.Catalog.Ref(reason.ProductID); ok {
			reason.Title = a.Title
		}
	}
	return append(items, Item{
		ProductID: p.ID,
		// score/(1+score) maps (0, inf) onto (0, 1) keeping order, so
		// adding the tier offset keeps the list's scores decreasing.
		Score:    float64(tiers-c.tier) + c.score/(1+c.score),
		Reason:   *reason,
		Strategy: c.strategy,
		Product:  p,
	})
}

// pageDiscounted pages a tier under the anchor discount: each cross-sell
// or personalized candidate's score is multiplied by d^k, k the number of
// better candidates (before the discount, and in earlier tiers) explained
// by the same anchor, and the page takes the tier in the discounted order.
// more reports that the page filled with candidates left over.
//
// Within one anchor's candidates the discount keeps their order (a worse
// one also gets a higher power of d), so the discounted order is a merge
// of the anchors' lists, each taken in its order before the discount.
// Each list is a heap, and a second heap holds every list's next
// candidate; only the candidates the page reaches are discounted and
// ordered, where discounting and sorting the whole tier (twice) was most
// of ranking's cost. Scores and order are exactly those of sorting.
func (r *run) pageDiscounted(seg []*candidate, items []Item, tiers int, d float64, order func(a, b *candidate) int) ([]Item, bool) {
	// Group the candidates by anchor; group 0 holds the undiscounted ones.
	groups := append(r.groups[:0], anchorGroup{})
	of := slices.Grow(r.groupOf[:0], len(seg))[:len(seg)]
	// An anchor's candidates share a few reasons (see because), so each
	// reason's group is found once: byWhy holds it plus one, 0 for not yet.
	byWhy := slices.Grow(r.byWhy[:0], len(r.why))[:len(r.why)]
	clear(byWhy)
	last := 0
	for i, c := range seg {
		g := 0
		if c.strategy == CrossSell || c.strategy == Personalized {
			if k := byWhy[c.why]; k > 0 {
				g = int(k - 1)
			} else if key := r.why[c.why].ProductID; key != "" {
				// Candidates of one anchor usually come in a row.
				if last > 0 && groups[last].key == key {
					g = last
				} else {
					for j := 1; j < len(groups); j++ {
						if groups[j].key == key {
							g = j
							break
						}
					}
					if g == 0 {
						g = len(groups)
						groups = append(groups, anchorGroup{key: key, used: r.uses[key]})
					}
					last = g
				}
				byWhy[c.why] = int32(g + 1)
			} else {
				byWhy[c.why] = 1 // no anchor: group 0
			}
		}
		of[i] = int32(g)
		groups[g].end++
	}
	r.byWhy = byWhy[:0]
	// Lay the groups out one after the other, each a heap in the order
	// before the discount.
	buf := slices.Grow(r.grouped[:0], len(seg))[:len(seg)]
	n := int32(0)
	for g := range groups {
		groups[g].start, groups[g].end, n = n, n, n+groups[g].end
	}
	for i, c := range seg {
		g := &groups[of[i]]
		buf[g.end] = c
		g.end++
	}
	heads := r.heads[:0]
	defer func() {
		clear(buf)
		r.groups, r.groupOf, r.grouped, r.heads = groups[:0], of[:0], buf[:0], heads[:0]
	}()
	headOrder := func(a, b groupHead) int { return order(a.c, b.c) }
	// next moves group g's best remaining candidate, discounted, to heads.
	next := func(g int32) {
		gr := &groups[g]
		if gr.start == gr.end {
			return
		}
		h := buf[gr.start:gr.end]
		h, c := heapPop(h, order)
		buf[gr.start+int32(len(h))] = nil
		gr.end = gr.start + int32(len(h))
		if g > 0 {
			c.score *= r.pow(d, gr.used)
			gr.used++
		}
		heads = heapPush(heads, groupHead{c, g}, headOrder)
	}
	for g := range groups {
		heapInit(buf[groups[g].start:groups[g].end], order)
		next(int32(g))
	}
	for len(heads) > 0 {
		if len(items) == r.req.Limit {
			return items, true
		}
		var h groupHead
		heads, h = heapPop(heads, headOrder)
		items = r.page(h.c, items, tiers)
		next(h.g)
	}
	// The whole tier was discounted; later tiers count these uses too.
	for _, g := range groups[1:] {
		r.uses[g.key] = g.used
	}
	return items, false
}

// anchorGroup is one anchor's candidates in pageDiscounted: a heap in
// grouped[start:end], and how many better candidates the anchor explains
// so far.
type anchorGroup struct {
	key        string
	start, end int32
	used       int
}

// groupHead is a group's best remaining candidate, discounted.
type groupHead struct {
	c *candidate
	g int32
}

// pow is math.Pow(d, k), remembered for the request: the anchor discount
// raises the same d to small powers for most candidates it pages.
func (r *run) pow(d float64, k int) float64 {
	for len(r.pows) <= k {
		r.pows = append(r.pows, math.Pow(d, float64(len(r.pows))))
	}
	return r.pows[k]
}

// heapInit orders h as a binary heap whose top (h[0]) is the first by
// order.
func heapInit[T any](h []T, order func(a, b T) int) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i, order)
	}
}

func heapDown[T any](h []T, i int, order func(a, b T) int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if rr := l + 1; rr < len(h) && order(h[rr], h[l]) < 0 {
			m = rr
		}
		if order(h[m], h[i]) >= 0 {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// heapPop removes and returns the heap's top.
func heapPop[T any](h []T, order func(a, b T) int) ([]T, T) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	heapDown(h, 0, order)
	return h, top
}

// heapPush adds x to the heap.
func heapPush[T any](h []T, x T, order func(a, b T) int) []T {
	h = append(h, x)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if order(h[i], h[p]) >= 0 {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

// hasAnchored reports whether the anchor discount applies to any of the
// candidates.
func (r *run) hasAnchored(seg []*candidate) bool {
	for _, c := range seg {
		if (c.strategy == CrossSell || c.strategy == Personalized) && r.why[c.why].ProductID != "" {
			return true
		}
	}
	return false
}

// selectBest moves the k best of list (by cmp) to its front, sorted, and
// returns how many it sorted (min(k, len(list))). Unlike topK it keeps
// list a permutation of its elements, so the rest can still be sorted
// after them for the exact full order.
func selectBest(list []*candidate, k int, cmp func(a, b *candidate) int) int {
	n := len(selectTopK(list, k, cmp))
	slices.SortFunc(list[:n], cmp)
	return n
}

// maxTiers bounds a plan's length (see Plan: at most three strategies).
const maxTiers = 8

// score applies boosts and the trending prior to one tier's candidates.
func (r *run) score(seg []*candidate, lead float64) {
	refs := r.refs[:0]
	for _, c := range seg {
		c.score *= r.boost(c)
		if lead > 0 && (c.strategy == CrossSell || c.strategy == Personalized) {
			refs = append(refs, c.ref)
		}
	}
	r.refs = refs
	if len(refs) == 0 {
		return
	}
	// One read of the board for every candidate's trending score.
	pop := slices.Grow(r.pop[:0], len(refs))[:len(refs)]
	r.e.m.Trending.RefScoresInto(trending.GlobalKey, refs, r.now, pop)
	j := 0
	for _, c := range seg {
		if c.strategy == CrossSell || c.strategy == Personalized {
			c.score *= 1 + r.cfg.TrendingPrior*max(0, pop[j])/lead
			j++
		}
	}
	r.pop = pop
}

func (r *run) boost(c *candidate) float64 {
	f := 1 + r.cfg.MarginBoost*c.attrs.MarginRatio
	for _, b := range r.cfg.Boosts {
		if p := r.prod(c); p != nil && b.applies(p, r.segments, r.cust.Tier, r.now) {
			f *= b.Multiplier
		}
	}
	return f
}

// purchasedInto fills out with the products the customer still owns: units
// bought minus units refunded is positive. units is empty scratch.
func purchasedInto(out map[string]bool, units map[string]int, events []interaction.Event) {
	for _, e := range events {
		q := max(e.Quantity, 1)
		switch e.Kind {
		case interaction.Purchase:
			units[e.ProductID] += q
		case interaction.Refund:
			units[e.ProductID] -= q
		}
	}
	for id, n := range units {
		if n > 0 {
			out[id] = true
		}
	}
}

// OwnedFrom returns the sorted refs of the products the events leave owned
// (units bought minus units refunded is positive), for a Customer.Owned
// built from a complete history. Products never interned are left out: no
// model or catalog holds them, so they can never be a candidate.
func OwnedFrom(events []interaction.Event) []int32 {
	units := make(map[string]int)
	owned := make(map[string]bool)
	purchasedInto(owned, units, events)
	out := make([]int32, 0, len(owned))
	for id := range owned {
		if ref, ok := catalog.Lookup(id); ok {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}
