// Package envproxytest checks that HTTP clients ignore HTTP_PROXY and
// HTTPS_PROXY. net/http reads those variables once per process, and earlier
// tests have already made requests, so the cases run in a child process (the
// test binary again, running one test) started with both variables set to a
// listener of the parent that records every connection. Targets must be
// names other than localhost (net/http never proxies loopback), resolved to
// loopback by the test's own dialer.
//
//	func TestXIgnoresEnvProxy(t *testing.T) {
//		if envproxytest.InChild(childEnv) {
//			runCases(t) // subtests that make the requests
//			return
//		}
//		envproxytest.Run(t, childEnv, "TestXIgnoresEnvProxy")
//	}
package envproxytest

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// InChild reports whether this process is the child Run started.
func InChild(childEnv string) bool { return os.Getenv(childEnv) != "" }

// Run starts the child running test (a top-level test of this binary, whose
// cases are subtests), with childEnv=1 and both proxy variables naming a
// recording listener, and fails t if the child fails, runs no subtest, or
// the proxy sees a connection.
func Run(t *testing.T, childEnv, test string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var proxied atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			proxied.Add(1)
			_ = c.Close()
		}
	}()
	proxyURL := "http://" + ln.Addr().String()
	env := []string{childEnv + "=1",
		"HTTP_PROXY=" + proxyURL, "http_proxy=" + proxyURL,
		"HTTPS_PROXY=" + proxyURL, "https_proxy=" + proxyURL}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD", "GOCOVERDIR":
			continue // REQUEST_METHOD (CGI) would make net/http ignore HTTP_PROXY
		}
		env = append(env, kv)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+test+"/") {
		t.Fatalf("the child process ran no case:\n%s", out)
	}
	if n := proxied.Load(); n != 0 {
		t.Fatalf("the environment's proxy got %d connections, want 0\n%s", n, out)
	}
}
