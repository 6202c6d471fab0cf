// Package bff is the marketer console's backend-for-frontend: it serves the
// embedded web UI (console pages and the storefront demo) under /console/ and
// passes the UI's REST calls to the platform's public entry with the caller's
// own bearer token, so the console never holds a credential of its own and
// every call is authorised by the services exactly as a direct API call is.
package bff

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is the console's configuration, read from the environment.
type Config struct {
	// HTTPAddr serves the UI, the API pass-through, /healthz and /readyz.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8085"`
	// AdminAddr serves /metrics and /debug/pprof; keep it off the ingress.
	AdminAddr string `env:"ADMIN_ADDR" envDefault:":9105"`
	// APIBaseURL is the platform's public REST entry (the local stack's entry
	// or the Kubernetes ingress) that /console/api/v1/... is passed to.
	APIBaseURL string `env:"API_BASE_URL" envDefault:"http://127.0.0.1:8080"`
	// APIRoutes sends REST paths straight to the services, for a cluster
	// without an in-cluster entry: comma-separated "prefix=URL" pairs, e.g.
	// "/v1/loyalty=http://affinity-loyalty:8080". A path goes to the route
	// with the longest prefix that matches whole path elements ("/v1/segments"
	// matches "/v1/segments/s1" and "/v1/segments:preview"); a path no route
	// matches goes to APIBaseURL.
	APIRoutes string `env:"API_ROUTES"`
	// APITimeout bounds one upstream call.
	APITimeout time.Duration `env:"API_TIMEOUT" envDefault:"15s"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// OTLPEndpoint enables OTLP/gRPC export of traces and metrics.
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// OIDC is the optional OpenID Connect sign-in (authorization code with
	// PKCE); without an issuer the sign-in page takes a pasted token only.
	OIDC OIDCConfig `envPrefix:"OIDC_"`
	// ShutdownTimeout bounds the drain of in-flight requests on shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
}

// Validate reports every missing or malformed setting.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR: must not be empty"))
	}
	if c.AdminAddr == "" {
		errs = append(errs, errors.New("ADMIN_ADDR: must not be empty"))
	}
	u, err := url.Parse(c.APIBaseURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("API_BASE_URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("API_BASE_URL: %q is not an absolute http(s) URL", c.APIBaseURL))
	}
	if _, err := parseRoutes(c.APIRoutes); err != nil {
		errs = append(errs, fmt.Errorf("API_ROUTES: %w", err))
	}
	errs = append(errs, c.OIDC.validate()...)
	if c.APITimeout <= 0 {
		errs = append(errs, errors.New("API_TIMEOUT: must be positive"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be positive"))
	}
	return errors.Join(errs...)
}

// OIDCConfig configures the browser sign-in against an OpenID Connect
// provider. The console is a public client: no client secret, the PKCE
// verifier proves the code exchange comes from the browser that started it.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its endpoints are read from
	// <issuer>/.well-known/openid-configuration unless both URLs below are set.
	Issuer string `env:"ISSUER"`
	// ClientID is the console's client id at the provider.
	ClientID string `env:"CLIENT_ID"`
	// Scopes requested; the roles claim must be in the access token.
	Scopes string `env:"SCOPES" envDefault:"openid profile"`
	// Audience, when set, is sent as the audience parameter (Auth0 and
	// others issue a JWT access token for the API only when asked for it).
	Audience string `env:"AUDIENCE"`
	// AuthorizationURL and TokenURL override discovery.
	AuthorizationURL string `env:"AUTHORIZATION_URL"`
	TokenURL         string `env:"TOKEN_URL"`
}

// Enabled reports whether OIDC sign-in is configured.
func (o OIDCConfig) Enabled() bool { return o.Issuer != "" || o.AuthorizationURL != "" }

func (o OIDCConfig) validate() []error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	if o.ClientID == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_ID: required with OIDC_ISSUER"))
	}
	if o.Issuer == "" && (o.AuthorizationURL == "" || o.TokenURL == "") {
		errs = append(errs, errors.New("OIDC_ISSUER: required unless both OIDC_AUTHORIZATION_URL and OIDC_TOKEN_URL are set"))
	}
	for name, v := range map[string]string{"OIDC_ISSUER": o.Issuer, "OIDC_AUTHORIZATION_URL": o.AuthorizationURL, "OIDC_TOKEN_URL": o.TokenURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute http(s) URL", name, v))
		}
	}
	return errs
}
