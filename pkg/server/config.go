// Package server runs a service's network surface: the gRPC server with
// recovery, logging, metrics, auth and validation interceptors, gRPC health
// and reflection; grpc-gateway on the HTTP port with /openapi.json,
// /healthz and /readyz; Prometheus /metrics and pprof on the admin port;
// background workers; and a graceful shutdown that drains in-flight calls.
package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/logging"
	"github.com/affinity-platform/affinity/pkg/validate"
)

// Config is the part of every service's configuration that this package
// reads. Services embed it in their own config struct. The listen
// addresses have no shared default because each service has its own ports:
// set them in the struct before config.Load.
type Config struct {
	// GRPCAddr is the gRPC listen address, e.g. ":50051".
	GRPCAddr string `env:"GRPC_ADDR"`
	// HTTPAddr serves the REST gateway, /openapi.json, /healthz and /readyz.
	HTTPAddr string `env:"HTTP_ADDR"`
	// AdminAddr serves /metrics and /debug/pprof; keep it off the ingress.
	AdminAddr string `env:"ADMIN_ADDR"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// OTLPEndpoint enables OTLP/gRPC export of traces and metrics.
	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// ShutdownTimeout bounds the drain of in-flight calls on shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// Auth selects the keys bearer tokens are verified with.
	Auth auth.Config
}

// Validate reports every missing or malformed setting.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"GRPC_ADDR": c.GRPCAddr, "HTTP_ADDR": c.HTTPAddr, "ADMIN_ADDR": c.AdminAddr} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// FieldViolation names one bad request field, for building InvalidArgument
// errors in services' ports the same way registered validators do.
func FieldViolation(field, description string) validate.Violation {
	return validate.Violation{Field: field, Description: description}
}

// InvalidArgument returns codes.InvalidArgument with a google.rpc.BadRequest
// detail listing vs (HTTP 400 through the gateway).
func InvalidArgument(vs ...validate.Violation) error { return validate.InvalidArgument(vs...) }
