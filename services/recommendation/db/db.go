// Package db embeds the recommendation service's SQL migrations, so the
// binary migrates its own database (the migrate subcommand, or on start).
package db

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/affinity-platform/affinity/pkg/postgres"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the service's own migration set.
func Migrations() (postgres.MigrationSet, error) {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		return postgres.MigrationSet{}, fmt.Errorf("recommendation migrations: %w", err)
	}
	return postgres.MigrationSet{Name: "recommendation", FS: sub}, nil
}
