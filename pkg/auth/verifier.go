package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is wrapped by every Verify failure.
var ErrInvalidToken = errors.New("invalid token")

// Verifier checks token signatures and expiry. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	secret []byte
	client *http.Client
	log    *slog.Logger

	mu          sync.RWMutex
	keys        map[string]any // kid -> *rsa.PublicKey or *ecdsa.PublicKey
	lastRefresh time.Time

	verified *verifiedCache
	// now is the clock tokens are checked against (tests move it).
	now func() time.Time
}

// leeway is the clock difference between the issuer and this pod that
// Verify tolerates.
const leeway = 30 * time.Second

// NewVerifier loads the configured keys. When a JWKS URL or file is set it
// must load now (a service must not start unable to verify anyone), and it
// is reloaded every cfg.JWKSRefresh until ctx ends.
func NewVerifier(ctx context.Context, cfg Config, log *slog.Logger) (*Verifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{cfg: cfg, secret: []byte(cfg.HS256Secret), client: &http.Client{Timeout: 10 * time.Second}, log: log, keys: map[string]any{},
		verified: newVerifiedCache(), now: time.Now}
	if cfg.JWKSURL == "" && cfg.JWKSFile == "" {
		return v, nil
	}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	interval := cfg.JWKSRefresh
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := v.refresh(ctx); err != nil {
					// Keep the previous keys: a flaky JWKS endpoint must not lock everyone out.
					v.log.WarnContext(ctx, "jwks refresh failed", "err", err)
				}
			}
		}
	}()
	return v, nil
}

func (v *Verifier) refresh(ctx context.Context) error {
	keys := map[string]any{}
	for _, src := range []struct {
		name string
		load func(context.Context) ([]byte, error)
	}{
		{v.cfg.JWKSFile, func(context.Context) ([]byte, error) { return os.ReadFile(v.cfg.JWKSFile) }},
		{v.cfg.JWKSURL, v.fetch},
	} {
		if src.name == "" {
			continue
		}
		raw, err := src.load(ctx)
		if err != nil {
			return fmt.Errorf("auth: load jwks %s: %w", src.name, err)
		}
		ks, err := ParseJWKS(raw)
		if err != nil {
			return fmt.Errorf("auth: parse jwks %s: %w", src.name, err)
		}
		for kid, k := range ks {
			keys[kid] = k
		}
	}
	v.mu.Lock()
	v.keys, v.lastRefresh = keys, time.Now()
	v.mu.Unlock()
	// A key may have been withdrawn: tokens it signed must not keep
	// passing from the cache.
	v.verified.clear()
	return nil
}

func (v *Verifier) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch: status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// key finds the key for kid. An unknown kid triggers one early reload of
// the URL (keys are rotated before tokens signed with them appear), at most
// every 30 seconds so that junk tokens cannot hammer the JWKS endpoint.
func (v *Verifier) key(ctx context.Context, kid string) (any, bool) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	stale := time.Since(v.lastRefresh) > 30*time.Second
	v.mu.RUnlock()
	if ok || !stale || (v.cfg.JWKSURL == "" && v.cfg.JWKSFile == "") {
		return k, ok
	}
	if err := v.refresh(ctx); err != nil {
		v.log.WarnContext(ctx, "jwks refresh on unknown kid failed", "err", err)
		return nil, false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok = v.keys[kid]
	return k, ok
}

// Verify checks token and returns its claims. Only HS256 (with the
// configured secret) and RS256/ES256 (with a JWKS key of the matching type)
// are accepted, which rules out "none" and algorithm confusion such as an
// HS256 token "signed" with a public RSA key.
//
// A token that verified before is answered from a bounded cache until it
// expires or the keys are reloaded, so a client sending the same token on
// every call pays for the signature check once.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	now := v.now()
	if c, ok := v.verified.get(token, now); ok {
		return c, nil
	}
	gen := v.verified.generation()
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		switch t.Method {
		case jwt.SigningMethodHS256:
			if len(v.secret) == 0 {
				return nil, errors.New("HS256 tokens are not accepted")
			}
			return v.secret, nil
		case jwt.SigningMethodRS256, jwt.SigningMethodES256:
			kid, _ := t.Header["kid"].(string)
			k, ok := v.key(ctx, kid)
			if !ok {
				return nil, fmt.Errorf("unknown key id %q", kid)
			}
			switch k.(type) {
			case *rsa.PublicKey:
				if t.Method != jwt.SigningMethodRS256 {
					return nil, fmt.Errorf("key %q is RSA but token uses %s", kid, t.Method.Alg())
				}
			case *ecdsa.PublicKey:
				if t.Method != jwt.SigningMethodES256 {
					return nil, fmt.Errorf("key %q is EC but token uses %s", kid, t.Method.Alg())
				}
			}
			return k, nil
		default:
			return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
		}
	},
		jwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		// Tolerate small clock differences between the issuer and this pod.
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if tc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: missing sub", ErrInvalidToken)
	}
	c := Claims{Subject: tc.Subject, Roles: tc.Roles, ExpiresAt: tc.ExpiresAt.Time}
	v.verified.put(token, verifiedEntry{claims: Claims{Subject: c.Subject, Roles: slices.Clone(c.Roles), ExpiresAt: c.ExpiresAt}, until: c.ExpiresAt.Add(leeway)}, gen)
	return c, nil
}

// jwk is the subset of RFC 7517 fields needed for RSA and P-256 EC keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JSON Web Key Set and returns its RS256 and ES256
// signature keys by key id. Keys for other uses or algorithms are skipped.
func ParseJWKS(raw []byte) (map[string]any, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	keys := map[string]any{}
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			if k.Alg != "" && k.Alg != "RS256" {
				continue
			}
			n, err1 := b64(k.N)
			e, err2 := b64(k.E)
			if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("key %d (%q): bad RSA parameters: %v", i, k.Kid, err)
			}
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			if (k.Alg != "" && k.Alg != "ES256") || k.Crv != "P-256" {
				continue
			}
			x, err1 := b64(k.X)
			y, err2 := b64(k.Y)
			if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
				return nil, fmt.Errorf("key %d (%q): bad EC parameters: %v", i, k.Kid, err)
			}
			// Uncompressed point encoding, so ecdsa.ParseUncompressedPublicKey
			// checks the point is on the curve.
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("key %d (%q): %w", i, k.Kid, err)
			}
			keys[k.Kid] = pub
		}
	}
	return keys, nil
}

func b64(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64url: %w", err)
	}
	return b, nil
}
