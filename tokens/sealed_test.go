package tokens

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func key32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newTestSealed(t *testing.T, inner Store, ring KeyRing) *Sealed {
	t.Helper()
	s, err := NewSealed(inner, ring)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var secretCred = Credential{
	AccessToken: "sealed-access-secret", TokenType: "Bearer", RefreshToken: "sealed-refresh-secret",
	Expiry: time.Unix(1_900_000_000, 0).UTC(), APIKey: "sealed-apikey-secret", Username: "sealed-user", Password: "sealed-password-secret",
}

func TestNewSealedValidatesKeyRing(t *testing.T) {
	for _, tt := range []struct {
		name string
		ring KeyRing
	}{
		{"no keys", KeyRing{Current: "k1"}},
		{"short key", KeyRing{Keys: map[string][]byte{"k1": make([]byte, 16)}, Current: "k1"}},
		{"current missing", KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k2"}},
		{"empty current", KeyRing{Keys: map[string][]byte{"k1": key32(1)}}},
		{"empty id", KeyRing{Keys: map[string][]byte{"": key32(1)}, Current: ""}},
		{"colon in id", KeyRing{Keys: map[string][]byte{"k:1": key32(1)}, Current: "k:1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSealed(NewMemoryStore(), tt.ring); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestSealedStoresNoPlaintext(t *testing.T) {
	ctx := context.Background()
	inner := NewMemoryStore()
	s := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
	c := &Connection{Project: "p", User: "u", Integration: "slack", Credential: secretCred, Fields: map[string]string{"shop": "s"}}
	if err := s.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Version != 1 || c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
		t.Fatalf("Save did not report the backing store's ID, Version and times: %q %d", c.ID, c.Version)
	}
	if c.Credential != secretCred {
		t.Fatal("Save changed the caller's credential")
	}
	raw, err := inner.Get(ctx, c.Key())
	if err != nil {
		t.Fatal(err)
	}
	// The times stay readable for the store's DueIndex; no secret does.
	want := Credential{Sealed: raw.Credential.Sealed, Expiry: secretCred.Expiry, ObtainedAt: secretCred.ObtainedAt}
	if raw.Credential != want || !strings.HasPrefix(raw.Credential.Sealed, "v1:k1:") {
		t.Fatalf("backing store credential: %v, want only a v1:k1: sealed value and the times", raw.Credential)
	}
	for _, secret := range []string{"sealed-access-secret", "sealed-refresh-secret", "sealed-apikey-secret", "sealed-password-secret"} {
		if strings.Contains(raw.Credential.Sealed, secret) {
			t.Fatal("sealed value holds a plaintext secret")
		}
	}
	got, err := s.Get(ctx, c.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential != secretCred || got.Fields["shop"] != "s" {
		t.Fatal("Get did not open the credential it sealed")
	}
}

func TestSealedValueMovedToAnotherRowFails(t *testing.T) {
	// Defends against a store writer swapping one user's sealed credential
	// into another user's row: the key is authenticated data.
	ctx := context.Background()
	inner := NewMemoryStore()
	s := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
	victim := &Connection{Project: "p", User: "victim", Integration: "slack", ID: "a", Credential: secretCred}
	attacker := &Connection{Project: "p", User: "attacker", Integration: "slack", ID: "a", Credential: Credential{AccessToken: "x"}}
	for _, c := range []*Connection{victim, attacker} {
		if err := s.Save(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	rawVictim, _ := inner.Get(ctx, victim.Key())
	rawAttacker, _ := inner.Get(ctx, attacker.Key())
	rawAttacker.Credential = rawVictim.Credential
	if err := inner.Save(ctx, rawAttacker); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, attacker.Key())
	if !errors.Is(err, ErrSealed) {
		t.Fatalf("Get of a moved credential: %v, want ErrSealed", err)
	}
	if _, err := s.List(ctx, "p", "attacker"); !errors.Is(err, ErrSealed) {
		t.Fatalf("List with a moved credential: %v, want ErrSealed", err)
	}
}

func TestSealedOpenFailures(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		mangle func(string) string
	}{
		{"tampered", func(s string) string {
			i := strings.LastIndex(s, ":") + 1
			box, err := base64.RawURLEncoding.DecodeString(s[i:])
			if err != nil {
				t.Fatal(err)
			}
			box[len(box)/2] ^= 1
			return s[:i] + base64.RawURLEncoding.EncodeToString(box)
		}},
		{"unknown key id", func(s string) string { return strings.Replace(s, "v1:k1:", "v1:gone:", 1) }},
		{"unknown version", func(s string) string { return strings.Replace(s, "v1:", "v9:", 1) }},
		{"truncated", func(s string) string { return s[:10] }},
		{"unsealed", func(string) string { return "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner := NewMemoryStore()
			s := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
			c := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: secretCred}
			if err := s.Save(ctx, c); err != nil {
				t.Fatal(err)
			}
			raw, _ := inner.Get(ctx, c.Key())
			raw.Credential.Sealed = tt.mangle(raw.Credential.Sealed)
			if tt.name == "unsealed" {
				raw.Credential = secretCred
			}
			if err := inner.Save(ctx, raw); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get(ctx, c.Key())
			if !errors.Is(err, ErrSealed) {
				t.Fatalf("got %v, want ErrSealed", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error text holds a secret: %q", err)
			}
		})
	}
}

func TestSealedKeyRotation(t *testing.T) {
	ctx := context.Background()
	inner := NewMemoryStore()
	old := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
	c := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: secretCred}
	if err := old.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	rotated := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k1": key32(1), "k2": key32(2)}, Current: "k2"})
	got, err := rotated.Get(ctx, c.Key())
	if err != nil {
		t.Fatalf("value sealed with the old key: %v", err)
	}
	if got.Credential != secretCred {
		t.Fatal("old value opened to a different credential")
	}
	got.Credential.AccessToken = "rotated-access"
	if err := rotated.Save(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 {
		t.Fatalf("Version after update: %d, want 2", got.Version)
	}
	raw, _ := inner.Get(ctx, c.Key())
	if !strings.HasPrefix(raw.Credential.Sealed, "v1:k2:") {
		t.Fatal("new write not sealed with the current key")
	}
	// A ring that dropped k1 still opens what k2 sealed; one without k2 cannot.
	onlyK2 := newTestSealed(t, inner, KeyRing{Keys: map[string][]byte{"k2": key32(2)}, Current: "k2"})
	if _, err := onlyK2.Get(ctx, c.Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Get(ctx, c.Key()); !errors.Is(err, ErrSealed) {
		t.Fatalf("ring without k2: %v, want ErrSealed", err)
	}
}

func TestSealedDelegatesInvalidate(t *testing.T) {
	ctx := context.Background()
	counting := &countingStore{Store: NewMemoryStore()}
	cached, err := NewCached(counting, CachedConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSealed(t, cached, KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
	c := &Connection{Project: "p", User: "u", Integration: "slack", ID: "a", Credential: secretCred}
	if err := s.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Get(ctx, c.Key())
	_, _ = s.Get(ctx, c.Key())
	s.Invalidate(ctx, c.Key())
	_, _ = s.Get(ctx, c.Key())
	if got := counting.gets.Load(); got != 2 {
		t.Fatalf("backing Gets: %d, want 2 (Invalidate reached the cache)", got)
	}
	// A store that does not cache: Invalidate is a no-op.
	newTestSealed(t, NewMemoryStore(), KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"}).Invalidate(ctx, c.Key())
}

func TestSealedFailedCreateKeepsEmptyID(t *testing.T) {
	ctx := context.Background()
	s := newTestSealed(t, NewMemoryStore(), KeyRing{Keys: map[string][]byte{"k1": key32(1)}, Current: "k1"})
	c := &Connection{Project: "p", User: "u", Integration: "slack", Version: 7}
	if err := s.Save(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing connection: %v, want ErrNotFound", err)
	}
	if c.ID != "" || c.Version != 7 {
		t.Fatal("failed Save changed the connection")
	}
}
