package main

import "strings"

// A route sends every REST path under one of its prefixes to one service's
// HTTP (grpc-gateway) port. The Kubernetes ingress in charts/ carries the
// same table; keep the two in step.
type route struct {
	service  string
	prefixes []string
	// exact lists whole paths routed to the service besides its prefixes.
	exact []string
}

// routes is the path table of the public REST surface (docs/api.md).
var routes = []route{
	{service: "loyalty", prefixes: []string{"/v1/loyalty/"}},
	{service: "referral", prefixes: []string{"/v1/referral/"}},
	{service: "recommendation", prefixes: []string{"/v1/recommendations", "/v1/catalog/", "/v1/experiments/"}},
	{service: "segmentation", prefixes: []string{"/v1/segments", "/v1/customers/", "/v1/customers:", "/v1/events:", "/v1/segment-templates", "/v1/rfm/", "/v1/rfm:", "/v1/population/"}},
	// The marketer console and the storefront demo (services/console); the
	// console redirects /console to /console/.
	{service: "console", prefixes: []string{"/console/"}, exact: []string{"/console"}},
}

// serviceFor returns the service that serves path, or "" when no route
// matches.
func serviceFor(path string) string {
	for _, r := range routes {
		for _, p := range r.exact {
			if path == p {
				return r.service
			}
		}
		for _, p := range r.prefixes {
			if strings.HasPrefix(path, p) {
				return r.service
			}
		}
	}
	return ""
}
