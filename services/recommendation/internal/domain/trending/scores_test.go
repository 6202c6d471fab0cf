package trending

import (
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

func TestScoresIntoMatchesScoreForEveryID(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, DefaultConfig())
	b.Add("all", "a", 3, t0.Add(time.Hour))
	b.Add("all", "b", 1, t0.Add(48*time.Hour))
	b.Add("all", "a", -1, t0.Add(50*time.Hour))
	b.Add("cat:Home", "c", 2, t0)
	now := t0.Add(100 * time.Hour)
	cases := []struct {
		name string
		key  string
		ids  []string
	}{
		{"known and unknown ids of a board read as Score reads them", "all", []string{"a", "b", "c", "missing"}},
		{"every id of an unknown board scores zero", "seg:none", []string{"a", "b"}},
		{"no ids read nothing", "all", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := make([]float64, len(tc.ids))
			for i := range out {
				out[i] = -1 // stale scratch must be overwritten
			}
			b.ScoresInto(tc.key, tc.ids, now, out)
			for i, id := range tc.ids {
				if want := b.Score(tc.key, id, now); out[i] != want {
					t.Errorf("ScoresInto(%q)[%d] (%s): expected %v (Score), got %v", tc.key, i, id, want, out[i])
				}
			}
		})
	}
}

func TestRefScoresIntoMatchesScoreForEveryRef(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, DefaultConfig())
	b.Add("all", "refscore-a", 3, t0.Add(time.Hour))
	b.Add("all", "refscore-b", 1, t0.Add(48*time.Hour))
	b.Add("cat:Home", "refscore-c", 2, t0)
	now := t0.Add(100 * time.Hour)
	ids := []string{"refscore-a", "refscore-b", "refscore-c"}
	refs := make([]int32, len(ids))
	for i, id := range ids {
		refs[i] = catalog.Intern(id)
	}
	for _, key := range []string{"all", "cat:Home", "seg:none"} {
		out := []float64{-1, -1, -1}
		b.RefScoresInto(key, refs, now, out)
		for i, id := range ids {
			if want := b.Score(key, id, now); out[i] != want {
				t.Errorf("RefScoresInto(%q)[%d] (%s): expected %v (Score), got %v", key, i, id, want, out[i])
			}
		}
	}
	for _, e := range b.Top("all", 5, now) {
		if e.Ref != catalog.Intern(e.ID) {
			t.Errorf("expected entry %s to carry ref %d, got %d", e.ID, catalog.Intern(e.ID), e.Ref)
		}
	}
}
