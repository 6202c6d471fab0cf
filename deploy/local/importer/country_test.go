package importer

import (
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/affinity-platform/affinity/pkg/onlineretail"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
)

// notOneCountry are the dataset's country names that name no single
// country, so they get no code.
var notOneCountry = map[string]bool{"European Community": true, "Channel Islands": true, "West Indies": true, "Unspecified": true}

func TestEveryCountryOfBothDatasetFilesBecomesAnISOCodeOrNothing(t *testing.T) {
	t.Parallel()
	iso := regexp.MustCompile(`^[A-Z]{2}$`)
	for _, file := range []string{onlineretail.OnlineRetail, onlineretail.OnlineRetailII} {
		path, err := onlineretail.Find(".", file)
		if errors.Is(err, onlineretail.ErrNotFound) && os.Getenv("CI") == "" {
			t.Skipf("dataset missing: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		if err := onlineretail.Each(path, func(r onlineretail.Row) error { seen[r.Country] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		for name := range seen {
			code := countryCode(name)
			switch {
			case notOneCountry[name] && code != "":
				t.Errorf("%s: %q is no single country but got code %q", file, name, code)
			case !notOneCountry[name] && !iso.MatchString(code):
				t.Errorf("%s: country %q has no ISO 3166-1 alpha-2 code (got %q)", file, name, code)
			}
		}
	}
}

func TestCustomerEventsCarryTheCountryCode(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"United Kingdom": "GB", "EIRE": "IE", "RSA": "ZA", "European Community": ""} {
		ev := customerEvent(onlineretail.Invoice{ID: "1", CustomerID: "c1", Country: name})
		if got := ev.Payload.(*commercev1.CustomerEvent).GetCustomer().GetCountry(); got != want {
			t.Errorf("country %q: customer event says %q, want %q", name, got, want)
		}
	}
}
