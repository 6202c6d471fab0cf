package bff

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// oidc is the console's OpenID Connect sign-in: the browser runs the
// authorization code flow with PKCE against the provider, and the console
// exchanges the code for the access token on the browser's behalf, so the
// pages keep a Content-Security-Policy of their own origin only and the
// provider needs no CORS setup. The console keeps nothing: the token goes
// back to the tab, which sends it as a bearer token like a pasted one.
type oidc struct {
	cfg    OIDCConfig
	client *http.Client
	log    *slog.Logger

	mu        sync.Mutex
	endpoints *oidcEndpoints // discovered once, on first use
}

type oidcEndpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
}

func newOIDC(cfg OIDCConfig, timeout time.Duration, log *slog.Logger) *oidc {
	return &oidc{cfg: cfg, client: &http.Client{Timeout: timeout}, log: log}
}

// discover returns the provider's endpoints: the configured URLs, else the
// issuer's discovery document. A failed discovery is retried on the next
// sign-in, so a provider that was down at start does not need a restart.
func (o *oidc) discover(ctx context.Context) (oidcEndpoints, error) {
	if o.cfg.AuthorizationURL != "" && o.cfg.TokenURL != "" {
		return oidcEndpoints{Authorization: o.cfg.AuthorizationURL, Token: o.cfg.TokenURL}, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.endpoints != nil {
		return *o.endpoints, nil
	}
	u := strings.TrimSuffix(o.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return oidcEndpoints{}, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return oidcEndpoints{}, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return oidcEndpoints{}, fmt.Errorf("discovery: %s answered %s", u, resp.Status)
	}
	var ep oidcEndpoints
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ep); err != nil {
		return oidcEndpoints{}, fmt.Errorf("discovery document: %w", err)
	}
	if o.cfg.AuthorizationURL != "" {
		ep.Authorization = o.cfg.AuthorizationURL
	}
	if o.cfg.TokenURL != "" {
		ep.Token = o.cfg.TokenURL
	}
	if ep.Authorization == "" || ep.Token == "" {
		return oidcEndpoints{}, fmt.Errorf("discovery document of %s names no authorization or token endpoint", o.cfg.Issuer)
	}
	o.endpoints = &ep
	return ep, nil
}

// serveConfig tells the sign-in page whether and where to send the user.
func (o *oidc) serveConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !o.cfg.Enabled() {
		_, _ = io.WriteString(w, `{"oidc":null}`)
		return
	}
	ep, err := o.discover(r.Context())
	if err != nil {
		o.log.WarnContext(r.Context(), "OIDC discovery failed", "issuer", o.cfg.Issuer, "error", err)
		writeStatus(w, http.StatusBadGateway, 14, "the sign-in provider did not answer: "+err.Error())
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"oidc": map[string]string{
		"issuer":                o.cfg.Issuer,
		"authorizationEndpoint": ep.Authorization,
		"clientId":              o.cfg.ClientID,
		"scopes":                o.cfg.Scopes,
		"audience":              o.cfg.Audience,
	}})
}

// tokenRequest is what the sign-in page posts after the provider redirected
// back with a code.
type tokenRequest struct {
	Code         string `json:"code"`
	CodeVerifier string `json:"codeVerifier"`
	RedirectURI  string `json:"redirectUri"`
}

// serveToken exchanges an authorization code for the access token.
func (o *oidc) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !o.cfg.Enabled() {
		writeStatus(w, http.StatusNotFound, 5, "OIDC sign-in is not configured (OIDC_ISSUER)")
		return
	}
	var tr tokenRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&tr); err != nil {
		writeStatus(w, http.StatusBadRequest, 3, "body: "+err.Error())
		return
	}
	// PKCE verifiers are 43 to 128 characters (RFC 7636 section 4.1).
	if tr.Code == "" || len(tr.CodeVerifier) < 43 || len(tr.CodeVerifier) > 128 || !strings.HasPrefix(tr.RedirectURI, "http") {
		writeStatus(w, http.StatusBadRequest, 3, "code, codeVerifier (43 to 128 characters) and redirectUri are required")
		return
	}
	ep, err := o.discover(r.Context())
	if err != nil {
		writeStatus(w, http.StatusBadGateway, 14, "the sign-in provider did not answer: "+err.Error())
		return
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {tr.Code},
		"code_verifier": {tr.CodeVerifier},
		"redirect_uri":  {tr.RedirectURI},
		"client_id":     {o.cfg.ClientID},
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, 13, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		writeStatus(w, http.StatusBadGateway, 14, "the sign-in provider did not answer: "+errorText(err))
		return
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		writeStatus(w, http.StatusBadGateway, 14, "the sign-in provider answered "+resp.Status+" without a token response")
		return
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		msg := strings.TrimSpace(body.Error + " " + body.Description)
		if msg == "" {
			msg = resp.Status
		}
		// The provider refused the code (expired, reused, wrong verifier):
		// the user signs in again.
		writeStatus(w, http.StatusUnauthorized, 16, "the sign-in provider refused the code: "+msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Only the access token goes back: refresh and ID tokens stay unused,
	// a tab signs in again when the access token expires.
	_ = json.NewEncoder(w).Encode(map[string]any{"accessToken": body.AccessToken, "expiresIn": body.ExpiresIn})
}
