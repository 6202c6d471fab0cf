// Command platformctl is the operator's tool for a running platform:
//
//	platformctl import [-dataset PATH] [-brokers LIST] [-limit N]
//	    publishes the UCI Online Retail dataset as commerce events
//	platformctl token -sub ID -role ROLE [-ttl 720h]
//	    prints a JWT signed with the local stack's secret (.data/jwt.secret)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/affinity-platform/affinity/deploy/local/importer"
	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/affinity-platform/affinity/pkg/onlineretail"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "platformctl:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  platformctl import [-dataset PATH] [-brokers LIST] [-limit N]
  platformctl token -sub ID -role ROLE [-ttl DURATION] [-secret-file PATH]`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "import":
		return runImport(ctx, args[1:])
	case "token":
		return runToken(args[1:])
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func runImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	dataset := fs.String("dataset", "", "path of online_retail.csv(.gz) (default: ../shared/datasets/online-retail/ beside the checkout)")
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated Kafka brokers")
	limit := fs.Int("limit", 0, "import only the first N invoices (0: all)")
	asOf := fs.String("as-of", "now", `move the history in whole days so that it ends on this date (YYYY-MM-DD), "now" for today, or "original" to keep the published dates`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := *dataset
	if path == "" {
		p, err := onlineretail.Find(".", onlineretail.OnlineRetail)
		if err != nil {
			return fmt.Errorf("%w; download it from https://archive.ics.uci.edu/dataset/352/online+retail and pass -dataset", err)
		}
		path = p
	}
	fmt.Fprintf(os.Stderr, "reading %s ...\n", path)
	var rows []onlineretail.Row
	if err := onlineretail.Each(path, func(r onlineretail.Row) error { rows = append(rows, r); return nil }); err != nil {
		return err
	}
	shift, err := shiftFor(rows, *asOf, time.Now())
	if err != nil {
		return err
	}
	if shift != 0 {
		for i := range rows {
			rows[i].Time = rows[i].Time.Add(shift)
		}
		fmt.Fprintf(os.Stderr, "moving the history %d days forward so that it ends on %s (-as-of)\n", int(shift.Hours()/24), rows[len(rows)-1].Time.Format(time.DateOnly))
	}
	evs, sum := importer.Events(rows, *limit)
	fmt.Fprintf(os.Stderr, "publishing %d events to %s ...\n", len(evs), *brokers)
	w := events.NewWriter(strings.Split(*brokers, ","))
	defer w.Close()
	took, err := importer.Publish(ctx, w, evs, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Printf(`imported %s
  rows                 %d
  customers            %d
  products             %d
  orders (completed)   %d
  refunds              %d
  anonymous invoices   %d (left out: no customer)
  unmatched cancelled units %d (ordered before the data starts)
  period               %s .. %s
  events               %d in %s (%.0f/s)
Importing again changes nothing: event ids come from the source rows.
`, filepath.Base(path), len(rows), sum.Customers, sum.Products, sum.Orders, sum.Refunds, sum.AnonymousInvoices,
		sum.UnmatchedCancelledUnits, sum.First.Format(time.DateOnly), sum.Last.Format(time.DateOnly),
		len(evs), took.Round(time.Millisecond), float64(len(evs))/max(took.Seconds(), 1e-9))
	return nil
}

// shiftFor is the whole number of days that moves the last row of the data
// to the as-of date, keeping every time of day and every gap between
// events: a 2011 history imported today shows current points, recency and
// expiry instead of fifteen-year-old ones. It never moves events into the
// future.
func shiftFor(rows []onlineretail.Row, asOf string, now time.Time) (time.Duration, error) {
	if asOf == "original" || len(rows) == 0 {
		return 0, nil
	}
	last := rows[0].Time
	for _, r := range rows {
		if r.Time.After(last) {
			last = r.Time
		}
	}
	target := now
	if asOf != "now" {
		d, err := time.ParseInLocation(time.DateOnly, asOf, last.Location())
		if err != nil {
			return 0, fmt.Errorf(`-as-of: want YYYY-MM-DD, "now" or "original": %w`, err)
		}
		target = d.Add(24*time.Hour - time.Minute)
	}
	days := int(target.Sub(last).Hours() / 24)
	shift := time.Duration(days) * 24 * time.Hour
	if last.Add(shift).After(now) {
		shift -= 24 * time.Hour
	}
	return shift, nil
}

func runToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "subject: the customer id, or who the marketer is")
	role := fs.String("role", "customer", "role: customer, marketer, admin, service or partner (comma-separated for several)")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "how long the token is valid")
	secretFile := fs.String("secret-file", filepath.Join(envOr("AFFINITY_DATA_DIR", ".data"), "jwt.secret"), "file holding the HS256 secret (the local stack's data dir, AFFINITY_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("token: -sub is required")
	}
	raw, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("token: read secret (start the platform with make run first): %w", err)
	}
	var roles []auth.Role
	for _, r := range strings.Split(*role, ",") {
		switch auth.Role(r) {
		case auth.RoleCustomer, auth.RoleMarketer, auth.RoleAdmin, auth.RoleService, auth.RolePartner:
			roles = append(roles, auth.Role(r))
		default:
			return fmt.Errorf("token: -role: unknown role %q", r)
		}
	}
	tok, err := auth.Sign(strings.TrimSpace(string(raw)), auth.Claims{Subject: *sub, Roles: roles, ExpiresAt: time.Now().Add(*ttl)})
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
