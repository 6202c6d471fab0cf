// Package clv predicts customer lifetime value and the probability that a
// customer is still active, with the BG/NBD purchase model and the
// Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013),
// both fitted by maximum likelihood over the whole population.
//
// Why these models: they need only each customer's repeat-purchase count,
// the time of the last purchase, the customer's age and mean order value,
// which the profile already keeps, and they give a calibrated P(alive) that
// serves as churn risk. Limits, written down so nobody over-trusts the
// numbers: they assume non-contractual, continuous-time buying with a
// constant purchase rate while alive, spend independent of frequency, and no
// seasonality; customers with a single purchase get the population's mean
// spend. All times are in days.
package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNotEnoughData is returned when the population cannot support a fit
// (too few customers, or nobody with a repeat purchase).
var ErrNotEnoughData = errors.New("clv: not enough data to fit")

// ErrInvalidCustomer is returned for inconsistent customer summaries.
var ErrInvalidCustomer = errors.New("clv: invalid customer summary")

// Customer is the summary the models need. Frequency is the number of
// repeat purchases (orders after the first), Recency the days between the
// first and the last order, Age the days between the first order and now,
// MeanValue the mean net value of the repeat orders in minor units.
type Customer struct {
	Frequency int
	Recency   float64
	Age       float64
	MeanValue float64
}

// Validate checks the summary is consistent: 0 ≤ Recency ≤ Age, and a
// customer without repeat purchases has zero recency.
func (c Customer) Validate() error {
	switch {
	case c.Frequency < 0, c.Recency < 0, c.Age < 0, c.MeanValue < 0:
		return fmt.Errorf("%w: negative value", ErrInvalidCustomer)
	case c.Recency > c.Age:
		return fmt.Errorf("%w: recency %.2f after age %.2f", ErrInvalidCustomer, c.Recency, c.Age)
	case c.Frequency == 0 && c.Recency != 0:
		return fmt.Errorf("%w: recency without repeat purchases", ErrInvalidCustomer)
	}
	return nil
}

// BGNBD holds the fitted BG/NBD parameters: purchase rates are
// Gamma(R, Alpha) across customers, the per-purchase dropout probability is
// Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
}

// GammaGamma holds the fitted Gamma-Gamma spend parameters.
type GammaGamma struct {
	P, Q, V float64
}

// logLik is the BG/NBD log-likelihood of one customer.
func (m BGNBD) logLik(c Customer) float64 {
	x := float64(c.Frequency)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	a1 := lg(m.R+x) - lg(m.R) + m.R*math.Log(m.Alpha)
	a2 := lg(m.A+m.B) + lg(m.B+x) - lg(m.B) - lg(m.A+m.B+x)
	a3 := -(m.R + x) * math.Log(m.Alpha+c.Age)
	if c.Frequency == 0 {
		return a1 + a2 + a3
	}
	a4 := math.Log(m.A) - math.Log(m.B+x-1) - (m.R+x)*math.Log(m.Alpha+c.Recency)
	return a1 + a2 + logAddExp(a3, a4)
}

func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// ProbAlive is the probability that the customer has not dropped out.
func (m BGNBD) ProbAlive(c Customer) float64 {
	if c.Frequency == 0 {
		return 1
	}
	x := float64(c.Frequency)
	// Computed in logs: the ratio overflows for frequent buyers.
	l := math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+c.Age)-math.Log(m.Alpha+c.Recency))
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases is the expected number of purchases in the next t days.
// It needs A > 1 (a finite mean lifetime); otherwise it returns +Inf, which
// the caller should treat as "model unusable".
func (m BGNBD) ExpectedPurchases(c Customer, t float64) float64 {
	if m.A <= 1 {
		return math.Inf(1)
	}
	x := float64(c.Frequency)
	z := t / (m.Alpha + c.Age + t)
	hyp := hyp2f1(m.R+x, m.B+x, m.A+m.B+x-1, z)
	num := (m.A + m.B + x - 1) / (m.A - 1) * (1 - math.Pow((m.Alpha+c.Age)/(m.Alpha+c.Age+t), m.R+x)*hyp)
	den := 1.0
	if c.Frequency > 0 {
		den += m.A / (m.B + x - 1) * math.Pow((m.Alpha+c.Age)/(m.Alpha+c.Recency), m.R+x)
	}
	return num / den
}

// hyp2f1 is the Gauss hypergeometric function by its power series; z is
// always in [0, 1) here, where the series converges.
func hyp2f1(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for n := 0.0; n < 10000; n++ {
		term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
		sum += term
		if math.Abs(term) < 1e-14*math.Abs(sum) {
			break
		}
	}
	return sum
}

// logLik is the Gamma-Gamma log-likelihood of one repeat customer.
func (g GammaGamma) logLik(c Customer) float64 {
	x, mv := float64(c.Frequency), c.MeanValue
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	return lg(g.P*x+g.Q) - lg(g.P*x) - lg(g.Q) + g.Q*math.Log(g.V) +
		(g.P*x-1)*math.Log(mv) + g.P*x*math.Log(x) - (g.P*x+g.Q)*math.Log(x*mv+g.V)
}

// ExpectedValue is the expected mean order value of the customer: a
// weighted average of the population mean and the customer's own mean, the
// weight growing with the number of repeat purchases. Needs Q > 1.
func (g GammaGamma) ExpectedValue(c Customer) float64 {
	if g.Q <= 1 {
		return math.Inf(1)
	}
	x := float64(c.Frequency)
	if c.Frequency == 0 || c.MeanValue <= 0 {
		return g.P * g.V / (g.Q - 1)
	}
	return g.P * (g.V + x*c.MeanValue) / (g.P*x + g.Q - 1)
}

// Options configures a fit and predictions.
type Options struct {
	// HorizonDays is the period CLV is predicted for (e.g. 365).
	HorizonDays float64
	// Margin is the share of revenue that is profit, in (0, 1]; 1 gives
	// revenue CLV.
	Margin float64
	// Penalty is an L2 penalty on the parameters that keeps the fit finite
	// on small or degenerate populations (0.001 is a sensible default).
	Penalty float64
}

// Model is a fitted pair of models plus the prediction options.
type Model struct {
	Purchases BGNBD
	Spend     GammaGamma
	Options   Options
}

// Prediction is what the profile shows for one customer.
type Prediction struct {
	ProbAlive      float64
	ExpectedOrders float64 // over the horizon
	ExpectedValue  float64 // per order, minor units
	CLV            int64   // over the horizon, minor units, times margin
}

// Predict combines both models for one customer.
func (m Model) Predict(c Customer) Prediction {
	p := Prediction{ProbAlive: m.Purchases.ProbAlive(c)}
	p.ExpectedOrders = m.Purchases.ExpectedPurchases(c, m.Options.HorizonDays)
	p.ExpectedValue = m.Spend.ExpectedValue(c)
	v := p.ExpectedOrders * p.ExpectedValue * m.Options.Margin
	if !math.IsInf(v, 0) && !math.IsNaN(v) {
		p.CLV = int64(math.Round(v))
	}
	return p
}

// minCustomers is the smallest population worth fitting: below it the
// estimates are noise.
const minCustomers = 20

// Fit fits both models by maximum likelihood (Nelder–Mead on log
// parameters, so they stay positive).
func Fit(cs []Customer, o Options) (Model, error) {
	if o.HorizonDays <= 0 || o.Margin <= 0 || o.Margin > 1 || o.Penalty < 0 {
		return Model{}, fmt.Errorf("clv: invalid options %+v", o)
	}
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return Model{}, fmt.Errorf("customer %d: %w", i, err)
		}
	}
	b, err := FitBGNBD(cs, o.Penalty)
	if err != nil {
		return Model{}, err
	}
	g, err := FitGammaGamma(cs, o.Penalty)
	if err != nil {
		return Model{}, err
	}
	return Model{Purchases: b, Spend: g, Options: o}, nil
}

// FitBGNBD fits the purchase model.
func FitBGNBD(cs []Customer, penalty float64) (BGNBD, error) {
	repeat := 0
	for _, c := range cs {
		if c.Frequency > 0 {
			repeat++
		}
	}
	if len(cs) < minCustomers || repeat == 0 {
		return BGNBD{}, fmt.Errorf("%w: %d customers, %d with repeat purchases", ErrNotEnoughData, len(cs), repeat)
	}
	// Group identical summaries: real populations repeat (x, t_x, T) a lot
	// and the likelihood is evaluated hundreds of times.
	type key struct {
		x     int
		tx, t float64
	}
	counts := map[key]float64{}
	for _, c := range cs {
		counts[key{c.Frequency, c.Recency, c.Age}]++
	}
	n := float64(len(cs))
	nll := func(p []float64) float64 {
		m := BGNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), A: math.Exp(p[2]), B: math.Exp(p[3])}
		s := 0.0
		for k, w := range counts {
			s += w * m.logLik(Customer{Frequency: k.x, Recency: k.tx, Age: k.t})
		}
		pen := penalty * (m.R*m.R + m.Alpha*m.Alpha + m.A*m.A + m.B*m.B)
		return -s/n + pen
	}
	p, err := nelderMead(nll, []float64{0, 0, 0, 0})
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit BG/NBD: %w", err)
	}
	return BGNBD{R: math.Exp(p[0]), Alpha: math.Exp(p[1]), A: math.Exp(p[2]), B: math.Exp(p[3])}, nil
}

// FitGammaGamma fits the spend model on the customers with repeat purchases
// and a positive mean value.
func FitGammaGamma(cs []Customer, penalty float64) (GammaGamma, error) {
	var rs []Customer
	for _, c := range cs {
		if c.Frequency > 0 && c.MeanValue > 0 {
			rs = append(rs, c)
		}
	}
	if len(rs) < minCustomers/2 {
		return GammaGamma{}, fmt.Errorf("%w: %d repeat customers with spend", ErrNotEnoughData, len(rs))
	}
	// Fit in units of the mean spend so the optimiser's start point is
	// sensible whatever the currency's minor unit, then scale V back.
	var mean float64
	for _, c := range rs {
		mean += c.MeanValue
	}
	mean /= float64(len(rs))
	n := float64(len(rs))
	nll := func(p []float64) float64 {
		g := GammaGamma{P: math.Exp(p[0]), Q: math.Exp(p[1]), V: math.Exp(p[2])}
		s := 0.0
		for _, c := range rs {
			c.MeanValue /= mean
			s += g.logLik(c)
		}
		return -s/n + penalty*(g.P*g.P+g.Q*g.Q+g.V*g.V)
	}
	p, err := nelderMead(nll, []float64{0, 0, 0})
	if err != nil {
		return GammaGamma{}, fmt.Errorf("fit Gamma-Gamma: %w", err)
	}
	return GammaGamma{P: math.Exp(p[0]), Q: math.Exp(p[1]), V: math.Exp(p[2]) * mean}, nil
}

// nelderMead minimises f from x0 with the standard coefficients. It is
// deterministic: same input, same result.
func nelderMead(f func([]float64) float64, x0 []float64) ([]float64, error) {
	const (
		maxIter = 5000
		tol     = 1e-10
	)
	n := len(x0)
	pts := make([][]float64, n+1)
	vals := make([]float64, n+1)
	for i := range pts {
		pts[i] = append([]float64(nil), x0...)
		if i > 0 {
			pts[i][i-1] += 0.5
		}
		vals[i] = f(pts[i])
	}
	safe := func(x []float64) float64 {
		v := f(x)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	for range maxIter {
		// Sort vertices by value (insertion sort: n is tiny).
		for i := 1; i <= n; i++ {
			for j := i; j > 0 && vals[j] < vals[j-1]; j-- {
				vals[j], vals[j-1] = vals[j-1], vals[j]
				pts[j], pts[j-1] = pts[j-1], pts[j]
			}
		}
		if math.Abs(vals[n]-vals[0]) <= tol*(math.Abs(vals[0])+tol) {
			break
		}
		centroid := make([]float64, n)
		for i := range n {
			for j := range n {
				centroid[j] += pts[i][j] / float64(n)
			}
		}
		along := func(t float64) []float64 {
			x := make([]float64, n)
			for j := range n {
				x[j] = centroid[j] + t*(pts[n][j]-centroid[j])
			}
			return x
		}
		xr := along(-1)
		fr := safe(xr)
		switch {
		case fr < vals[0]:
			xe := along(-2)
			if fe := safe(xe); fe < fr {
				pts[n], vals[n] = xe, fe
			} else {
				pts[n], vals[n] = xr, fr
			}
		case fr < vals[n-1]:
			pts[n], vals[n] = xr, fr
		default:
			xc := along(0.5)
			if fr < vals[n] {
				xc = along(-0.5)
			}
			if fc := safe(xc); fc < min(fr, vals[n]) {
				pts[n], vals[n] = xc, fc
			} else {
				for i := 1; i <= n; i++ {
					for j := range n {
						pts[i][j] = pts[0][j] + 0.5*(pts[i][j]-pts[0][j])
					}
					vals[i] = safe(pts[i])
				}
			}
		}
	}
	if math.IsInf(vals[0], 0) || math.IsNaN(vals[0]) {
		return nil, errors.New("likelihood is not finite at any point tried")
	}
	return pts[0], nil
}

// ModelRepository stores the fitted model: fitting runs on a schedule over
// the whole population and every trait computation reads the latest fit.
type ModelRepository interface {
	// Latest returns the newest model and when it was fitted; ErrNoModel
	// when none has been fitted yet.
	Latest(ctx context.Context) (Model, time.Time, error)
	Save(ctx context.Context, m Model, fittedAt time.Time) error
}

// ErrNoModel is returned by a ModelRepository before the first fit.
var ErrNoModel = errors.New("clv: no model fitted yet")
