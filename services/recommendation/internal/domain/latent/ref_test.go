package latent

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// manyProducts is 60 customers buying a few of 203 products at random: a
// product count that is not a multiple of four, so Top's batched scoring
// has a remainder.
func manyProducts() []Interaction {
	rng := rand.New(rand.NewPCG(7, 7))
	var out []Interaction
	for c := range 60 {
		for range 8 {
			out = append(out, Interaction{Customer: fmt.Sprintf("rc%02d", c), Product: fmt.Sprintf("ref-test-%03d", rng.IntN(203)), Strength: 1 + rng.Float64()})
		}
	}
	return out
}

func TestScoringByCatalogRefAnswersAsScoringByID(t *testing.T) {
	t.Parallel()
	trained, err := Train(context.Background(), testConfig(), manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := trained.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	unknown := catalog.Intern("ref-test-not-in-the-model")
	for name, m := range map[string]*Model{"trained": trained, "restored": restored} {
		user := m.Customer("rc03")
		for i := range m.Products() {
			id := m.Product(i)
			ref, ok := catalog.Lookup(id)
			if !ok {
				t.Fatalf("%s model: product %s was not interned", name, id)
			}
			want, _ := m.Score(user, id)
			got, ok := m.ScoreRef(user, ref)
			if !ok || got != want {
				t.Errorf("%s model: ScoreRef(%s) = %v, %v; expected %v, true", name, id, got, ok, want)
			}
		}
		if s, ok := m.ScoreRef(user, unknown); ok {
			t.Errorf("%s model: ScoreRef of a product it has no vector for = %v, true; expected false", name, s)
		}
	}
}

func TestTopScoresEveryProductAsScoreDoes(t *testing.T) {
	t.Parallel()
	m, err := Train(context.Background(), testConfig(), manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	user := m.Customer("rc05")
	top := m.Top(user, m.Products(), nil)
	if len(top) != m.Products() {
		t.Fatalf("Top(all) returned %d products; expected %d", len(top), m.Products())
	}
	for i, s := range top {
		want, _ := m.Score(user, s.ProductID)
		if s.Score != want {
			t.Errorf("Top's score of %s = %v; expected Score's %v", s.ProductID, s.Score, want)
		}
		if ref, ok := catalog.Lookup(s.ProductID); !ok || s.Ref != ref {
			t.Errorf("Top's ref of %s = %d; expected its catalog ref %d", s.ProductID, s.Ref, ref)
		}
		if i > 0 && top[i-1].Score < s.Score {
			t.Errorf("Top is not best first at %d: %v before %v", i, top[i-1].Score, s.Score)
		}
	}
}

func TestBatchedScoresAreExactlyTheSingleOnes(t *testing.T) {
	t.Parallel()
	m, err := Train(context.Background(), testConfig(), manyProducts())
	if err != nil {
		t.Fatal(err)
	}
	user := m.Customer("rc07")
	unknown := catalog.Intern("ref-test-batched-unknown")
	// Every product, with unknown and invalid refs mixed in at places that
	// break the groups of four, and a count that leaves a remainder.
	var refs []int32
	for i := range m.Products() {
		ref, _ := catalog.Lookup(m.Product(i))
		refs = append(refs, ref)
		if i%7 == 3 {
			refs = append(refs, unknown)
		}
		if i%11 == 5 {
			refs = append(refs, -1)
		}
	}
	for _, n := range []int{0, 1, 3, 4, 5, 9, len(refs)} {
		out, ok := make([]float64, n), make([]bool, n)
		m.ScoreRefs(user, refs[:n], out, ok)
		for i, ref := range refs[:n] {
			want, wantOK := m.ScoreRef(user, ref)
			if out[i] != want || ok[i] != wantOK {
				t.Fatalf("ScoreRefs of %d refs: [%d] = %v, %v; expected ScoreRef's %v, %v", n, i, out[i], ok[i], want, wantOK)
			}
		}
	}
	out, ok := make([]float64, 3), make([]bool, 3)
	m.ScoreRefs(nil, refs[:3], out, ok)
	if ok[0] || ok[1] || ok[2] {
		t.Errorf("ScoreRefs without a customer vector reported scores %v", out)
	}

	// Similarities of one product with many, nil vectors included.
	var vecs [][]float32
	for i := range m.Products() {
		vecs = append(vecs, m.ProductVector(m.Product(i)))
		if i%5 == 2 {
			vecs = append(vecs, nil)
		}
	}
	b := m.ProductVector(m.Product(4))
	for _, n := range []int{0, 2, 4, 6, 11, len(vecs)} {
		for _, with := range [][]float32{b, nil} {
			got := make([]float64, n)
			VectorSimilarities(vecs[:n], with, got)
			for i := range got {
				if want := VectorSimilarity(vecs[i], with); got[i] != want {
					t.Fatalf("VectorSimilarities of %d vectors: [%d] = %v; expected %v", n, i, got[i], want)
				}
			}
		}
	}
}

// top stops its scan by a bound on what the remaining products can score;
// its answer must be the full scan's, ties (by row) included.
func TestTopAnswersAsAFullScanWould(t *testing.T) {
	t.Parallel()
	for _, scan := range []int{0, 150} {
		cfg := testConfig()
		cfg.ScanProducts = scan
		m, err := Train(context.Background(), cfg, manyProducts())
		if err != nil {
			t.Fatal(err)
		}
		n := len(m.products)
		if scan > 0 {
			n = scan
		}
		// A few products share a vector, so that scores tie.
		copy(m.row(7), m.row(3))
		copy(m.row(12), m.row(3))
		m.prepareScan()
		for c := range 60 {
			user := m.Customer(fmt.Sprintf("rc%02d", c))
			for _, drop := range []int{0, 3} {
				keep := func(row int32) bool { return drop == 0 || row%int32(drop) != 0 }
				var all []rowScore
				for row := range int32(n) {
					if keep(row) {
						all = append(all, rowScore{row, dot32(user, m.row(row))})
					}
				}
				slices.SortFunc(all, func(a, b rowScore) int {
					if ranksBefore(a.score, a.row, b) {
						return -1
					}
					return 1
				})
				for _, k := range []int{1, 5, 37, n} {
					want := all[:min(k, len(all))]
					if got := m.top(user, k, keep); !slices.Equal(got, want) {
						t.Fatalf("scan %d, customer %d, drop %d, k %d: top = %v; the full scan gives %v", scan, c, drop, k, got, want)
					}
				}
			}
		}
	}
}
