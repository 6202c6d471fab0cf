package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/affinity-platform/affinity/pkg/config"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
	"github.com/affinity-platform/affinity/services/recommendation/internal/domain/recommend"
)

// exportConfig is what the export reads from the environment: the service's
// database and its recommendation settings.
type exportConfig struct {
	DatabaseURL string `env:"DATABASE_URL" secret:"true"`
	App         app.Config
}

// Validate requires the database.
func (c exportConfig) Validate() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("DATABASE_URL must be set")
	}
	return nil
}

// exportLine is one member's list in the export (JSON lines).
type exportLine struct {
	CustomerID       string       `json:"customerId"`
	RecommendationID string       `json:"recommendationId"`
	Items            []exportItem `json:"items"`
}

type exportItem struct {
	ProductID string  `json:"productId"`
	Title     string  `json:"title"`
	Score     float64 `json:"score"`
	Reason    string  `json:"reason"`
}

// export is the `recommendation export` subcommand: recommendations for
// every member of a segment as JSON lines, for an e-mail campaign. It loads
// the models from the service's database as a replica does at start.
func export(ctx context.Context, args []string, env map[string]string, out io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	segment := fs.String("segment", "", "segment id (required)")
	limit := fs.Int("limit", 6, "items per member, 1..100")
	strategy := fs.String("strategy", "", "strategy (default: the e-mail plan, buy again then personalized)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *segment == "" {
		return fmt.Errorf("-segment is required")
	}
	st, err := recommend.ParseStrategy(*strategy)
	if err != nil {
		return err
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
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	q := app.Query{Request: recommend.Request{Placement: recommend.Email, Strategy: st, Limit: *limit}}
	err = a.SegmentRecommendations(ctx, *segment, q, func(id string, r app.Result) error {
		line := exportLine{CustomerID: id, RecommendationID: r.ID, Items: make([]exportItem, len(r.Items))}
		for i, it := range r.Items {
			line.Items[i] = exportItem{ProductID: it.ProductID, Title: it.Product.Title, Score: it.Score, Reason: it.Reason.String()}
		}
		return enc.Encode(line)
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
