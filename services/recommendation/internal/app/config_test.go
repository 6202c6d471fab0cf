package app

import (
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

func TestConfigValidationNamesTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"the defaults are valid", func(*Config) {}, ""},
		{"boosts that are not JSON", func(c *Config) { c.BoostsJSON = "{" }, "RECO_BOOSTS"},
		{"a boost without products or categories", func(c *Config) { c.BoostsJSON = `[{"Name":"x","Multiplier":2}]` }, "product_ids"},
		{"an experiment with one variant", func(c *Config) {
			c.ExperimentsJSON = `[{"ID":"x","Variants":[{"Name":"a","Weight":1}]}]`
		}, "RECO_EXPERIMENTS[0]"},
		{"an experiment variant with an unknown strategy", func(c *Config) {
			c.ExperimentsJSON = `[{"ID":"x","Variants":[{"Name":"a","Weight":1},{"Name":"b","Weight":1,"Strategy":"magic"}]}]`
		}, "RECO_EXPERIMENTS[0].variants[1]"},
		{"an inverted upsell band", func(c *Config) { c.UpsellMinRatio, c.UpsellMaxRatio = 2, 1.5 }, "upsell"},
		{"anchor diversity above 1", func(c *Config) { c.AnchorDiversity = 1.5 }, "RECO_"},
		{"a zero poll interval", func(c *Config) { c.PollInterval = 0 }, "RECO_POLL_INTERVAL"},
		{"a sub-second refresh", func(c *Config) { c.RefreshInterval = time.Millisecond }, "RECO_REFRESH_INTERVAL"},
		{"no recent events", func(c *Config) { c.RecentEvents = 0 }, "RECO_RECENT_EVENTS"},
		{"an empty customer cache", func(c *Config) { c.CustomerCacheSize = 0 }, "RECO_CUSTOMER_CACHE_SIZE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate() = %v, want an error naming %q", err, c.want)
			}
		})
	}
}

func TestTheCustomerCacheExpiresAndForgets(t *testing.T) {
	t.Parallel()
	c := newCustomerCache(time.Second, 4)
	at := time.Unix(1000, 0)
	c.put("a", customerWith("a"), at)
	if _, ok := c.get("a", at.Add(500*time.Millisecond)); !ok {
		t.Error("an entry within its TTL was not served")
	}
	if _, ok := c.get("a", at.Add(1500*time.Millisecond)); ok {
		t.Error("an expired entry was served")
	}
	c.put("b", customerWith("b"), at)
	c.forget("b")
	if _, ok := c.get("b", at); ok {
		t.Error("a forgotten entry was served")
	}
	for i := range 10 {
		c.put(string(rune('c'+i)), customerWith("x"), at)
	}
	if n := len(c.m); n > 4 {
		t.Errorf("cache holds %d entries, want at most its size 4", n)
	}
}

func customerWith(id string) recommend.Customer { return recommend.Customer{ID: id} }
