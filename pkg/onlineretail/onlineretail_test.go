package onlineretail

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// dataset returns the path of a shared dataset file; CI must have it, a
// developer without ../shared skips.
func dataset(t *testing.T, file string) string {
	t.Helper()
	p, err := Find(".", file)
	if errors.Is(err, ErrNotFound) && os.Getenv("CI") == "" {
		t.Skipf("dataset missing (%v); CI provides it", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPenceConvertsDecimalPoundsExactly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want int64
	}{
		{"2.55", 255}, {"0", 0}, {"3", 300}, {"0.001", 0}, {"0.005", 1}, {"-11062.06", -1106206},
		{"4.1", 410}, {".5", 50}, {"1.995", 200},
	}
	for _, c := range cases {
		got, err := Pence(c.in)
		if err != nil || got != c.want {
			t.Errorf("Pence(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "abc", "1.2x", "--1"} {
		if _, err := Pence(bad); err == nil {
			t.Errorf("Pence(%q) succeeded, want an error", bad)
		}
	}
}

func TestProductsAreToldFromPostageFeesAndVouchers(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"POST", "DOT", "M", "m", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "gift_0001_20", "PADS"} {
		if IsProduct(code) {
			t.Errorf("IsProduct(%q) = true, want false", code)
		}
	}
	for _, code := range []string{"85123A", "71053", "DCGS0003", "47566B"} {
		if !IsProduct(code) {
			t.Errorf("IsProduct(%q) = false, want true", code)
		}
	}
}

func TestCategoriesComeFromDescriptionsWithSeasonFirst(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"WHITE HANGING HEART T-LIGHT HOLDER": "home/lighting",
		"CHRISTMAS CRAFT WHITE FAIRY":        "seasonal/christmas",
		"GARDENERS KNEELING PAD KEEP CALM":   "garden",
		"JUMBO BAG RED RETROSPOT":            "bags",
		"PACK OF 72 RETROSPOT CAKE CASES":    "party",
		"SOMETHING ELSE ENTIRELY":            "other",
	}
	for desc, want := range cases {
		if got := strings.Join(Category(desc), "/"); got != want {
			t.Errorf("Category(%q) = %s, want %s", desc, got, want)
		}
	}
	if !Consumable("PACK OF 72 RETROSPOT CAKE CASES") || Consumable("WHITE METAL LANTERN") {
		t.Error("cake cases must be consumable and a lantern durable")
	}
}

// The figures are the dataset's published reference figures (its README).
func TestOnlineRetailReadsToItsPublishedFigures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file                                                     string
		rows, invoices, cancellations, customers, codes, anonRow int
	}{
		{OnlineRetail, 541909, 25900, 3836, 4372, 4070, 135080},
		{OnlineRetailII, 525461, 28816, 4592, 4383, 4632, 107927},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			var rows []Row
			if err := Each(dataset(t, c.file), func(r Row) error { rows = append(rows, r); return nil }); err != nil {
				t.Fatal(err)
			}
			invs := Invoices(rows)
			customers, codes := map[string]bool{}, map[string]bool{}
			cancellations, anon := 0, 0
			for _, r := range rows {
				codes[r.StockCode] = true
				if r.CustomerID == "" {
					anon++
				} else {
					customers[r.CustomerID] = true
				}
			}
			for _, inv := range invs {
				if inv.IsCancellation() {
					cancellations++
				}
			}
			got := []int{len(rows), len(invs), cancellations, len(customers), len(codes), anon}
			want := []int{c.rows, c.invoices, c.cancellations, c.customers, c.codes, c.anonRow}
			names := []string{"rows", "invoices", "cancellation invoices", "customers", "stock codes", "anonymous rows"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s: %d, want %d", names[i], got[i], want[i])
				}
			}
			for i := 1; i < len(invs); i++ {
				if invs[i].Time.Before(invs[i-1].Time) {
					t.Fatalf("invoices out of time order at %s", invs[i].ID)
				}
			}
		})
	}
}

func TestCancellationsMatchEarlierOrdersOfTheSameCustomer(t *testing.T) {
	t.Parallel()
	var rows []Row
	if err := Each(dataset(t, OnlineRetail), func(r Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	invs := Invoices(rows)
	m := MatchCancellations(invs)
	if len(m.Refunds) == 0 || m.MatchedUnits == 0 {
		t.Fatalf("no cancellation matched: %+v", m)
	}
	byID := map[string]Invoice{}
	for _, inv := range invs {
		byID[inv.ID] = inv
	}
	for _, r := range m.Refunds {
		o, ok := byID[r.OrderID]
		if !ok || o.IsCancellation() || o.CustomerID != r.CustomerID || !o.Time.Before(r.Time.Add(1)) {
			t.Fatalf("refund %s matched order %s that is not an earlier order of customer %s", r.CancellationID, r.OrderID, r.CustomerID)
		}
		ordered := map[string]int64{}
		for _, l := range o.Lines {
			ordered[l.StockCode] += l.Quantity
		}
		for _, l := range r.Lines {
			if l.Quantity <= 0 || l.Quantity > ordered[l.StockCode] {
				t.Fatalf("refund %s takes %d of %s from order %s, which had %d", r.CancellationID, l.Quantity, l.StockCode, r.OrderID, ordered[l.StockCode])
			}
		}
	}
	t.Logf("%d refunds, %d units matched, %d unmatched (ordered before the data starts)", len(m.Refunds), m.MatchedUnits, m.UnmatchedUnits)
}
