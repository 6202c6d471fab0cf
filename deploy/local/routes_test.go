package main

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/affinity-platform/affinity/proto/openapi"
)

func TestEveryPublicPathRoutesToItsService(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path, want string
	}{
		{"/v1/loyalty/members/c1", "loyalty"},
		{"/v1/loyalty/holds/h1:capture", "loyalty"},
		{"/v1/referral/campaigns", "referral"},
		{"/v1/referral/codes/ABC/clicks", "referral"},
		{"/v1/recommendations", "recommendation"},
		{"/v1/recommendations/feedback", "recommendation"},
		{"/v1/catalog/products:batchUpsert", "recommendation"},
		{"/v1/segments", "segmentation"},
		{"/v1/segments:preview", "segmentation"},
		{"/v1/segments/s1/members", "segmentation"},
		{"/v1/customers/c1/profile", "segmentation"},
		{"/v1/customers:identify", "segmentation"},
		{"/v1/events:track", "segmentation"},
		{"/console/", "console"},
		{"/console", "console"},
		{"/console/storefront", "console"},
		{"/consoles", ""},
		{"/v2/unknown", ""},
		{"/", ""},
	}
	for _, c := range cases {
		if got := serviceFor(c.path); got != c.want {
			t.Errorf("serviceFor(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

// Every REST path of every service's OpenAPI document reaches that service
// through the entry, so a new RPC cannot ship unreachable from the local
// stack. Path parameters are filled with a sample value.
func TestEveryPathOfEveryOpenAPIDocumentRoutesToItsService(t *testing.T) {
	t.Parallel()
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, svc := range openapi.Services() {
		doc, err := openapi.Service(svc)
		if err != nil {
			t.Fatal(err)
		}
		var spec struct {
			Paths map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(doc, &spec); err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		if len(spec.Paths) == 0 {
			t.Fatalf("%s: OpenAPI document lists no paths", svc)
		}
		for p := range spec.Paths {
			path := param.ReplaceAllString(p, "x1")
			if got := serviceFor(path); got != svc {
				t.Errorf("%s (%s) routes to %q, want %q", p, path, got, svc)
			}
		}
	}
}
