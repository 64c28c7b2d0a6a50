package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/tokens"
)

// An Emitter with a Go handler, fed by the Refresher's hooks.
func ExampleRefreshHooks() {
	emitter, _ := lifecycle.NewEmitter(lifecycle.EmitterConfig{})
	emitter.Subscribe(func(ctx context.Context, ev lifecycle.Event) {
		fmt.Println(strings.TrimSpace(fmt.Sprint(ev.Type, " ", ev.Integration, " ", ev.ConnectionID, " ", ev.Reason)))
	})
	onRefresh, onFailed := lifecycle.RefreshHooks(emitter)
	// tokens.NewRefresher(tokens.RefresherConfig{..., OnRefresh: onRefresh, OnRefreshFailed: onFailed})
	// calls them; here, by hand:
	k := tokens.Key{Project: "p1", User: "u1", Integration: "salesforce", ID: "c1"}
	onFailed(tokens.RefreshEvent{Key: k}, tokens.ErrRefreshFailed)
	onRefresh(tokens.RefreshEvent{Key: k})
	onFailed(tokens.RefreshEvent{Key: k, NeedsReauth: true}, tokens.ErrReauthRequired)
	// Output:
	// connection.refresh_failing salesforce c1 refresh_failed
	// connection.refreshed salesforce c1
	// connection.recovered salesforce c1 refreshed
	// connection.reauth_required salesforce c1 grant_rejected
}

// A receiver checks each delivery's signature on the raw body, then
// de-duplicates by event id.
func ExampleVerify() {
	const secret = "whsec_example"
	seen := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := lifecycle.Verify(secret, r.Header.Get(lifecycle.SignatureHeader), body, 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		id := r.Header.Get(lifecycle.EventIDHeader)
		if !seen[id] {
			seen[id] = true
			fmt.Println("processed", r.Header.Get(lifecycle.EventTypeHeader))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	outbox := lifecycle.NewMemoryOutbox()
	emitter, _ := lifecycle.NewEmitter(lifecycle.EmitterConfig{Outbox: outbox})
	dispatcher, _ := lifecycle.NewDispatcher(lifecycle.DispatcherConfig{Outbox: outbox,
		Endpoints: []lifecycle.Endpoint{{URL: receiver.URL, Secret: secret}}})
	_ = emitter.Emit(context.Background(), lifecycle.Event{Type: lifecycle.TypeDeleted,
		Project: "p1", User: "u1", Integration: "salesforce", ConnectionID: "c1"})
	n, _ := dispatcher.RunOnce(context.Background())
	fmt.Println("delivered", n, "left", outbox.Len())

	// A replay of an old delivery is refused, though its signature is valid.
	old := lifecycle.Sign(secret, time.Now().Add(-time.Hour), []byte(`{}`))
	err := lifecycle.Verify(secret, old, []byte(`{}`), 5*time.Minute)
	fmt.Println(errors.Is(err, lifecycle.ErrTimestamp))
	// Output:
	// processed connection.deleted
	// delivered 1 left 0
	// true
}
