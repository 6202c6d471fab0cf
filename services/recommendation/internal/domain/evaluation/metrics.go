// Package evaluation holds the offline ranking metrics the evaluation
// command reports per strategy on a time split (hit rate, precision, recall,
// NDCG, MAP at k, catalog coverage). They are pure functions of a ranked list
// and the set of items the customer actually bought in the test period, so
// the same code scores our strategies, the popularity baseline and any
// external recommender's output.
//
// Conventions (stated because libraries differ): duplicates in a ranked list
// count once, at their first position; precision divides by k even when
// fewer than k items were recommended (an empty slot is a miss); recall and
// AP divide by min(k, |relevant|), so a perfect list scores 1 even when the
// customer bought more than k items; customers with nothing relevant are
// skipped by the Accumulator because no list can score on them.
package evaluation

import (
	"math"
	"slices"
)

// hits returns, for each of the first k distinct recommended items, whether
// it is relevant.
func hits(recommended []string, relevant map[string]bool, k int) []bool {
	out := make([]bool, 0, k)
	seen := make(map[string]bool, k)
	for _, id := range recommended {
		if len(out) == k {
			break
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, relevant[id])
	}
	return out
}

// HitRate is 1 if any of the top k is relevant, else 0.
func HitRate(recommended []string, relevant map[string]bool, k int) float64 {
	if slices.Contains(hits(recommended, relevant, k), true) {
		return 1
	}
	return 0
}

// Precision is the share of the k slots holding a relevant item.
func Precision(recommended []string, relevant map[string]bool, k int) float64 {
	if k <= 0 {
		return 0
	}
	n := 0
	for _, h := range hits(recommended, relevant, k) {
		if h {
			n++
		}
	}
	return float64(n) / float64(k)
}

// Recall is the share of relevant items found in the top k, out of at most
// k findable.
func Recall(recommended []string, relevant map[string]bool, k int) float64 {
	d := min(k, len(relevant))
	if d <= 0 {
		return 0
	}
	n := 0
	for _, h := range hits(recommended, relevant, k) {
		if h {
			n++
		}
	}
	return float64(n) / float64(d)
}

// NDCG is the normalized discounted cumulative gain with binary relevance:
// a hit at rank i (from 1) gains 1/log2(i+1), divided by the gain of the
// ideal list.
func NDCG(recommended []string, relevant map[string]bool, k int) float64 {
	var dcg, ideal float64
	for i, h := range hits(recommended, relevant, k) {
		if h {
			dcg += 1 / math.Log2(float64(i+2))
		}
	}
	for i := range min(k, len(relevant)) {
		ideal += 1 / math.Log2(float64(i+2))
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

// AveragePrecision is the mean of precision at each hit's rank, divided by
// min(k, |relevant|); MAP is its mean over customers.
func AveragePrecision(recommended []string, relevant map[string]bool, k int) float64 {
	d := min(k, len(relevant))
	if d <= 0 {
		return 0
	}
	var sum float64
	n := 0
	for i, h := range hits(recommended, relevant, k) {
		if h {
			n++
			sum += float64(n) / float64(i+1)
		}
	}
	return sum / float64(d)
}

// Report is the aggregate of one strategy over a test set.
type Report struct {
	K         int
	Customers int
	HitRate   float64
	Precision float64
	Recall    float64
	NDCG      float64
	MAP       float64
	// Coverage is the share of the catalog that appeared in at least one
	// top-k list: a recommender that shows everyone the same ten items
	// scores near zero however accurate it is.
	Coverage float64
}

// Accumulator sums metrics over customers. It is not safe for concurrent
// use; run one per worker and Merge them.
type Accumulator struct {
	k           int
	catalogSize int
	n           int
	hit, prec   float64
	rec, ndcg   float64
	ap          float64
	shown       map[string]bool
}

// NewAccumulator evaluates at k against a catalog of catalogSize items.
func NewAccumulator(k, catalogSize int) *Accumulator {
	return &Accumulator{k: k, catalogSize: catalogSize, shown: make(map[string]bool)}
}

// Add scores one customer's list. Customers with no relevant items are
// skipped (see the package doc); Add reports whether it counted.
func (a *Accumulator) Add(recommended []string, relevant map[string]bool) bool {
	if len(relevant) == 0 {
		return false
	}
	a.n++
	a.hit += HitRate(recommended, relevant, a.k)
	a.prec += Precision(recommended, relevant, a.k)
	a.rec += Recall(recommended, relevant, a.k)
	a.ndcg += NDCG(recommended, relevant, a.k)
	a.ap += AveragePrecision(recommended, relevant, a.k)
	for i, id := range recommended {
		if i == a.k {
			break
		}
		a.shown[id] = true
	}
	return true
}

// Merge folds another accumulator (same k and catalog) into a.
func (a *Accumulator) Merge(b *Accumulator) {
	a.n += b.n
	a.hit += b.hit
	a.prec += b.prec
	a.rec += b.rec
	a.ndcg += b.ndcg
	a.ap += b.ap
	for id := range b.shown {
		a.shown[id] = true
	}
}

// Report returns the means.
func (a *Accumulator) Report() Report {
	r := Report{K: a.k, Customers: a.n}
	if a.catalogSize > 0 {
		r.Coverage = math.Min(1, float64(len(a.shown))/float64(a.catalogSize))
	}
	if a.n == 0 {
		return r
	}
	n := float64(a.n)
	r.HitRate, r.Precision, r.Recall, r.NDCG, r.MAP = a.hit/n, a.prec/n, a.rec/n, a.ndcg/n, a.ap/n
	return r
}
