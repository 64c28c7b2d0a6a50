package onbehalftest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// Three replicas over one MemoryStore, two behind a Cached, share one
// MemoryLocker: one refresh for 300 requests.
func TestRunReplicaRefreshMemory(t *testing.T) {
	onbehalftest.RunReplicaRefresh(t, onbehalftest.ReplicaConfig{
		Store: tokens.NewMemoryStore(), Locker: tokens.NewMemoryLocker(), Cached: 2,
	})
}

// NewReplica gives each replica its own store value over the same backend.
func TestRunReplicaRefreshNewReplica(t *testing.T) {
	shared, locker := tokens.NewMemoryStore(), tokens.NewMemoryLocker()
	var made atomic.Int32
	onbehalftest.RunReplicaRefresh(t, onbehalftest.ReplicaConfig{
		Store: shared, Replicas: 4, Requests: 40,
		NewReplica: func(t *testing.T, i int) (tokens.Store, tokens.Locker) {
			made.Add(1)
			return &switchedStore{Store: shared}, locker
		},
	})
	if got := made.Load(); got != 4 {
		t.Errorf("NewReplica called %d times, want 4", got)
	}
}

// switchedStore is a store whose backend a test cuts: while down, every call
// fails with ErrUnavailable, as a store does when its server is gone.
type switchedStore struct {
	tokens.Store
	down atomic.Bool
}

func (s *switchedStore) err() error {
	if s.down.Load() {
		return fmt.Errorf("%w: link down", tokens.ErrUnavailable)
	}
	return nil
}

func (s *switchedStore) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, k)
}

func (s *switchedStore) List(ctx context.Context, project, user string) ([]*tokens.Connection, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.List(ctx, project, user)
}

func (s *switchedStore) Save(ctx context.Context, c *tokens.Connection) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Save(ctx, c)
}

func (s *switchedStore) Delete(ctx context.Context, k tokens.Key) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, k)
}

func (s *switchedStore) Down()         { s.down.Store(true) }
func (s *switchedStore) Up(testing.TB) { s.down.Store(false) }

func TestRunStoreOutage(t *testing.T) {
	s := &switchedStore{Store: tokens.NewMemoryStore()}
	onbehalftest.RunStoreOutage(t, onbehalftest.OutageConfig{Store: s, Link: s, Name: "the memory store"})
}

// The forwarder relays bytes both ways, refuses dials while down and serves
// again on the same address after Up.
func TestTCPForwarder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }() // echo server
		}
	}()
	f := onbehalftest.NewTCPForwarder(t, ln.Addr().String())
	roundTrip := func(msg string) error {
		c, err := net.DialTimeout("tcp", f.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			return err
		}
		b := make([]byte, len(msg))
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if string(b) != msg {
			return fmt.Errorf("got %q, want %q", b, msg)
		}
		return nil
	}
	if err := roundTrip("hello"); err != nil {
		t.Fatalf("up: %v", err)
	}
	addr := f.Addr()
	f.Down()
	if err := roundTrip("down"); err == nil {
		t.Fatal("a round trip succeeded while down")
	}
	f.Up(t)
	if f.Addr() != addr {
		t.Fatalf("Addr %s after Up, want %s", f.Addr(), addr)
	}
	if err := roundTrip("again"); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

// A forwarder without a target accepts connections and never answers.
func TestTCPForwarderSilent(t *testing.T) {
	f := onbehalftest.NewTCPForwarder(t, "")
	c, err := net.DialTimeout("tcp", f.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "ping")
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want a timeout", n, err)
	}
}
