package bff

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// provider is a minimal OpenID provider over real HTTP: discovery, and a
// token endpoint that checks the PKCE verifier against the challenge the
// authorization step recorded for the code, as RFC 7636 requires.
type provider struct {
	srv        *httptest.Server
	mu         sync.Mutex
	challenges map[string]string // code -> S256 challenge
	discovered int
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.discovered++
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		want, ok := p.challenges[r.Form.Get("code")]
		delete(p.challenges, r.Form.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if !ok || r.Form.Get("grant_type") != "authorization_code" || r.Form.Get("client_id") != "console" || base64.RawURLEncoding.EncodeToString(sum[:]) != want {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"code or verifier does not match"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"at-`+r.Form.Get("code")+`","token_type":"Bearer","expires_in":300,"refresh_token":"rt","id_token":"it"}`)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// authorize records a code for a verifier, as the provider's login page
// does when the user signs in.
func (p *provider) authorize(code, verifier string) {
	sum := sha256.Sum256([]byte(verifier))
	p.mu.Lock()
	p.challenges[code] = base64.RawURLEncoding.EncodeToString(sum[:])
	p.mu.Unlock()
}

func TestOIDCSignInExchangesACodeWithItsVerifierForTheAccessTokenOnly(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	h, err := NewHandler(Config{APIBaseURL: "http://127.0.0.1:1", APITimeout: 5 * time.Second, OIDC: OIDCConfig{Issuer: p.srv.URL, ClientID: "console", Scopes: "openid roles"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/auth/config", nil))
	var cfg struct{ OIDC map[string]string }
	if err := json.Unmarshal(rec.Body.Bytes(), &cfg); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("config: expected 200 with JSON, got %d %s (%v)", rec.Code, rec.Body, err)
	}
	if cfg.OIDC["authorizationEndpoint"] != p.srv.URL+"/authorize" || cfg.OIDC["clientId"] != "console" || cfg.OIDC["scopes"] != "openid roles" {
		t.Errorf("config: expected the discovered authorization endpoint, client id and scopes, got %v", cfg.OIDC)
	}
	verifier := strings.Repeat("v", 50)
	cases := []struct {
		name, code, verifier string
		authorize            bool
		wantStatus           int
		wantToken            string
	}{
		{"a code with its verifier", "c1", verifier, true, http.StatusOK, "at-c1"},
		{"a code with another verifier", "c2", strings.Repeat("w", 50), true, http.StatusUnauthorized, ""},
		{"a code the provider never issued", "c3", verifier, false, http.StatusUnauthorized, ""},
		{"a verifier that is too short", "c4", "short", true, http.StatusBadRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.authorize {
				p.authorize(c.code, verifier)
			}
			body, _ := json.Marshal(tokenRequest{Code: c.code, CodeVerifier: c.verifier, RedirectURI: "https://console.example.com/console/"})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/console/auth/token", strings.NewReader(string(body))))
			if rec.Code != c.wantStatus {
				t.Fatalf("expected status %d, got %d: %s", c.wantStatus, rec.Code, rec.Body)
			}
			var got map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			if c.wantToken != "" && got["accessToken"] != c.wantToken {
				t.Errorf("expected access token %q, got %v", c.wantToken, got)
			}
			if _, leaked := got["refreshToken"]; leaked || strings.Contains(rec.Body.String(), `"rt"`) {
				t.Errorf("expected the refresh token to stay out of the answer, got %s", rec.Body)
			}
		})
	}
}

func TestWithoutOIDCTheSignInPageIsToldToTakeAPastedToken(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, "http://127.0.0.1:1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/auth/config", nil))
	if strings.TrimSpace(rec.Body.String()) != `{"oidc":null}` {
		t.Errorf("expected {\"oidc\":null}, got %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/console/auth/token", strings.NewReader(`{}`)))
	if rec.Code != http.StatusNotFound {
		t.Errorf("expected the token exchange to be 404 without OIDC, got %d", rec.Code)
	}
}

func TestAPIRoutesSendEachPathToTheServiceWithTheLongestWholeElementPrefix(t *testing.T) {
	t.Parallel()
	loyalty, segments, entry := newUpstream(t), newUpstream(t), newUpstream(t)
	h, err := NewHandler(Config{APIBaseURL: entry.srv.URL, APITimeout: 5 * time.Second,
		APIRoutes: "/v1/loyalty=" + loyalty.srv.URL + ", /v1/segments=" + segments.srv.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want *upstream
		name string
	}{
		{"/v1/loyalty/program", loyalty, "loyalty"},
		{"/v1/segments:preview", segments, "segments"},
		{"/v1/segments/s1/sizes", segments, "segments"},
		{"/v1/loyaltyx", entry, "the fallback entry"},
		{"/v1/rfm/grid", entry, "the fallback entry"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/api"+c.path, nil))
		select {
		case got := <-c.want.last:
			if got.URL.Path != c.path {
				t.Errorf("%s: expected path %s upstream, got %s", c.path, c.path, got.URL.Path)
			}
		default:
			t.Errorf("%s: expected it to reach %s, it did not (status %d)", c.path, c.name, rec.Code)
		}
	}
}

func TestBadRoutesAndOIDCSettingsAreRefused(t *testing.T) {
	t.Parallel()
	base := Config{HTTPAddr: ":1", AdminAddr: ":2", APIBaseURL: "http://x", APITimeout: time.Second, ShutdownTimeout: time.Second}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"a route without a URL", func(c *Config) { c.APIRoutes = "/v1/loyalty" }, "API_ROUTES"},
		{"a route outside /v1", func(c *Config) { c.APIRoutes = "/admin=http://x" }, "API_ROUTES"},
		{"an issuer without a client id", func(c *Config) { c.OIDC.Issuer = "https://idp" }, "OIDC_CLIENT_ID"},
		{"a relative issuer", func(c *Config) { c.OIDC = OIDCConfig{Issuer: "idp", ClientID: "c"} }, "OIDC_ISSUER"},
	}
	for _, c := range cases {
		cfg := base
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: expected an error naming %s, got %v", c.name, c.want, err)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("expected the base configuration to be valid, got %v", err)
	}
}
