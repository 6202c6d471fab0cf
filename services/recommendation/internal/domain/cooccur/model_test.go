package cooccur

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/catalog"
)

func mustNew(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: expected no error, got %v", err)
	}
	return m
}

func ids(ns []Neighbor) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID()
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Config)
		valid  bool
	}{
		{"the default configuration is valid", func(*Config) {}, true},
		{"lift is a valid measure", func(c *Config) { c.Measure = Lift }, true},
		{"an unknown measure is rejected", func(c *Config) { c.Measure = 7 }, false},
		{"alpha above one is rejected", func(c *Config) { c.Alpha = 1.5 }, false},
		{"negative shrinkage is rejected", func(c *Config) { c.Shrinkage = -1 }, false},
		{"a basket cap below two is rejected", func(c *Config) { c.MaxBasket = 1 }, false},
		{"a pair cap below top k is rejected", func(c *Config) { c.MaxPairsPerItem = 10; c.TopK = 20 }, false},
		{"an unbounded pair cap is accepted", func(c *Config) { c.MaxPairsPerItem = 0 }, true},
		{"a top k of zero is rejected", func(c *Config) { c.TopK = 0 }, false},
		{"a NaN history weight is rejected", func(c *Config) { c.HistoryWeight = math.NaN() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.valid {
				t.Fatalf("expected valid=%v, got error %v", tc.valid, err)
			}
		})
	}
}

func TestNeighborsRankCoPurchasesAndDampPopularity(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Shrinkage = 0
	m := mustNew(t, cfg)
	// "pasta" and "sauce" are bought together 5 times; "milk" is in every
	// basket (a bestseller) and co-occurs with pasta 6 times, but also alone
	// 94 times. Raw counts would rank milk first; cosine must not.
	for range 5 {
		m.Observe([]string{"pasta", "sauce", "milk"}, nil, 1)
	}
	m.Observe([]string{"pasta", "milk"}, nil, 1)
	for range 94 {
		m.Observe([]string{"milk"}, nil, 1)
	}
	got := ids(m.Neighbors("pasta", 10))
	want := []string{"sauce", "milk"}
	if !slices.Equal(got, want) {
		t.Fatalf("neighbours of pasta: expected %v, got %v", want, got)
	}
}

func TestObserveIsSymmetricAndDeduplicatesBasketItems(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	m.Observe([]string{"a", "b", "a", ""}, nil, 1)
	m.Observe([]string{"b", "a"}, nil, 1)
	if ab, ba := m.Score("a", "b"), m.Score("b", "a"); ab <= 0 || ab != ba {
		t.Fatalf("expected equal positive scores both ways, got a->b %v, b->a %v", ab, ba)
	}
	if got := m.Count("a"); got != 2 {
		t.Fatalf("expected a counted in 2 baskets, got %v", got)
	}
	if got := m.Count(""); got != 0 {
		t.Fatalf("expected the empty id to be ignored, got count %v", got)
	}
}

func TestHistoryPairsAreWeakerThanBasketPairs(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.HistoryWeight = 0.5
	m := mustNew(t, cfg)
	for range 4 {
		m.Observe([]string{"tent", "pegs"}, nil, 1)
		m.Observe([]string{"tent"}, []string{"lamp"}, 1)
		m.Observe([]string{"lamp"}, nil, 1)
	}
	ns := m.Neighbors("tent", 5)
	if got := ids(ns); !slices.Equal(got, []string{"pegs", "lamp"}) {
		t.Fatalf("expected pegs (same basket) before lamp (earlier order), got %v", got)
	}
	if ns[1].History != 4 || ns[1].Basket != 0 {
		t.Fatalf("expected lamp to carry 4 history and 0 basket counts, got %+v", ns[1])
	}
}

func TestNegativeObserveTakesAnOrderBack(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	m.Observe([]string{"a", "b"}, nil, 1)
	m.Observe([]string{"a", "b"}, nil, 1)
	m.Observe([]string{"a", "b"}, nil, -1)
	m.Observe([]string{"a", "b"}, nil, -1)
	m.Observe([]string{"a", "b"}, nil, -1)
	if got := m.Neighbors("a", 5); len(got) != 0 {
		t.Fatalf("expected no neighbours after every order was taken back, got %v", got)
	}
	if got := m.Count("a"); got != 0 {
		t.Fatalf("expected counts clamped at zero, got %v", got)
	}
	if s := m.Stats(); s.Pairs != 0 || s.Baskets != 0 {
		t.Fatalf("expected an empty model, got %+v", s)
	}
}

func TestMinCountHidesSingleCoincidences(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MinCount = 2
	m := mustNew(t, cfg)
	m.Observe([]string{"a", "b"}, nil, 1)
	if got := m.Neighbors("a", 5); len(got) != 0 {
		t.Fatalf("expected a single co-purchase to be below min count, got %v", got)
	}
	m.Observe([]string{"a", "b"}, nil, 1)
	if got := ids(m.Neighbors("a", 5)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("expected b after two co-purchases, got %v", got)
	}
}

func TestLiftPrefersSpecificPairs(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Measure = Lift
	cfg.Shrinkage = 0
	m := mustNew(t, cfg)
	for range 3 {
		m.Observe([]string{"x", "rare"}, nil, 1)
	}
	for range 10 {
		m.Observe([]string{"x", "common"}, nil, 1)
	}
	for range 90 {
		m.Observe([]string{"common"}, nil, 1)
	}
	if got := ids(m.Neighbors("x", 5)); !slices.Equal(got, []string{"rare", "common"}) {
		t.Fatalf("expected lift to rank rare before common, got %v", got)
	}
}

func TestNeighborsTieBreakByIDAndRespectK(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	for _, o := range []string{"d", "b", "c", "e"} {
		m.Observe([]string{"a", o}, nil, 1)
	}
	if got := ids(m.Neighbors("a", 3)); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("expected ties ordered by id and cut at 3, got %v", got)
	}
	if got := m.Neighbors("a", 0); got != nil {
		t.Fatalf("expected nil for k=0, got %v", got)
	}
	if got := m.Neighbors("unknown", 3); got != nil {
		t.Fatalf("expected nil for an unknown item, got %v", got)
	}
}

func TestNewOrdersChangeTheNextAnswer(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	m.Observe([]string{"a", "b"}, nil, 1)
	before := ids(m.Neighbors("a", 5))
	for range 3 {
		m.Observe([]string{"a", "c"}, nil, 1)
	}
	after := ids(m.Neighbors("a", 5))
	if slices.Equal(before, after) || after[0] != "c" {
		t.Fatalf("expected c to lead after three new orders, before %v after %v", before, after)
	}
}

func TestMaxPairsPerItemBoundsMemoryAndKeepsStrongPairs(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.TopK = 5
	cfg.MaxPairsPerItem = 20
	m := mustNew(t, cfg)
	for range 5 {
		m.Observe([]string{"hub", "strong"}, nil, 1)
	}
	for i := range 200 {
		m.Observe([]string{"hub", fmt.Sprintf("weak%03d", i)}, nil, 1)
	}
	m.mu.RLock()
	n := len(m.rows[m.index["hub"]].pairs)
	m.mu.RUnlock()
	if n > cfg.MaxPairsPerItem {
		t.Fatalf("expected at most %d pairs for hub, got %d", cfg.MaxPairsPerItem, n)
	}
	if got := m.Neighbors("hub", 1); len(got) != 1 || got[0].ID() != "strong" {
		t.Fatalf("expected the strong pair to survive pruning, got %v", got)
	}
}

func TestLargeBasketsArePairedBoundedly(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxBasket = 10
	m := mustNew(t, cfg)
	basket := make([]string, 500)
	for i := range basket {
		basket[i] = fmt.Sprintf("i%03d", i)
	}
	m.Observe(basket, nil, 1)
	if s := m.Stats(); s.Items != 10 || s.Pairs != 90 {
		t.Fatalf("expected 10 items and 90 directed pairs, got %+v", s)
	}
}

func TestSnapshotRestoreServesTheSameAnswers(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + rng.IntN(5)
		b := make([]string, n)
		for i := range b {
			b[i] = fmt.Sprintf("p%d", rng.IntN(200))
		}
		m.Observe(b, []string{fmt.Sprintf("p%d", rng.IntN(200))}, 1)
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatalf("Snapshot: expected no error, got %v", err)
	}
	r, err := Restore(bytes.NewReader(buf.Bytes()), DefaultConfig())
	if err != nil {
		t.Fatalf("Restore: expected no error, got %v", err)
	}
	if ms, rs := m.Stats(), r.Stats(); ms != rs {
		t.Fatalf("expected stats %+v after restore, got %+v", ms, rs)
	}
	for i := range 200 {
		id := fmt.Sprintf("p%d", i)
		if a, b := m.Neighbors(id, 20), r.Neighbors(id, 20); !slices.Equal(a, b) {
			t.Fatalf("neighbours of %s: expected %v, got %v", id, a, b)
		}
	}
	var again bytes.Buffer
	if err := r.Snapshot(&again); err != nil {
		t.Fatalf("second Snapshot: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("expected a restored model to snapshot to identical bytes (%d vs %d)", buf.Len(), again.Len())
	}
}

func TestRestoreRejectsDamagedSnapshots(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	m.Observe([]string{"a", "b", "c"}, []string{"d"}, 1)
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	cases := []struct {
		name string
		data []byte
	}{
		{"empty input", nil},
		{"wrong magic", append([]byte("NOPE"), good[4:]...)},
		{"unknown version", append([]byte("AFCO\x09"), good[5:]...)},
		{"truncated body", good[:len(good)-9]},
		{"missing checksum", good[:len(good)-4]},
		{"a flipped bit", flipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Restore(bytes.NewReader(tc.data), DefaultConfig())
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("expected ErrCorruptSnapshot, got %v", err)
			}
		})
	}
}

func FuzzRestore(f *testing.F) {
	m, _ := New(DefaultConfig())
	m.Observe([]string{"a", "b", "c"}, []string{"d", "e"}, 1)
	var buf bytes.Buffer
	_ = m.Snapshot(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("AFCO\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Restore(bytes.NewReader(data), DefaultConfig())
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("expected only ErrCorruptSnapshot, got %v", err)
			}
			return
		}
		// Whatever was accepted must serve and round-trip.
		var out bytes.Buffer
		if err := r.Snapshot(&out); err != nil {
			t.Fatalf("snapshot of a restored model failed: %v", err)
		}
		for _, id := range r.ids {
			for _, n := range r.Neighbors(id, 10) {
				if n.Score <= 0 || math.IsNaN(n.Score) || math.IsInf(n.Score, 0) {
					t.Fatalf("neighbour %+v of %q has an invalid score", n, id)
				}
			}
		}
	})
}

func FuzzObserve(f *testing.F) {
	f.Add("a,b,c", "d", 1.0)
	f.Add("a,a,,b", "a,b", -1.0)
	f.Fuzz(func(t *testing.T, basket, history string, weight float64) {
		m, _ := New(DefaultConfig())
		split := func(s string) []string {
			var out []string
			start := 0
			for i := 0; i <= len(s); i++ {
				if i == len(s) || s[i] == ',' {
					out = append(out, s[start:i])
					start = i + 1
				}
			}
			return out
		}
		m.Observe(split(basket), split(history), weight)
		m.Observe(split(basket), nil, 1)
		for _, id := range m.ids {
			if m.Count(id) < 0 {
				t.Fatalf("negative count for %q", id)
			}
			for _, n := range m.Neighbors(id, 10) {
				if n.ID() == id {
					t.Fatalf("item %q is its own neighbour", id)
				}
				if math.IsNaN(n.Score) || n.Score <= 0 {
					t.Fatalf("invalid score %v", n.Score)
				}
			}
		}
	})
}

func TestConcurrentObserveAndServeAreSafe(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			m.Observe([]string{fmt.Sprintf("p%d", i%30), fmt.Sprintf("p%d", (i*7)%30)}, []string{fmt.Sprintf("p%d", (i*3)%30)}, 1)
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			// After the writer stops, every answer must be well-formed.
			for j := range 30 {
				for _, n := range m.Neighbors(fmt.Sprintf("p%d", j), 10) {
					if n.Score <= 0 {
						t.Fatalf("invalid neighbour %+v", n)
					}
				}
			}
			return
		default:
			_ = m.Neighbors(fmt.Sprintf("p%d", i%30), 10)
			_ = m.Score("p1", "p2")
			if i%100 == 0 {
				m.Refresh()
			}
		}
	}
}

func TestNeighborsCarryInternedRefsAndFollowRefresh(t *testing.T) {
	t.Parallel()
	m := mustNew(t, DefaultConfig())
	m.Observe([]string{"ref-a", "ref-b"}, nil, 1)
	m.Observe([]string{"ref-a", "ref-c"}, nil, 1)
	m.Observe([]string{"ref-a", "ref-c"}, nil, 1)
	for _, n := range m.Neighbors("ref-a", 5) {
		if want := catalog.Intern(n.ID()); n.Ref != want {
			t.Fatalf("expected neighbour %s to carry ref %d, got %d", n.ID(), want, n.Ref)
		}
	}
	before := m.Neighbors("ref-b", 5)
	// An order that does not touch ref-b leaves its ranked list alone; a
	// Refresh re-ranks it with the new popularity of its neighbours.
	for range 20 {
		m.Observe([]string{"ref-a", "ref-d"}, nil, 1)
	}
	if got := m.Neighbors("ref-b", 5); &got[0] != &before[0] {
		t.Fatalf("expected ref-b's list to be kept when no order touched it")
	}
	m.Refresh()
	after := m.Neighbors("ref-b", 5)
	if !(after[0].Score < before[0].Score) {
		t.Fatalf("expected ref-a's higher popularity to lower its score after a refresh, before %v after %v", before[0].Score, after[0].Score)
	}
}

func TestRankAllRanksWhatNeighborsWouldRank(t *testing.T) {
	t.Parallel()
	lazy := mustNew(t, DefaultConfig())
	eager := mustNew(t, DefaultConfig())
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		basket := []string{fmt.Sprintf("rankall-%d", rng.IntN(600)), fmt.Sprintf("rankall-%d", rng.IntN(600)), fmt.Sprintf("rankall-%d", rng.IntN(40))}
		lazy.Observe(basket, nil, 1)
		eager.Observe(basket, nil, 1)
	}
	eager.RankAll(context.Background())
	for i := range 600 {
		id := fmt.Sprintf("rankall-%d", i)
		r := eager.rows[eager.index[id]]
		if f := r.ranked.Load(); f == nil {
			t.Fatalf("expected %s ranked by RankAll", id)
		}
		if got, want := eager.Neighbors(id, 20), lazy.Neighbors(id, 20); !slices.Equal(got, want) {
			t.Fatalf("expected %s's neighbours ranked eagerly to equal the lazy ones %v, got %v", id, want, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := mustNew(t, DefaultConfig())
	stopped.Observe([]string{"rankall-x", "rankall-y"}, nil, 1)
	stopped.RankAll(ctx)
	if f := stopped.rows[stopped.index["rankall-x"]].ranked.Load(); f != nil {
		t.Fatalf("expected a cancelled RankAll to rank nothing, got %v", f.top)
	}
}
