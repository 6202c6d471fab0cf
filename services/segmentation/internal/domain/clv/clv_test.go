package clv

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// gammaSample draws from Gamma(shape, rate) (Marsaglia–Tsang).
func gammaSample(rng *rand.Rand, shape, rate float64) float64 {
	if shape < 1 {
		return gammaSample(rng, shape+1, rate) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v / rate
		}
	}
}

// simulate draws a population from the BG/NBD and Gamma-Gamma generative
// stories, observed for ageDays after each customer's first purchase.
func simulate(seed uint64, n int, m BGNBD, g GammaGamma, ageDays float64) []Customer {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]Customer, n)
	for i := range out {
		lambda := gammaSample(rng, m.R, m.Alpha)
		xa, xb := gammaSample(rng, m.A, 1), gammaSample(rng, m.B, 1)
		p := xa / (xa + xb)
		nu := gammaSample(rng, g.Q, g.V) // per-customer spend rate
		t, x, last := 0.0, 0, 0.0
		for {
			t += rng.ExpFloat64() / lambda
			if t > ageDays {
				break
			}
			x++
			last = t
			if rng.Float64() < p {
				break
			}
		}
		var sum float64
		for range x {
			sum += gammaSample(rng, g.P, nu)
		}
		c := Customer{Frequency: x, Recency: last, Age: ageDays}
		if x > 0 {
			c.MeanValue = sum / float64(x)
		}
		out[i] = c
	}
	return out
}

func TestFitRecoversTheParametersOfASimulatedPopulation(t *testing.T) {
	t.Parallel()
	trueB := BGNBD{R: 0.8, Alpha: 30, A: 1.5, B: 4}
	trueG := GammaGamma{P: 6, Q: 4, V: 1500}
	pop := simulate(7, 6000, trueB, trueG, 365)
	m, err := Fit(pop, Options{HorizonDays: 365, Margin: 1, Penalty: 0})
	if err != nil {
		t.Fatalf("expected a fit, got %v", err)
	}
	within := func(name string, want, got, tol float64) {
		if math.Abs(got-want)/want > tol {
			t.Errorf("%s: expected %.3f within %.0f%%, got %.3f", name, want, tol*100, got)
		}
	}
	within("r/alpha (mean purchase rate)", trueB.R/trueB.Alpha, m.Purchases.R/m.Purchases.Alpha, 0.15)
	within("a/(a+b) (mean dropout)", trueB.A/(trueB.A+trueB.B), m.Purchases.A/(m.Purchases.A+m.Purchases.B), 0.25)
	within("p·v/(q−1) (mean spend)", trueG.P*trueG.V/(trueG.Q-1), m.Spend.P*m.Spend.V/(m.Spend.Q-1), 0.15)

	// The fitted model must predict the next year about as well as the
	// truth does: compare expected purchases summed over the population.
	var gotSum, wantSum float64
	for _, c := range pop {
		gotSum += m.Purchases.ExpectedPurchases(c, 365)
		wantSum += trueB.ExpectedPurchases(c, 365)
	}
	within("population purchases next year", wantSum, gotSum, 0.1)
}

func TestProbAliveFallsAsACustomerStaysAway(t *testing.T) {
	t.Parallel()
	m := BGNBD{R: 0.8, Alpha: 30, A: 1.5, B: 4}
	tests := []struct {
		name       string
		recent     Customer
		stayedAway Customer
	}{
		{"frequent buyer", Customer{Frequency: 10, Recency: 300, Age: 310}, Customer{Frequency: 10, Recency: 100, Age: 310}},
		{"occasional buyer", Customer{Frequency: 2, Recency: 200, Age: 210}, Customer{Frequency: 2, Recency: 20, Age: 210}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := m.ProbAlive(tt.recent), m.ProbAlive(tt.stayedAway)
			if !(a > b) || a > 1 || b < 0 {
				t.Errorf("expected 1 ≥ P(alive | recent)=%.3f > P(alive | stayed away)=%.3f ≥ 0", a, b)
			}
		})
	}
	if got := m.ProbAlive(Customer{Age: 100}); got != 1 {
		t.Errorf("expected a customer without repeat purchases to be alive by the model's assumption, got %.3f", got)
	}
}

func TestHypergeometricSeriesMatchesAClosedForm(t *testing.T) {
	t.Parallel()
	for _, z := range []float64{0, 0.1, 0.5, 0.9, 0.99} {
		want := 1.0
		if z > 0 {
			want = -math.Log(1-z) / z // 2F1(1,1;2;z)
		}
		if got := hyp2f1(1, 1, 2, z); math.Abs(got-want) > 1e-9*want {
			t.Errorf("z=%.2f: expected %.12f, got %.12f", z, want, got)
		}
	}
}

func TestExpectedValueShrinksTowardThePopulationMean(t *testing.T) {
	t.Parallel()
	g := GammaGamma{P: 6, Q: 4, V: 1500}
	pop := g.ExpectedValue(Customer{})
	few := g.ExpectedValue(Customer{Frequency: 1, MeanValue: 10000})
	many := g.ExpectedValue(Customer{Frequency: 50, MeanValue: 10000})
	if !(pop < few && few < many && many < 10000) {
		t.Errorf("expected population mean %.0f < one repeat %.0f < fifty repeats %.0f < own mean 10000", pop, few, many)
	}
}

func TestFitRejectsUnusableInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pop  []Customer
		opts Options
		want error
	}{
		{"too few customers", make([]Customer, 3), Options{HorizonDays: 365, Margin: 1}, ErrNotEnoughData},
		{"nobody came back", make([]Customer, 100), Options{HorizonDays: 365, Margin: 1}, ErrNotEnoughData},
		{"recency after age", []Customer{{Frequency: 1, Recency: 10, Age: 5}}, Options{HorizonDays: 365, Margin: 1}, ErrInvalidCustomer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Fit(tt.pop, tt.opts); !errors.Is(err, tt.want) {
				t.Errorf("expected %v, got %v", tt.want, err)
			}
		})
	}
	if _, err := Fit(nil, Options{HorizonDays: 0, Margin: 1}); err == nil {
		t.Error("expected an error for a zero horizon, got nil")
	}
}

func BenchmarkFitTenThousandCustomers(b *testing.B) {
	pop := simulate(9, 10_000, BGNBD{R: 0.8, Alpha: 30, A: 1.5, B: 4}, GammaGamma{P: 6, Q: 4, V: 1500}, 365)
	for b.Loop() {
		if _, err := Fit(pop, Options{HorizonDays: 365, Margin: 1, Penalty: 0.001}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPredict(b *testing.B) {
	m := Model{Purchases: BGNBD{R: 0.8, Alpha: 30, A: 1.5, B: 4}, Spend: GammaGamma{P: 6, Q: 4, V: 1500}, Options: Options{HorizonDays: 365, Margin: 1}}
	c := Customer{Frequency: 5, Recency: 200, Age: 300, MeanValue: 4000}
	for b.Loop() {
		_ = m.Predict(c)
	}
}
