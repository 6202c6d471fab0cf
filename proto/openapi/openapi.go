// Package openapi embeds the OpenAPI v2 documents generated from the service
// protos (one merged document per service), so each service can serve its
// own at /openapi.json without reading files at run time.
package openapi

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.swagger.json
var docs embed.FS

const suffix = ".swagger.json"

// Service returns the OpenAPI v2 JSON document of a service: "loyalty",
// "referral", "recommendation" or "segmentation".
func Service(name string) ([]byte, error) {
	b, err := docs.ReadFile(name + suffix)
	if err != nil {
		return nil, fmt.Errorf("openapi: no document for service %q (have %s): %w",
			name, strings.Join(Services(), ", "), err)
	}
	return b, nil
}

// Services returns the names of the services that have a document, sorted.
func Services() []string {
	// The embedded directory is fixed at build time and always readable, so
	// an error here cannot happen; an empty list would still be an honest answer.
	entries, _ := fs.ReadDir(docs, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), suffix); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
