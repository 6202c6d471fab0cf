package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
)

// results is the `recommendation results` subcommand: impressions, clicks,
// conversions, CTR and the significance against the control for each
// variant of a configured experiment (RECO_EXPERIMENTS), from the feedback
// recorded through the API.
func results(ctx context.Context, args []string, env map[string]string, out io.Writer) error {
	fs := flag.NewFlagSet("results", flag.ContinueOnError)
	id := fs.String("experiment", "", "experiment id (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("-experiment is required")
	}
	cfg := exportConfig{App: app.DefaultConfig()}
	if err := config.LoadFrom(env, &cfg); err != nil {
		return err
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	a, err := app.New(ctx, pool, cfg.App, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	rs, err := a.ExperimentResults(ctx, *id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "| variant | impressions | clicks | conversions | CTR | conversion rate | CTR lift | p-value |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, r := range rs {
		lift, p := "control", "-"
		if i > 0 {
			lift, p = fmt.Sprintf("%+.1f%%", 100*r.Comparison.Lift), fmt.Sprintf("%.4f", r.Comparison.PValue)
			if r.Comparison.Significant {
				p += " (significant)"
			}
		}
		fmt.Fprintf(out, "| %s | %d | %d | %d | %.4f | %.4f | %s | %s |\n", r.Variant, r.Impressions, r.Clicks, r.Conversions, r.CTR(), r.ConversionRate(), lift, p)
	}
	return nil
}
