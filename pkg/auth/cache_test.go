package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestACachedTokenIsRejectedOnceItExpires(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(context.Background(), Config{HS256Secret: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v.now = func() time.Time { return start }
	tok, err := Sign("s", Claims{Subject: "c1", Roles: []Role{RoleCustomer}, ExpiresAt: start.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		c, err := v.Verify(t.Context(), tok)
		if err != nil || c.Subject != "c1" || !c.Has(RoleCustomer) {
			t.Fatalf("check %d: expected c1 with the customer role, got %+v, %v", i, c, err)
		}
		c.Roles[0] = RoleMarketer // a caller changing its copy must not change the cache
	}
	if c, _ := v.Verify(t.Context(), tok); !c.Has(RoleCustomer) || c.Has(RoleMarketer) {
		t.Errorf("expected the cached roles to be unaffected by callers, got %v", c.Roles)
	}
	// Within the leeway the token still passes; past it, it must fail even
	// though it is cached.
	v.now = func() time.Time { return start.Add(time.Minute + leeway/2) }
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("expected the token to pass within the leeway, got %v", err)
	}
	v.now = func() time.Time { return start.Add(time.Minute + leeway + time.Second) }
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expected an expired cached token to be rejected, got %v", err)
	}
}

func TestTheVerifiedCacheStaysBoundedAndKeepsRecentTokens(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache()
	until := time.Now().Add(time.Hour)
	now := time.Now()
	for i := range 3 * verifiedCacheSize {
		c.put(fmt.Sprint("t", i), verifiedEntry{claims: Claims{Subject: fmt.Sprint(i)}, until: until}, c.generation())
		if n := len(c.cur) + len(c.old); n > verifiedCacheSize {
			t.Fatalf("after %d tokens the cache holds %d, expected at most %d", i+1, n, verifiedCacheSize)
		}
	}
	last := fmt.Sprint("t", 3*verifiedCacheSize-1)
	if _, ok := c.get(last, now); !ok {
		t.Errorf("expected the newest token to be cached")
	}
	if _, ok := c.get("t0", now); ok {
		t.Errorf("expected the oldest token to have been dropped")
	}
}

func TestATokenVerifiedAcrossAKeyReloadIsNotCached(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache()
	gen := c.generation() // read before verifying
	c.clear()             // the keys are reloaded meanwhile
	c.put("t", verifiedEntry{until: time.Now().Add(time.Hour)}, gen)
	if _, ok := c.get("t", time.Now()); ok {
		t.Errorf("expected a verification that began before the reload not to be cached")
	}
}
