package latent

import "github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"

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

// VectorSimilarity is Similarity of two products by their vectors
// (ProductVector): 0 when either is nil, the same number otherwise.
func VectorSimilarity(a, b []float32) float64 {
	if a == nil || b == nil {
		return 0
	}
	return float64(dot32(a, b))
}
