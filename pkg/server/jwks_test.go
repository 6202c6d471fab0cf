package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// writeJWKS writes a key set with one RSA and one P-256 key and returns
// signers for customer tokens under each.
func writeJWKS(t *testing.T) (file string, signRS, signES func(sub string, exp time.Time) string) {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := ek.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": enc(rk.N.Bytes()), "e": enc(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": enc(pt[1:33]), "y": enc(pt[33:])},
	}})
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, kid string, key any) func(string, time.Time) string {
		return func(sub string, exp time.Time) string {
			tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": sub, "roles": []string{"customer"}, "exp": exp.Unix()})
			tok.Header["kid"] = kid
			s, err := tok.SignedString(key)
			if err != nil {
				t.Error(err)
			}
			return s
		}
	}
	return file, sign(jwt.SigningMethodRS256, "rsa-1", rk), sign(jwt.SigningMethodES256, "ec-1", ek)
}

// atomicErr is an error value tests flip while a server reads it.
type atomicErr struct {
	mu  sync.Mutex
	err error
}

func (a *atomicErr) get() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *atomicErr) set(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}
