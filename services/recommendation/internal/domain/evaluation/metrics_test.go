package evaluation

import (
	"math"
	"testing"
)

func set(ids ...string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMetrics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                        string
		rec                         []string
		rel                         map[string]bool
		k                           int
		hit, prec, recall, ndcg, ap float64
	}{
		{"a perfect list scores one everywhere", []string{"a", "b"}, set("a", "b"), 2, 1, 1, 1, 1, 1},
		{"no hits score zero", []string{"x", "y"}, set("a"), 2, 0, 0, 0, 0, 0},
		{"a single hit at rank two", []string{"x", "a", "y"}, set("a"), 3, 1, 1.0 / 3, 1, 1 / math.Log2(3), 0.5},
		{"hits beyond k do not count", []string{"x", "y", "a"}, set("a"), 2, 0, 0, 0, 0, 0},
		{"a short list is penalised in precision", []string{"a"}, set("a", "b"), 4, 1, 0.25, 0.5, 1 / (1 + 1/math.Log2(3)), 0.5},
		{"duplicates count once", []string{"a", "a", "b"}, set("a", "b"), 2, 1, 1, 1, 1, 1},
		{"recall is capped at k findable", []string{"a", "b"}, set("a", "b", "c", "d"), 2, 1, 1, 1, 1, 1},
		{"two hits of three at ranks one and three", []string{"a", "x", "b"}, set("a", "b", "c"), 3, 1, 2.0 / 3, 2.0 / 3,
			(1 + 1/math.Log2(4)) / (1 + 1/math.Log2(3) + 1/math.Log2(4)), (1 + 2.0/3) / 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := []float64{HitRate(tc.rec, tc.rel, tc.k), Precision(tc.rec, tc.rel, tc.k), Recall(tc.rec, tc.rel, tc.k), NDCG(tc.rec, tc.rel, tc.k), AveragePrecision(tc.rec, tc.rel, tc.k)}
			want := []float64{tc.hit, tc.prec, tc.recall, tc.ndcg, tc.ap}
			names := []string{"hit rate", "precision", "recall", "ndcg", "ap"}
			for i := range got {
				if !near(got[i], want[i]) {
					t.Fatalf("%s: expected %v, got %v", names[i], want[i], got[i])
				}
			}
		})
	}
}

func TestAccumulatorAveragesAndMerges(t *testing.T) {
	t.Parallel()
	a := NewAccumulator(2, 10)
	b := NewAccumulator(2, 10)
	a.Add([]string{"a", "b"}, set("a"))
	if counted := b.Add([]string{"c", "d"}, set()); counted {
		t.Fatalf("expected a customer without relevant items to be skipped")
	}
	b.Add([]string{"c", "d"}, set("z"))
	a.Merge(b)
	r := a.Report()
	if r.Customers != 2 || !near(r.HitRate, 0.5) || !near(r.Precision, 0.25) || !near(r.Coverage, 0.4) {
		t.Fatalf("expected 2 customers, hit 0.5, precision 0.25, coverage 0.4; got %+v", r)
	}
	if empty := NewAccumulator(10, 0).Report(); empty.Customers != 0 || empty.HitRate != 0 || empty.Coverage != 0 {
		t.Fatalf("expected a zero report with no customers, got %+v", empty)
	}
}
