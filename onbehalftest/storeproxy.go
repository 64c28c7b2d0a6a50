package onbehalftest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/tokens"
)

// storeProxy is the stage of the store scenarios (RunReplicaRefresh,
// RunStoreOutage): a TaskLab on loopback that counts every request reaching
// it, a signer, and one user of a project unique to the run, so a shared
// external store needs no cleaning between runs.
type storeProxy struct {
	lab     *TaskLab
	base    string // http://localhost:PORT/api
	hits    atomic.Int64
	signer  *Signer
	project string
	user    string
}

const storeProxyIntegration = "custom.tasklab"

func newStoreProxy(t *testing.T) *storeProxy {
	t.Helper()
	sp := &storeProxy{lab: NewTaskLab("tasklab-client", "tasklab-secret"), project: "onbehalftest-" + randHex(), user: "user-1"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sp.hits.Add(1)
		sp.lab.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	sp.base = LocalhostURL(srv.URL) + "/api"
	var err error
	if sp.signer, err = NewSigner("k1"); err != nil {
		t.Fatal(err)
	}
	return sp
}

// seed saves a TaskLab connection whose access token expires after ttl
// (negative: expired already) and returns it.
func (sp *storeProxy) seed(t *testing.T, s tokens.Store, ttl time.Duration) *tokens.Connection {
	t.Helper()
	access, refresh := sp.lab.Issue(ttl)
	c := &tokens.Connection{Project: sp.project, User: sp.user, Integration: storeProxyIntegration,
		Credential: tokens.Credential{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(ttl)}}
	if err := s.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// replica is one replica: an onbehalf handler over store, with a Refresher
// of its own that takes locker, served on loopback.
func (sp *storeProxy) replica(t *testing.T, store tokens.Store, locker tokens.Locker) *httptest.Server {
	t.Helper()
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, Locker: locker})
	if err != nil {
		t.Fatal(err)
	}
	h, err := middleware.New(middleware.Config{
		Projects: []middleware.ProjectConfig{{ID: sp.project, Keys: []middleware.KeyConfig{sp.signer.KeyConfig()},
			Integrations: []integrations.Config{TaskLabIntegration(sp.base, "tasklab-client", "tasklab-secret")}}},
		Store: store, Refresher: rf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// token mints a user token for the stage's user.
func (sp *storeProxy) token() string { return sp.signer.MustToken(sp.project, sp.user) }

// get sends GET /tasks through the proxy at base and returns the status and body.
func (sp *storeProxy) get(client *http.Client, base, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/projects/"+sp.project+"/sdk/proxy/"+storeProxyIntegration+"/tasks", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
