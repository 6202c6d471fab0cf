// Package auth verifies bearer JWTs on gRPC calls and enforces a per-method
// policy: which roles may call a method and, for customers, which
// customer_id they may act on. Tokens are HS256 with a shared secret for
// local use, or RS256/ES256 with keys from a JWKS file or URL in production.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is a caller's role as carried in the token's "roles" claim.
type Role string

// The roles the platform knows.
const (
	// RoleCustomer acts on their own customer id only.
	RoleCustomer Role = "customer"
	// RoleMarketer configures programs, campaigns and segments.
	RoleMarketer Role = "marketer"
	// RoleAdmin passes every role check.
	RoleAdmin Role = "admin"
	// RoleService is another platform service calling over gRPC.
	RoleService Role = "service"
	// RolePartner is an external system (storefront, POS) integrating with the platform.
	RolePartner Role = "partner"
)

// Claims is what the platform reads from a token.
type Claims struct {
	// Subject is the "sub" claim: the customer id for customers.
	Subject string
	// Roles is the "roles" claim.
	Roles []Role
	// ExpiresAt is the "exp" claim; every token must have one.
	ExpiresAt time.Time
}

// Has reports whether the claims carry role r.
func (c Claims) Has(r Role) bool { return slices.Contains(c.Roles, r) }

// Config selects the keys tokens are verified with. Any combination may be
// set; with none set every token is rejected.
type Config struct {
	// HS256Secret verifies HS256 tokens; meant for local stacks and tests.
	HS256Secret string `env:"JWT_HS256_SECRET" secret:"true"`
	// JWKSURL is fetched at start and refreshed every JWKSRefresh.
	JWKSURL string `env:"JWKS_URL"`
	// JWKSFile is read at start and re-read every JWKSRefresh, so a rotated
	// Kubernetes secret mount is picked up.
	JWKSFile string `env:"JWKS_FILE"`
	// JWKSRefresh is how often the JWKS URL or file is reloaded.
	JWKSRefresh time.Duration `env:"JWKS_REFRESH" envDefault:"5m"`
}

// Configured reports whether any verification key source is set.
func (c Config) Configured() bool {
	return c.HS256Secret != "" || c.JWKSURL != "" || c.JWKSFile != ""
}

// tokenClaims is the JSON form of Claims.
type tokenClaims struct {
	Roles []Role `json:"roles,omitempty"`
	jwt.RegisteredClaims
}

// Sign mints an HS256 token for local stacks, service-to-service calls
// with a shared secret, and tests.
func Sign(secret string, c Claims) (string, error) {
	if secret == "" {
		return "", errors.New("auth: sign: empty secret")
	}
	tc := tokenClaims{Roles: c.Roles, RegisteredClaims: jwt.RegisteredClaims{Subject: c.Subject}}
	if !c.ExpiresAt.IsZero() {
		tc.ExpiresAt = jwt.NewNumericDate(c.ExpiresAt)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}

type claimsKey struct{}

// WithClaims returns a context carrying c, as the interceptors do for handlers.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims of the caller, if the call carried a valid token.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}
