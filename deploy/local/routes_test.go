package main

import "testing"

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
