package onbehalftest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCPForwarder is a TCP relay to a target that a test takes down and brings
// back on the same address, to play a store (Redis, Postgres, ...) that goes
// away and returns: point the store's client at Addr, then call Down and Up.
// With an empty target it accepts connections and never answers, to play a
// server that hangs.
//
// Its methods are safe for concurrent use.
type TCPForwarder struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// NewTCPForwarder listens on a loopback port and relays every connection to
// target ("host:port", or "" for a silent server). It is taken down at
// cleanup.
func NewTCPForwarder(t testing.TB, target string) *TCPForwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &TCPForwarder{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	f.serve(ln)
	t.Cleanup(f.Down)
	return f
}

// Addr is the address clients dial, "127.0.0.1:PORT". It does not change
// across Down and Up.
func (f *TCPForwarder) Addr() string { return f.addr }

func (f *TCPForwarder) serve(ln net.Listener) {
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

// track records c so that Down closes it; it closes c and reports false when
// the forwarder is down already.
func (f *TCPForwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil {
		c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *TCPForwarder) relay(in net.Conn) {
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

// Down closes the listener and every relayed connection: dials are refused
// until Up. Calling it while down does nothing.
func (f *TCPForwarder) Down() {
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

// Up listens on the same address again; it fails t when the port has been
// taken meanwhile. Call it only while down.
func (f *TCPForwarder) Up(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", f.addr, err)
	}
	f.serve(ln)
}
