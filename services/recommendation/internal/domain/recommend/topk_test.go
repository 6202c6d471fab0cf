package recommend

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTopKMatchesAFullSort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n, k int
	}{
		{"k smaller than n selects the best k", 1000, 10},
		{"k equal to n sorts everything", 50, 50},
		{"k larger than n sorts everything", 5, 10},
		{"k of zero selects nothing", 20, 0},
		{"many ties are broken consistently", 300, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.k)))
			items := make([]int, tc.n)
			for i := range items {
				items[i] = rng.IntN(tc.n/3 + 1)
			}
			want := slices.Clone(items)
			slices.SortFunc(want, func(a, b int) int { return cmp.Compare(b, a) })
			want = want[:min(tc.k, len(want))]
			got := topK(items, tc.k, func(a, b int) int { return cmp.Compare(b, a) })
			if !slices.Equal(got, want) {
				t.Fatalf("expected %v, got %v", want, got)
			}
		})
	}
}
