package cooccur

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

func TestNeighborsByRefEqualNeighborsByIDAlsoAfterARestore(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprintf("nref-%d", i)
	}
	for i := range 200 {
		m.Observe([]string{ids[i%30], ids[(i*7+3)%30], ids[(i*11+5)%30]}, nil, 1)
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	restored, err := Restore(&buf, DefaultConfig())
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for name, model := range map[string]*Model{"built": m, "restored": restored} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, id := range ids {
				ref, ok := catalog.Lookup(id)
				if !ok {
					t.Fatalf("%s is in the model but not interned", id)
				}
				want, got := model.Neighbors(id, 10), model.NeighborsRef(ref, 10)
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("NeighborsRef(%s) = %v, want Neighbors' %v (non-empty)", id, got, want)
				}
			}
			if got := model.NeighborsRef(-1, 10); got != nil {
				t.Errorf("NeighborsRef(-1) = %v, want nil", got)
			}
			other := catalog.Intern("nref-not-in-the-model")
			if got := model.NeighborsRef(other, 10); got != nil {
				t.Errorf("NeighborsRef of a product outside the model = %v, want nil", got)
			}
		})
	}
}

func TestRerankRankedRefreshesOnlyTheListsRequestsRead(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	lazy := mustNew(t, DefaultConfig())
	for i := range 300 {
		basket := []string{fmt.Sprintf("rerank-%d", i%20), fmt.Sprintf("rerank-%d", (i*7+1)%20)}
		m.Observe(basket, nil, 1)
		lazy.Observe(basket, nil, 1)
	}
	read := m.Neighbors("rerank-1", 10) // ranked on first use
	m.Observe([]string{"rerank-1", "rerank-19"}, nil, 5)
	lazy.Observe([]string{"rerank-1", "rerank-19"}, nil, 5)
	m.Refresh()
	m.RerankRanked(context.Background())
	row := func(id string) *row { return m.rows[m.index[id]] }
	f := row("rerank-1").ranked.Load()
	if f == nil || f.at < row("rerank-1").dirtiedAt {
		t.Fatalf("rerank-1's list (read before) is stale after RerankRanked: %+v", f)
	}
	if got, want := f.top[:min(10, len(f.top))], lazy.Neighbors("rerank-1", 10); !slices.Equal(got, want) {
		t.Errorf("rerank-1's re-ranked list = %v, want the lazily ranked %v (before the new basket: %v)", got, want, read)
	}
	if f := row("rerank-2").ranked.Load(); f != nil {
		t.Errorf("rerank-2's list was never read but RerankRanked ranked it: %v", f.top)
	}
}

func TestNeighborsRefsReadsWhatNeighborsRefReadsForEachProduct(t *testing.T) {
	t.Parallel()
	m, names := buildSynthetic(t, 500, 3000)
	// A product just touched by an order is re-ranked by the batch read.
	m.Observe([]string{names[0], names[7]}, nil, 1)
	refs := []int32{catalog.Intern(names[0]), -1, catalog.Intern(names[3]), catalog.Intern("nrefs-never-ordered"), 1 << 30, catalog.Intern(names[0])}
	out := make([][]Neighbor, len(refs))
	for i := range out {
		out[i] = []Neighbor{{Ref: 99}} // stale scratch, to be overwritten
	}
	m.NeighborsRefs(refs, 5, out)
	for i, ref := range refs {
		if want := m.NeighborsRef(ref, 5); !slices.Equal(out[i], want) {
			t.Errorf("refs[%d] = %d: expected %v, got %v", i, ref, want, out[i])
		}
	}
	if len(out[0]) != 5 || out[1] != nil || out[3] != nil || out[4] != nil {
		t.Errorf("expected 5 neighbours for a known product and nil for unknown refs, got %v", out)
	}
	m.NeighborsRefs(refs, 0, out)
	for i, ns := range out {
		if ns != nil {
			t.Errorf("k = 0: expected no lists, got %v at %d", ns, i)
		}
	}
}
