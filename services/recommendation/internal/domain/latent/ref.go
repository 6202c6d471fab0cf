package latent

import (
	"slices"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

// indexRefs builds rowOf. Every product of the model is interned here, so
// a ref assigned later is one the model has no vector for, and ScoreRef
// answers exactly what Score answers for the ref's id.
func (m *Model) indexRefs() {
	refs := make([]int32, len(m.products))
	n := int32(0)
	for i, id := range m.products {
		refs[i] = catalog.Intern(id)
		n = max(n, refs[i]+1)
	}
	m.rowOf = make([]int32, n)
	for i := range m.rowOf {
		m.rowOf[i] = -1
	}
	for i, ref := range refs {
		m.rowOf[ref] = int32(i)
	}
	m.refOf = refs
}

// ScoreRef is Score for a product by catalog ref (catalog.Intern or
// catalog.Lookup): the serving path's per-candidate call, which already
// holds refs.
func (m *Model) ScoreRef(user []float32, ref int32) (float64, bool) {
	if user == nil || ref < 0 || int(ref) >= len(m.rowOf) {
		return 0, false
	}
	i := m.rowOf[ref]
	if i < 0 {
		return 0, false
	}
	return float64(dot32(user, m.row(i))), true
}

// ScoreRefs sets out[i] to ScoreRef(user, refs[i]) (0 for a product the
// model does not know) and ok[i] to whether it knows it, for the serving
// path's candidates: the same numbers as one call per product, about
// three times as fast, since four products' sums, each a chain of
// dependent additions, run side by side (dot32x4). out and ok must be at
// least as long as refs.
func (m *Model) ScoreRefs(user []float32, refs []int32, out []float64, ok []bool) {
	var rows [4][]float32
	var at [4]int
	n := 0
	flush := func() {
		switch n {
		case 4:
			s := dot32x4(user, rows[0], rows[1], rows[2], rows[3])
			for j := range 4 {
				out[at[j]] = float64(s[j])
			}
		default:
			for j := range n {
				out[at[j]] = float64(dot32(user, rows[j]))
			}
		}
		n = 0
	}
	for i, ref := range refs {
		out[i], ok[i] = 0, false
		if user == nil || ref < 0 || int(ref) >= len(m.rowOf) || m.rowOf[ref] < 0 {
			continue
		}
		rows[n], at[n], ok[i] = m.row(m.rowOf[ref]), i, true
		if n++; n == 4 {
			flush()
		}
	}
	flush()
}

// ProductVector returns a product's vector (nil for a product the model
// does not know), shared and read-only, for a caller comparing one product
// with many (VectorSimilarity) without looking its id up each time.
func (m *Model) ProductVector(id string) []float32 {
	i, ok := m.index[id]
	if !ok {
		return nil
	}
	return m.row(i)
}

// ProductVectorRef is ProductVector by catalog ref.
func (m *Model) ProductVectorRef(ref int32) []float32 {
	if ref < 0 || int(ref) >= len(m.rowOf) || m.rowOf[ref] < 0 {
		return nil
	}
	return m.row(m.rowOf[ref])
}

// VectorSimilarity is Similarity of two products by their vectors
// (ProductVector): 0 when either is nil, the same number otherwise.
func VectorSimilarity(a, b []float32) float64 {
	if a == nil || b == nil {
		return 0
	}
	return float64(dot32(a, b))
}

// VectorSimilarities sets out[i] to VectorSimilarity(as[i], b) for each
// of as: the same numbers, with four of the sums side by side (see
// ScoreRefs). out must be at least as long as as.
func VectorSimilarities(as [][]float32, b []float32, out []float64) {
	i := 0
	if b != nil {
		for ; i+4 <= len(as); i += 4 {
			if as[i] == nil || as[i+1] == nil || as[i+2] == nil || as[i+3] == nil {
				for j := i; j < i+4; j++ {
					out[j] = VectorSimilarity(as[j], b)
				}
				continue
			}
			s := dot32x4(b, as[i], as[i+1], as[i+2], as[i+3])
			for j := range 4 {
				out[i+j] = float64(s[j])
			}
		}
	}
	if rest := len(as) - i; b != nil && rest > 1 && !slices.ContainsFunc(as[i:], func(v []float32) bool { return v == nil }) {
		// Two or three left: one more batch, the last vector standing in
		// for the missing ones, costs about what one sum alone does.
		last := as[len(as)-1]
		s := dot32x4(b, as[i], as[min(i+1, len(as)-1)], as[min(i+2, len(as)-1)], last)
		for j := range rest {
			out[i+j] = float64(s[j])
		}
		return
	}
	for ; i < len(as); i++ {
		out[i] = VectorSimilarity(as[i], b)
	}
}
