package recommend

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/cooccur"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/interaction"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/latent"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/replenish"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/trending"
)

// anchorsForCrossSell are the products in context or, without any, the
// customer's newest purchases (order confirmation e-mails and "picked for
// you" slots often have no product in view).
func (r *run) anchorsForCrossSell() []string {
	if len(r.req.ProductIDs) > 0 {
		return r.req.ProductIDs
	}
	type bought struct {
		id string
		at int64
	}
	var list []bought
	for i := range r.affs {
		if x := &r.affs[i]; x.a.Weight > 0 && r.owns(x) {
			list = append(list, bought{x.a.ProductID, x.a.Last.UnixNano()})
		}
	}
	slices.SortFunc(list, func(a, b bought) int {
		if c := cmp.Compare(b.at, a.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]string, 0, 5)
	for _, b := range list[:min(5, len(list))] {
		out = append(out, b.id)
	}
	return out
}

// upsell: pricier products of the anchor's own category inside the price
// band, ranked by how often they are viewed instead of the anchor (the
// substitution signal of the co-view model), by attribute similarity, and
// slightly by staying close to the anchor's price (a small step up converts
// better than a leap).
func (r *run) upsell(tier int) {
	lo, hi := r.cfg.UpsellMinRatio, r.cfg.UpsellMaxRatio
	for _, a := range r.req.ProductIDs {
		ap, ok := r.e.m.Catalog.Ref(a)
		if !ok || ap.Price.Minor <= 0 {
			continue
		}
		anchor := *ap
		p := float64(anchor.Price.Minor)
		why := r.because(Reason{Kind: ReasonUpgradeFrom, ProductID: a, Title: anchor.Title})
		scanned := 0
		viewed := r.e.viewed.Load()
		r.e.m.Catalog.PriceBand(anchor.CategoryKey(), anchor.Price.Currency, int64(math.Ceil(p*lo)), int64(math.Floor(p*hi)), func(c catalog.Product) bool {
			scanned++
			subst := r.substitution(viewed, a, c.ID)
			closeness := 1 - (float64(c.Price.Minor)/p-lo)/(hi-lo)
			score := 0.5*subst + 0.35*catalog.Similarity(anchor, c) + 0.15*closeness
			// Products are only collected here; the catalog lock is held
			// during the scan, and offer reads the catalog again.
			r.pending = append(r.pending, pendingOffer{c.Ref(), score, why})
			return scanned < r.cfg.UpsellMaxScan
		})
		for _, o := range r.pending {
			r.offerRef(o.ref, nil, tier, Upsell, o.score, o.why)
		}
		r.pending = r.pending[:0]
	}
}

// substitution is how much b replaces a rather than goes with it: shoppers
// who look at one look at the other (co-view score v), but the two are
// rarely bought together (co-purchase score p, which marks an accessory).
// It is max(0, min(1, v) − p): a co-viewed pair that is also bought
// together, like a grinder and its beans, is a complement, not an upgrade.
func (r *run) substitution(viewed *cooccur.Model, a, b string) float64 {
	if viewed == nil {
		return 0
	}
	v := math.Min(1, viewed.Score(a, b))
	if v <= 0 {
		return 0
	}
	return max(0, v-r.e.m.Bought.Score(a, b))
}

type pendingOffer struct {
	// The id is spelt (catalog.Name(ref)) only when the latent model needs
	// it: most requests never do.
	ref   int32
	score float64
	why   int32 // the run's reasons, see because
}

// personalAnchor is one of the customer's items anchoring personalized
// candidates.
type personalAnchor struct {
	id  string
	ref int32 // -1 for an id no model interned
	a   interaction.Affinity
}

// personalAcc is a personalized candidate's co-occurrence score: small
// values, not pointers or full Reasons, because a request touches a few
// thousand neighbours. anchor indexes the anchors; -1 marks a
// negative-only score.
type personalAcc struct {
	score, best float64
	anchor      int32
}

// personalScore is a candidate (by interned id) and its score, for
// ranking.
type personalScore struct {
	ref   int32
	score float64
}

// comparePersonal orders by score, best first, then by id.
func comparePersonal(x, y personalScore) int {
	if c := cmp.Compare(y.score, x.score); c != 0 {
		return c
	}
	return strings.Compare(catalog.Name(x.ref), catalog.Name(y.ref))
}

// personalized: neighbours of the customer's strongest recent items,
// weighted by how strong (and how recent) the interest is, minus the
// neighbours of items the customer rejected, re-ranked by the customer's
// interest in each category.
func (r *run) personalized(tier int) {
	if len(r.affs) == 0 {
		return
	}
	type anchor = personalAnchor
	pos, neg := r.pos[:0], r.neg[:0]
	defer func() { r.pos, r.neg = pos[:0], neg[:0] }()
	for _, x := range r.affs {
		switch {
		case x.a.Weight > 0:
			pos = append(pos, anchor{x.a.ProductID, x.ref, x.a})
		case x.a.Weight < 0:
			neg = append(neg, anchor{x.a.ProductID, x.ref, x.a})
		}
	}
	byWeight := func(x, y anchor) int {
		if c := cmp.Compare(math.Abs(y.a.Weight), math.Abs(x.a.Weight)); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	}
	slices.SortFunc(pos, byWeight)
	slices.SortFunc(neg, byWeight)
	pos = pos[:min(len(pos), r.cfg.RecentItems)]
	neg = neg[:min(len(neg), r.cfg.RecentItems)]

	// Small values, not pointers or full Reasons: a personalized request
	// touches a few thousand neighbours, and their bookkeeping was its
	// largest cost. anchor indexes pos; -1 marks a negative-only score.
	// The accumulators are the run's dense scratch, indexed by interned
	// id; touched lists the ones of this pass.
	r.touched = r.touched[:0]
	total := 0.0
	add := r.dense.add
	// The anchors' reasons go to the run's reasons, from base on: a Reason
	// is about a hundred bytes, and this was a request's largest
	// allocation.
	base := int32(len(r.why))
	r.why = slices.Grow(r.why, len(pos))[:int(base)+len(pos)]
	reasons := r.why[base:]
	viewed := r.e.viewed.Load()
	if viewed == nil || r.cfg.ViewedNeighborWeight <= 0 {
		viewed = nil
	}
	// The anchors come with their refs (see affinities): the catalog and
	// both models are read by ref. An id never interned is in no model and
	// no catalog.
	bought := r.neighborLists(pos, r.cfg.NeighborsPerAnchor, viewed)
	for ai, an := range pos {
		kind := ReasonBecauseYouViewed
		if an.a.Strongest == interaction.Purchase {
			kind = ReasonBecauseYouBought
		}
		reasons[ai] = Reason{Kind: kind, ProductID: an.id}
		ref := r.anchorRefs[ai]
		if ref < 0 {
			continue
		}
		if p := r.e.m.Catalog.At(ref); p != nil {
			r.category(p.CategoryRef()).interest += an.a.Weight
			total += an.a.Weight
		}
		for _, n := range bought[ai] {
			add(n.Ref, an.a.Weight*n.Score, int32(ai))
		}
		if viewed != nil {
			for _, n := range r.viewedLists[ai] {
				add(n.Ref, r.cfg.ViewedNeighborWeight*an.a.Weight*n.Score, int32(ai))
			}
		}
	}
	for _, an := range neg {
		if ref, ok := catalog.Lookup(an.id); ok {
			for _, n := range r.e.m.Bought.NeighborsRef(ref, r.cfg.NeighborsPerAnchor) {
				add(n.Ref, an.a.Weight*n.Score, -1)
			}
		}
	}
	// Only the strongest candidates are worth a catalog lookup: the
	// category re-rank moves a score by at most 1+CategoryAffinity, so
	// keeping ten times the page is ample.
	type scored = personalScore
	ranked := r.ranked[:0]
	defer func() { r.ranked = ranked[:0] }()
	for _, ref := range r.touched {
		if s := r.accOf(ref); s.score > 0 && s.anchor >= 0 {
			ranked = append(ranked, scored{ref, s.score})
		}
	}
	// Only the latent blend needs the top candidates in order (it reads
	// the best one's score); without it they are offered in any order,
	// since a candidate's rank is decided by rank's total order (score,
	// then id) and the eligible count by how many of each category are
	// offered, neither by the order of offers. Sorting them was a quarter
	// of this strategy's cost.
	ranked = selectTopK(ranked, max(10*r.req.Limit, 50), comparePersonal)
	if lm := r.e.m.Latent.Load(); lm != nil && r.cfg.LatentWeight > 0 {
		slices.SortFunc(ranked, comparePersonal)
	}
	if r.blendLatent(ranked, pos, tier, base, total) {
		return
	}
	for _, c := range ranked {
		s := r.accOf(c.ref)
		if total > 0 && r.cfg.CategoryAffinity > 0 {
			// The attributes read here are the ones offer checks: one
			// read of the catalog's slot, which is mostly a cache miss.
			if a, ok := r.e.m.Catalog.RefAttrs(c.ref); ok {
				s.score *= 1 + r.cfg.CategoryAffinity*r.category(a.Category).interest/total
				r.offerAttrs(c.ref, nil, &a, tier, Personalized, s.score, base+s.anchor)
				continue
			}
		}
		r.offerRef(c.ref, nil, tier, Personalized, s.score, base+s.anchor)
	}
}

// blendLatent adds the latent-factor model's best products for the
// customer to the co-occurrence candidates (ranked, best first) and offers
// the blend: each source's score is divided by its best candidate's, so
// both count on the same 0..1 scale, and the model's share is weighted by
// LatentWeight. A product only the model proposes is explained by the
// customer's item it is most alike in the model ("because you bought W").
// It reports false, offering nothing, when there is no model or no vector
// for the customer; co-occurrence then ranks alone.
func (r *run) blendLatent(ranked []personalScore, pos []personalAnchor, tier int, base int32, total float64) bool {
	lm := r.e.m.Latent.Load()
	if lm == nil || r.cfg.LatentWeight <= 0 || r.cfg.LatentCandidates <= 0 || len(pos) == 0 {
		return false
	}
	v := lm.UserVector(r.cust.ID, r.cust.Events, r.now)
	if v == nil {
		return false
	}
	// Owned products are skipped here, consumables included: the model
	// predicts them best of all, and buy again is the strategy for them.
	keep := func(id string) bool {
		return !r.ownsID(id) && !r.context[id] && !r.excluded[id] && r.weightOf(id) >= 0
	}
	// A customer the model was trained on is answered from their cached
	// best products (the same answer, without scanning every product
	// again on each of their visits).
	lat, ok := lm.CustomerTop(r.cust.ID, r.cfg.LatentCandidates, keep)
	if !ok {
		lat = lm.Top(v, r.cfg.LatentCandidates, keep)
	}
	type blended struct {
		score  float64
		anchor int32
	}
	// Keyed by ref: hashing and sorting the id strings was a third of a
	// home page's cost with a model.
	out := make(map[int32]blended, len(ranked)+len(lat)+r.cfg.LatentCandidates)
	if len(ranked) > 0 && ranked[0].score > 0 {
		top := ranked[0].score
		for _, c := range ranked {
			out[c.ref] = blended{c.score / top, r.accOf(c.ref).anchor}
		}
	}
	if len(lat) > 0 && lat[0].Score > 0 {
		top := lat[0].Score
		explain := pos[:min(len(pos), 10)]
		// The anchors' vectors are looked up once, not once per
		// candidate: Similarity hashed both ids for every pair.
		var vecs [10][]float32
		for ai, an := range explain {
			vecs[ai] = lm.ProductVector(an.id)
		}
		var sims [10]float64
		for _, c := range lat {
			if c.Score <= 0 {
				break
			}
			b, ok := out[c.Ref]
			if !ok {
				b.anchor = -1
				best := math.Inf(-1)
				latent.VectorSimilarities(vecs[:len(explain)], lm.ProductVectorRef(c.Ref), sims[:])
				for ai, s := range sims[:len(explain)] {
					if s > best {
						best, b.anchor = s, int32(ai)
					}
				}
			}
			b.score += r.cfg.LatentWeight * c.Score / top
			out[c.Ref] = b
		}
	}
	// What sells now joins as a third source: for a customer with a short
	// history the first two know little, and an item both related and
	// selling now collects from two sources (anchor -2 marks one only
	// trending proposes).
	if w := r.cfg.PersonalTrendingWeight; w > 0 {
		lead := 0.0
		n := 0
		r.e.m.Trending.Visit(trending.GlobalKey, r.cfg.LatentCandidates, r.now, func(e trending.Entry) bool {
			if lead == 0 {
				lead = e.Score
			}
			if lead <= 0 || r.product(e.Ref).flags&flagBought != 0 {
				return lead > 0
			}
			b, ok := out[e.Ref]
			if !ok {
				b.anchor = -2
			}
			b.score += w * e.Score / lead
			out[e.Ref] = b
			n++
			return n < r.cfg.LatentCandidates
		})
	}
	// Each product is offered once, so the order of offers decides nothing
	// (see cartTopUp); by ref keeps the run deterministic.
	refs := make([]int32, 0, len(out))
	for ref := range out {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	popular := int32(-1)
	for _, ref := range refs {
		b := out[ref]
		if b.anchor == -2 {
			if popular < 0 {
				popular = r.because(Reason{Kind: ReasonPopular})
			}
			r.offerRef(ref, nil, tier, Personalized, b.score, popular)
			continue
		}
		if b.anchor < 0 {
			continue
		}
		if total > 0 && r.cfg.CategoryAffinity > 0 {
			if a, ok := r.e.m.Catalog.RefAttrs(ref); ok {
				b.score *= 1 + r.cfg.CategoryAffinity*r.category(a.Category).interest/total
				r.offerAttrs(ref, nil, &a, tier, Personalized, b.score, base+b.anchor)
				continue
			}
		}
		r.offerRef(ref, nil, tier, Personalized, b.score, base+b.anchor)
	}
	return true
}

// buyAgain: consumables the customer is due to run out of.
func (r *run) buyAgain(tier int) {
	var ps []replenish.Purchase
	for _, e := range r.cust.Events {
		if e.Kind == interaction.Purchase {
			ps = append(ps, replenish.Purchase{ProductID: e.ProductID, At: e.At, Quantity: e.Quantity})
		}
	}
	for _, d := range replenish.DueItems(ps, r.now, r.cfg.Replenish, r.e.m.Typical) {
		if p, ok := r.e.m.Catalog.Ref(d.ProductID); !ok || p.Kind != catalog.Consumable {
			continue
		}
		r.offer(d.ProductID, tier, BuyAgain, d.Score, r.because(Reason{Kind: ReasonBuyAgain, ProductID: d.ProductID, Since: r.now.Sub(d.LastPurchase)}))
	}
}

// cartTopUp: products whose price alone closes the gap between the cart
// and the threshold, ranked by fit with the cart (co-purchase) and penalised
// for overshooting the gap, since the customer wants delivery for free, not
// a second big purchase.
func (r *run) cartTopUp(tier int) {
	th := r.cfg.CartThreshold
	if th.Minor <= 0 {
		return
	}
	var value int64
	for _, id := range r.req.ProductIDs {
		if p, ok := r.e.m.Catalog.Ref(id); ok && p.Price.Currency == th.Currency {
			value += p.Price.Minor
		}
	}
	gap := th.Minor - value
	if gap <= 0 {
		return
	}
	// Fit is summed in the run's accumulators by interned id, and only the
	// products whose price closes the gap are sorted: most of the cart's
	// neighbours and the boards' entries are cheaper, and hashing and
	// sorting them by id string was most of this strategy's cost. The
	// accumulators are left reset, as crossSell leaves them.
	r.dense.acc.reset()
	r.touched = r.touched[:0]
	defer func() {
		r.dense.acc.reset()
		r.touched = r.touched[:0]
	}()
	for _, a := range r.req.ProductIDs {
		for _, n := range r.e.m.Bought.Neighbors(a, r.cfg.NeighborsPerAnchor) {
			r.dense.add(n.Ref, n.Score, 0)
		}
	}
	// Popular items in the cart's categories and overall fill in when the
	// cart's neighbours are too cheap; they rank below any that fit.
	for i, key := range r.trendingKeys() {
		j := 0
		r.e.m.Trending.Visit(key, r.cfg.TrendingDepth, r.now, func(e trending.Entry) bool {
			if r.dense.acc.find(e.Ref) == nil {
				r.dense.add(e.Ref, 1e-3/float64(1+i)/float64(1+j), 0)
			}
			j++
			return true
		})
	}
	// The catalog's currencies are interned, so the comparison below is a
	// pointer comparison instead of a read of each product's currency.
	currency := catalog.Currency(th.Currency)
	refs := r.refs[:0]
	for _, ref := range r.touched {
		if p := r.e.m.Catalog.At(ref); p != nil && p.Price.Currency == currency && p.Price.Minor >= gap {
			refs = append(refs, ref)
		}
	}
	// Each product is offered once, so the order of offers decides
	// nothing (rank orders by score then id, and the diversity cap counts
	// a category's offers whatever their order); sorting by ref only keeps
	// the run deterministic. Sorting by id string was a tenth of a
	// checkout's cost.
	slices.Sort(refs)
	why := r.because(Reason{Kind: ReasonCartTopUp, Amount: catalog.Money{Minor: gap, Currency: th.Currency}})
	for _, ref := range refs {
		p := r.e.m.Catalog.At(ref)
		over := float64(p.Price.Minor-gap) / float64(gap)
		r.offerRef(ref, p, tier, CartTopUp, r.dense.accOf(ref).score/(1+over), why)
	}
	r.refs = refs
}

// trendingKeys lists trending boards from most to least specific: the
// categories of the products in context (leaf first, then parents), the
// customer's segments, then the whole shop.
//
// The list is the run's scratch (a linear scan dedupes it: it holds a
// handful of keys), so a caller must be done with it before calling again.
func (r *run) trendingKeys() []string {
	keys := r.keys[:0]
	addKey := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, id := range r.req.ProductIDs {
		if p, ok := r.e.m.Catalog.Ref(id); ok {
			for _, k := range r.e.categoryTrendKeys(p.CategoryKey(), p.CategoryPath) {
				addKey(k)
			}
		}
	}
	for _, s := range r.cust.Segments {
		addKey(trending.SegmentKey(s))
	}
	addKey(trending.GlobalKey)
	r.keys = keys
	return keys
}

// trending: the cold-start and fallback strategy. Boards are read from
// the most specific down; each contributes scores normalized to its leader
// and discounted by its position in the list of boards, so "popular in this
// category" outranks "popular overall".
func (r *run) trending(tier int) {
	need := r.req.Limit * 3
	for i, key := range r.trendingKeys() {
		if r.eligible >= need && i > 0 {
			return
		}
		reason := Reason{Kind: ReasonPopular}
		switch {
		case strings.HasPrefix(key, "cat:"):
			reason = Reason{Kind: ReasonPopularInCategory, Category: strings.TrimPrefix(key, "cat:")}
		case strings.HasPrefix(key, "seg:"):
			reason = Reason{Kind: ReasonPopularInSegment, Segment: strings.TrimPrefix(key, "seg:")}
		}
		why := r.because(reason)
		w := 1 / float64(1+i)
		lead := 0.0
		r.e.m.Trending.Visit(key, r.cfg.TrendingDepth, r.now, func(e trending.Entry) bool {
			if lead == 0 {
				lead = e.Score
			}
			if lead <= 0 {
				return false
			}
			r.offerRef(e.Ref, nil, tier, Trending, w*e.Score/lead, why)
			// The rest of this board ranks below what is collected; once
			// there is enough to fill the page after the rules, stop.
			return r.eligible < need
		})
	}
}

// neighborLists reads the co-purchase lists of the anchors (k neighbours
// each) under one lock, into r.lists, and their co-view lists into
// r.viewedLists when viewed is set; r.anchorRefs gets each anchor's ref,
// -1 for an id never interned (in no model). The lists are valid until
// the next call.
func (r *run) neighborLists(anchors []personalAnchor, k int, viewed *cooccur.Model) [][]cooccur.Neighbor {
	refs := r.anchorRefs[:0]
	for _, an := range anchors {
		refs = append(refs, an.ref)
	}
	r.anchorRefs = refs
	r.lists = slices.Grow(r.lists[:0], len(refs))[:len(refs)]
	r.e.m.Bought.NeighborsRefs(refs, k, r.lists)
	if viewed != nil {
		r.viewedLists = slices.Grow(r.viewedLists[:0], len(refs))[:len(refs)]
		viewed.NeighborsRefs(refs, k, r.viewedLists)
	}
	return r.lists
}
