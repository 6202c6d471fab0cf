package evaluation

import (
	"slices"
	"time"
)

// Purchase is one purchase line of the evaluation dataset.
type Purchase struct {
	CustomerID string
	ProductID  string
	OrderID    string
	At         time.Time
}

// TimeSplit divides purchases at cutoff: train is strictly before, test at
// or after. A time split (not a random one) is what a deployed recommender
// faces: it must predict next month from the past, never the reverse.
func TimeSplit(ps []Purchase, cutoff time.Time) (train, test []Purchase) {
	for _, p := range ps {
		if p.At.Before(cutoff) {
			train = append(train, p)
		} else {
			test = append(test, p)
		}
	}
	return train, test
}

// GroundTruth returns, per customer seen in train, the products bought in
// test that the customer had not bought in train. Repeat purchases are left
// out because every strategy excludes owned durables and the evaluation
// measures discovery; customers with no new products are dropped, since no
// list can score on them (see the package doc). Customers absent from train
// are cold starts and dropped too: the popularity baseline is the only
// answer for them.
func GroundTruth(train, test []Purchase) map[string]map[string]bool {
	owned := make(map[string]map[string]bool)
	for _, p := range train {
		if owned[p.CustomerID] == nil {
			owned[p.CustomerID] = make(map[string]bool)
		}
		owned[p.CustomerID][p.ProductID] = true
	}
	out := make(map[string]map[string]bool)
	for _, p := range test {
		had, known := owned[p.CustomerID]
		if !known || had[p.ProductID] {
			continue
		}
		if out[p.CustomerID] == nil {
			out[p.CustomerID] = make(map[string]bool)
		}
		out[p.CustomerID][p.ProductID] = true
	}
	return out
}

// Baskets groups purchases into baskets by order id, in time order of each
// order's first line, with items in first-seen order: the shape
// cooccur.Model.Observe takes when training on a dataset.
func Baskets(ps []Purchase) [][]string {
	type order struct {
		at    time.Time
		items []string
	}
	byID := make(map[string]*order)
	var ids []string
	for _, p := range ps {
		o := byID[p.OrderID]
		if o == nil {
			o = &order{at: p.At}
			byID[p.OrderID] = o
			ids = append(ids, p.OrderID)
		}
		if p.At.Before(o.at) {
			o.at = p.At
		}
		if !slices.Contains(o.items, p.ProductID) {
			o.items = append(o.items, p.ProductID)
		}
	}
	slices.SortStableFunc(ids, func(a, b string) int { return byID[a].at.Compare(byID[b].at) })
	out := make([][]string, len(ids))
	for i, id := range ids {
		out[i] = byID[id].items
	}
	return out
}
