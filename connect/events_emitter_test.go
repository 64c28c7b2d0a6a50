package connect_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/tokens"
)

// TestEventsThroughEmitter: a lifecycle.Emitter as Config.Events turns the
// connect flow's saves and deletes into connection.created (a new one, and
// reason "reconnected" for a replaced one), connection.recovered (reason
// "reconnected", after needs_reauth) and connection.deleted, naming the
// exact connection.
func TestEventsThroughEmitter(t *testing.T) {
	var mu sync.Mutex
	var got []lifecycle.Event
	em, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{Handlers: []func(context.Context, lifecycle.Event){
		func(_ context.Context, ev lifecycle.Event) { mu.Lock(); got = append(got, ev); mu.Unlock() }}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *connect.Config) { c.Events = em })
	want := func(step string, typ lifecycle.Type, reason string, k tokens.Key) {
		t.Helper()
		mu.Lock()
		evs := got
		got = nil
		mu.Unlock()
		if len(evs) != 1 || evs[0].Type != typ || evs[0].Reason != reason || evs[0].ConnectionID != k.ID ||
			evs[0].User != k.User || evs[0].Integration != k.Integration || evs[0].ID == "" {
			t.Fatalf("%s: events %+v, want one %s (%q) of %s", step, evs, typ, reason, k)
		}
	}
	wantOutcome(t, e.connectUser(t, "zoe"), connect.StatusConnected, "")
	c := e.stored(t, "zoe")
	want("connect", lifecycle.TypeCreated, "", c.Key())
	wantOutcome(t, e.connectUser(t, "zoe"), connect.StatusConnected, "")
	want("connect again", lifecycle.TypeCreated, lifecycle.ReasonReconnected, c.Key())
	c = e.stored(t, "zoe")
	c.Status, c.Reason = tokens.StatusNeedsReauth, tokens.ReasonGrantRejected
	if err := e.store.Save(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, e.connectUser(t, "zoe"), connect.StatusConnected, "")
	want("reconnect after needs_reauth", lifecycle.TypeRecovered, lifecycle.ReasonReconnected, c.Key())
	if resp := e.call(t, http.MethodDelete, "zoe", "/connect/custom.tasklab?credentialId="+c.ID, nil); resp.StatusCode != 204 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	want("disconnect", lifecycle.TypeDeleted, "", c.Key())
}
