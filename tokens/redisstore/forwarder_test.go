package redisstore_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// forwarder is a TCP relay to a target that a test can take down and bring
// back on the same address, to play a store that goes away and returns. With
// an empty target it accepts connections and never answers.
type forwarder struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	f.serve(ln)
	t.Cleanup(f.Down)
	return f
}

// Addr is the address clients dial.
func (f *forwarder) Addr() string { return f.addr }

func (f *forwarder) serve(ln net.Listener) {
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.relay(c)
		}
	}()
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil {
		c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) relay(in net.Conn) {
	if !f.track(in) {
		return
	}
	if f.target == "" {
		return // silent: hold the connection, answer nothing
	}
	out, err := net.Dial("tcp", f.target)
	if err != nil {
		in.Close()
		return
	}
	if !f.track(out) {
		in.Close()
		return
	}
	go func() { _, _ = io.Copy(out, in); out.Close() }()
	_, _ = io.Copy(in, out)
	in.Close()
}

// Down closes the listener and every relayed connection: dials are refused.
func (f *forwarder) Down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}

// Up listens on the same address again.
func (f *forwarder) Up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", f.addr, err)
	}
	f.serve(ln)
}
