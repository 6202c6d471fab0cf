package evaluation

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2011, 10, 1, 0, 0, 0, 0, time.UTC)

func TestTimeSplitAndGroundTruth(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	ps := []Purchase{
		{"alice", "mug", "o1", t0.Add(-3 * day)},
		{"alice", "tea", "o1", t0.Add(-3 * day)},
		{"bob", "spade", "o2", t0.Add(-day)},
		{"alice", "mug", "o3", t0},          // a repeat: not discovery
		{"alice", "teapot", "o3", t0},       // new: relevant
		{"bob", "spade", "o4", t0.Add(day)}, // only repeats: bob dropped
		{"carol", "mug", "o5", t0.Add(day)}, // cold start: dropped
	}
	train, test := TimeSplit(ps, t0)
	if len(train) != 3 || len(test) != 4 {
		t.Fatalf("expected 3 train and 4 test lines, got %d and %d", len(train), len(test))
	}
	truth := GroundTruth(train, test)
	if len(truth) != 1 || !truth["alice"]["teapot"] || truth["alice"]["mug"] {
		t.Fatalf("expected only alice with teapot, got %v", truth)
	}
}

func TestBasketsGroupByOrderInTimeOrder(t *testing.T) {
	t.Parallel()
	ps := []Purchase{
		{"a", "x", "late", t0.Add(time.Hour)},
		{"a", "y", "early", t0},
		{"a", "z", "early", t0},
		{"a", "y", "early", t0},
		{"a", "w", "late", t0.Add(time.Hour)},
	}
	got := Baskets(ps)
	if len(got) != 2 || !slices.Equal(got[0], []string{"y", "z"}) || !slices.Equal(got[1], []string{"x", "w"}) {
		t.Fatalf("expected [[y z] [x w]], got %v", got)
	}
}
