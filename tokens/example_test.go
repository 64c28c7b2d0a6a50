package tokens_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

func ExampleMemoryStore() {
	ctx := context.Background()
	store := tokens.NewMemoryStore()
	conn := &tokens.Connection{
		Project: "proj", User: "user-1", Integration: "slack", ID: "work",
		Credential: tokens.Credential{AccessToken: "xoxb-secret", TokenType: "Bearer"},
	}
	if err := store.Save(ctx, conn); err != nil {
		fmt.Println(err)
		return
	}
	// An empty ID names the user's default connection of the integration.
	got, err := store.Get(ctx, tokens.Key{Project: "proj", User: "user-1", Integration: "slack"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.ID, got.Version, got.Credential.TokenType)

	// Save is compare-and-swap: a stale copy loses.
	stale := got.Clone()
	got.Fields = map[string]string{"team": "T1"}
	fmt.Println(store.Save(ctx, got))
	fmt.Println(store.Save(ctx, stale))
	// Output:
	// work 1 Bearer
	// <nil>
	// tokens: version conflict: proj/user-1/slack/work at version 2, not 1
}

func ExampleNewCached() {
	ctx := context.Background()
	store, err := tokens.NewCached(tokens.NewMemoryStore(), tokens.CachedConfig{TTL: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	conn := &tokens.Connection{Project: "proj", User: "user-1", Integration: "github", ID: "a"}
	if err := store.Save(ctx, conn); err != nil {
		fmt.Println(err)
		return
	}
	got, _ := store.Get(ctx, conn.Key())  // read from the backing store, then cached
	got.Status = tokens.StatusNeedsReauth // a copy: the cache is unchanged
	again, _ := store.Get(ctx, conn.Key())
	fmt.Println(again.Active())
	// Output: true
}

func ExampleNewSealed() {
	ctx := context.Background()
	backing := tokens.NewMemoryStore()
	ring := tokens.KeyRing{
		Keys:    map[string][]byte{"2025-01": bytes.Repeat([]byte{7}, 32)}, // load real keys from a secret manager
		Current: "2025-01",
	}
	store, err := tokens.NewSealed(backing, ring)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn := &tokens.Connection{Project: "proj", User: "user-1", Integration: "stripe", ID: "a",
		Credential: tokens.Credential{APIKey: "sk_live_secret"}}
	if err := store.Save(ctx, conn); err != nil {
		fmt.Println(err)
		return
	}
	raw, _ := backing.Get(ctx, conn.Key())
	fmt.Println(strings.HasPrefix(raw.Credential.Sealed, "v1:2025-01:"), raw.Credential.APIKey == "")
	opened, _ := store.Get(ctx, conn.Key())
	fmt.Println(opened.Credential.APIKey)
	// Output:
	// true true
	// sk_live_secret
}

func ExampleRefresher_Fresh() {
	ctx := context.Background()
	// A provider's token endpoint that rotates refresh tokens.
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"new-access","refresh_token":"new-refresh","token_type":"Bearer","expires_in":3600}`)
	}))
	defer provider.Close()

	store := tokens.NewMemoryStore()
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{
		Store:     store,
		OnRefresh: func(ev tokens.RefreshEvent) { fmt.Println("refreshed", ev.Key) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	grant := tokens.RefreshTokenGrant{Config: &oauth2.Config{
		ClientID: "client", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: provider.URL, AuthStyle: oauth2.AuthStyleInHeader},
	}}
	conn := &tokens.Connection{Project: "proj", User: "user-1", Integration: "salesforce", ID: "a",
		Credential: tokens.Credential{AccessToken: "old-access", RefreshToken: "old-refresh", Expiry: time.Now().Add(-time.Minute)}}
	if err := store.Save(ctx, conn); err != nil {
		fmt.Println(err)
		return
	}

	fresh, err := refresher.Fresh(ctx, conn, grant, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Version 3: the refresh saved its intent (version 2), then its result.
	fmt.Println(fresh.Credential.AccessToken, fresh.Version)
	stored, _ := store.Get(ctx, conn.Key())
	fmt.Println(stored.Credential.RefreshToken)

	// Valid now: the next call returns it as is, without a request.
	again, _ := refresher.Fresh(ctx, fresh, grant, "")
	fmt.Println(again == fresh)
	// Output:
	// refreshed proj/user-1/salesforce/a
	// new-access 3
	// new-refresh
	// true
}

// Shutdown, after the HTTP server's own, waits for the refreshes in flight to
// be saved; afterwards a connection that needs a refresh fails fast.
func ExampleRefresher_Shutdown() {
	store := tokens.NewMemoryStore()
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	// srv.Shutdown(ctx) first: no new requests.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(refresher.Shutdown(ctx))

	expired := &tokens.Connection{Project: "proj", User: "user-1", Integration: "salesforce", ID: "a",
		Credential: tokens.Credential{AccessToken: "old-access", RefreshToken: "old-refresh", Expiry: time.Now().Add(-time.Minute)}}
	_, err = refresher.Fresh(ctx, expired, tokens.RefreshTokenGrant{Config: &oauth2.Config{}}, "")
	fmt.Println(errors.Is(err, tokens.ErrRefresherShutDown))
	// Output:
	// <nil>
	// true
}

// A token's lifetime caps how early it is refreshed: a 30-second token, with
// the default one-minute Margin, is valid for its first 15 seconds.
func ExampleRefresher_Valid() {
	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: tokens.NewMemoryStore()})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	conn := &tokens.Connection{Credential: tokens.Credential{AccessToken: "a",
		ObtainedAt: now.Add(-10 * time.Second), Expiry: now.Add(20 * time.Second)}}
	fmt.Println(refresher.Valid(conn)) // 10s into a 30s life
	conn.Credential.ObtainedAt, conn.Credential.Expiry = now.Add(-16*time.Second), now.Add(14*time.Second)
	fmt.Println(refresher.Valid(conn)) // 16s into it: due
	// Output:
	// true
	// false
}
