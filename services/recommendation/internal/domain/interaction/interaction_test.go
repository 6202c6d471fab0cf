package interaction

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestParseKindRoundTrips(t *testing.T) {
	t.Parallel()
	for k := View; k <= Click; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Fatalf("ParseKind(%q): expected %v, got %v %v", k.String(), k, got, err)
		}
	}
	for _, bad := range []string{"", "unspecified", "like"} {
		if _, err := ParseKind(bad); err == nil {
			t.Fatalf("expected ParseKind(%q) to fail", bad)
		}
	}
}

func TestEventValidate(t *testing.T) {
	t.Parallel()
	ok := Event{CustomerID: "c1", ProductID: "p1", Kind: View, At: t0}
	cases := []struct {
		name   string
		mutate func(*Event)
		valid  bool
	}{
		{"a complete event is valid", func(*Event) {}, true},
		{"a missing customer is rejected", func(e *Event) { e.CustomerID = "" }, false},
		{"a malformed product is rejected", func(e *Event) { e.ProductID = "p 1" }, false},
		{"an unspecified kind is rejected", func(e *Event) { e.Kind = KindUnspecified }, false},
		{"an out-of-range kind is rejected", func(e *Event) { e.Kind = 99 }, false},
		{"a negative quantity is rejected", func(e *Event) { e.Quantity = -2 }, false},
		{"a missing time is rejected", func(e *Event) { e.At = time.Time{} }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := ok
			tc.mutate(&e)
			if err := e.Validate(); (err == nil) != tc.valid {
				t.Fatalf("expected valid=%v, got %v", tc.valid, err)
			}
		})
	}
}

func TestDecayFactor(t *testing.T) {
	t.Parallel()
	d := Decay{HalfLife: 24 * time.Hour}
	cases := []struct {
		name string
		d    Decay
		age  time.Duration
		want float64
	}{
		{"a fresh event counts fully", d, 0, 1},
		{"an event one half-life old counts half", d, 24 * time.Hour, 0.5},
		{"an event three half-lives old counts an eighth", d, 72 * time.Hour, 0.125},
		{"an event from the future counts fully", d, -time.Hour, 1},
		{"no half-life means no decay", Decay{}, 1000 * time.Hour, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.d.Factor(t0.Add(-tc.age), t0); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("expected %v, got %v", tc.want, got)
			}
		})
	}
}

func TestWeightScalesPurchasesLogarithmically(t *testing.T) {
	t.Parallel()
	w := DefaultWeights()
	one := w.Weight(Event{Kind: Purchase, Quantity: 1, At: t0}, Decay{}, t0)
	many := w.Weight(Event{Kind: Purchase, Quantity: 8, At: t0}, Decay{}, t0)
	if one != 5 || many != 20 {
		t.Fatalf("expected 5 for one unit and 5×(1+log2 8)=20 for eight, got %v and %v", one, many)
	}
	if v := w.Weight(Event{Kind: View, Quantity: 8, At: t0}, Decay{}, t0); v != 1 {
		t.Fatalf("expected quantity to be ignored for views, got %v", v)
	}
}

func TestAffinitiesAreOrderIndependent(t *testing.T) {
	t.Parallel()
	events := []Event{
		{ProductID: "a", Kind: View, At: t0.Add(-48 * time.Hour)},
		{ProductID: "a", Kind: Purchase, Quantity: 1, At: t0.Add(-24 * time.Hour)},
		{ProductID: "b", Kind: Purchase, Quantity: 1, At: t0.Add(-24 * time.Hour)},
		{ProductID: "b", Kind: Refund, Quantity: 1, At: t0},
		{ProductID: "c", Kind: Dismiss, At: t0},
	}
	d := Decay{HalfLife: 24 * time.Hour}
	want := DefaultWeights().Affinities(events, d, t0)
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		got := DefaultWeights().Affinities(events, d, t0)
		for id, w := range want {
			if math.Abs(got[id].Weight-w.Weight) > 1e-12 || got[id].Strongest != w.Strongest || !got[id].Last.Equal(w.Last) {
				t.Fatalf("%s: expected %+v, got %+v", id, w, got[id])
			}
		}
	}
	if a := want["a"]; a.Strongest != Purchase || math.Abs(a.Weight-(0.25+2.5)) > 1e-12 {
		t.Fatalf("expected a's weight 2.75 led by the purchase, got %+v", a)
	}
	if b := want["b"]; b.Weight >= 0 || b.Strongest != Refund {
		t.Fatalf("expected a refunded item to weigh against itself, got %+v", b)
	}
	if c := want["c"]; c.Weight != -4 {
		t.Fatalf("expected a fresh dismissal to weigh -4, got %+v", c)
	}
}
