package outboxtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/lifecycle"
)

// receiver is a host app's webhook endpoint: it verifies every request,
// de-duplicates by event id, and can be down.
type receiver struct {
	t      *testing.T
	secret string
	up     atomic.Bool

	mu         sync.Mutex
	processed  map[string]int  // event id → times processed (de-duplicated: must end at 1)
	deliveries map[string]int  // event id → requests received while up
	downHits   map[string]int  // event id → requests refused while down
	failOnce   map[string]bool // event id → its first answer while up is lost
	lost       []string        // the ids in failOnce at the start
	bad        int             // requests whose signature or id did not verify
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev lifecycle.Event
	if err := lifecycle.Verify(rc.secret, r.Header.Get(lifecycle.SignatureHeader), body, 0); err != nil ||
		json.Unmarshal(body, &ev) != nil || ev.ID == "" || ev.ID != r.Header.Get(lifecycle.EventIDHeader) {
		rc.mu.Lock()
		rc.bad++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.up.Load() {
		rc.downHits[ev.ID]++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	rc.deliveries[ev.ID]++
	if rc.processed[ev.ID] == 0 { // de-duplication by event id
		rc.processed[ev.ID]++
	}
	if rc.failOnce[ev.ID] {
		// Processed, then the answer is lost: the sender must send it again,
		// and the receiver must not process it twice.
		delete(rc.failOnce, ev.ID)
		http.Error(w, "lost answer", http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testDelivery is the end-to-end check of the outbox: events are emitted
// while the receiver is down, a claimer crashes mid-delivery, the sender
// restarts (a new Dispatcher over a new handle on the same store), the
// receiver comes back: every event is processed exactly once (the receiver
// de-duplicates by id), every request's signature verifies, and the outbox
// ends empty.
func testDelivery(t *testing.T, open Open) {
	const n = 20
	rc := &receiver{t: t, secret: "whsec_" + lifecycle.NewEventID(), processed: map[string]int{},
		deliveries: map[string]int{}, downHits: map[string]int{}, failOnce: map[string]bool{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	emitter, err := lifecycle.NewEmitter(lifecycle.EmitterConfig{Outbox: open()})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		ev := event(i, time.Time{})
		ev.ID, ev.Type = "", lifecycle.Types[i%len(lifecycle.Types)]
		var got lifecycle.Event
		unsub := emitter.Subscribe(func(_ context.Context, e lifecycle.Event) { got = e })
		if err := emitter.Emit(context.Background(), ev); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		unsub()
		want = append(want, got.ID)
		if i%4 == 0 {
			rc.failOnce[got.ID] = true
			rc.lost = append(rc.lost, got.ID)
		}
	}
	// A claimer that dies mid-delivery: its entries come back after its lease.
	crashed, err := open().Claim(context.Background(), lifecycle.ClaimRequest{Now: time.Now(), Limit: 3, Lease: 300 * time.Millisecond})
	if err != nil || len(crashed) != 3 {
		t.Fatalf("Claim: %d entries, %v", len(crashed), err)
	}

	cfg := lifecycle.DispatcherConfig{
		Endpoints:      []lifecycle.Endpoint{{URL: srv.URL + "/hooks", Secret: rc.secret}},
		AttemptTimeout: time.Second, PollInterval: 10 * time.Millisecond, Lease: 2 * time.Second,
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, MaxAttempts: 1000,
	}
	cfg.Outbox = open()
	d1, err := lifecycle.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d1.Start()
	waitFor(t, "every event tried while the receiver is down", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.downHits) == n
	})
	if err := d1.Close(); err != nil { // the sender stops (a restart)
		t.Fatal(err)
	}

	rc.up.Store(true)
	cfg.Outbox = open()
	d2, err := lifecycle.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d2.Start()
	waitFor(t, "every event delivered, the lost answers repeated", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range rc.lost {
			if rc.deliveries[id] < 2 {
				return false
			}
		}
		return len(rc.processed) == n
	})
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	// Close may have cut off a delivery whose answer was on its way: that
	// entry is due again at once. Drain it (a repeat the receiver ignores).
	for {
		k, err := d2.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if k == 0 {
			break
		}
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 {
		t.Errorf("%d requests failed verification", rc.bad)
	}
	for _, id := range want {
		if rc.processed[id] != 1 {
			t.Errorf("%s processed %d times, want 1", id, rc.processed[id])
		}
		if rc.deliveries[id] < 1 {
			t.Errorf("%s never delivered while the receiver was up", id)
		}
	}
	if len(rc.processed) != n {
		t.Errorf("processed %d distinct events, want %d", len(rc.processed), n)
	}
	left, err := open().Claim(context.Background(), lifecycle.ClaimRequest{Now: time.Now().Add(24 * time.Hour), Limit: 100, Lease: time.Minute})
	if err != nil || len(left) != 0 {
		t.Errorf("outbox after delivery: %d entries left, %v; want none", len(left), err)
	}
}
