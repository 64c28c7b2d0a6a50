package redislimiter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/limits/redislimiter"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// replicaEnv carries a replica process's childSpec (JSON); its presence
// makes TestThreeProcesses serve as that replica instead of running the
// scenario.
const replicaEnv = "ONBEHALF_LIMITS_REPLICA"

// listeningPrefix starts the line a replica process prints once it serves.
const listeningPrefix = "replica listening on "

// childSpec is what a replica process serves, and the Redis it shares.
type childSpec struct {
	Replica onbehalftest.LimitsReplica `json:"replica"`
	Index   int                        `json:"index"`
	Redis   string                     `json:"redis"`
	Prefix  string                     `json:"prefix"`
}

// TestThreeProcesses: three handler replicas, each an OS process of its own
// (this test binary run again, -test.run=^TestThreeProcesses$ with
// replicaEnv set: see serveReplica) with its own Redis client under one key
// prefix, serve several times the rate a fake provider allows per account
// (N = 50/s, 150 clients). The provider sees at most N×1.1+1 in any second,
// at most 1% of its answers are 429, and at least 0.9 N are accepted per
// second: the replicas spend one allowance between them.
func TestThreeProcesses(t *testing.T) {
	if raw := os.Getenv(replicaEnv); raw != "" {
		serveReplica(t, raw)
		return
	}
	needRedis(t, redisAddr())
	prefix := fmt.Sprintf("test:limits:proc:%d:", time.Now().UnixNano())
	onbehalftest.RunLimits(t, onbehalftest.LimitsConfig{
		Replicas: 3, Rate: 50,
		Spawn: func(t *testing.T, i int, r onbehalftest.LimitsReplica) string {
			return spawnReplica(t, childSpec{Replica: r, Index: i, Redis: redisAddr(), Prefix: prefix})
		},
	})
}

// spawnReplica starts a replica process and returns its base URL. The
// process exits when its stdin closes: in t.Cleanup, or when this process
// dies and the pipe's write end goes with it. Cleanup kills it if it has not
// exited within a few seconds.
func spawnReplica(t *testing.T, spec childSpec) string {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestThreeProcesses$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), replicaEnv+"="+string(js))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var output lockedBuffer
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
				select {
				case addr <- a:
				default:
				}
			}
			output.Write([]byte(line + "\n"))
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("replica %d output:\n%s%s", spec.Index, output.String(), stderr.String())
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case <-exited:
		t.Fatalf("replica %d exited before serving:\n%s%s", spec.Index, output.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %d did not serve within 60 s:\n%s%s", spec.Index, output.String(), stderr.String())
	}
	return ""
}

// serveReplica is one replica of TestThreeProcesses, in a process of its
// own: it serves the scenario's handler with a Redis limiter on a loopback
// port, prints the port, and returns when its stdin closes (the parent is
// done, or dead).
func serveReplica(t *testing.T, raw string) {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	// A generous timeout: under -race on a small machine a 100 ms bound
	// trips and the run would measure the fallback instead.
	lim := newLimiter(t, spec.Redis, spec.Prefix, func(c *redislimiter.Config) { c.Timeout = time.Second })
	h, err := spec.Replica.Handler(lim)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Println(listeningPrefix + ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin) // until EOF: the parent closed the pipe or died
	t.Logf("replica %d: %d Redis calls", spec.Index, lim.Calls())
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
