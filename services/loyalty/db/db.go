// Package db embeds the loyalty service's SQL: the goose migrations the
// binary applies (loyalty migrate, or MIGRATE_ON_START) and, beside them, the
// queries sqlc generates Go code from (internal/adapters/postgres/sqlc).
package db

import (
	"embed"
	"io/fs"

	"github.com/affinity-platform/affinity/pkg/postgres"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the loyalty schema, tracked in goose_loyalty.
var Migrations = postgres.MigrationSet{Name: "loyalty", FS: sub()}

func sub() fs.FS {
	f, err := fs.Sub(files, "migrations")
	if err != nil {
		// fs.Sub fails only for an invalid path, which is a constant here.
		return files
	}
	return f
}
