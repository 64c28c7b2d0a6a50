package connect_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestSealedStates: a pending connection's credential reaches the backing
// state store sealed, comes back opened, and cannot be moved to another
// state; states without one pass through unchanged.
func TestSealedStates(t *testing.T) {
	ring := tokens.KeyRing{Keys: map[string][]byte{"k1": []byte(strings.Repeat("k", 32))}, Current: "k1"}
	sealed, err := tokens.NewSealed(tokens.NewMemoryStore(), ring)
	if err != nil {
		t.Fatal(err)
	}
	backing := connect.NewMemoryStateStore()
	states, err := connect.NewSealedStates(backing, sealed)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	exp := time.Now().Add(time.Minute)
	cred := tokens.Credential{AccessToken: "pending-access-secret", RefreshToken: "pending-refresh-secret"}
	st := connect.State{Project: "p", User: "u", Integration: "jira", Expires: exp,
		Pending: &connect.Pending{Credential: cred, Fields: map[string]string{"x": "1"}}}
	if err := states.Put(ctx, "key-1", st); err != nil {
		t.Fatal(err)
	}
	if st.Pending.Credential.AccessToken != cred.AccessToken {
		t.Fatal("Put changed the caller's state")
	}
	// What the backing store holds names no secret.
	raw, err := backing.Take(ctx, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(raw)
	if strings.Contains(string(b), "pending-access-secret") || strings.Contains(string(b), "pending-refresh-secret") || raw.Pending.Credential.Sealed == "" {
		t.Fatalf("backing store holds %s", b)
	}
	if err := backing.Put(ctx, "key-1", raw); err != nil {
		t.Fatal(err)
	}
	got, err := states.Take(ctx, "key-1")
	if err != nil || got.Pending == nil || got.Pending.Credential != cred || got.Pending.Fields["x"] != "1" {
		t.Fatalf("Take: %+v, %v", got.Pending, err)
	}
	// The sealed value moved under another state's key does not open.
	if err := backing.Put(ctx, "key-2", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := states.Take(ctx, "key-2"); !errors.Is(err, connect.ErrStateNotFound) || !errors.Is(err, tokens.ErrSealed) {
		t.Fatalf("moved pending credential: %v", err)
	}
	// A state without a pending connection passes through.
	plain := connect.State{Project: "p", User: "u", Integration: "jira", Verifier: "v", Expires: exp}
	if err := states.Put(ctx, "key-3", plain); err != nil {
		t.Fatal(err)
	}
	if got, err := states.Take(ctx, "key-3"); err != nil || got.Verifier != "v" || got.Pending != nil {
		t.Fatalf("plain state: %+v, %v", got, err)
	}
}
