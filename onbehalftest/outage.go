package onbehalftest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// Link is the way between a store and its backend, which a test cuts and
// restores. *TCPForwarder is one.
type Link interface {
	// Down cuts the link: calls to the backend fail or time out.
	Down()
	// Up restores it; it fails t when it cannot.
	Up(t testing.TB)
}

var _ Link = (*TCPForwarder)(nil)

// OutageConfig sets up RunStoreOutage.
type OutageConfig struct {
	// Store reaches its backend through Link. While the link is down, each
	// of its calls must fail within about two seconds (its own timeout) with
	// an error that wraps tokens.ErrUnavailable. Required.
	Store tokens.Store
	// Locker is the Refresher's Locker; nil means tokens.NewMemoryLocker().
	// The connection is fresh: the scenario does not refresh.
	Locker tokens.Locker
	// Link is cut and restored by the scenario. Required.
	Link Link
	// Name names the backend in failure messages ("Redis"); empty means
	// "the store".
	Name string
}

// RunStoreOutage runs the store-unreachable scenario through the proxy: with
// the link up a request succeeds; with it down the proxy answers 503
// STORE_UNAVAILABLE within three seconds and sends nothing upstream; once it
// is up again, the same handler serves again.
func RunStoreOutage(t *testing.T, cfg OutageConfig) {
	t.Helper()
	if cfg.Store == nil || cfg.Link == nil {
		t.Fatal("onbehalftest: OutageConfig.Store and Link are required")
	}
	name := cfg.Name
	if name == "" {
		name = "the store"
	}
	sp := newStoreProxy(t)
	sp.seed(t, cfg.Store, time.Hour)
	srv := sp.replica(t, cfg.Store, cfg.Locker)
	token := sp.token()
	client := &http.Client{Timeout: 10 * time.Second}

	if status, body, err := sp.get(client, srv.URL, token); err != nil || status != http.StatusOK {
		t.Fatalf("with %s up: %d %s %v", name, status, body, err)
	}
	cfg.Link.Down()
	hits := sp.hits.Load()
	for range 3 {
		start := time.Now()
		status, body, err := sp.get(client, srv.URL, token)
		if err != nil {
			t.Fatal(err)
		}
		var b response.Body
		if jerr := json.Unmarshal(body, &b); jerr != nil || status != http.StatusServiceUnavailable || b.Code != string(response.CodeStoreUnavailable) {
			t.Fatalf("with %s down: %d %s, want 503 %s", name, status, body, response.CodeStoreUnavailable)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the 503 took %v", d)
		}
	}
	if got := sp.hits.Load(); got != hits {
		t.Fatalf("the upstream received %d requests while %s was down, want none", got-hits, name)
	}
	cfg.Link.Up(t)
	for i := range 5 {
		if status, body, err := sp.get(client, srv.URL, token); err != nil || status != http.StatusOK {
			t.Fatalf("request %d after %s came back: %d %s %v", i, name, status, body, err)
		}
	}
}
