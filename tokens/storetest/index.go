package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// mine returns the keys of project p, in the order given.
func mine(keys []tokens.Key, p string) []string {
	var out []string
	for _, k := range keys {
		if k.Project == p {
			out = append(out, k.ID)
		}
	}
	return out
}

// testDueIndex checks a store's DueIndex, when it has one: Save indexes a
// connection by Schedule, an update moves it, a connection that is not
// active or is deleted leaves both indexes, results are ordered and limited.
// Other subtests' connections may share the store: only this project's keys
// are compared.
func testDueIndex(t *testing.T, s tokens.Store) {
	ix, ok := tokens.IndexOf(s)
	if !ok {
		t.Skip("the store has no DueIndex")
	}
	ctx := context.Background()
	p := project(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	in := "ix-" + hex.EncodeToString(b[:]) // Idle is per integration, across projects
	// Times far in the past, so no other subtest's connection falls within.
	base := time.Unix(1_000_000_000, 0).UTC()
	mk := func(id string, expiry, obtained time.Duration) *tokens.Connection {
		c := &tokens.Connection{Project: p, User: "u", Integration: in, ID: id, Credential: tokens.Credential{
			AccessToken: "a", RefreshToken: "r", ObtainedAt: base.Add(obtained)}}
		if expiry != 0 {
			c.Credential.Expiry = base.Add(expiry)
		}
		mustSave(t, s, c)
		return c
	}
	c3 := mk("c3", 30*time.Second, 3*time.Second)
	c1 := mk("c1", 10*time.Second, 1*time.Second)
	c2 := mk("c2", 20*time.Second, 2*time.Second)
	mk("never", 0, 4*time.Second) // an access token that never expires: Idle only

	due := func(before time.Duration, limit int) []string {
		t.Helper()
		keys, err := ix.Due(ctx, base.Add(before), limit)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		for _, k := range keys {
			if k.ID == "" {
				t.Fatalf("Due returned %s without its ID", k)
			}
		}
		return mine(keys, p)
	}
	idle := func(before time.Duration, limit int) []string {
		t.Helper()
		keys, err := ix.Idle(ctx, in, base.Add(before), limit)
		if err != nil {
			t.Fatalf("Idle: %v", err)
		}
		return mine(keys, p)
	}
	if got, want := due(25*time.Second, 100), []string{"c1", "c2"}; !slices.Equal(got, want) {
		t.Fatalf("Due(before c3): %v, want %v (soonest first, c3 not yet)", got, want)
	}
	if got := due(time.Hour, 100); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("Due: %v, want c1 c2 c3", got)
	}
	if got := due(10*time.Second, 100); len(got) != 0 {
		t.Fatalf("Due(before = c1's expiry): %v, want none (strictly before)", got)
	}
	if got := idle(time.Hour, 100); !slices.Equal(got, []string{"c1", "c2", "c3", "never"}) {
		t.Fatalf("Idle: %v, want c1 c2 c3 never (oldest first)", got)
	}
	if keys, err := ix.Due(ctx, base.Add(time.Hour), 1); err != nil || len(keys) > 1 {
		t.Fatalf("Due(limit 1): %d keys, %v", len(keys), err)
	}
	if keys, err := ix.Idle(ctx, in+"-none", base.Add(time.Hour), 10); err != nil || len(keys) != 0 {
		t.Fatalf("Idle of an integration without connections: %v, %v", keys, err)
	}

	// An update moves the connection in both indexes.
	c1.Credential.Expiry, c1.Credential.ObtainedAt = base.Add(40*time.Second), base.Add(5*time.Second)
	mustSave(t, s, c1)
	if got := due(time.Hour, 100); !slices.Equal(got, []string{"c2", "c3", "c1"}) {
		t.Fatalf("Due after c1's refresh: %v, want c2 c3 c1", got)
	}
	if got := idle(time.Hour, 100); !slices.Equal(got, []string{"c2", "c3", "never", "c1"}) {
		t.Fatalf("Idle after c1's refresh: %v, want c2 c3 never c1", got)
	}
	// Not active: in neither index.
	c2.Status, c2.Reason = tokens.StatusNeedsReauth, tokens.ReasonGrantRejected
	mustSave(t, s, c2)
	if got := due(time.Hour, 100); !slices.Equal(got, []string{"c3", "c1"}) {
		t.Fatalf("Due after c2 needs reauth: %v, want c3 c1", got)
	}
	if got := idle(time.Hour, 100); slices.Contains(got, "c2") {
		t.Fatalf("Idle after c2 needs reauth: %v, still holds c2", got)
	}
	// Deleted: gone from both.
	if err := s.Delete(ctx, c3.Key()); err != nil {
		t.Fatal(err)
	}
	if got := due(time.Hour, 100); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("Due after deleting c3: %v, want c1", got)
	}
	if got := idle(time.Hour, 100); !slices.Equal(got, []string{"never", "c1"}) {
		t.Fatalf("Idle after deleting c3: %v, want never c1", got)
	}
	// An ended ctx fails the query.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ix.Due(cctx, base.Add(time.Hour), 10); err == nil {
		t.Fatal("Due with an ended context: no error")
	}
}

// testHealth checks that a store keeps a connection's Failures and
// LastError.
func testHealth(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u", Integration: "slack", Credential: fullCredential(), Failures: 3, LastError: "http_503"}
	mustSave(t, s, c)
	got := mustGet(t, s, c.Key())
	if got.Failures != 3 || got.LastError != "http_503" {
		t.Fatalf("after create: Failures %d, LastError %q; want 3, http_503", got.Failures, got.LastError)
	}
	got.Failures, got.LastError = 0, ""
	mustSave(t, s, got)
	if again := mustGet(t, s, c.Key()); again.Failures != 0 || again.LastError != "" {
		t.Fatalf("after update: Failures %d, LastError %q; want 0, empty", again.Failures, again.LastError)
	}
	// Last use and verification.
	used, verified := time.Unix(1_700_000_000, 123_000_000).UTC(), time.Unix(1_700_000_100, 0).UTC()
	got = mustGet(t, s, c.Key())
	got.LastUsed, got.Verified, got.VerifyError = used, verified, "http_403"
	mustSave(t, s, got)
	again := mustGet(t, s, c.Key())
	if !again.LastUsed.Equal(used) || !again.Verified.Equal(verified) || again.VerifyError != "http_403" {
		t.Fatalf("LastUsed %v, Verified %v, VerifyError %q; want %v, %v, http_403", again.LastUsed, again.Verified, again.VerifyError, used, verified)
	}
	if h := tokens.HealthOf(again); h.State != tokens.HealthVerificationFailed || !h.LastUsed.Equal(used) || h.LastError != "http_403" {
		t.Fatalf("HealthOf: %+v, want verification_failed with the stored times", h)
	}
	again.VerifyError = ""
	mustSave(t, s, again)
	if last := mustGet(t, s, c.Key()); last.VerifyError != "" || tokens.HealthOf(last).State != tokens.HealthHealthy {
		t.Fatalf("after a passing verification: VerifyError %q, want empty and healthy", last.VerifyError)
	}
}

// testVerifyIndex checks a store's VerifyIndex, when it has one: per
// integration, by VerifySchedule (Verified, or CreatedAt), oldest first;
// not active or deleted connections leave it.
func testVerifyIndex(t *testing.T, s tokens.Store) {
	ix, ok := tokens.VerifyIndexOf(s)
	if !ok {
		t.Skip("the store has no VerifyIndex")
	}
	ctx := context.Background()
	p := project(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	in := "vx-" + hex.EncodeToString(b[:])
	base := time.Unix(1_000_000_000, 0).UTC()
	mk := func(id string, created, verified time.Duration) *tokens.Connection {
		c := &tokens.Connection{Project: p, User: "u", Integration: in, ID: id, CreatedAt: base.Add(created),
			Credential: tokens.Credential{AccessToken: "a"}}
		if verified != 0 {
			c.Verified = base.Add(verified)
		}
		mustSave(t, s, c)
		return c
	}
	v1 := mk("v1", 1*time.Second, 0)              // never verified: by creation
	v2 := mk("v2", 0, 20*time.Second)             // verified later
	v3 := mk("v3", 2*time.Second, 10*time.Second) // verified earlier
	list := func(before time.Duration, limit int) []string {
		t.Helper()
		keys, err := ix.Unverified(ctx, in, base.Add(before), limit)
		if err != nil {
			t.Fatalf("Unverified: %v", err)
		}
		for _, k := range keys {
			if k.ID == "" {
				t.Fatalf("Unverified returned %s without its ID", k)
			}
		}
		return mine(keys, p)
	}
	if got := list(time.Hour, 100); !slices.Equal(got, []string{"v1", "v3", "v2"}) {
		t.Fatalf("Unverified: %v, want v1 v3 v2 (oldest first)", got)
	}
	if got := list(15*time.Second, 100); !slices.Equal(got, []string{"v1", "v3"}) {
		t.Fatalf("Unverified(before v2): %v, want v1 v3", got)
	}
	if got := list(time.Hour, 1); len(got) > 1 {
		t.Fatalf("Unverified(limit 1): %v", got)
	}
	if keys, err := ix.Unverified(ctx, in+"-none", base.Add(time.Hour), 10); err != nil || len(keys) != 0 {
		t.Fatalf("Unverified of an integration without connections: %v, %v", keys, err)
	}
	// A verification moves it to the back.
	v1 = mustGet(t, s, v1.Key())
	v1.Verified = base.Add(30 * time.Second)
	mustSave(t, s, v1)
	if got := list(time.Hour, 100); !slices.Equal(got, []string{"v3", "v2", "v1"}) {
		t.Fatalf("Unverified after v1's verification: %v, want v3 v2 v1", got)
	}
	// Not active, deleted: gone.
	v3 = mustGet(t, s, v3.Key())
	v3.Status = tokens.StatusNeedsReauth
	mustSave(t, s, v3)
	if err := s.Delete(ctx, v2.Key()); err != nil {
		t.Fatal(err)
	}
	if got := list(time.Hour, 100); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("Unverified after v3 needs reauth and v2 is deleted: %v, want v1", got)
	}
}
