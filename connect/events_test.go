package connect_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/tokens"
)

type sinkCall struct {
	op       string // "saved" or "deleted"
	key      tokens.Key
	created  bool
	previous tokens.Status
}

// recordingSink is an EventSink that records its calls and fails when told.
type recordingSink struct {
	mu    sync.Mutex
	calls []sinkCall
	err   error
}

func (s *recordingSink) ConnectionSaved(ctx context.Context, c *tokens.Connection, created bool, previous tokens.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, sinkCall{"saved", c.Key(), created, previous})
	return s.err
}

func (s *recordingSink) ConnectionDeleted(ctx context.Context, c *tokens.Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, sinkCall{"deleted", c.Key(), false, ""})
	return s.err
}

func (s *recordingSink) take() []sinkCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// TestEvents: the sink hears of each save (new, replaced, reconnected after
// needs_reauth) and each delete, after the store succeeded, with the exact
// key; a failing sink does not fail the request.
func TestEvents(t *testing.T) {
	sink := &recordingSink{}
	e := newEnv(t, func(c *connect.Config) { c.Events = sink })

	wantOutcome(t, e.connectUser(t, "ivy"), connect.StatusConnected, "")
	c := e.stored(t, "ivy")
	want := func(step string, w ...sinkCall) {
		t.Helper()
		got := sink.take()
		if len(got) != len(w) {
			t.Fatalf("%s: sink calls %+v, want %+v", step, got, w)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("%s: sink call %+v, want %+v", step, got[i], w[i])
			}
		}
	}
	want("connect", sinkCall{"saved", c.Key(), true, ""})

	wantOutcome(t, e.connectUser(t, "ivy"), connect.StatusConnected, "")
	want("connect again", sinkCall{"saved", c.Key(), false, tokens.StatusActive})

	c = e.stored(t, "ivy")
	c.Status, c.Reason = tokens.StatusNeedsReauth, tokens.ReasonGrantRejected
	if err := e.store.Save(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, e.connectUser(t, "ivy"), connect.StatusConnected, "")
	want("reconnect after needs_reauth", sinkCall{"saved", c.Key(), false, tokens.StatusNeedsReauth})

	if resp := e.call(t, http.MethodPost, "ivy", "/connect/stripe/credentials", map[string]string{"apiKey": "sk_1"}); resp.StatusCode != 201 {
		t.Fatalf("credentials: %d", resp.StatusCode)
	}
	got := sink.take()
	if len(got) != 1 || got[0].op != "saved" || !got[0].created || got[0].key.Integration != "stripe" || got[0].key.ID == "" {
		t.Fatalf("credentials: sink calls %+v", got)
	}

	// A sink that fails is logged; the disconnect succeeds all the same.
	sink.err = errors.New("outbox down")
	if resp := e.call(t, http.MethodDelete, "ivy", "/connect/custom.tasklab?credentialId="+c.ID, nil); resp.StatusCode != 204 {
		t.Fatalf("disconnect: %d", resp.StatusCode)
	}
	want("disconnect", sinkCall{"deleted", c.Key(), false, ""})

	// A refused request tells nothing.
	e.call(t, http.MethodDelete, "ivy", "/connect/custom.tasklab?credentialId=nope", nil)
	want("unknown credential")
}
