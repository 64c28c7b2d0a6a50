// Package storetest is the conformance suite of tokens.Store and
// tokens.Locker. Every implementation, in this module or elsewhere, runs it
// from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tokens.Store { return newMyStore(t) })
//	}
//
// Each subtest uses project ids of its own, made unique per run, so a shared
// external store (Redis, Postgres) can be reused across runs without being
// cleaned.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// project returns a project id unique to this test and run.
func project(t *testing.T) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return "storetest-" + hex.EncodeToString(b[:]) + "-" + name
}

// at returns a whole-second UTC time, which every store keeps exactly.
func at(sec int64) time.Time { return time.Unix(1_800_000_000+sec, 0).UTC() }

// fullCredential sets every plaintext field of a Credential.
func fullCredential() tokens.Credential {
	return tokens.Credential{
		AccessToken: "storetest-access", TokenType: "Bearer", RefreshToken: "storetest-refresh",
		Expiry: at(3600), ObtainedAt: at(0), APIKey: "storetest-apikey", Username: "storetest-user", Password: "storetest-password",
	}
}

func mustSave(t *testing.T, s tokens.Store, c *tokens.Connection) {
	t.Helper()
	if err := s.Save(context.Background(), c); err != nil {
		t.Fatalf("Save(%s): %v", c.Key(), err)
	}
}

func mustGet(t *testing.T, s tokens.Store, k tokens.Key) *tokens.Connection {
	t.Helper()
	c, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return c
}

// Run runs the Store conformance suite. newStore returns the store to test;
// it may return the same shared store to every subtest.
func Run(t *testing.T, newStore func(t *testing.T) tokens.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, tokens.Store)
	}{
		{"CRUD", testCRUD},
		{"Copies", testCopies},
		{"DefaultConnection", testDefault},
		{"ListOrder", testListOrder},
		{"CreateConflict", testCreateConflict},
		{"StaleUpdateConflict", testStaleUpdate},
		{"ConcurrentCAS", testConcurrentCAS},
		{"DeleteNotFound", testDeleteNotFound},
		{"NotFoundWrapped", testNotFound},
		{"FieldsRoundTrip", testFields},
		{"CredentialRoundTrip", testCredential},
		{"StatusRoundTrip", testStatus},
		{"RefreshIntentRoundTrip", testRefreshIntent},
		{"HealthRoundTrip", testHealth},
		{"DueIndex", testDueIndex},
		{"VerifyIndex", testVerifyIndex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func testCRUD(t *testing.T, s tokens.Store) {
	ctx := context.Background()
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "slack", Credential: fullCredential()}
	before := time.Now().Add(-time.Minute)
	mustSave(t, s, c)
	if c.ID == "" || c.Version == 0 || c.CreatedAt.Before(before) || c.UpdatedAt.Before(before) {
		t.Fatalf("after create: ID %q, Version %d, CreatedAt %v, UpdatedAt %v; want an id, a version and times set",
			c.ID, c.Version, c.CreatedAt, c.UpdatedAt)
	}
	got := mustGet(t, s, c.Key())
	if got.Version != c.Version || got.Credential.AccessToken != "storetest-access" {
		t.Fatalf("Get: version %d, access %q; want %d, the saved token", got.Version, got.Credential.AccessToken, c.Version)
	}
	v1 := c.Version
	got.Credential.AccessToken = "storetest-access-2"
	mustSave(t, s, got)
	if got.Version == v1 {
		t.Fatalf("update kept version %d", v1)
	}
	if again := mustGet(t, s, c.Key()); again.Credential.AccessToken != "storetest-access-2" || again.Version != got.Version {
		t.Fatalf("after update: version %d, want %d; access token not updated: %v", again.Version, got.Version, again.Credential.AccessToken != "storetest-access-2")
	}
	if !mustGet(t, s, c.Key()).CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("update changed CreatedAt")
	}
	if err := s.Delete(ctx, c.Key()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, c.Key()); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	stale := got.Clone()
	if err := s.Save(ctx, stale); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("update after Delete: %v, want ErrNotFound", err)
	}
}

func testCopies(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "hubspot", ID: "a",
		Credential: fullCredential(), Fields: map[string]string{"instance_url": "https://a.example"}}
	mustSave(t, s, c)
	// Mutating the value passed to Save must not change the store.
	c.Credential.AccessToken = "mutated"
	c.Fields["instance_url"] = "mutated"
	got := mustGet(t, s, c.Key())
	if got.Credential.AccessToken != "storetest-access" || got.Fields["instance_url"] != "https://a.example" {
		t.Fatal("mutating a saved value changed the store")
	}
	// Mutating a returned value must not either.
	got.Credential.AccessToken = "mutated"
	got.Fields["instance_url"] = "mutated"
	got.Status = tokens.StatusNeedsReauth
	again := mustGet(t, s, c.Key())
	if again.Credential.AccessToken != "storetest-access" || again.Fields["instance_url"] != "https://a.example" || !again.Active() {
		t.Fatal("mutating a returned value changed the store")
	}
	list, err := s.List(context.Background(), p, "u1")
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %d connections, %v; want 1", len(list), err)
	}
	list[0].Fields["instance_url"] = "mutated"
	if mustGet(t, s, c.Key()).Fields["instance_url"] != "https://a.example" {
		t.Fatal("mutating a listed value changed the store")
	}
}

func testDefault(t *testing.T, s tokens.Store) {
	p := project(t)
	save := func(id string, created time.Time) {
		mustSave(t, s, &tokens.Connection{Project: p, User: "u1", Integration: "gmail", ID: id, CreatedAt: created})
	}
	save("m", at(20))
	save("z", at(10)) // the earliest
	save("b", at(30))
	save("other", at(0))
	// The earliest of another integration and of another user do not count.
	mustSave(t, s, &tokens.Connection{Project: p, User: "u1", Integration: "gcal", ID: "a", CreatedAt: at(1)})
	mustSave(t, s, &tokens.Connection{Project: p, User: "u2", Integration: "gmail", ID: "a", CreatedAt: at(1)})
	if err := s.Delete(context.Background(), tokens.Key{Project: p, User: "u1", Integration: "gmail", ID: "other"}); err != nil {
		t.Fatal(err)
	}
	def := tokens.Key{Project: p, User: "u1", Integration: "gmail"}
	if got := mustGet(t, s, def); got.ID != "z" {
		t.Fatalf("default connection: %q, want the earliest created, %q", got.ID, "z")
	}
	save("y", at(10)) // same CreatedAt as "z": the smaller id wins
	if got := mustGet(t, s, def); got.ID != "y" {
		t.Fatalf("default connection on a CreatedAt tie: %q, want the smaller id %q", got.ID, "y")
	}
	if _, err := s.Get(context.Background(), tokens.Key{Project: p, User: "u3", Integration: "gmail"}); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("default of a user without connections: %v, want ErrNotFound", err)
	}
}

func testListOrder(t *testing.T, s tokens.Store) {
	p := project(t)
	for _, c := range []struct {
		integ, id string
		sec       int64
	}{{"zoom", "a", 1}, {"asana", "c", 30}, {"asana", "d", 10}, {"asana", "b", 10}, {"hubspot", "x", 5}} {
		mustSave(t, s, &tokens.Connection{Project: p, User: "u1", Integration: c.integ, ID: c.id, CreatedAt: at(c.sec)})
	}
	mustSave(t, s, &tokens.Connection{Project: p, User: "u2", Integration: "asana", ID: "e"})
	list, err := s.List(context.Background(), p, "u1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.Integration+"/"+c.ID)
	}
	want := []string{"asana/b", "asana/d", "asana/c", "hubspot/x", "zoom/a"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("List order: got %v, want %v", got, want)
	}
	if empty, err := s.List(context.Background(), p, "nobody"); err != nil || len(empty) != 0 {
		t.Fatalf("List of a user without connections: %d, %v; want none and no error", len(empty), err)
	}
}

func testCreateConflict(t *testing.T, s tokens.Store) {
	p := project(t)
	mustSave(t, s, &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a"})
	err := s.Save(context.Background(), &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a"})
	if !errors.Is(err, tokens.ErrConflict) {
		t.Fatalf("create of an existing key: %v, want ErrConflict", err)
	}
}

func testStaleUpdate(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a"}
	mustSave(t, s, c)
	a, b := c.Clone(), c.Clone()
	a.Credential.AccessToken = "first"
	mustSave(t, s, a)
	b.Credential.AccessToken = "second"
	if err := s.Save(context.Background(), b); !errors.Is(err, tokens.ErrConflict) {
		t.Fatalf("update of a stale version: %v, want ErrConflict", err)
	}
	if b.Version != c.Version {
		t.Fatalf("failed Save changed Version to %d", b.Version)
	}
	if got := mustGet(t, s, c.Key()); got.Credential.AccessToken != "first" {
		t.Fatal("a stale update overwrote the newer one")
	}
}

func testConcurrentCAS(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a"}
	mustSave(t, s, c)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			mine := c.Clone()
			mine.Fields = map[string]string{"writer": string(rune('A' + i%26))}
			errs[i] = s.Save(context.Background(), mine)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, tokens.ErrConflict):
			t.Errorf("concurrent Save: %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent updates of one version won, want exactly 1", wins, n)
	}
}

func testDeleteNotFound(t *testing.T, s tokens.Store) {
	k := tokens.Key{Project: project(t), User: "u1", Integration: "slack", ID: "none"}
	if err := s.Delete(context.Background(), k); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("Delete of a missing connection: %v, want ErrNotFound", err)
	}
}

func testNotFound(t *testing.T, s tokens.Store) {
	p := project(t)
	mustSave(t, s, &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a"})
	for _, k := range []tokens.Key{
		{Project: p, User: "u1", Integration: "slack", ID: "b"},
		{Project: p, User: "u1", Integration: "gmail"},
		{Project: p, User: "u2", Integration: "slack", ID: "a"},
	} {
		_, err := s.Get(context.Background(), k)
		if !errors.Is(err, tokens.ErrNotFound) {
			t.Errorf("Get(%s): %v, want an error wrapping ErrNotFound", k, err)
		}
	}
}

func testFields(t *testing.T, s tokens.Store) {
	p := project(t)
	fields := map[string]string{"instance_url": "https://x.my.salesforce.com", "shop": "a-shop", "empty": ""}
	c := &tokens.Connection{Project: p, User: "u1", Integration: "salesforce", ID: "a", Fields: maps.Clone(fields)}
	mustSave(t, s, c)
	if got := mustGet(t, s, c.Key()); !maps.Equal(got.Fields, fields) {
		t.Fatalf("Fields: got %v, want %v", got.Fields, fields)
	}
}

func testCredential(t *testing.T, s tokens.Store) {
	p := project(t)
	want := fullCredential()
	c := &tokens.Connection{Project: p, User: "u1", Integration: "salesforce", ID: "a", Credential: want}
	mustSave(t, s, c)
	got := mustGet(t, s, c.Key()).Credential
	if !got.Expiry.Equal(want.Expiry) {
		t.Errorf("Expiry: got %v, want %v", got.Expiry, want.Expiry)
	}
	if !got.ObtainedAt.Equal(want.ObtainedAt) {
		t.Errorf("ObtainedAt: got %v, want %v", got.ObtainedAt, want.ObtainedAt)
	}
	got.Expiry, want.Expiry = time.Time{}, time.Time{}
	got.ObtainedAt, want.ObtainedAt = time.Time{}, time.Time{}
	if got != want {
		// Compare field by field, naming fields only: values are secrets.
		for _, f := range []struct {
			name      string
			got, want string
		}{
			{"AccessToken", got.AccessToken, want.AccessToken}, {"TokenType", got.TokenType, want.TokenType},
			{"RefreshToken", got.RefreshToken, want.RefreshToken}, {"APIKey", got.APIKey, want.APIKey},
			{"Username", got.Username, want.Username}, {"Password", got.Password, want.Password},
			{"Sealed", got.Sealed, want.Sealed},
		} {
			if f.got != f.want {
				t.Errorf("Credential.%s did not round-trip", f.name)
			}
		}
	}
	// A zero Expiry stays zero.
	z := &tokens.Connection{Project: p, User: "u1", Integration: "apikey", ID: "a", Credential: tokens.Credential{APIKey: "k"}}
	mustSave(t, s, z)
	if got := mustGet(t, s, z.Key()); !got.Credential.Expiry.IsZero() {
		t.Errorf("zero Expiry came back as %v", got.Credential.Expiry)
	}
}

func testStatus(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a", Status: tokens.StatusActive}
	mustSave(t, s, c)
	if got := mustGet(t, s, c.Key()); !got.Active() {
		t.Fatalf("Status: got %q, want active", got.Status)
	}
	c.Status = tokens.StatusNeedsReauth
	mustSave(t, s, c)
	if got := mustGet(t, s, c.Key()); got.Status != tokens.StatusNeedsReauth {
		t.Fatalf("Status: got %q, want %q", got.Status, tokens.StatusNeedsReauth)
	}
}

// testRefreshIntent checks what the Refresher relies on to find a refresh
// lost in a crash: Refreshing and Reason round-trip, are saved
// compare-and-swap with the rest of the connection, and are cleared by a
// save without them.
func testRefreshIntent(t *testing.T, s tokens.Store) {
	p := project(t)
	c := &tokens.Connection{Project: p, User: "u1", Integration: "slack", ID: "a", Credential: fullCredential()}
	mustSave(t, s, c)
	if got := mustGet(t, s, c.Key()); got.Refreshing != nil || got.Reason != "" {
		t.Fatalf("new connection: Refreshing %v, Reason %q; want none", got.Refreshing, got.Reason)
	}
	intent := tokens.RefreshIntent{TokenHash: tokens.RefreshTokenHash("storetest-refresh"), Since: at(60)}
	marked := c.Clone()
	marked.Refreshing = &intent
	mustSave(t, s, marked)
	got := mustGet(t, s, c.Key())
	if got.Refreshing == nil || got.Refreshing.TokenHash != intent.TokenHash || !got.Refreshing.Since.Equal(intent.Since) {
		t.Fatalf("Refreshing: got %+v, want %+v", got.Refreshing, intent)
	}
	// A copy returned is the caller's own.
	got.Refreshing.TokenHash = "mutated"
	if again := mustGet(t, s, c.Key()); again.Refreshing == nil || again.Refreshing.TokenHash != intent.TokenHash {
		t.Fatal("mutating a returned Refreshing changed the store")
	}
	// The intent is written compare-and-swap: a stale copy cannot record one.
	stale := c.Clone()
	stale.Refreshing = &tokens.RefreshIntent{TokenHash: "other", Since: at(61)}
	if err := s.Save(context.Background(), stale); !errors.Is(err, tokens.ErrConflict) {
		t.Fatalf("intent saved over a stale version: %v, want ErrConflict", err)
	}
	// The save of the outcome clears it and records a reason.
	done := mustGet(t, s, c.Key())
	done.Refreshing, done.Status, done.Reason = nil, tokens.StatusNeedsReauth, tokens.ReasonRefreshLost
	mustSave(t, s, done)
	got = mustGet(t, s, c.Key())
	if got.Refreshing != nil || got.Status != tokens.StatusNeedsReauth || got.Reason != tokens.ReasonRefreshLost {
		t.Fatalf("after the outcome: Refreshing %v, Status %q, Reason %q; want none, %q, %q",
			got.Refreshing, got.Status, got.Reason, tokens.StatusNeedsReauth, tokens.ReasonRefreshLost)
	}
}
