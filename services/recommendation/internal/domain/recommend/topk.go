package recommend

import "slices"

// topK returns the k first elements of items in the order cmp defines,
// sorted, reusing items' storage. It partially selects with a bounded
// max-heap (the worst kept element on top), so n candidates cost about n
// comparisons against the heap top instead of a full n log n sort; most
// candidates of a request lose that first comparison.
func topK[T any](items []T, k int, cmp func(a, b T) int) []T {
	h := selectTopK(items, k, cmp)
	slices.SortFunc(h, cmp)
	return h
}

// selectTopK is topK without the final sort: the k first elements of
// items in cmp's order, in no particular order, for a caller that only
// needs the set.
func selectTopK[T any](items []T, k int, cmp func(a, b T) int) []T {
	if k <= 0 {
		return items[:0]
	}
	if len(items) <= k {
		return items
	}
	h := items[:k]
	// Build a heap where h[0] is the worst (the largest by cmp).
	worse := func(i, j int) bool { return cmp(h[i], h[j]) > 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && worse(r, l) {
				m = r
			}
			if !worse(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for i := k; i < len(items); i++ {
		if cmp(items[i], h[0]) < 0 {
			// Swapped, not overwritten: items stays a permutation of its
			// elements, which selectBest relies on.
			h[0], items[i] = items[i], h[0]
			down(0)
		}
	}
	return h
}
