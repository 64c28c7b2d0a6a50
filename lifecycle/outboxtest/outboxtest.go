// Package outboxtest is the conformance suite of lifecycle.Outbox: every
// implementation, ours or a user's, runs it from its tests.
//
//	func TestOutbox(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) func() lifecycle.Outbox {
//			prefix := uniquePrefix(t) // a fresh, empty outbox per subtest
//			return func() lifecycle.Outbox { return openOutbox(prefix) }
//		})
//	}
package outboxtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/lifecycle"
)

// Open returns a handle on one outbox: each call a new handle (a new client,
// as after a restart) over the same stored data. The memory outbox, which
// has no store, returns the same one every time.
type Open func() lifecycle.Outbox

// Run runs the suite. newOutbox is called once per subtest and must return
// an Open of a fresh, empty outbox. It takes a few seconds: it waits for
// short leases and retries.
func Run(t *testing.T, newOutbox func(t *testing.T) Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"AddClaimAck", testAddClaimAck},
		{"AddTwice", testAddTwice},
		{"DueOrderAndLimit", testDueOrderAndLimit},
		{"LeaseExpiry", testLeaseExpiry},
		{"Nack", testNack},
		{"NackAfterAck", testNackAfterAck},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Restart", testRestart},
		{"Delivery", testDelivery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newOutbox(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// base is a fixed instant; tests claim with clocks relative to it.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func event(i int, at time.Time) lifecycle.Event {
	return lifecycle.Event{ID: lifecycle.NewEventID(), Type: lifecycle.TypeCreated, Time: at,
		Project: "p", User: fmt.Sprintf("u%d", i), Integration: "salesforce", ConnectionID: fmt.Sprintf("c%d", i)}
}

func claim(t *testing.T, o lifecycle.Outbox, now time.Time, limit int, lease time.Duration) []lifecycle.Entry {
	t.Helper()
	got, err := o.Claim(ctx(t), lifecycle.ClaimRequest{Now: now, Limit: limit, Lease: lease})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return got
}

func ids(es []lifecycle.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Event.ID
	}
	return out
}

func testAddClaimAck(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if got := claim(t, o, base.Add(-time.Second), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", ids(got))
	}
	got := claim(t, o, base, 10, time.Minute)
	if len(got) != 1 {
		t.Fatalf("claimed %d entries, want 1", len(got))
	}
	if g := got[0]; !g.Event.Time.Equal(ev.Time) || g.Event.ID != ev.ID || g.Event.Type != ev.Type ||
		g.Event.Project != ev.Project || g.Event.User != ev.User || g.Event.Integration != ev.Integration ||
		g.Event.ConnectionID != ev.ConnectionID || g.Attempts != 0 || len(g.Delivered) != 0 {
		t.Fatalf("claimed %+v, want %+v", g, ev)
	}
	if got := claim(t, o, base, 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v again within its lease", ids(got))
	}
	if err := o.Ack(ctx(t), ev.ID); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if got := claim(t, o, base.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v after Ack", ids(got))
	}
	if err := o.Ack(ctx(t), ev.ID); err != nil {
		t.Fatalf("second Ack: %v", err)
	}
	if err := o.Ack(ctx(t), "evt_unknown"); err != nil {
		t.Fatalf("Ack of an unknown id: %v", err)
	}
}

func testAddTwice(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	for range 2 {
		if err := o.Add(ctx(t), ev); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if got := claim(t, o, base, 10, time.Minute); len(got) != 1 {
		t.Fatalf("claimed %d entries of one event added twice, want 1", len(got))
	}
	// A claimed entry added again (an emitter retrying) stays claimed.
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if got := claim(t, o, base, 10, time.Minute); len(got) != 0 {
		t.Fatalf("Add of a claimed id made it due again")
	}
}

func testDueOrderAndLimit(t *testing.T, open Open) {
	o := open()
	var want []string
	evs := make([]lifecycle.Event, 5)
	for i := range evs {
		evs[i] = event(i, base.Add(time.Duration(i)*time.Second))
		want = append(want, evs[i].ID)
	}
	for _, i := range []int{3, 0, 4, 1, 2} {
		if err := o.Add(ctx(t), evs[i]); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	got := claim(t, o, base.Add(time.Hour), 2, time.Minute)
	if !slices.Equal(ids(got), want[:2]) {
		t.Fatalf("claimed %v, want the two due first %v", ids(got), want[:2])
	}
	got = claim(t, o, base.Add(time.Hour), 10, time.Minute)
	if !slices.Equal(ids(got), want[2:]) {
		t.Fatalf("claimed %v, want %v", ids(got), want[2:])
	}
}

func testLeaseExpiry(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, o, base, 1, 30*time.Second); len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	if got := claim(t, o, base.Add(29*time.Second), 1, 30*time.Second); len(got) != 0 {
		t.Fatalf("claimed within the lease")
	}
	// The claimer died: after its lease another claims the entry.
	if got := claim(t, o, base.Add(30*time.Second), 1, 30*time.Second); !slices.Equal(ids(got), []string{ev.ID}) {
		t.Fatalf("after the lease claimed %v, want %v", ids(got), ev.ID)
	}
}

func testNack(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatal(err)
	}
	e := claim(t, o, base, 1, time.Minute)[0]
	e.Attempts, e.Delivered = 3, []string{"https://a.example/hook"}
	if err := o.Nack(ctx(t), e, base.Add(10*time.Second)); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	if got := claim(t, o, base.Add(9*time.Second), 1, time.Minute); len(got) != 0 {
		t.Fatalf("claimed before its retry time")
	}
	got := claim(t, o, base.Add(10*time.Second), 1, time.Minute)
	if len(got) != 1 || got[0].Attempts != 3 || !slices.Equal(got[0].Delivered, e.Delivered) {
		t.Fatalf("after Nack claimed %+v, want Attempts 3 and Delivered %v", got, e.Delivered)
	}
	// A Nack may make an entry due before its lease ends (a closing claimer).
	if err := o.Nack(ctx(t), got[0], base.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, o, base.Add(10*time.Second), 1, time.Minute); len(got) != 1 {
		t.Fatalf("a Nack to now did not make the entry due")
	}
}

func testNackAfterAck(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatal(err)
	}
	e := claim(t, o, base, 1, time.Minute)[0]
	if err := o.Ack(ctx(t), ev.ID); err != nil {
		t.Fatal(err)
	}
	// A late Nack (a claimer whose lease ran out while another delivered
	// and acked) must not resurrect the event.
	if err := o.Nack(ctx(t), e, base); err != nil {
		t.Fatalf("Nack after Ack: %v", err)
	}
	if got := claim(t, o, base.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("Nack after Ack brought back %v", ids(got))
	}
}

func testConcurrentClaims(t *testing.T, open Open) {
	o := open()
	const n = 60
	for i := range n {
		if err := o.Add(ctx(t), event(i, base)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		h := open() // claimers with handles of their own, as replicas have
		wg.Go(func() {
			for {
				got, err := h.Claim(ctx(t), lifecycle.ClaimRequest{Now: base, Limit: 3, Lease: time.Minute})
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					seen[e.Event.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct entries, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s claimed %d times within one lease", id, c)
		}
	}
}

func testRestart(t *testing.T, open Open) {
	o := open()
	ev := event(1, base)
	if err := o.Add(ctx(t), ev); err != nil {
		t.Fatal(err)
	}
	claim(t, o, base, 1, time.Minute) // then the process dies
	got := claim(t, open(), base.Add(time.Minute), 1, time.Minute)
	if !slices.Equal(ids(got), []string{ev.ID}) {
		t.Fatalf("a new handle claimed %v after the lease, want %v", ids(got), ev.ID)
	}
}
