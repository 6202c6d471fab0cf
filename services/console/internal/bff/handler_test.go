package bff

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upstream records what the platform entry received, so the tests check what
// the console really sent over the network.
type upstream struct {
	srv  *httptest.Server
	last chan *http.Request
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{last: make(chan *http.Request, 1)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		select {
		case u.last <- r:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`","body":`+string(body)+`}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func newTestHandler(t *testing.T, base string) http.Handler {
	t.Helper()
	h, err := NewHandler(Config{APIBaseURL: base, APITimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAPICallsReachThePublicPathWithTheCallersTokenAndWithoutCookies(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	h := newTestHandler(t, up.srv.URL)
	cases := []struct {
		name, method, path, body, wantPath string
	}{
		{"a read with a query", http.MethodGet, "/console/api/v1/recommendations?customerId=c1&productIds=p1", "", "/v1/recommendations"},
		{"a custom verb", http.MethodPost, "/console/api/v1/referral/campaigns/c1:activate", `{"idempotencyKey":"k"}`, "/v1/referral/campaigns/c1:activate"},
		{"a patch", http.MethodPatch, "/console/api/v1/segments/s1", `{"segment":{}}`, "/v1/segments/s1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer tok-"+c.name)
			req.Header.Set("Cookie", "session=secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusTeapot {
				t.Fatalf("status = %d, want the upstream's 418; body %s", rec.Code, rec.Body)
			}
			got := <-up.last
			if got.URL.Path != c.wantPath {
				t.Errorf("upstream path = %q, want %q", got.URL.Path, c.wantPath)
			}
			if want := "Bearer tok-" + c.name; got.Header.Get("Authorization") != want {
				t.Errorf("upstream Authorization = %q, want %q", got.Header.Get("Authorization"), want)
			}
			if got.Header.Get("Cookie") != "" {
				t.Errorf("upstream got cookie %q, want none", got.Header.Get("Cookie"))
			}
			if q := strings.SplitN(c.path, "?", 2); len(q) == 2 && got.URL.RawQuery != q[1] {
				t.Errorf("upstream query = %q, want %q", got.URL.RawQuery, q[1])
			}
			if c.body != "" && !strings.Contains(rec.Body.String(), c.body) {
				t.Errorf("upstream saw body %s, want it to contain %s", rec.Body, c.body)
			}
		})
	}
}

func TestTheProxyRefusesPathsOutsideThePublicAPI(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	h := newTestHandler(t, up.srv.URL)
	cases := []struct {
		name, method, path string
		want               int
	}{
		{"the entry's health page", http.MethodGet, "/console/api/healthz", http.StatusNotFound},
		{"a version that does not exist", http.MethodGet, "/console/api/v2/segments", http.StatusNotFound},
		// The mux redirects to the cleaned path, /console/api/metrics, which
		// is outside /v1 and refused in turn.
		{"a climb out of /v1", http.MethodGet, "/console/api/v1/../metrics", http.StatusTemporaryRedirect},
		{"a method the API does not use", http.MethodPut, "/console/api/v1/segments", http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(c.method, "/", nil)
			req.URL.Path = c.path // keep ".." as sent, without client-side cleaning
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.want)
			}
			if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusTemporaryRedirect && ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json (a google.rpc.Status)", ct)
			}
			select {
			case r := <-up.last:
				t.Errorf("upstream was called with %s, want no call", r.URL.Path)
			default:
			}
		})
	}
}

func TestAnUnreachablePlatformAnswersAStatusTheUICanShow(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL
	dead.Close()
	h := newTestHandler(t, base)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/api/v1/segments", nil))
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), `"code":14`) {
		t.Errorf("body = %s, want a google.rpc.Status with code 14 (UNAVAILABLE)", rec.Body)
	}
}

func TestPagesAreServedWithAPolicyThatForbidsExternalRequests(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, "http://127.0.0.1:1")
	cases := []struct {
		path, wantType, wantBody string
		wantCode                 int
		framable                 bool
	}{
		{"/console/", "text/html; charset=utf-8", `src="/console/static/console.js"`, http.StatusOK, false},
		{"/console/storefront", "text/html; charset=utf-8", `src="/console/static/storefront.js"`, http.StatusOK, true},
		{"/console/static/console.js", "text/javascript; charset=utf-8", "hashchange", http.StatusOK, false},
		{"/console/static/style.css", "text/css; charset=utf-8", ":focus-visible", http.StatusOK, false},
		{"/console/static/index.html", "", "", http.StatusNotFound, false},
		{"/console/static/", "", "", http.StatusNotFound, false},
		{"/console/nothing", "", "", http.StatusNotFound, false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
			if rec.Code != c.wantCode {
				t.Fatalf("GET %s = %d, want %d", c.path, rec.Code, c.wantCode)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("CSP = %q, want every source limited to 'self'", csp)
			}
			if got := strings.Contains(csp, "frame-ancestors 'none'"); got == c.framable {
				t.Errorf("CSP = %q: framable = %v, want %v", csp, !got, c.framable)
			}
			if c.wantCode != http.StatusOK {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != c.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, c.wantType)
			}
			if !strings.Contains(rec.Body.String(), c.wantBody) {
				t.Errorf("body of %s does not contain %q", c.path, c.wantBody)
			}
		})
	}
}

func TestTheBarePrefixRedirectsToTheConsole(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, "http://127.0.0.1:1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/console/" {
		t.Fatalf("GET /console = %d Location %q, want 301 to /console/", rec.Code, rec.Header().Get("Location"))
	}
}

func TestConfigRejectsUnusableSettings(t *testing.T) {
	t.Parallel()
	good := Config{HTTPAddr: ":8085", AdminAddr: ":9105", APIBaseURL: "http://127.0.0.1:8080", APITimeout: time.Second, ShutdownTimeout: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"a relative API base URL", func(c *Config) { c.APIBaseURL = "/v1" }, "API_BASE_URL"},
		{"a non-HTTP API base URL", func(c *Config) { c.APIBaseURL = "ftp://x" }, "API_BASE_URL"},
		{"no HTTP address", func(c *Config) { c.HTTPAddr = "" }, "HTTP_ADDR"},
		{"a zero API timeout", func(c *Config) { c.APITimeout = 0 }, "API_TIMEOUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			c.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, c.want)
			}
		})
	}
}
