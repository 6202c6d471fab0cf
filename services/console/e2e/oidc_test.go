package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/affinity-platform/affinity/services/console/internal/bff"
)

// idp is a small OpenID provider over real HTTP that signs every user in at
// once: /authorize records the PKCE challenge and redirects back with a code,
// /token checks the verifier against it (RFC 7636) and issues an access
// token whose payload names the user and their roles.
type idp struct {
	srv        *httptest.Server
	mu         sync.Mutex
	challenges map[string]string // code -> S256 challenge
	asked      url.Values        // the last authorization request
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	p := &idp{challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token"})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.asked = q
		code := "code-" + q.Get("state")
		p.challenges[code] = q.Get("code_challenge")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		want, ok := p.challenges[r.Form.Get("code")]
		delete(p.challenges, r.Form.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != want || r.Form.Get("client_id") != "affinity-console" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice@example.com","roles":["marketer"],"exp":4102444800}`))
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "eyJhbGciOiJSUzI1NiJ9." + payload + ".c2ln", "token_type": "Bearer", "expires_in": 300})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func TestAMarketerSignsInThroughTheOIDCProviderWithPKCE(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	provider := newIdP(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan bff.Addrs, 1)
	done := make(chan error, 1)
	cfg := bff.Config{HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", APIBaseURL: "http://127.0.0.1:1", APITimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
		OIDC: bff.OIDCConfig{Issuer: provider.srv.URL, ClientID: "affinity-console", Scopes: "openid roles", Audience: "affinity"}}
	go func() {
		done <- bff.Run(ctx, cfg, "test", slog.New(slog.DiscardHandler), func(a bff.Addrs) { addrs <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	var a bff.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("console did not start: %v", err)
	}
	base := "http://" + a.HTTP
	b := newTab(t, newBrowser(t), base, screenshotDir(t))
	b.do("open the sign-in page", chromedp.Navigate(base+"/console/#/rfm"), chromedp.WaitVisible(css("#oidc-signin")))
	if got := b.eval(`document.querySelector("#oidc-signin").textContent`); !strings.Contains(got, strings.TrimPrefix(provider.srv.URL, "http://")) {
		t.Errorf("sign-in button = %q, want it to name the provider", got)
	}
	b.shot("00-sign-in-oidc")
	// The browser leaves for the provider and comes back: wait with a DOM
	// query, which follows the navigations, before evaluating anything.
	b.do("sign in with the provider", chromedp.Click(css("#oidc-signin")), chromedp.WaitVisible(css("#signout:not([hidden])")))
	who := b.waitFor("the signed-in user", `document.querySelector("#who")?.textContent`)
	if who != "Signed in as alice@example.com (marketer)" {
		t.Errorf("header = %q, want alice@example.com (marketer)", who)
	}
	// Back on the page the user started from, without the code in the URL.
	if got := b.eval(`location.pathname + location.search + location.hash`); got != "/console/#/rfm" {
		t.Errorf("location after sign-in = %q, want /console/#/rfm", got)
	}
	if got := b.eval(`sessionStorage.getItem("affinity.token").split(".")[1] ? "token" : ""`); got != "token" {
		t.Errorf("expected the access token in the tab's sessionStorage")
	}
	provider.mu.Lock()
	asked := provider.asked
	provider.mu.Unlock()
	for k, want := range map[string]string{"response_type": "code", "client_id": "affinity-console", "code_challenge_method": "S256", "scope": "openid roles", "audience": "affinity", "redirect_uri": base + "/console/"} {
		if asked.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, asked.Get(k), want)
		}
	}
	if n := len(asked.Get("code_challenge")); n != 43 {
		t.Errorf("code_challenge has %d characters, want 43 (base64url SHA-256)", n)
	}
	// A replayed redirect (the code is spent, the state unknown) is refused.
	b.eval(`(sessionStorage.clear(), "ok")`)
	b.do("replay the redirect", chromedp.Navigate(base+"/console/?code=code-x&state=forged"), chromedp.WaitVisible(css("#signin-error")))
	if got := b.waitFor("the refusal", `document.querySelector("#signin-error")?.textContent`); !strings.Contains(got, "does not match") {
		t.Errorf("replayed sign-in shows %q, want it refused", got)
	}
}
