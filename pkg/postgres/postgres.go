// Package postgres is how services reach PostgreSQL: a traced pgx pool from a
// URL, goose migrations embedded in the binary, and transactions that are
// retried when PostgreSQL aborts them for serialization failures or
// deadlocks.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connect opens a connection pool for url (a postgres:// URL or keyword/value
// DSN; pool_max_conns and friends in it are honoured), traces every query with
// OpenTelemetry and checks the database answers before returning.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error text of ParseConfig can contain the password; say only
		// what went wrong with it.
		return nil, fmt.Errorf("postgres: parse connection URL: %w", err)
	}
	// Recycle connections now and then so that a failover or a changed
	// DNS name is picked up, and do not hold idle server processes forever.
	if cfg.MaxConnLifetime == time.Hour { // pgxpool's default: not set in the URL
		cfg.MaxConnLifetime = 30 * time.Minute
	}
	if cfg.MaxConnIdleTime == 30*time.Minute {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	cfg.ConnConfig.Tracer = otelpgx.NewTracer()

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}
