package rfm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestScoresOnAHandCheckedPopulation(t *testing.T) {
	t.Parallel()
	// Ten customers; with n=10 each pair of ranks forms one quintile.
	pop := []Customer{
		{ID: "a", RecencyDays: 1, Frequency: 20, Monetary: 900_00},   // best everywhere
		{ID: "b", RecencyDays: 2, Frequency: 15, Monetary: 800_00},   // best everywhere
		{ID: "c", RecencyDays: 3, Frequency: 1, Monetary: 10_00},     // recent, one small order
		{ID: "d", RecencyDays: 10, Frequency: 1, Monetary: 15_00},    // recent-ish, one order
		{ID: "e", RecencyDays: 30, Frequency: 5, Monetary: 200_00},   // middle
		{ID: "f", RecencyDays: 40, Frequency: 6, Monetary: 250_00},   // middle
		{ID: "g", RecencyDays: 200, Frequency: 12, Monetary: 700_00}, // used to be great
		{ID: "h", RecencyDays: 300, Frequency: 10, Monetary: 600_00}, // used to be great
		{ID: "i", RecencyDays: 400, Frequency: 2, Monetary: 20_00},   // gone
		{ID: "j", RecencyDays: 500, Frequency: 3, Monetary: 30_00},   // gone
	}
	want := map[string]Score{
		"a": {R: 5, F: 5, M: 5, Group: Champions},
		"b": {R: 5, F: 5, M: 5, Group: Champions},
		"c": {R: 4, F: 1, M: 1, Group: Promising},
		"d": {R: 4, F: 1, M: 1, Group: Promising},
		"e": {R: 3, F: 3, M: 3, Group: NeedAttention},
		"f": {R: 3, F: 3, M: 3, Group: NeedAttention},
		"g": {R: 2, F: 4, M: 4, Group: AtRisk},
		"h": {R: 2, F: 4, M: 4, Group: AtRisk},
		"i": {R: 1, F: 2, M: 2, Group: Lost},
		"j": {R: 1, F: 2, M: 2, Group: Lost},
	}
	// Frequencies 1,1 are tied at rank 0 -> F=1; 2 and 3 are ranks 2,3 -> F=2.
	got, err := Scores(pop)
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("customer %s: expected %+v, got %+v", id, w, got[id])
		}
	}
}

func TestTiedCustomersAlwaysShareAScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pop  []Customer
	}{
		{"everyone identical", []Customer{{ID: "a", RecencyDays: 5, Frequency: 2, Monetary: 10}, {ID: "b", RecencyDays: 5, Frequency: 2, Monetary: 10}, {ID: "c", RecencyDays: 5, Frequency: 2, Monetary: 10}}},
		{"two tied among others", []Customer{{ID: "a", RecencyDays: 1, Frequency: 9, Monetary: 99}, {ID: "b", RecencyDays: 7, Frequency: 3, Monetary: 50}, {ID: "c", RecencyDays: 7, Frequency: 3, Monetary: 50}, {ID: "d", RecencyDays: 90, Frequency: 1, Monetary: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Scores(tt.pop)
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			for i, a := range tt.pop {
				for _, b := range tt.pop[i+1:] {
					if a.RecencyDays == b.RecencyDays && a.Frequency == b.Frequency && a.Monetary == b.Monetary && got[a.ID] != got[b.ID] {
						t.Errorf("expected %s and %s to share a score, got %v and %v", a.ID, b.ID, got[a.ID], got[b.ID])
					}
				}
			}
		})
	}
}

func TestScoresAgreeWithTheSQLRankFormulaComputedNaively(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pop := make([]Customer, 503)
	for i := range pop {
		pop[i] = Customer{ID: fmt.Sprint(i), RecencyDays: rng.IntN(400), Frequency: 1 + rng.IntN(12), Monetary: rng.Int64N(100_000)}
	}
	got, err := Scores(pop)
	if err != nil {
		t.Fatalf("expected no error, got %v", err)
	}
	n := len(pop)
	for _, c := range pop {
		// rank() - 1 = number of rows strictly before in the ORDER BY.
		var wr, wf, wm int
		for _, o := range pop {
			if o.RecencyDays > c.RecencyDays {
				wr++
			}
			if o.Frequency < c.Frequency {
				wf++
			}
			if o.Monetary < c.Monetary {
				wm++
			}
		}
		want := Score{R: 1 + 5*wr/n, F: 1 + 5*wf/n, M: 1 + 5*wm/n}
		want.Group = GroupFor(want.R, want.FM())
		if got[c.ID] != want {
			t.Fatalf("customer %s: expected %+v, got %+v", c.ID, want, got[c.ID])
		}
	}
}

func TestInvalidPopulationsAreRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pop  []Customer
	}{
		{"negative recency", []Customer{{ID: "a", RecencyDays: -1, Frequency: 1, Monetary: 1}}},
		{"negative spend", []Customer{{ID: "a", RecencyDays: 1, Frequency: 1, Monetary: -1}}},
		{"empty id", []Customer{{RecencyDays: 1, Frequency: 1, Monetary: 1}}},
		{"duplicate id", []Customer{{ID: "a", Frequency: 1}, {ID: "a", Frequency: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Scores(tt.pop); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("expected ErrInvalidInput, got %v", err)
			}
		})
	}
}

func TestEveryCellOfTheGroupTableIsNamedAndEveryGroupIsReachable(t *testing.T) {
	t.Parallel()
	reached := map[Group]bool{}
	for r := 1; r <= 5; r++ {
		for fm := 1; fm <= 5; fm++ {
			g := GroupFor(r, fm)
			if !ValidGroup(string(g)) {
				t.Errorf("R=%d FM=%d: expected a named group, got %q", r, fm, g)
			}
			reached[g] = true
		}
	}
	if len(reached) != len(Groups) {
		t.Errorf("expected all %d groups reachable, got %d", len(Groups), len(reached))
	}
	if got := Sizes(nil); len(got) != 11 {
		t.Errorf("expected sizes to list 11 groups, got %d", len(got))
	}
}

func BenchmarkScoresOneMillionCustomers(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	pop := make([]Customer, 1_000_000)
	for i := range pop {
		pop[i] = Customer{ID: fmt.Sprint(i), RecencyDays: rng.IntN(700), Frequency: 1 + rng.IntN(30), Monetary: rng.Int64N(1_000_000)}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Scores(pop); err != nil {
			b.Fatal(err)
		}
	}
}
