package lifecycle

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestDispatcherIgnoresEnvProxy: webhooks never go through a proxy named by
// HTTP_PROXY or HTTPS_PROXY (defends against a proxy in the environment
// seeing, or being able to forge, the host app's deliveries).
func TestDispatcherIgnoresEnvProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	d, err := NewDispatcher(DispatcherConfig{Outbox: NewMemoryOutbox(), Endpoints: []Endpoint{{URL: "https://hooks.example/x", Secret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := d.client.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Fatalf("transport %T with Proxy set; want an *http.Transport with Proxy nil", d.client.Transport)
	}
	if tr == http.DefaultTransport {
		t.Fatal("http.DefaultTransport used (and mutated?); want a clone")
	}
	if http.DefaultTransport.(*http.Transport).Proxy == nil {
		t.Fatal("http.DefaultTransport's Proxy was changed")
	}
}

// TestDispatcherRetriesOnlyFailedEndpoints: an endpoint that accepted an
// event is not sent it again when another fails; after MaxAttempts the event
// is dropped and OnGiveUp called.
func TestDispatcherRetriesOnlyFailedEndpoints(t *testing.T) {
	var okHits, badHits atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Verify("a", r.Header.Get(SignatureHeader), mustRead(r), 0) != nil || r.Header.Get(EventIDHeader) == "" {
			t.Errorf("bad delivery: %v", r.Header)
		}
		okHits.Add(1)
	}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		if got := r.Header.Get(AttemptHeader); got != string(rune('0'+badHits.Load())) {
			t.Errorf("attempt header %q, want %d", got, badHits.Load())
		}
		// A redirect is not followed: it is a failure.
		http.Redirect(w, r, ok.URL, http.StatusFound)
	}))
	defer bad.Close()
	out := NewMemoryOutbox()
	var gaveUp atomic.Int32
	d, err := NewDispatcher(DispatcherConfig{Outbox: out,
		Endpoints: []Endpoint{{URL: ok.URL, Secret: "a"}, {URL: bad.URL, Secret: "b"}},
		RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, MaxAttempts: 3,
		OnGiveUp: func(Event) { gaveUp.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Add(context.Background(), Event{ID: NewEventID(), Type: TypeCreated, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for out.Len() > 0 {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	if okHits.Load() != 1 || badHits.Load() != 3 || gaveUp.Load() != 1 {
		t.Errorf("ok endpoint hit %d times (want 1), failing one %d (want 3), given up %d (want 1)",
			okHits.Load(), badHits.Load(), gaveUp.Load())
	}
}

func mustRead(r *http.Request) []byte {
	b := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return b
		}
	}
}

func TestNewDispatcherValidates(t *testing.T) {
	ep := []Endpoint{{URL: "https://hooks.example/x", Secret: "s"}}
	for name, cfg := range map[string]DispatcherConfig{
		"no outbox":       {Endpoints: ep},
		"no endpoints":    {Outbox: NewMemoryOutbox()},
		"relative URL":    {Outbox: NewMemoryOutbox(), Endpoints: []Endpoint{{URL: "/x", Secret: "s"}}},
		"no secret":       {Outbox: NewMemoryOutbox(), Endpoints: []Endpoint{{URL: "https://h/x"}}},
		"lease too short": {Outbox: NewMemoryOutbox(), Endpoints: ep, Lease: time.Second, AttemptTimeout: time.Second},
		"negative":        {Outbox: NewMemoryOutbox(), Endpoints: ep, BatchSize: -1},
		"max below base":  {Outbox: NewMemoryOutbox(), Endpoints: ep, RetryBase: time.Minute, RetryMax: time.Second},
	} {
		if _, err := NewDispatcher(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDispatcherStartClose: Start delivers in the background; Close stops
// it and is idempotent.
func TestDispatcherStartClose(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(EventIDHeader)
	}))
	defer srv.Close()
	out := NewMemoryOutbox()
	d, err := NewDispatcher(DispatcherConfig{Outbox: out, Endpoints: []Endpoint{{URL: srv.URL, Secret: "s"}}, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	d.Start()
	ev := Event{ID: NewEventID(), Type: TypeDeleted, Time: time.Now()}
	_ = out.Add(context.Background(), ev)
	d.Notify() // no waiting for the hour-long poll
	select {
	case id := <-got:
		if id != ev.ID {
			t.Errorf("delivered %s, want %s", id, ev.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
