// Package replenish finds the consumables a customer is about to run out
// of, from the rhythm of their own purchases, for the buy-again strategy and
// for ReplenishmentDue reminder events.
//
// The expected interval is per unit: a customer who buys two packs lasts
// twice as long as one who buys one. It is the median of the customer's
// gaps between purchase days divided by the units bought at the start of
// each gap (the median resists one holiday-sized gap). With a single
// purchase there is no gap yet, and a typical interval for the product
// across all customers (supplied by the caller) is used instead.
package replenish

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Purchase is one purchase of a product by the customer.
type Purchase struct {
	ProductID string
	At        time.Time
	// Quantity in units; 0 is read as 1.
	Quantity int
}

// Config tunes when an item is due.
type Config struct {
	// Early makes an item due this fraction of the interval before the
	// expected run-out, so the reminder arrives before the cupboard is bare.
	Early float64
	// GiveUpAfter stops suggesting an item once this many intervals have
	// passed without a purchase: the customer has switched or stopped.
	GiveUpAfter float64
	// MinInterval ignores gaps shorter than this (a second order the same
	// week is a top-up of the same need, not a new cycle).
	MinInterval time.Duration
}

// DefaultConfig is due 10% early, gone after three missed cycles, and
// merges purchases within a day.
func DefaultConfig() Config {
	return Config{Early: 0.1, GiveUpAfter: 3, MinInterval: 24 * time.Hour}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Early < 0 || c.Early >= 1 || math.IsNaN(c.Early) {
		return fmt.Errorf("replenish: early must be in [0, 1), got %v", c.Early)
	}
	if c.GiveUpAfter <= 1 || math.IsNaN(c.GiveUpAfter) {
		return fmt.Errorf("replenish: give up after must be above 1, got %v", c.GiveUpAfter)
	}
	if c.MinInterval < 0 {
		return fmt.Errorf("replenish: min interval must not be negative, got %v", c.MinInterval)
	}
	return nil
}

// Due is a product the customer is due to buy again.
type Due struct {
	ProductID    string
	LastPurchase time.Time
	// Interval is the expected time the last purchase lasts.
	Interval time.Duration
	DueAt    time.Time
	// Elapsed is the time since the last purchase as a fraction of
	// Interval: 1 means exactly due.
	Elapsed float64
	// Score peaks at 1 when exactly due and falls off on both sides, so the
	// most timely reminder ranks first.
	Score float64
	// FromTypical says the interval came from other customers, not this
	// customer's own history.
	FromTypical bool
}

// Key identifies this due occurrence: one per product per last purchase.
// The app layer emits a ReplenishmentDue event at most once per key, and a
// new purchase yields a new key for the next cycle.
func (d Due) Key() string {
	return d.ProductID + "@" + strconv.FormatInt(d.LastPurchase.Unix(), 10)
}

// Typical returns the typical per-unit interval of a product across
// customers, if known.
type Typical func(productID string) (time.Duration, bool)

// DueItems returns the products due at now, most timely first (ties by
// id). purchases are one customer's, in any order; purchases after now are
// ignored so a replay with a past now is deterministic.
func DueItems(purchases []Purchase, now time.Time, cfg Config, typical Typical) []Due {
	byProduct := make(map[string][]Purchase)
	for _, p := range purchases {
		if p.ProductID == "" || p.At.After(now) {
			continue
		}
		byProduct[p.ProductID] = append(byProduct[p.ProductID], p)
	}
	var out []Due
	for id, ps := range byProduct {
		if d, ok := dueFor(id, ps, now, cfg, typical); ok {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Due) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ProductID, b.ProductID)
	})
	return out
}

type visit struct {
	at    time.Time
	units int
}

// visits sorts one product's purchases and merges those closer than
// minInterval into one stock-up.
func visits(ps []Purchase, minInterval time.Duration) []visit {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Purchase) int { return a.At.Compare(b.At) })
	var vs []visit
	for _, p := range ps {
		q := max(p.Quantity, 1)
		if n := len(vs); n > 0 && p.At.Sub(vs[n-1].at) < minInterval {
			vs[n-1].units += q
			continue
		}
		vs = append(vs, visit{p.At, q})
	}
	return vs
}

// perUnit is the median gap between visits divided by the units bought at
// the start of each gap; ok is false with fewer than two visits.
func perUnit(vs []visit) (time.Duration, bool) {
	if len(vs) < 2 {
		return 0, false
	}
	gaps := make([]float64, 0, len(vs)-1)
	for i := 1; i < len(vs); i++ {
		gaps = append(gaps, float64(vs[i].at.Sub(vs[i-1].at))/float64(vs[i-1].units))
	}
	slices.Sort(gaps)
	mid := len(gaps) / 2
	med := gaps[mid]
	if len(gaps)%2 == 0 {
		med = (gaps[mid-1] + gaps[mid]) / 2
	}
	return time.Duration(med), med > 0
}

func dueFor(id string, ps []Purchase, now time.Time, cfg Config, typical Typical) (Due, bool) {
	vs := visits(ps, cfg.MinInterval)
	last := vs[len(vs)-1]
	unit, ok := perUnit(vs)
	fromTypical := false
	if !ok {
		if typical == nil {
			return Due{}, false
		}
		t, known := typical(id)
		if !known || t <= 0 {
			return Due{}, false
		}
		unit, fromTypical = t, true
	}
	interval := unit * time.Duration(last.units)
	elapsed := float64(now.Sub(last.at)) / float64(interval)
	if elapsed < 1-cfg.Early || elapsed > cfg.GiveUpAfter {
		return Due{}, false
	}
	return Due{
		ProductID:    id,
		LastPurchase: last.at,
		Interval:     interval,
		DueAt:        last.at.Add(interval),
		Elapsed:      elapsed,
		Score:        math.Exp(-2 * math.Abs(elapsed-1)),
		FromTypical:  fromTypical,
	}, true
}

// TypicalIntervals computes, per product, the median over customers of
// each customer's own per-unit interval (histories maps customer id to that
// customer's purchases), for use as Typical. Products with fewer than
// minCustomers contributing customers are left out: two people's habits are
// not a norm.
func TypicalIntervals(histories map[string][]Purchase, minInterval time.Duration, minCustomers int) map[string]time.Duration {
	per := make(map[string][]float64)
	for _, ps := range histories {
		byProduct := make(map[string][]Purchase)
		for _, p := range ps {
			byProduct[p.ProductID] = append(byProduct[p.ProductID], p)
		}
		for id, list := range byProduct {
			if unit, ok := perUnit(visits(list, minInterval)); ok {
				per[id] = append(per[id], float64(unit))
			}
		}
	}
	out := make(map[string]time.Duration, len(per))
	for id, v := range per {
		if len(v) < max(minCustomers, 1) {
			continue
		}
		slices.Sort(v)
		out[id] = time.Duration(v[len(v)/2])
	}
	return out
}
