// Package rfm scores customers on Recency, Frequency and Monetary value by
// quintiles over the whole population and names the standard RFM groups.
//
// Scoring is a pure function of the population so that it can run on a
// schedule or on demand and be checked by an independent computation (one SQL
// query, see Score). Ties always share a score: two customers with the same
// numbers must never land in different groups just because of sort order.
package rfm

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Group is one of the eleven standard named RFM groups.
type Group string

// The standard RFM groups. Their assignment from scores is the table in
// GroupFor.
const (
	Champions         Group = "Champions"
	Loyal             Group = "Loyal"
	PotentialLoyalist Group = "Potential Loyalist"
	New               Group = "New"
	Promising         Group = "Promising"
	NeedAttention     Group = "Need Attention"
	AboutToSleep      Group = "About to Sleep"
	AtRisk            Group = "At Risk"
	CantLoseThem      Group = "Can't Lose Them"
	Hibernating       Group = "Hibernating"
	Lost              Group = "Lost"
)

// Groups lists every group in a stable order (best to worst), for reports
// and for validating rule constants.
var Groups = []Group{Champions, Loyal, PotentialLoyalist, New, Promising, NeedAttention, AboutToSleep, AtRisk, CantLoseThem, Hibernating, Lost}

// ErrInvalidInput is returned when a customer's numbers cannot be scored
// (negative recency, frequency or spend, or an empty or duplicate id).
var ErrInvalidInput = errors.New("rfm: invalid input")

// Customer is the input for one customer: recency in days since the last
// order (smaller is better), number of orders and net spend in minor units.
// Customers without orders have no RFM score and must not be passed in,
// otherwise they would drag every quintile boundary down.
type Customer struct {
	ID          string
	RecencyDays int
	Frequency   int
	Monetary    int64
}

// Score is a customer's 1–5 score per dimension and the group it falls in.
type Score struct {
	R, F, M int
	Group   Group
}

// FM is the combined frequency–monetary score used by the group table:
// the mean of F and M rounded half up, because frequency and spend move
// together and a 5×5 table on R×FM is what marketers can read.
func (s Score) FM() int { return (s.F + s.M + 1) / 2 }

// String renders the score as the conventional three-digit code, e.g. "545".
func (s Score) String() string { return fmt.Sprintf("%d%d%d", s.R, s.F, s.M) }

// groupTable[r-1][fm-1] is the group for recency score r and FM score fm.
//
//	         FM=1            FM=2             FM=3              FM=4        FM=5
//	R=5  New             Potential Loyal. Potential Loyal.  Champions   Champions
//	R=4  Promising       Potential Loyal. Potential Loyal.  Loyal       Loyal
//	R=3  About to Sleep  About to Sleep   Need Attention    Loyal       Loyal
//	R=2  Hibernating     Hibernating      At Risk           At Risk     Can't Lose Them
//	R=1  Lost            Lost             Hibernating       At Risk     Can't Lose Them
var groupTable = [5][5]Group{
	{Lost, Lost, Hibernating, AtRisk, CantLoseThem},
	{Hibernating, Hibernating, AtRisk, AtRisk, CantLoseThem},
	{AboutToSleep, AboutToSleep, NeedAttention, Loyal, Loyal},
	{Promising, PotentialLoyalist, PotentialLoyalist, Loyal, Loyal},
	{New, PotentialLoyalist, PotentialLoyalist, Champions, Champions},
}

// GroupFor returns the group for the given recency and FM scores (each 1–5)
// using the table documented on groupTable. Out-of-range scores are clamped so
// a caller bug degrades to the nearest group instead of panicking.
func GroupFor(r, fm int) Group {
	return groupTable[clamp(r)-1][clamp(fm)-1]
}

func clamp(v int) int { return max(1, min(5, v)) }

// Score scores every customer of the population. The result is keyed by
// customer id.
//
// For each dimension a customer's score is 1 + floor(5·w/n), where n is the
// population size and w is the number of customers strictly worse on that
// dimension (larger recency, fewer orders, lower spend). This is the
// quintile of the customer's rank with ties sharing the lowest rank, and is
// the same as the SQL
//
//	1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) / count(*) OVER ()
//
// (ORDER BY frequency / monetary ascending for F and M), which is how the
// scores can be checked independently.
func Scores(pop []Customer) (map[string]Score, error) {
	seen := make(map[string]struct{}, len(pop))
	for _, c := range pop {
		if c.ID == "" || c.RecencyDays < 0 || c.Frequency < 0 || c.Monetary < 0 {
			return nil, fmt.Errorf("%w: customer %q", ErrInvalidInput, c.ID)
		}
		if _, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate customer %q", ErrInvalidInput, c.ID)
		}
		seen[c.ID] = struct{}{}
	}
	n := len(pop)
	out := make(map[string]Score, n)
	if n == 0 {
		return out, nil
	}
	// Negate recency so that "larger is better" holds for all three.
	r := quintiles(pop, func(c Customer) int64 { return -int64(c.RecencyDays) })
	f := quintiles(pop, func(c Customer) int64 { return int64(c.Frequency) })
	m := quintiles(pop, func(c Customer) int64 { return c.Monetary })
	for i, c := range pop {
		s := Score{R: r[i], F: f[i], M: m[i]}
		s.Group = GroupFor(s.R, s.FM())
		out[c.ID] = s
	}
	return out, nil
}

// quintiles returns, for each index of pop, 1 + floor(5·w/n) where w is the
// number of customers with a strictly smaller key.
func quintiles(pop []Customer, key func(Customer) int64) []int {
	n := len(pop)
	keys := make([]int64, n)
	for i, c := range pop {
		keys[i] = key(c)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	out := make([]int, n)
	for i, k := range keys {
		w := sort.Search(n, func(j int) bool { return sorted[j] >= k })
		out[i] = 1 + (5*w)/n
	}
	return out
}

// Sizes counts customers per group, with every group present (zero when
// empty) so reports always list all eleven.
func Sizes(scores map[string]Score) map[Group]int {
	out := make(map[Group]int, len(Groups))
	for _, g := range Groups {
		out[g] = 0
	}
	for _, s := range scores {
		out[s.Group]++
	}
	return out
}

// ValidGroup reports whether name is one of the eleven group names.
func ValidGroup(name string) bool {
	return slices.Contains(Groups, Group(name))
}
