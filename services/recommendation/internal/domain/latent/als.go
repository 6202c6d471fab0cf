// Package latent is the latent-factor model behind personalized
// recommendations: implicit-feedback alternating least squares (Hu, Koren
// and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
// 2008), solved with a few conjugate-gradient steps per row (Takács, Pilászy
// and Tikk, 2011) so that a training pass costs O(interactions × factors ×
// CG steps) instead of a factors³ solve per customer.
//
// Each customer u and product i get a vector of Factors numbers; the model
// predicts interest as their dot product. Training minimises
//
//	Σ_u Σ_i c_ui (p_ui − x_u·y_i)² + λ (Σ|x_u|² + Σ|y_i|²)
//
// over every (customer, product) cell: p_ui is 1 when the customer
// interacted with the product and 0 otherwise, and the confidence
// c_ui = 1 + Alpha × r_ui grows with the interaction strength r_ui (for
// example, the number of orders containing the product).
//
// A customer unknown to the trained model (new since the last training,
// or an anonymous visitor) is folded in at request time from their
// interactions: one least-squares solve against the fixed product vectors
// (FoldIn), so the model can be trained periodically while answers follow
// every new interaction.
//
// The package is pure Go and self-contained; memory is (customers +
// products) × Factors float32 for the model plus the interactions, twice
// (by customer and by product), during training.
package latent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config tunes training.
type Config struct {
	// Factors is the length of each vector.
	Factors int
	// Iterations is the number of alternating passes (customers, then
	// products).
	Iterations int
	// Regularization is λ, which keeps vectors small so rare customers and
	// products do not overfit.
	Regularization float64
	// Alpha scales interaction strength into confidence.
	Alpha float64
	// CGSteps is the number of conjugate-gradient steps per row and pass;
	// warm-started from the previous pass, 3 is close to an exact solve.
	CGSteps int
	// Seed makes the random initialisation, and so the model, reproducible.
	Seed uint64
	// ScanProducts bounds how many products Top scores per request: the
	// most bought ones (0 = all). Scoring is Factors multiply-adds per
	// product, about 3.5 ms for 50,000 products on the benchmark machine;
	// the long tail still comes through co-occurrence.
	ScanProducts int
	// HalfLife fades old purchases in the interaction strengths (see
	// Strengths); 0 counts every purchase fully.
	HalfLife time.Duration
	// BM25K1 and BM25B weight interaction strengths as BM25 weights terms
	// (Robertson's saturation and length normalisation, times the
	// product's inverse document frequency) before Alpha scales them into
	// confidence: a product most customers buy says little about a
	// customer, and a wholesale buyer's thousand lines do not each count
	// as much as a small shop's ten. BM25K1 0 switches it off (confidence
	// from raw strengths); BM25B in [0, 1] is the length normalisation.
	BM25K1, BM25B float64
}

// DefaultConfig returns the settings chosen on the Online Retail time split
// (docs/recommendation.md, "Evaluation").
func DefaultConfig() Config {
	return Config{Factors: 64, Iterations: 12, Regularization: 0.1, Alpha: 1, BM25K1: 100, BM25B: 0.8, CGSteps: 3, Seed: 1, HalfLife: 30 * 24 * time.Hour, ScanProducts: 10_000}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Factors < 1 || c.Factors > 1024:
		return fmt.Errorf("latent: factors must be in 1..1024, got %d", c.Factors)
	case c.Iterations < 1:
		return fmt.Errorf("latent: iterations must be positive, got %d", c.Iterations)
	case !(c.Regularization > 0):
		return fmt.Errorf("latent: regularization must be positive, got %v", c.Regularization)
	case !(c.Alpha > 0):
		return fmt.Errorf("latent: alpha must be positive, got %v", c.Alpha)
	case c.CGSteps < 1:
		return fmt.Errorf("latent: CG steps must be positive, got %d", c.CGSteps)
	case c.ScanProducts < 0:
		return fmt.Errorf("latent: scan products must not be negative, got %d", c.ScanProducts)
	case c.HalfLife < 0:
		return fmt.Errorf("latent: half-life must not be negative, got %s", c.HalfLife)
	case !(c.BM25K1 >= 0) || !(c.BM25B >= 0 && c.BM25B <= 1):
		return fmt.Errorf("latent: BM25 K1 must not be negative and B must be in [0, 1], got %v and %v", c.BM25K1, c.BM25B)
	}
	return nil
}

// ErrNoInteractions is returned by training on nothing (a new shop): there
// is no model to serve yet.
var ErrNoInteractions = errors.New("latent: no positive interactions to train on")

// Interaction is one (customer, product) cell with its strength; several
// entries for the same cell add up.
type Interaction struct {
	Customer, Product string
	Strength          float64
}

// Model is a trained factorisation. It is immutable and safe for
// concurrent use.
type Model struct {
	cfg       Config
	customers map[string]int32
	products  []string
	index     map[string]int32
	x, y      []float32 // row-major: customers × f, products × f
	// gram is YᵀY (f × f), precomputed for folding in.
	gram []float64
	// idf (by product index) and avgLen (the mean of the customers'
	// summed strengths) are the BM25 weighting's training statistics,
	// kept so a customer folded in is weighted as training weighted them.
	idf    []float32
	avgLen float64
	// rowOf maps a catalog ref (catalog.Intern) to the product's row, -1
	// for a ref the model has no vector for: ScoreRef's lookup, an index
	// instead of hashing the id string for every candidate.
	rowOf []int32
	// refOf is the inverse: each row's catalog ref.
	refOf []int32
	// scanOrder is the rows top scans, longest vector first, and
	// scanLength their lengths in that order (see prepareScan).
	scanOrder  []int32
	scanLength []float32
	// tops caches trained customers' best products for CustomerTop.
	tops topCache
}

// sparse is a CSR matrix of confidences minus one (the part above the
// implicit 1 every cell has).
type sparse struct {
	start []int
	col   []int32
	conf  []float32
}

func build(rows int, cells map[[2]int32]float64, byRow int) sparse {
	s := sparse{start: make([]int, rows+1)}
	for k := range cells {
		s.start[k[byRow]+1]++
	}
	for i := 1; i <= rows; i++ {
		s.start[i] += s.start[i-1]
	}
	next := slices.Clone(s.start[:rows])
	s.col = make([]int32, len(cells))
	s.conf = make([]float32, len(cells))
	for k, v := range cells {
		r := k[byRow]
		s.col[next[r]] = k[1-byRow]
		s.conf[next[r]] = float32(v)
		next[r]++
	}
	// Map order is random; sorting each row makes the sums, and so the
	// model, the same on every run.
	for r := range rows {
		lo, hi := s.start[r], s.start[r+1]
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		slices.SortFunc(idx, func(a, b int) int { return int(s.col[a]) - int(s.col[b]) })
		col := make([]int32, len(idx))
		conf := make([]float32, len(idx))
		for i, j := range idx {
			col[i], conf[i] = s.col[j], s.conf[j]
		}
		copy(s.col[lo:hi], col)
		copy(s.conf[lo:hi], conf)
	}
	return s
}

// Train factorises the interactions. It stops early with ctx's error.
func Train(ctx context.Context, cfg Config, data []Interaction) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, customers: map[string]int32{}, index: map[string]int32{}}
	// Products are numbered most bought first, so Top can scan only the
	// head of the catalog (ScanProducts).
	bought := map[string]int{}
	for _, d := range data {
		if d.Strength > 0 {
			bought[d.Product]++
		}
	}
	for id := range bought {
		m.products = append(m.products, id)
	}
	slices.SortFunc(m.products, func(a, b string) int {
		if bought[a] != bought[b] {
			return bought[b] - bought[a]
		}
		return strings.Compare(a, b)
	})
	for i, id := range m.products {
		m.index[id] = int32(i)
	}
	var custIDs []string
	cells := make(map[[2]int32]float64, len(data))
	for _, d := range data {
		if !(d.Strength > 0) {
			continue
		}
		u, ok := m.customers[d.Customer]
		if !ok {
			u = int32(len(custIDs))
			m.customers[d.Customer] = u
			custIDs = append(custIDs, d.Customer)
		}
		i := m.index[d.Product]
		cells[[2]int32{u, i}] += d.Strength
	}
	if len(cells) == 0 {
		return nil, ErrNoInteractions
	}
	if cfg.BM25K1 > 0 {
		df := make([]float64, len(m.products))
		rowSum := make([]float64, len(custIDs))
		total := 0.0
		for k, v := range cells {
			df[k[1]]++
			rowSum[k[0]] += v
			total += v
		}
		m.avgLen = total / float64(len(custIDs))
		m.idf = make([]float32, len(m.products))
		n := float64(len(custIDs))
		for i := range m.idf {
			// Floored so that a product every customer bought keeps a
			// little confidence instead of none or a negative one.
			m.idf[i] = float32(max(math.Log(n)-math.Log1p(df[i]), 0.01))
		}
		for k, v := range cells {
			cells[k] = cfg.Alpha * m.bm25(v, rowSum[k[0]], k[1])
		}
	} else {
		for k, v := range cells {
			cells[k] = cfg.Alpha * v
		}
	}
	f := cfg.Factors
	byCust := build(len(custIDs), cells, 0)
	byProd := build(len(m.products), cells, 1)
	cells = nil
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	scale := 1 / math.Sqrt(float64(f))
	m.x = make([]float32, len(custIDs)*f)
	m.y = make([]float32, len(m.products)*f)
	for i := range m.x {
		m.x[i] = float32(rng.NormFloat64() * scale * 0.1)
	}
	for i := range m.y {
		m.y[i] = float32(rng.NormFloat64() * scale * 0.1)
	}
	for range cfg.Iterations {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("latent: training stopped: %w", err)
		}
		pass(m.x, m.y, byCust, cfg)
		pass(m.y, m.x, byProd, cfg)
	}
	m.gram = gramian(m.y, f)
	m.indexRefs()
	m.prepareScan()
	return m, nil
}

// bm25 is the BM25 weight of strength v of a customer whose strengths
// sum to rowSum, for product i.
func (m *Model) bm25(v, rowSum float64, i int32) float64 {
	k1, b := m.cfg.BM25K1, m.cfg.BM25B
	norm := 1 - b
	if m.avgLen > 0 {
		norm += b * rowSum / m.avgLen
	}
	return v * (k1 + 1) / (k1*norm + v) * float64(m.idf[i])
}

// gramian returns YᵀY.
func gramian(y []float32, f int) []float64 {
	g := make([]float64, f*f)
	for r := 0; r+f <= len(y); r += f {
		row := y[r : r+f]
		for a := range f {
			va := float64(row[a])
			if va == 0 {
				continue
			}
			ga := g[a*f : a*f+f]
			for b := a; b < f; b++ {
				ga[b] += va * float64(row[b])
			}
		}
	}
	for a := range f {
		for b := 0; b < a; b++ {
			g[a*f+b] = g[b*f+a]
		}
	}
	return g
}

// pass recomputes every row of dst against the fixed other side, in
// parallel over rows.
func pass(dst, other []float32, s sparse, cfg Config) {
	f := cfg.Factors
	g := gramian(other, f)
	rows := len(s.start) - 1
	workers := min(runtime.GOMAXPROCS(0), max(1, rows/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := newScratch(f)
			for u := w; u < rows; u += workers {
				lo, hi := s.start[u], s.start[u+1]
				cg(dst[u*f:u*f+f], other, g, s.col[lo:hi], s.conf[lo:hi], cfg, sc)
			}
		}()
	}
	wg.Wait()
}

type scratch struct{ x, r, p, ap []float64 }

func newScratch(f int) *scratch {
	return &scratch{make([]float64, f), make([]float64, f), make([]float64, f), make([]float64, f)}
}

// mulA computes out = (G + λI + Σ c_i y_i y_iᵀ) v, where c_i is the
// confidence above 1.
func mulA(out, v []float64, other []float32, g []float64, cols []int32, conf []float32, lambda float64) {
	f := len(v)
	for a := range f {
		s := lambda * v[a]
		ga := g[a*f : a*f+f]
		for b, vb := range v {
			s += ga[b] * vb
		}
		out[a] = s
	}
	for k, i := range cols {
		y := other[int(i)*f : int(i)*f+f]
		var d float64
		for a, ya := range y {
			d += float64(ya) * v[a]
		}
		d *= float64(conf[k])
		for a, ya := range y {
			out[a] += d * float64(ya)
		}
	}
}

// cg runs a few conjugate-gradient steps on
// (G + λI + Σ c_i y_i y_iᵀ) x = Σ (1 + c_i) y_i, warm-started from row.
func cg(row []float32, other []float32, g []float64, cols []int32, conf []float32, cfg Config, sc *scratch) {
	f := len(row)
	x, r, p, ap := sc.x, sc.r, sc.p, sc.ap
	for a := range f {
		x[a] = float64(row[a])
	}
	mulA(ap, x, other, g, cols, conf, cfg.Regularization)
	for a := range f {
		r[a] = -ap[a]
	}
	for k, i := range cols {
		y := other[int(i)*f : int(i)*f+f]
		c := 1 + float64(conf[k])
		for a, ya := range y {
			r[a] += c * float64(ya)
		}
	}
	copy(p, r)
	rs := dot(r, r)
	for range cfg.CGSteps {
		if rs < 1e-20 {
			break
		}
		mulA(ap, p, other, g, cols, conf, cfg.Regularization)
		alpha := rs / dot(p, ap)
		for a := range f {
			x[a] += alpha * p[a]
			r[a] -= alpha * ap[a]
		}
		next := dot(r, r)
		beta := next / rs
		for a := range f {
			p[a] = r[a] + beta*p[a]
		}
		rs = next
	}
	for a := range f {
		row[a] = float32(x[a])
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Config returns the settings the model was trained with.
func (m *Model) Config() Config { return m.cfg }

// Products is the number of products with a vector.
func (m *Model) Products() int { return len(m.products) }

// Customers is the number of customers trained.
func (m *Model) Customers() int { return len(m.customers) }

// Product returns the product id at a dense index.
func (m *Model) Product(i int) string { return m.products[i] }

// Bytes is the memory held by the vectors.
func (m *Model) Bytes() int { return 4*(len(m.x)+len(m.y)) + 8*len(m.gram) }

// Weighted is one of a customer's products with the strength of the
// interaction (the same unit as Interaction.Strength).
type Weighted struct {
	ProductID string
	Strength  float64
}

// FoldIn computes a customer vector from their interactions against the
// trained product vectors (an exact least-squares solve, the same one a
// training pass makes). Products unknown to the model are ignored; it
// returns nil when none is known.
func (m *Model) FoldIn(items []Weighted) []float32 {
	f := m.cfg.Factors
	cols := make([]int32, 0, len(items))
	conf := make([]float32, 0, len(items))
	rowSum := 0.0
	for _, it := range items {
		if i, ok := m.index[it.ProductID]; ok && it.Strength > 0 {
			cols = append(cols, i)
			conf = append(conf, float32(m.cfg.Alpha*it.Strength))
			rowSum += it.Strength
		}
	}
	if m.cfg.BM25K1 > 0 && len(m.idf) == len(m.products) {
		// Weighted as training weighted the customers it saw.
		for k, i := range cols {
			conf[k] = float32(m.cfg.Alpha * m.bm25(float64(conf[k])/m.cfg.Alpha, rowSum, i))
		}
	}
	if len(cols) == 0 {
		return nil
	}
	row := make([]float32, f)
	c := m.cfg
	c.CGSteps = f // CG is exact after f steps
	cg(row, m.y, m.gram, cols, conf, c, newScratch(f))
	return row
}

// Customer returns the trained vector of a customer, or nil.
func (m *Model) Customer(id string) []float32 {
	u, ok := m.customers[id]
	if !ok {
		return nil
	}
	f := m.cfg.Factors
	return m.x[int(u)*f : int(u)*f+f]
}

// Score is the predicted interest of a customer vector in a product; ok is
// false for a product the model does not know.
func (m *Model) Score(user []float32, productID string) (float64, bool) {
	i, ok := m.index[productID]
	if !ok || user == nil {
		return 0, false
	}
	return float64(dot32(user, m.row(i))), true
}

// row is the vector of the model's i-th product, shared and read-only.
func (m *Model) row(i int32) []float32 {
	f := m.cfg.Factors
	return m.y[int(i)*f : int(i)*f+f]
}

// Scored is a product with its predicted interest.
type Scored struct {
	ProductID string
	Score     float64
	// Ref is ProductID's catalog ref (catalog.Intern), for callers that
	// key their work by ref.
	Ref int32
}

// Top returns the k products with the highest predicted interest for the
// customer vector for which keep (when not nil) returns true, best first,
// among the ScanProducts most bought products.
func (m *Model) Top(user []float32, k int, keep func(id string) bool) []Scored {
	var keepRow func(row int32) bool
	if keep != nil {
		keepRow = func(row int32) bool { return keep(m.products[row]) }
	}
	return m.scored(m.top(user, k, keepRow))
}

// rowScore is a product (by row) and its predicted interest, as top
// computed it.
type rowScore struct {
	row   int32
	score float32
}

// scored spells top's rows as products.
func (m *Model) scored(rows []rowScore) []Scored {
	out := make([]Scored, len(rows))
	for i, r := range rows {
		out[i] = Scored{ProductID: m.products[r.row], Score: float64(r.score), Ref: m.refOf[r.row]}
	}
	return out
}

// top is Top by product row: the k best by score, among equal scores
// the lower row (the more bought product) first.
//
// The products are scanned by the length of their vectors, longest
// first (scanOrder), and the scan stops once a product's length times the
// customer's can no longer reach the k-th score held: a dot product is at
// most the product of the lengths, and every product after it is
// shorter. At the serving benchmark's scale that leaves about a fifth of
// the 10,000 products to score. The bound is loosened by boundSlack, more
// than a float32 sum of 64 products can round above the exact value, so
// the answer is exactly the full scan's.
func (m *Model) top(user []float32, k int, keep func(row int32) bool) []rowScore {
	if user == nil || k <= 0 {
		return nil
	}
	out := make([]rowScore, 0, k+1)
	length := vectorLength(user) * (1 + boundSlack)
	order := m.scanOrder
	// Scores are computed four products at a time (dot32x4): each is
	// the same sequential sum as dot32, so the same number, but the four
	// independent sums keep the processor busy where one waits on each
	// addition before the next.
	var batch [4]float32
	for i, row := range order {
		if i%4 == 0 {
			if len(out) == k && length*float64(m.scanLength[i]) < float64(out[k-1].score) {
				break
			}
			if i+4 <= len(order) {
				batch = dot32x4(user, m.row(row), m.row(order[i+1]), m.row(order[i+2]), m.row(order[i+3]))
			} else {
				for j := i; j < len(order); j++ {
					batch[j-i] = dot32(user, m.row(order[j]))
				}
			}
		}
		s := batch[i%4]
		if len(out) == k && !ranksBefore(s, row, out[k-1]) {
			continue
		}
		if keep != nil && !keep(row) {
			continue
		}
		at, _ := slices.BinarySearchFunc(out, rowScore{row, s}, func(e, t rowScore) int {
			if ranksBefore(e.score, e.row, t) {
				return -1
			}
			return 1
		})
		out = slices.Insert(out, at, rowScore{row, s})
		if len(out) > k {
			out = out[:k]
		}
	}
	return out
}

// boundSlack loosens top's stopping bound: a float32 dot product of n
// terms can round above the exact one by about n·2⁻²⁴ of the product of
// the lengths (4·10⁻⁶ at 64 factors).
const boundSlack = 1e-4

// ranksBefore reports whether score s of row goes before e in top's
// order: higher score first, then the lower row.
func ranksBefore(s float32, row int32, e rowScore) bool {
	return s > e.score || (s == e.score && row < e.row)
}

// vectorLength is v's Euclidean length.
func vectorLength(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// prepareScan orders the ScanProducts most bought products (the first
// rows) by the length of their vectors, longest first, for top.
func (m *Model) prepareScan() {
	n := len(m.products)
	if c := m.cfg.ScanProducts; c > 0 && c < n {
		n = c
	}
	lengths := make([]float32, n)
	order := make([]int32, n)
	for i := range n {
		order[i] = int32(i)
		lengths[i] = float32(vectorLength(m.row(int32(i))))
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(lengths[b], lengths[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	m.scanOrder = order
	m.scanLength = make([]float32, n)
	for i, row := range order {
		// Rounded up to the next float32, so the bound never falls short.
		m.scanLength[i] = math.Nextafter32(lengths[row], float32(math.Inf(1)))
	}
}

func dot32(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// dot32x4 is dot32 of a with four vectors at once, each summed in the
// same order as dot32 (so with the same result).
func dot32x4(a, b0, b1, b2, b3 []float32) [4]float32 {
	var s0, s1, s2, s3 float32
	b0, b1, b2, b3 = b0[:len(a)], b1[:len(a)], b2[:len(a)], b3[:len(a)]
	for i, x := range a {
		s0 += x * b0[i]
		s1 += x * b1[i]
		s2 += x * b2[i]
		s3 += x * b3[i]
	}
	return [4]float32{s0, s1, s2, s3}
}
