package profile

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/clv"
	"github.com/affinity-platform/affinity/services/segmentation/internal/domain/rfm"
)

const day = 24 * time.Hour

// Stage is the customer's lifecycle stage.
type Stage string

// Lifecycle stages. See ComputeTraits for the rules.
const (
	StageProspect Stage = "prospect"
	StageNew      Stage = "new"
	StageActive   Stage = "active"
	StageAtRisk   Stage = "at_risk"
	StageLapsed   Stage = "lapsed"
	StageWonBack  Stage = "won_back"
)

// Config holds the thresholds of the traits. They are business choices, so
// they are configuration, with defaults that suit a typical web shop.
type Config struct {
	// Currency is the reporting currency: monetary traits count only
	// orders in it, because adding euros to dollars is meaningless.
	Currency string
	// NewWithin: a customer whose first order is this recent is "new".
	NewWithin time.Duration
	// ActiveWithin: a last order this recent is "active"; older is "at risk".
	ActiveWithin time.Duration
	// LapsedAfter: no order for this long is "lapsed"; a gap this long
	// between two orders makes the later order a win-back.
	LapsedAfter time.Duration
	// WonBackWithin: how long a returning customer stays "won back".
	WonBackWithin time.Duration
	// AbandonCartAfter: a cart unchanged and unbought this long is abandoned.
	AbandonCartAfter time.Duration
	// DefaultInterPurchase is the expected gap between orders for
	// customers with one order (churn risk without a fitted model).
	DefaultInterPurchase time.Duration
	// FavouriteCategories is how many top categories to keep.
	FavouriteCategories int
}

// DefaultConfig returns the default thresholds for the given currency.
func DefaultConfig(currency string) Config {
	return Config{
		Currency:             currency,
		NewWithin:            30 * day,
		ActiveWithin:         90 * day,
		LapsedAfter:          180 * day,
		WonBackWithin:        90 * day,
		AbandonCartAfter:     time.Hour,
		DefaultInterPurchase: 90 * day,
		FavouriteCategories:  3,
	}
}

// Validate checks the thresholds are positive and ordered.
func (c Config) Validate() error {
	var errs []error
	if !isCurrency(c.Currency) {
		errs = append(errs, invalid("currency", "must be an ISO 4217 code"))
	}
	if c.NewWithin <= 0 || c.ActiveWithin <= 0 || c.WonBackWithin <= 0 || c.AbandonCartAfter <= 0 || c.DefaultInterPurchase <= 0 {
		errs = append(errs, invalid("durations", "must be positive"))
	}
	if c.LapsedAfter <= c.ActiveWithin {
		errs = append(errs, invalid("lapsed_after", "must be longer than active_within"))
	}
	if c.FavouriteCategories < 1 {
		errs = append(errs, invalid("favourite_categories", "must be at least 1"))
	}
	return errors.Join(errs...)
}

// Traits are the computed values marketers segment on. Every field is a
// function of the profile's facts and the evaluation time, so each number
// can be traced back to the events behind it.
type Traits struct {
	Currency          string
	OrderCount        int
	TotalSpend        int64 // net of refunds, minor units
	AverageOrderValue int64
	FirstOrderAt      time.Time
	LastOrderAt       time.Time
	// RecencyDays is whole days since the last order, -1 without orders.
	RecencyDays int
	// AvgDaysBetweenOrders is the mean gap between orders, 0 with fewer
	// than two orders.
	AvgDaysBetweenOrders float64
	FavouriteCategories  []string
	ChannelsUsed         []string
	PreferredChannel     string
	Lifecycle            Stage

	Tier               string
	PointsBalance      int64
	ReferralsMade      int
	ReferralsConverted int

	CSAT, NPS, CES SurveyTrait

	RFM RFMScore

	// ChurnRisk is in [0,1]: 1−P(alive) from the fitted model for repeat
	// customers, else the heuristic in churnHeuristic.
	ChurnRisk      float64
	ProbAlive      float64
	CLV            int64 // 0 when no model is fitted
	ExpectedOrders float64

	HasAbandonedCart   bool
	AbandonedCartValue int64

	Country         string
	DaysSinceSignup int // -1 when unknown
	// DaysUntilBirthday is 0 on the birthday, -1 when unknown (for
	// birthday campaigns; 29 February counts as 1 March in other years).
	DaysUntilBirthday int
	Consents          map[string]bool
	Attributes        map[string]string
}

// ComputeTraits derives the traits at time now. model may be nil (no
// population fit yet): CLV is then 0 and churn risk uses the heuristic.
//
// Lifecycle stage, first rule that matches:
//   - prospect: no order that counts;
//   - lapsed: last order older than LapsedAfter;
//   - at_risk: last order older than ActiveWithin;
//   - new: first order within NewWithin;
//   - won_back: the most recent gap of more than LapsedAfter between two
//     orders ended within WonBackWithin;
//   - active: otherwise.
func ComputeTraits(p *Profile, now time.Time, cfg Config, model *clv.Model) Traits {
	t := Traits{Currency: cfg.Currency, RecencyDays: -1, DaysSinceSignup: -1, Lifecycle: StageProspect}
	orders := p.OrderFacts(cfg.Currency)

	channelUse := map[string]int{}
	catSpend := map[string]int64{}
	for _, o := range orders {
		t.OrderCount++
		t.TotalSpend += o.Net
		if o.Channel != "" {
			channelUse[o.Channel]++
		}
		for c, v := range o.Categories {
			catSpend[c] += v
		}
	}
	for _, i := range p.Interactions {
		if i.Channel != "" {
			channelUse[i.Channel]++
		}
	}
	if p.SignupChannel.Set && p.SignupChannel.Value != "" {
		channelUse[p.SignupChannel.Value] += 0 // used, even if never since
	}
	t.ChannelsUsed = sortedKeys(channelUse)
	t.FavouriteCategories = topKeys(catSpend, cfg.FavouriteCategories)
	t.PreferredChannel = p.PreferredChannel.Value
	if t.PreferredChannel == "" {
		t.PreferredChannel = topKeys(channelUse, 1).first()
	}

	if n := len(orders); n > 0 {
		first, last := orders[0].At, orders[n-1].At
		t.AverageOrderValue = t.TotalSpend / int64(n)
		t.FirstOrderAt, t.LastOrderAt = first, last
		if n > 1 {
			t.AvgDaysBetweenOrders = last.Sub(first).Hours() / 24 / float64(n-1)
		}
	}

	t.Tier = p.Tier.Value
	t.PointsBalance = p.PointsBalance.Value
	for _, r := range p.Referrals {
		t.ReferralsMade++
		if r.Converted {
			t.ReferralsConverted++
		}
	}
	t.CSAT, t.NPS, t.CES = p.surveyTrait(CSAT), p.surveyTrait(NPS), p.surveyTrait(CES)
	t.RFM = p.RFM.Value

	t.Country = p.Country.Value
	s := clock{orders: orders}
	if p.SignedUpAt.Set {
		s.signedUpAt = p.SignedUpAt.Value
	}
	if p.Birthday.Set {
		s.birthday = p.Birthday.Value
	}
	if items, last, ok := p.OpenCart(); ok {
		s.cartItems, s.cartActivity = items, last.At
	}
	s.apply(&t, now, cfg, model)
	t.Consents = make(map[string]bool, len(p.Consents))
	for k, r := range p.Consents {
		t.Consents[k] = r.Value
	}
	t.Attributes = make(map[string]string, len(p.Attributes))
	for k, r := range p.Attributes {
		t.Attributes[k] = r.Value
	}
	return t
}

// clock holds what the time-dependent traits are computed from, so that a
// scheduled pass can refresh them from a stored Snapshot without the facts.
type clock struct {
	orders       []OrderFact
	signedUpAt   time.Time
	birthday     time.Time
	cartItems    []CartItem
	cartActivity time.Time
}

// apply sets every trait that changes with the clock alone: recency,
// lifecycle, churn risk, CLV, abandoned cart, days since sign-up and until
// the birthday. Variables marked TimeDependent in package segment are
// exactly these.
func (s clock) apply(t *Traits, now time.Time, cfg Config, model *clv.Model) {
	orders := s.orders
	t.RecencyDays, t.Lifecycle = -1, StageProspect
	t.ProbAlive, t.ChurnRisk, t.CLV, t.ExpectedOrders = 1, 0, 0, 0
	if n := len(orders); n > 0 {
		t.RecencyDays = max(0, int(now.Sub(orders[n-1].At)/day))
		t.Lifecycle = lifecycle(orders, now, cfg)
		t.ChurnRisk = churnHeuristic(orders, now, cfg)
		t.ProbAlive = 1 - t.ChurnRisk
		if model != nil {
			h := History(orders, now)
			pr := model.Predict(h)
			t.CLV, t.ExpectedOrders = pr.CLV, pr.ExpectedOrders
			// BG/NBD assumes customers can only drop out right after a
			// repeat purchase, so it calls every one-order customer alive;
			// for them the heuristic is the more honest churn signal.
			if h.Frequency > 0 {
				t.ProbAlive, t.ChurnRisk = pr.ProbAlive, 1-pr.ProbAlive
			}
		}
	}
	t.HasAbandonedCart, t.AbandonedCartValue = false, 0
	if len(s.cartItems) > 0 && now.Sub(s.cartActivity) >= cfg.AbandonCartAfter {
		t.HasAbandonedCart = true
		for _, it := range s.cartItems {
			t.AbandonedCartValue += it.Price * it.Quantity
		}
	}
	t.DaysSinceSignup = -1
	if !s.signedUpAt.IsZero() {
		t.DaysSinceSignup = max(0, int(now.Sub(s.signedUpAt)/day))
	}
	t.DaysUntilBirthday = -1
	if !s.birthday.IsZero() {
		t.DaysUntilBirthday = daysUntilBirthday(s.birthday, now)
	}
}

func lifecycle(orders []OrderFact, now time.Time, cfg Config) Stage {
	first, last := orders[0].At, orders[len(orders)-1].At
	switch {
	case now.Sub(last) > cfg.LapsedAfter:
		return StageLapsed
	case now.Sub(last) > cfg.ActiveWithin:
		return StageAtRisk
	case now.Sub(first) <= cfg.NewWithin:
		return StageNew
	}
	for i := len(orders) - 1; i > 0; i-- {
		if orders[i].At.Sub(orders[i-1].At) > cfg.LapsedAfter {
			if now.Sub(orders[i].At) <= cfg.WonBackWithin {
				return StageWonBack
			}
			break
		}
	}
	return StageActive
}

// churnHeuristic is used until a model is fitted: the probability that a
// customer buying as a Poisson process at their own mean inter-purchase gap
// (or the default gap with a single order) would already have bought again,
// 1 − exp(−recency/gap). It reads "how overdue is this customer by their own
// rhythm"; it ignores that customers also drop out, which the model handles.
func churnHeuristic(orders []OrderFact, now time.Time, cfg Config) float64 {
	gap := cfg.DefaultInterPurchase.Hours() / 24
	if n := len(orders); n > 1 {
		gap = max(1, orders[n-1].At.Sub(orders[0].At).Hours()/24/float64(n-1))
	}
	recency := max(0, now.Sub(orders[len(orders)-1].At).Hours()/24)
	return 1 - math.Exp(-recency/gap)
}

// History summarises counted orders for the CLV models (days as the unit;
// MeanValue over the repeat orders, as the Gamma-Gamma model expects).
func History(orders []OrderFact, now time.Time) clv.Customer {
	if len(orders) == 0 {
		return clv.Customer{}
	}
	first, last := orders[0].At, orders[len(orders)-1].At
	c := clv.Customer{Frequency: len(orders) - 1, Age: max(0, now.Sub(first).Hours()/24)}
	if c.Frequency > 0 {
		c.Recency = min(c.Age, last.Sub(first).Hours()/24)
		var sum int64
		for _, o := range orders[1:] {
			sum += o.Net
		}
		c.MeanValue = float64(sum) / float64(c.Frequency)
	}
	return c
}

type keyList []string

func (k keyList) first() string {
	if len(k) == 0 {
		return ""
	}
	return k[0]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// topKeys returns up to n keys with the largest values, ties by key.
func topKeys[V int | int64](m map[string]V, n int) keyList {
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	return keys[:min(n, len(keys))]
}

// RFMCustomer is the customer's input to the population RFM scoring; ok is
// false for customers without orders, who have no RFM score.
func RFMCustomer(customerID string, t Traits) (rfm.Customer, bool) {
	if t.OrderCount == 0 {
		return rfm.Customer{}, false
	}
	return rfm.Customer{ID: customerID, RecencyDays: t.RecencyDays, Frequency: t.OrderCount, Monetary: t.TotalSpend}, true
}

// RFMScoreOf converts a population score into the stored form.
func RFMScoreOf(s rfm.Score) RFMScore {
	return RFMScore{R: s.R, F: s.F, M: s.M, Group: string(s.Group)}
}

// daysUntilBirthday counts whole calendar days (UTC) from now to the next
// birthday, 0 when it is today.
func daysUntilBirthday(b, now time.Time) int {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	next := time.Date(now.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	if next.Before(today) {
		next = time.Date(now.Year()+1, b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	}
	return int(next.Sub(today) / day)
}
