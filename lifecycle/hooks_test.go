package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/tokens"
)

// The Emitter is the connect flow's sink.
var _ connect.EventSink = (*lifecycle.Emitter)(nil)

// recorder collects the events an Emitter hands its handlers.
type recorder struct {
	mu  sync.Mutex
	evs []lifecycle.Event
}

func (r *recorder) handle(_ context.Context, ev lifecycle.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// take returns "type/reason" of each event since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		out = append(out, fmt.Sprintf("%s/%s", ev.Type, ev.Reason))
	}
	r.evs = nil
	return out
}

func newRecorded(t *testing.T, cfg lifecycle.EmitterConfig) (*lifecycle.Emitter, *recorder) {
	t.Helper()
	r := &recorder{}
	cfg.Handlers = append(cfg.Handlers, r.handle)
	e, err := lifecycle.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

func TestRefreshHooks(t *testing.T) {
	e, rec := newRecorded(t, lifecycle.EmitterConfig{})
	onRefresh, onFailed := lifecycle.RefreshHooks(e)
	k := tokens.Key{Project: "p", User: "u", Integration: "salesforce", ID: "c1"}
	other := tokens.Key{Project: "p", User: "u", Integration: "hubspot", ID: "c2"}
	transient := fmt.Errorf("wrapped: %w", tokens.ErrRefreshFailed)
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"refreshed", func() { onRefresh(tokens.RefreshEvent{Key: k}) }, []string{"connection.refreshed/"}},
		{"first failure", func() { onFailed(tokens.RefreshEvent{Key: k}, transient) }, []string{"connection.refresh_failing/refresh_failed"}},
		// One event per episode, not one per attempt.
		{"second failure", func() { onFailed(tokens.RefreshEvent{Key: k}, transient) }, nil},
		{"another connection's timeout", func() {
			onFailed(tokens.RefreshEvent{Key: other}, fmt.Errorf("x: %w", tokens.ErrRefreshTimeout))
		}, []string{"connection.refresh_failing/refresh_timeout"}},
		{"recovered", func() { onRefresh(tokens.RefreshEvent{Key: k}) }, []string{"connection.refreshed/", "connection.recovered/refreshed"}},
		{"refreshed again", func() { onRefresh(tokens.RefreshEvent{Key: k}) }, []string{"connection.refreshed/"}},
		{"grant rejected", func() {
			onFailed(tokens.RefreshEvent{Key: other, NeedsReauth: true}, tokens.ErrReauthRequired)
		}, []string{"connection.reauth_required/grant_rejected"}},
		{"refresh lost", func() {
			onFailed(tokens.RefreshEvent{Key: k, NeedsReauth: true}, errors.Join(tokens.ErrReauthRequired, tokens.ErrRefreshLost))
		}, []string{"connection.reauth_required/refresh_lost"}},
		// After re-authorization was required, a failure starts a new episode.
		{"failing after reauth", func() { onFailed(tokens.RefreshEvent{Key: other}, transient) }, []string{"connection.refresh_failing/refresh_failed"}},
	}
	for _, s := range steps {
		s.do()
		if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("%s: events %v, want %v", s.name, got, s.want)
		}
	}
}

func TestEmitterConnectEvents(t *testing.T) {
	out := lifecycle.NewMemoryOutbox()
	e, rec := newRecorded(t, lifecycle.EmitterConfig{Outbox: out, OutboxTypes: []lifecycle.Type{lifecycle.TypeDeleted}})
	c := &tokens.Connection{Project: "p", User: "u", Integration: "salesforce", ID: "c1",
		Credential: tokens.Credential{AccessToken: "at-secret", RefreshToken: "rt-secret"}}
	ctx := context.Background()
	for _, err := range []error{
		e.ConnectionSaved(ctx, c, true, ""),
		e.ConnectionSaved(ctx, c, false, tokens.StatusActive),
		e.ConnectionSaved(ctx, c, false, tokens.StatusNeedsReauth),
		e.VerificationFailed(ctx, c.Key(), "unauthorized"),
		e.ConnectionDeleted(ctx, c),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := "[connection.created/ connection.created/reconnected connection.recovered/reconnected connection.verification_failed/unauthorized connection.deleted/]"
	rec.mu.Lock()
	evs := append([]lifecycle.Event(nil), rec.evs...)
	rec.mu.Unlock()
	if got := fmt.Sprint(rec.take()); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if len(ev.ID) != 36 || seen[ev.ID] || ev.Time.IsZero() || ev.Time.Location() != time.UTC ||
			ev.ConnectionID != "c1" || ev.Integration != "salesforce" {
			t.Errorf("event %+v: want a fresh evt_ id, a UTC time and the connection's key", ev)
		}
		seen[ev.ID] = true
		// Defends against a credential leaking into an event (and so a webhook).
		if b, _ := json.Marshal(ev); strings.Contains(string(b), "secret") {
			t.Errorf("event carries a secret: %s", b)
		}
	}
	// Only the selected type went to the outbox.
	if out.Len() != 1 {
		t.Errorf("outbox holds %d entries, want 1 (OutboxTypes)", out.Len())
	}
	if err := e.Emit(ctx, lifecycle.Event{Type: "connection.exploded"}); err == nil {
		t.Error("Emit of an unknown type: no error")
	}
	if _, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{OutboxTypes: []lifecycle.Type{"nope"}}); err == nil {
		t.Error("NewEmitter with an unknown OutboxTypes entry: no error")
	}
}

// failingOutbox fails every call.
type failingOutbox struct{ lifecycle.Outbox }

func (failingOutbox) Add(context.Context, lifecycle.Event) error { return tokens.ErrUnavailable }

func TestEmitOutboxFailure(t *testing.T) {
	e, rec := newRecorded(t, lifecycle.EmitterConfig{Outbox: failingOutbox{}})
	unsub := e.Subscribe(func(context.Context, lifecycle.Event) {})
	defer unsub()
	err := e.Emit(context.Background(), lifecycle.Event{Type: lifecycle.TypeCreated})
	if !errors.Is(err, tokens.ErrUnavailable) {
		t.Errorf("Emit: %v, want ErrUnavailable", err)
	}
	if got := rec.take(); len(got) != 1 {
		t.Errorf("handlers called %d times, want 1 despite the outbox failure", len(got))
	}
}
