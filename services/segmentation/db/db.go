// Package db embeds the segmentation service's SQL migrations so the
// binary can apply them (the migrate subcommand, MIGRATE_ON_START).
package db

import (
	"embed"
	"io/fs"

	"github.com/affinity-platform/affinity/pkg/postgres"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the service's own migration set.
var Migrations = postgres.MigrationSet{Name: "segmentation", FS: mustSub(files, "migrations")}

// mustSub cannot fail for a directory that embed guarantees exists; a
// failure would be a build mistake, reported as an empty set that then
// fails loudly at migrate time.
func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		return embed.FS{}
	}
	return sub
}
