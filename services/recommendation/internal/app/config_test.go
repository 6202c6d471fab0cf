package app

import (
	"strings"
	"testing"
	"time"
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
