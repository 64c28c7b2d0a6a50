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
}
