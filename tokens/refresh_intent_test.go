package tokens

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The intent is recorded before the token request: a store that cannot
// record it fails the refresh without spending the refresh token.
func TestIntentSaveFailureSpendsNothing(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	f.r.store = &failingStore{MemoryStore: f.store, failing: true}
	_, err := f.r.Fresh(context.Background(), f.stored(t), f.g, "")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	assertNoSecret(t, err)
	if f.e.calls.Load() != 0 {
		t.Fatal("the refresh token was spent without its intent recorded")
	}
}

func TestRefreshTokenHash(t *testing.T) {
	if RefreshTokenHash("") != "" {
		t.Fatal("the hash of no token is not empty")
	}
	h := RefreshTokenHash("refresh-0")
	if len(h) != 64 || h == RefreshTokenHash("refresh-1") || h != RefreshTokenHash("refresh-0") {
		t.Fatalf("hash %q: want 64 hex digits, stable, distinct per token", h)
	}
}

// A refresh leaves no intent behind, and records when its token was obtained.
func TestRefreshClearsIntentAndSetsObtainedAt(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	before := f.now()
	if _, err := f.r.Fresh(context.Background(), f.stored(t), f.g, ""); err != nil {
		t.Fatal(err)
	}
	s := f.stored(t)
	if s.Refreshing != nil || s.Reason != "" {
		t.Fatalf("after a refresh: intent %+v, reason %q; want none", s.Refreshing, s.Reason)
	}
	if s.Credential.ObtainedAt.Before(before) || s.Credential.ObtainedAt.After(f.now()) {
		t.Fatalf("ObtainedAt %v, want the time of the refresh", s.Credential.ObtainedAt)
	}
}
