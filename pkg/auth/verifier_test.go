package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/affinity-platform/affinity/pkg/auth"
)

const secret = "local-secret"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]string {
	t.Helper()
	raw, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func jwks(t *testing.T, keys ...map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signWith(t *testing.T, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, exp time.Time, roles ...string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "roles": roles, "exp": exp.Unix()}
}

func TestVerifyAcceptsOnlyProperlySignedUnexpiredTokens(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks(t, rsaJWK("r1", &rsaKey.PublicKey), ecJWK(t, "e1", &ecKey.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(t.Context(), auth.Config{HS256Secret: secret, JWKSFile: file}, nil)
	if err != nil {
		t.Fatalf("expected the JWKS file to load, got %v", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))(t)})
	later := time.Now().Add(time.Hour)
	good, err := auth.Sign(secret, auth.Claims{Subject: "c1", Roles: []auth.Role{auth.RoleCustomer}, ExpiresAt: later})
	if err != nil {
		t.Fatal(err)
	}
	noneTok := signWith(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, claims("c1", later, "admin"))

	tests := []struct {
		name    string
		token   string
		wantSub string
	}{
		{"an HS256 token with the secret is accepted", good, "c1"},
		{"an RS256 token from the JWKS is accepted", signWith(t, jwt.SigningMethodRS256, "r1", rsaKey, claims("r", later, "service")), "r"},
		{"an ES256 token from the JWKS is accepted", signWith(t, jwt.SigningMethodES256, "e1", ecKey, claims("e", later, "partner")), "e"},
		{"an HS256 token with another secret is rejected", signWith(t, jwt.SigningMethodHS256, "", []byte("other"), claims("c1", later)), ""},
		{"an expired token is rejected", signWith(t, jwt.SigningMethodHS256, "", []byte(secret), claims("c1", time.Now().Add(-time.Hour))), ""},
		{"a token without exp is rejected", signWith(t, jwt.SigningMethodHS256, "", []byte(secret), jwt.MapClaims{"sub": "c1"}), ""},
		{"a token without sub is rejected", signWith(t, jwt.SigningMethodHS256, "", []byte(secret), jwt.MapClaims{"exp": later.Unix()}), ""},
		{"alg none is rejected", noneTok, ""},
		{"an RS256 token signed by an unknown key is rejected", signWith(t, jwt.SigningMethodRS256, "r1", otherRSA, claims("r", later)), ""},
		{"an RS256 token naming an unknown kid is rejected", signWith(t, jwt.SigningMethodRS256, "nope", rsaKey, claims("r", later)), ""},
		{"an RS256 token naming the EC key is rejected", signWith(t, jwt.SigningMethodRS256, "e1", rsaKey, claims("r", later)), ""},
		{"an HS256 token keyed with the RSA public key is rejected", signWith(t, jwt.SigningMethodHS256, "r1", pubPEM, claims("r", later, "admin")), ""},
		{"an RS384 token is rejected", signWith(t, jwt.SigningMethodRS384, "r1", rsaKey, claims("r", later)), ""},
		{"garbage is rejected", "not.a.token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(t.Context(), tt.token)
			if tt.wantSub == "" {
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("expected ErrInvalidToken, got claims %+v err %v", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected the token to verify, got %v", err)
			}
			if c.Subject != tt.wantSub || c.ExpiresAt.Unix() != later.Unix() || len(c.Roles) != 1 {
				t.Errorf("expected sub %q with one role expiring %v, got %+v", tt.wantSub, later, c)
			}
		})
	}
}

// must turns a (value, error) pair into a function that fails t on error,
// because Go cannot pass a multi-value call alongside t.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestVerifierWithoutASecretRejectsHS256(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(t.Context(), auth.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := signWith(t, jwt.SigningMethodHS256, "", []byte(""+"x"), claims("c", time.Now().Add(time.Hour)))
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expected ErrInvalidToken with no keys configured, got %v", err)
	}
}

func TestVerifierPicksUpRotatedKeysFromTheJWKSURL(t *testing.T) {
	t.Parallel()
	oldKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
	newKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
	var current atomic.Value
	current.Store(jwks(t, ecJWK(t, "old", &oldKey.PublicKey)))
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(current.Load().([]byte))
	}))
	t.Cleanup(srv.Close)

	v, err := auth.NewVerifier(t.Context(), auth.Config{JWKSURL: srv.URL, JWKSRefresh: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("expected the JWKS URL to load, got %v", err)
	}
	later := time.Now().Add(time.Hour)
	oldTok := signWith(t, jwt.SigningMethodES256, "old", oldKey, claims("a", later))
	for range 2 { // the second check is answered by the verified-token cache
		if _, err := v.Verify(t.Context(), oldTok); err != nil {
			t.Fatalf("expected a token from the first key set to verify, got %v", err)
		}
	}
	current.Store(jwks(t, ecJWK(t, "new", &newKey.PublicKey)))
	newTok := signWith(t, jwt.SigningMethodES256, "new", newKey, claims("b", later))
	// Wait for the periodic refresh; the test's own deadline bounds this.
	for {
		if _, err := v.Verify(t.Context(), newTok); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fetches.Load() < 2 {
		t.Errorf("expected at least 2 JWKS fetches, got %d", fetches.Load())
	}
	// The old key is gone from the set: its token, verified and cached
	// before, must not pass any more.
	if _, err := v.Verify(t.Context(), oldTok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expected the withdrawn key's token to be rejected after the reload, got %v", err)
	}
}

func TestNewVerifierFailsWhenTheJWKSCannotLoad(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]auth.Config{
		"missing file": {JWKSFile: filepath.Join(t.TempDir(), "missing.json")},
		"bad json":     {JWKSFile: bad},
		"dead url":     {JWKSURL: "http://127.0.0.1:1/jwks"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.NewVerifier(t.Context(), cfg, nil); err == nil {
				t.Error("expected an error, got nil")
			}
		})
	}
}

func TestServiceCredentialsAttachAVerifiableServiceToken(t *testing.T) {
	t.Parallel()
	creds := auth.NewServiceCredentials(secret, "loyalty", 10*time.Minute)
	md, err := creds.GetRequestMetadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(md["authorization"], "Bearer ")
	if !ok {
		t.Fatalf("expected a Bearer authorization header, got %q", md["authorization"])
	}
	v := must(auth.NewVerifier(t.Context(), auth.Config{HS256Secret: secret}, nil))(t)
	c, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("expected the service token to verify, got %v", err)
	}
	if c.Subject != "loyalty" || !slices.Equal(c.Roles, []auth.Role{auth.RoleService}) {
		t.Errorf("expected sub loyalty with role service, got %+v", c)
	}
	md2 := must(creds.GetRequestMetadata(t.Context()))(t)
	if md2["authorization"] != md["authorization"] {
		t.Error("expected the cached token to be reused while it is fresh, got a new one")
	}
	if creds.RequireTransportSecurity() {
		t.Error("expected service credentials to allow plaintext in-cluster transport")
	}
}
