package openapi_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/affinity-platform/affinity/proto/openapi"
)

func TestEveryServiceHasAnOpenAPIDocumentOfItsOwnPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service string
		path    string // one path the service's document must describe
	}{
		{service: "loyalty", path: "/v1/loyalty/members/{customerId}"},
		{service: "recommendation", path: "/v1/recommendations"},
		{service: "referral", path: "/v1/referral/campaigns"},
		{service: "segmentation", path: "/v1/segments"},
	}
	var want []string
	for _, tt := range tests {
		want = append(want, tt.service)
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			b, err := openapi.Service(tt.service)
			if err != nil {
				t.Fatalf("Service(%q): expected a document, got error %v", tt.service, err)
			}
			var doc struct {
				Swagger string                     `json:"swagger"`
				Paths   map[string]json.RawMessage `json:"paths"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("Service(%q): expected JSON, got error %v", tt.service, err)
			}
			if doc.Swagger != "2.0" {
				t.Errorf("Service(%q): expected swagger 2.0, got %q", tt.service, doc.Swagger)
			}
			if _, ok := doc.Paths[tt.path]; !ok {
				t.Errorf("Service(%q): expected path %s, got paths %v", tt.service, tt.path, keys(doc.Paths))
			}
		})
	}
	if got := openapi.Services(); !slices.Equal(got, want) {
		t.Errorf("Services(): expected %v, got %v", want, got)
	}
}

func TestAnUnknownServiceIsAnError(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "billing", "loyalty.swagger", "../openapi"} {
		if b, err := openapi.Service(name); err == nil {
			t.Errorf("Service(%q): expected an error, got %d bytes", name, len(b))
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
