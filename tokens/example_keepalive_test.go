package tokens_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

type staticGrant struct{}

func (staticGrant) Token(context.Context, *tokens.Connection) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "new-access", Expiry: time.Now().Add(time.Hour)}, nil
}

// A KeepAlive refreshes a connection whose token expires within Ahead, in
// the background, before any request finds it due.
func ExampleKeepAlive() {
	ctx := context.Background()
	store := tokens.NewMemoryStore()
	c := &tokens.Connection{Project: "p", User: "u", Integration: "crm", Credential: tokens.Credential{
		AccessToken: "old-access", RefreshToken: "rt", Expiry: time.Now().Add(3 * time.Minute)}}
	_ = store.Save(ctx, c)

	refresher, _ := tokens.NewRefresher(tokens.RefresherConfig{Store: store})
	ka, err := tokens.NewKeepAlive(tokens.KeepAliveConfig{
		Store: store, Refresher: refresher,
		Grant: func(context.Context, tokens.Key) (tokens.Grant, error) { return staticGrant{}, nil },
		Ahead: 5 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	st := ka.Tick(ctx) // Start(ctx) runs a tick every Interval; Close stops it
	got, _ := store.Get(ctx, c.Key())
	fmt.Println(st.Refreshed, got.Credential.AccessToken, tokens.HealthOf(got).State)
	// Output: 1 new-access healthy
}
