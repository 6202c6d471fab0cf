package trending

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustBoard(t testing.TB, cfg Config) *Board {
	t.Helper()
	b, err := New(cfg, t0)
	if err != nil {
		t.Fatalf("New: expected no error, got %v", err)
	}
	return b
}

func topIDs(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
	}{
		{"a zero half life is rejected", Config{TopK: 10}},
		{"a zero top k is rejected", Config{HalfLife: time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.cfg, t0); err == nil {
				t.Fatalf("expected an error for %+v, got nil", tc.cfg)
			}
		})
	}
}

func TestRecentActivityOutranksOldActivity(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, Config{HalfLife: 24 * time.Hour, TopK: 10})
	// "old" sold 10 units five days ago, "new" 2 units today: 10/32 < 2.
	b.Add(GlobalKey, "old", 10, t0)
	now := t0.Add(5 * 24 * time.Hour)
	b.Add(GlobalKey, "new", 2, now)
	got := b.Top(GlobalKey, 5, now)
	if !slices.Equal(topIDs(got), []string{"new", "old"}) {
		t.Fatalf("expected new before old, got %v", got)
	}
	if math.Abs(got[1].Score-10.0/32) > 1e-9 {
		t.Fatalf("expected old's score decayed to %v, got %v", 10.0/32, got[1].Score)
	}
}

func TestTheResultDoesNotDependOnEventOrder(t *testing.T) {
	t.Parallel()
	type ev struct {
		id string
		w  float64
		at time.Time
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var evs []ev
	for i := range 500 {
		evs = append(evs, ev{fmt.Sprintf("p%d", rng.IntN(40)), float64(1 + rng.IntN(3)), t0.Add(time.Duration(i) * time.Hour)})
	}
	a := mustBoard(t, Config{HalfLife: 48 * time.Hour, TopK: 10})
	b := mustBoard(t, Config{HalfLife: 48 * time.Hour, TopK: 10})
	for _, e := range evs {
		a.Add(GlobalKey, e.id, e.w, e.at)
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for _, e := range evs {
		b.Add(GlobalKey, e.id, e.w, e.at)
	}
	now := t0.Add(600 * time.Hour)
	if x, y := topIDs(a.Top(GlobalKey, 10, now)), topIDs(b.Top(GlobalKey, 10, now)); !slices.Equal(x, y) {
		t.Fatalf("expected the same ranking in any order, got %v and %v", x, y)
	}
}

func TestNegativeWeightsDemoteAndNeverGoBelowZero(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, Config{HalfLife: time.Hour, TopK: 2})
	b.Add("k", "a", 5, t0)
	b.Add("k", "b", 4, t0)
	b.Add("k", "c", 3, t0)
	b.Add("k", "a", -10, t0)
	if got := topIDs(b.Top("k", 2, t0)); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("expected a refunded item to leave the top and c to enter, got %v", got)
	}
	if s := b.Score("k", "a", t0); s != 0 {
		t.Fatalf("expected a's score clamped at zero, got %v", s)
	}
}

func TestDeepReadsBeyondTheCachedTopStillRankEverything(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, Config{HalfLife: time.Hour, TopK: 3})
	for i := range 10 {
		b.Add("k", fmt.Sprintf("p%02d", i), float64(i+1), t0)
	}
	got := topIDs(b.Top("k", 6, t0))
	want := []string{"p09", "p08", "p07", "p06", "p05", "p04"}
	if !slices.Equal(got, want) {
		t.Fatalf("expected %v, got %v", want, got)
	}
	if got := b.Top("missing", 3, t0); got != nil {
		t.Fatalf("expected nil for an unknown key, got %v", got)
	}
}

func TestLongRunningBoardsRebaseWithoutOverflow(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, Config{HalfLife: time.Minute, TopK: 5})
	at := t0
	for range 400 {
		at = at.Add(time.Hour) // 60 half-lives per step: 24,000 in all
		b.Add(GlobalKey, "steady", 1, at)
	}
	b.Add(GlobalKey, "fresh", 2, at)
	got := b.Top(GlobalKey, 2, at)
	if len(got) != 2 || got[0].ID != "fresh" || math.IsInf(got[0].Score, 0) || math.Abs(got[0].Score-2) > 1e-9 {
		t.Fatalf("expected fresh with score 2 on top after many rebases, got %v", got)
	}
}

func TestCategoryKeysCoverEveryLevel(t *testing.T) {
	t.Parallel()
	got := CategoryKeys([]string{"Home", "Kitchen", "Mugs"})
	want := []string{"cat:Home", "cat:Home/Kitchen", "cat:Home/Kitchen/Mugs"}
	if !slices.Equal(got, want) {
		t.Fatalf("expected %v, got %v", want, got)
	}
}

func BenchmarkTop(b *testing.B) {
	bd := mustBoard(b, DefaultConfig())
	for i := range 50_000 {
		bd.Add(GlobalKey, fmt.Sprintf("p%05d", i), float64(i%97), t0)
	}
	b.ReportAllocs()
	for b.Loop() {
		bd.Top(GlobalKey, 50, t0)
	}
}

func TestVisitMatchesTopAndStopsEarly(t *testing.T) {
	t.Parallel()
	b := mustBoard(t, Config{HalfLife: time.Hour, TopK: 3})
	for i := range 6 {
		b.Add("k", fmt.Sprintf("p%d", i), float64(i+1), t0)
	}
	cases := []struct {
		name string
		k    int
		stop int
		want []string
	}{
		{"a shallow visit reads the cached top", 2, 10, []string{"p5", "p4"}},
		{"a deep visit ranks beyond the cache", 5, 10, []string{"p5", "p4", "p3", "p2", "p1"}},
		{"returning false stops the visit", 5, 1, []string{"p5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			b.Visit("k", tc.k, t0.Add(time.Hour), func(e Entry) bool {
				got = append(got, e.ID)
				if math.Abs(e.Score-b.Score("k", e.ID, t0.Add(time.Hour))) > 1e-12 {
					t.Errorf("expected visited scores decayed like Score, got %v", e.Score)
				}
				return len(got) < tc.stop
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("expected %v, got %v", tc.want, got)
			}
		})
	}
}
