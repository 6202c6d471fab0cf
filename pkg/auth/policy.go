package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Rule says who may call one gRPC method.
type Rule struct {
	// Public methods need no token. A valid token, if sent, still puts its
	// claims in the context; an invalid one is ignored.
	Public bool
	// Roles may call the method; admin always may.
	Roles []Role
	// SelfField names a string field of the request (dots for nested
	// messages, e.g. "customer_id") that must equal the token's sub when the
	// caller qualifies only through the customer role.
	SelfField string
}

// Policy maps full gRPC method names ("/loyalty.v1.LoyaltyService/Redeem")
// to their rule. Methods missing from the policy are denied, except health
// and reflection, which are always open.
type Policy map[string]Rule

// alwaysOpen are service prefixes probes and tools use without tokens.
var alwaysOpen = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func isAlwaysOpen(method string) bool {
	for _, p := range alwaysOpen {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// Authorizer applies a Policy with a Verifier; its interceptors go on the
// gRPC server.
type Authorizer struct {
	v *Verifier
	p Policy
}

// NewAuthorizer returns an Authorizer enforcing p with tokens checked by v.
func NewAuthorizer(v *Verifier, p Policy) *Authorizer { return &Authorizer{v: v, p: p} }

// authenticate resolves the rule for method and the caller's claims. The
// returned rule is nil for always-open methods.
func (a *Authorizer) authenticate(ctx context.Context, method string) (context.Context, *Rule, error) {
	if isAlwaysOpen(method) {
		return ctx, nil, nil
	}
	rule, ok := a.p[method]
	if !ok {
		return ctx, nil, status.Error(codes.PermissionDenied, "method is not allowed by policy")
	}
	token, err := bearer(ctx)
	if err != nil {
		if rule.Public {
			return ctx, nil, nil
		}
		return ctx, nil, status.Error(codes.Unauthenticated, err.Error())
	}
	claims, err := a.v.Verify(ctx, token)
	if err != nil {
		if rule.Public {
			return ctx, nil, nil
		}
		// The reason is not returned: a forger learns nothing about what was wrong.
		return ctx, nil, status.Error(codes.Unauthenticated, "invalid or expired token")
	}
	ctx = WithClaims(ctx, claims)
	if rule.Public {
		return ctx, nil, nil
	}
	return ctx, &rule, nil
}

// authorize checks the caller against rule for one request message.
func authorize(ctx context.Context, rule *Rule, req any) error {
	if rule == nil {
		return nil
	}
	c, _ := ClaimsFrom(ctx)
	if c.Has(RoleAdmin) {
		return nil
	}
	for _, r := range rule.Roles {
		if r != RoleCustomer && c.Has(r) {
			return nil
		}
	}
	if !slices.Contains(rule.Roles, RoleCustomer) || !c.Has(RoleCustomer) {
		return status.Error(codes.PermissionDenied, "caller lacks a required role")
	}
	if rule.SelfField == "" {
		return nil
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Error(codes.PermissionDenied, "request is not a protobuf message")
	}
	got, err := stringField(msg.ProtoReflect(), rule.SelfField)
	if err != nil {
		// A policy naming a field the request lacks is a bug; deny rather than guess.
		return status.Error(codes.PermissionDenied, fmt.Sprintf("policy field: %v", err))
	}
	if got != c.Subject {
		return status.Error(codes.PermissionDenied, "customers may act only on their own "+rule.SelfField)
	}
	return nil
}

func stringField(m protoreflect.Message, path string) (string, error) {
	parts := strings.Split(path, ".")
	for i, name := range parts {
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil || fd.IsList() || fd.IsMap() {
			return "", fmt.Errorf("%s has no singular field %q", m.Descriptor().FullName(), name)
		}
		if i == len(parts)-1 {
			if fd.Kind() != protoreflect.StringKind {
				return "", fmt.Errorf("field %q is not a string", name)
			}
			return m.Get(fd).String(), nil
		}
		if fd.Message() == nil {
			return "", fmt.Errorf("field %q is not a message", name)
		}
		m = m.Get(fd).Message()
	}
	return "", errors.New("empty field path")
}

func bearer(ctx context.Context) (string, error) {
	// The one key, not a copy of all the call's metadata: every call
	// passes here.
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return "", errors.New("missing bearer token")
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("authorization is not a bearer token")
	}
	return strings.TrimSpace(token), nil
}

// UnaryServerInterceptor enforces the policy on unary calls.
func (a *Authorizer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, rule, err := a.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		if err := authorize(ctx, rule, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor enforces the policy on streams. The role check
// happens before the handler runs; the customer-id check runs on every
// received message because a stream's requests arrive later.
func (a *Authorizer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, rule, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if rule != nil {
			// Role check with no request: a SelfField is checked per message below.
			r := *rule
			r.SelfField = ""
			if err := authorize(ctx, &r, nil); err != nil {
				return err
			}
		}
		return handler(srv, &authStream{ServerStream: ss, ctx: ctx, rule: rule})
	}
}

type authStream struct {
	grpc.ServerStream
	ctx  context.Context
	rule *Rule
}

func (s *authStream) Context() context.Context { return s.ctx }

func (s *authStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return authorize(s.ctx, s.rule, m)
}

// TokenCredentials attaches a bearer token to every outgoing RPC, for
// service-to-service calls. Tokens come from a source function and are
// cached until shortly before they expire.
type TokenCredentials struct {
	source func(context.Context) (string, time.Time, error)
	// insecure allows sending the token over plaintext connections, as
	// in-cluster traffic without TLS at the pod needs.
	insecure bool

	mu     sync.Mutex
	token  string
	expiry time.Time
}

var _ credentials.PerRPCCredentials = (*TokenCredentials)(nil)

// NewServiceCredentials mints HS256 tokens for subject with the service
// role, each valid for ttl, and allows plaintext transports because the
// local stack and in-cluster calls run without TLS.
func NewServiceCredentials(secret, subject string, ttl time.Duration) *TokenCredentials {
	return &TokenCredentials{insecure: true, source: func(context.Context) (string, time.Time, error) {
		exp := time.Now().Add(ttl)
		tok, err := Sign(secret, Claims{Subject: subject, Roles: []Role{RoleService}, ExpiresAt: exp})
		return tok, exp, err
	}}
}

// NewTokenCredentials attaches tokens from source, e.g. a token file
// mounted by the platform. allowInsecure permits plaintext transports.
func NewTokenCredentials(source func(context.Context) (token string, expiry time.Time, err error), allowInsecure bool) *TokenCredentials {
	return &TokenCredentials{source: source, insecure: allowInsecure}
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t *TokenCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == "" || time.Until(t.expiry) < time.Minute {
		tok, exp, err := t.source(ctx)
		if err != nil {
			return nil, fmt.Errorf("auth: service token: %w", err)
		}
		t.token, t.expiry = tok, exp
	}
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (t *TokenCredentials) RequireTransportSecurity() bool { return !t.insecure }
