package tokens

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryLockerRejectsBadTTL(t *testing.T) {
	l := NewMemoryLocker()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := l.Lock(context.Background(), "k", ttl); err == nil {
			t.Errorf("Lock with ttl %v: no error", ttl)
		}
	}
}

func TestMemoryLockerForgetsReleasedKeys(t *testing.T) {
	l := NewMemoryLocker()
	for i := range 100 {
		lease, err := l.Lock(context.Background(), string(rune('a'+i%26))+"x", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := lease.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	short, err := l.Lock(context.Background(), "expiring", 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	l.mu.Lock()
	n := len(l.held)
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d keys held after every lease ended, want 0", n)
	}
	if err := short.Release(context.Background()); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Release after expiry: %v, want ErrNotHeld", err)
	}
}

func TestMemoryLockerWakesWaiterOnRelease(t *testing.T) {
	l := NewMemoryLocker()
	lease, err := l.Lock(context.Background(), "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		if _, err := l.Lock(context.Background(), "k", time.Minute); err == nil {
			got <- time.Now()
		}
	}()
	time.Sleep(20 * time.Millisecond)
	released := time.Now()
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if d := at.Sub(released); d > time.Second {
			t.Fatalf("waiter woke %v after the release", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never got the lock after its release")
	}
}
