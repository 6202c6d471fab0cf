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
	// APITimeout bounds one upstream call.
	APITimeout time.Duration `env:"API_TIMEOUT" envDefault:"15s"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// OTLPEndpoint enables OTLP/gRPC export of traces and metrics.
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
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
	if c.APITimeout <= 0 {
		errs = append(errs, errors.New("API_TIMEOUT: must be positive"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be positive"))
	}
	return errors.Join(errs...)
}
