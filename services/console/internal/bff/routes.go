package bff

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// route sends REST paths under prefix to base.
type route struct {
	prefix string
	base   *url.URL
}

// parseRoutes reads API_ROUTES: comma-separated "prefix=URL" pairs. The
// result is ordered longest prefix first, so the first match is the best.
func parseRoutes(s string) ([]route, error) {
	var out []route
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		prefix, raw, ok := strings.Cut(part, "=")
		prefix = strings.TrimSuffix(strings.TrimSpace(prefix), "/")
		if !ok || !strings.HasPrefix(prefix, "/v1/") {
			return nil, fmt.Errorf("%q: want /v1/<path>=<URL>", part)
		}
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q: %q is not an absolute http(s) URL", part, raw)
		}
		out = append(out, route{prefix: prefix, base: u})
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].prefix) > len(out[j].prefix) })
	return out, nil
}

// pick returns the base URL for a REST path: the longest route prefix that
// ends at a path element ("/", or ":" of a custom method), else fallback.
func pick(routes []route, fallback *url.URL, path string) *url.URL {
	for _, r := range routes {
		if path == r.prefix || strings.HasPrefix(path, r.prefix+"/") || strings.HasPrefix(path, r.prefix+":") {
			return r.base
		}
	}
	return fallback
}
