// Package db embeds the referral service's SQL migrations, so the binary
// can migrate its database itself (the migrate subcommand, a Helm hook Job).
package db

import (
	"embed"
	"io/fs"

	"github.com/affinity-platform/affinity/pkg/postgres"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations holds the goose migration files at its root.
var Migrations fs.FS = mustSub(files, "migrations")

// Set is the migration set of the referral service (goose table goose_referral).
var Set = postgres.MigrationSet{Name: "referral", FS: Migrations}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, a constant here.
		return f
	}
	return sub
}
