package ports

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/expiry"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/recognition"
)

// Config is the loyalty program's configuration read from the environment
// (the parts that are not edited through the API: earning rules, tiers and
// rewards are). docs/loyalty.md describes every variable.
type Config struct {
	// Currency is the program's ISO 4217 currency; orders in another currency earn nothing.
	Currency string `env:"LOYALTY_CURRENCY" envDefault:"EUR"`
	// BasePoints are earned per BasePerMinor minor units of eligible spend.
	BasePoints   int64 `env:"LOYALTY_BASE_POINTS" envDefault:"1"`
	BasePerMinor int64 `env:"LOYALTY_BASE_PER_MINOR" envDefault:"100"`
	// Rounding of fractional base points: down, half_up or up.
	Rounding string `env:"LOYALTY_ROUNDING" envDefault:"down"`
	// ExcludedSKUs and ExcludedCategories never earn (shipping, gift cards).
	ExcludedSKUs       []string `env:"LOYALTY_EXCLUDED_SKUS" envSeparator:","`
	ExcludedCategories []string `env:"LOYALTY_EXCLUDED_CATEGORIES" envDefault:"shipping,gift-cards" envSeparator:","`
	// MinOrderMinor is the eligible order value below which an order earns nothing.
	MinOrderMinor int64 `env:"LOYALTY_MIN_ORDER_MINOR" envDefault:"0"`
	// ReturnWindow keeps order points pending (not spendable) this long.
	ReturnWindow time.Duration `env:"LOYALTY_RETURN_WINDOW" envDefault:"0s"`
	// Expiry is never, fixed (ExpiryMonths after earning) or inactivity.
	Expiry           string        `env:"LOYALTY_EXPIRY" envDefault:"fixed"`
	ExpiryMonths     int           `env:"LOYALTY_EXPIRY_MONTHS" envDefault:"12"`
	ExpiryDays       int           `env:"LOYALTY_EXPIRY_DAYS" envDefault:"0"`
	ExpiryRoundTo    string        `env:"LOYALTY_EXPIRY_ROUND_TO" envDefault:"none"`
	InactivityMonths int           `env:"LOYALTY_INACTIVITY_MONTHS" envDefault:"18"`
	ExpiryWarnBefore time.Duration `env:"LOYALTY_EXPIRY_WARN_BEFORE" envDefault:"720h"`
	TimeZone         string        `env:"LOYALTY_TIME_ZONE" envDefault:"UTC"`
	// RedeemPoints points are worth RedeemValueMinor minor units at checkout.
	RedeemPoints     int64 `env:"LOYALTY_REDEEM_POINTS" envDefault:"100"`
	RedeemValueMinor int64 `env:"LOYALTY_REDEEM_VALUE_MINOR" envDefault:"100"`
	// DebtPolicy is what a refund does when its points were spent: allow_negative or cap_at_zero.
	DebtPolicy     string        `env:"LOYALTY_DEBT_POLICY" envDefault:"allow_negative"`
	HoldTTL        time.Duration `env:"LOYALTY_HOLD_TTL" envDefault:"15m"`
	CouponValidity time.Duration `env:"LOYALTY_COUPON_VALIDITY" envDefault:"720h"`
	// Transfers lets members give points to other members.
	Transfers bool `env:"LOYALTY_TRANSFERS" envDefault:"false"`
	// BirthdayPoints and AnniversaryPoints are paid once a year on the
	// member's birthday and enrolment anniversary (0 = off), within
	// RecognitionGrace of the day.
	BirthdayPoints    int64         `env:"LOYALTY_BIRTHDAY_POINTS" envDefault:"0"`
	AnniversaryPoints int64         `env:"LOYALTY_ANNIVERSARY_POINTS" envDefault:"0"`
	RecognitionGrace  time.Duration `env:"LOYALTY_RECOGNITION_GRACE" envDefault:"168h"`
	// OrderMilestones and PointsMilestones are "threshold:points" lists,
	// e.g. "10:100,50:500": points paid once when the member's order count
	// or lifetime points reach the threshold.
	OrderMilestones  []string `env:"LOYALTY_ORDER_MILESTONES" envSeparator:","`
	PointsMilestones []string `env:"LOYALTY_POINTS_MILESTONES" envSeparator:","`
	// JobInterval is how often the expiry and tier-review jobs run.
	JobInterval time.Duration `env:"LOYALTY_JOB_INTERVAL" envDefault:"1m"`
	// OrderBatchSize is the most order events handled in one transaction.
	OrderBatchSize int `env:"LOYALTY_ORDER_BATCH_SIZE" envDefault:"2500"`
	// Consumers is how many members of the consumer group each replica runs.
	// Kafka gives each its own partitions, so their transactions run in
	// parallel while one customer's events (one partition) stay in order.
	Consumers int `env:"LOYALTY_CONSUMERS" envDefault:"3"`
}

// Validate checks the settings by building the program from them.
func (c *Config) Validate() error {
	var errs []error
	if c.JobInterval <= 0 {
		errs = append(errs, errors.New("LOYALTY_JOB_INTERVAL must be positive"))
	}
	if c.OrderBatchSize < 1 || c.OrderBatchSize > 10000 {
		errs = append(errs, fmt.Errorf("LOYALTY_ORDER_BATCH_SIZE must be within 1..10000, got %d", c.OrderBatchSize))
	}
	if c.Consumers < 1 || c.Consumers > 64 {
		errs = append(errs, fmt.Errorf("LOYALTY_CONSUMERS must be within 1..64, got %d", c.Consumers))
	}
	if _, err := c.App(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// App turns the settings into the app's program configuration.
func (c *Config) App() (app.Config, error) {
	rounding := map[string]money.Rounding{"down": money.RoundDown, "half_up": money.RoundHalfUp, "up": money.RoundUp}
	r, ok := rounding[c.Rounding]
	if !ok {
		return app.Config{}, fmt.Errorf("LOYALTY_ROUNDING must be down, half_up or up, got %q", c.Rounding)
	}
	kinds := map[string]expiry.Kind{"never": expiry.Never, "fixed": expiry.FixedPeriod, "inactivity": expiry.Inactivity}
	kind, ok := kinds[c.Expiry]
	if !ok {
		return app.Config{}, fmt.Errorf("LOYALTY_EXPIRY must be never, fixed or inactivity, got %q", c.Expiry)
	}
	rounds := map[string]expiry.RoundTo{"none": expiry.NoRounding, "month": expiry.EndOfMonth, "quarter": expiry.EndOfQuarter, "year": expiry.EndOfYear}
	roundTo, ok := rounds[c.ExpiryRoundTo]
	if !ok {
		return app.Config{}, fmt.Errorf("LOYALTY_EXPIRY_ROUND_TO must be none, month, quarter or year, got %q", c.ExpiryRoundTo)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return app.Config{}, fmt.Errorf("LOYALTY_TIME_ZONE: %w", err)
	}
	debt := map[string]ledger.DebtPolicy{"allow_negative": ledger.AllowNegative, "cap_at_zero": ledger.CapAtZero}
	dp, ok := debt[c.DebtPolicy]
	if !ok {
		return app.Config{}, fmt.Errorf("LOYALTY_DEBT_POLICY must be allow_negative or cap_at_zero, got %q", c.DebtPolicy)
	}
	pol := expiry.Policy{Kind: kind, WarnBefore: c.ExpiryWarnBefore, Location: loc}
	switch kind {
	case expiry.FixedPeriod:
		pol.Months, pol.Days, pol.RoundTo = c.ExpiryMonths, c.ExpiryDays, roundTo
	case expiry.Inactivity:
		pol.InactivityMonths = c.InactivityMonths
	}
	orders, err := milestones("LOYALTY_ORDER_MILESTONES", c.OrderMilestones)
	if err != nil {
		return app.Config{}, err
	}
	points, err := milestones("LOYALTY_POINTS_MILESTONES", c.PointsMilestones)
	if err != nil {
		return app.Config{}, err
	}
	cfg := app.Config{
		Program: earning.Program{
			Currency: c.Currency, BaseRate: earning.Rate{Points: c.BasePoints, Per: money.New(c.BasePerMinor, c.Currency), Rounding: r},
			ExcludedSKUs: c.ExcludedSKUs, ExcludedCategories: c.ExcludedCategories, MinOrderValue: c.MinOrderMinor,
			ReturnWindow: c.ReturnWindow, Expiry: pol,
		},
		Conversion:       money.Conversion{Points: c.RedeemPoints, Value: money.New(c.RedeemValueMinor, c.Currency)},
		DebtPolicy:       dp,
		HoldTTL:          c.HoldTTL,
		ExpiringWindow:   30 * 24 * time.Hour,
		CouponValidity:   c.CouponValidity,
		TransfersEnabled: c.Transfers,
		Recognition: recognition.Config{BirthdayPoints: c.BirthdayPoints, AnniversaryPoints: c.AnniversaryPoints,
			OrderMilestones: orders, PointsMilestones: points, Grace: c.RecognitionGrace, Location: loc},
	}
	if err := cfg.Validate(); err != nil {
		return app.Config{}, fmt.Errorf("LOYALTY_* settings: %w", err)
	}
	return cfg, nil
}

// milestones parses "threshold:points" pairs.
func milestones(name string, list []string) ([]recognition.Milestone, error) {
	var out []recognition.Milestone
	for _, item := range list {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		t, p, ok := strings.Cut(item, ":")
		th, err1 := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		pts, err2 := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if !ok || err1 != nil || err2 != nil || th <= 0 || pts <= 0 {
			return nil, fmt.Errorf("%s: %q is not threshold:points with positive numbers", name, item)
		}
		out = append(out, recognition.Milestone{Threshold: th, Points: pts})
	}
	return out, nil
}
