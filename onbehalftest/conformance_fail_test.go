package onbehalftest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/onbehalftest"
)

// recorder is a testing.TB that records a failure or a skip instead of
// ending the test; Fatal and Skip end only the goroutine Conform runs in.
type recorder struct {
	testing.TB
	mu              sync.Mutex
	failed, skipped bool
	msgs            []string
}

func (r *recorder) Helper() {}
func (r *recorder) note(failed bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = r.failed || failed
	r.msgs = append(r.msgs, msg)
}
func (r *recorder) Errorf(f string, a ...any) { r.note(true, fmt.Sprintf(f, a...)) }
func (r *recorder) Error(a ...any)            { r.note(true, fmt.Sprint(a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.note(true, fmt.Sprintf(f, a...)); runtime.Goexit() }
func (r *recorder) Fatal(a ...any)            { r.note(true, fmt.Sprint(a...)); runtime.Goexit() }
func (r *recorder) Skipf(f string, a ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	r.note(false, fmt.Sprintf(f, a...))
	runtime.Goexit()
}

func conform(t *testing.T, entry integrations.Config) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		onbehalftest.Conform(r, entry)
	}()
	<-done
	return r
}

// TestConformFailsBrokenEntries: Conform fails an entry whose connection
// does not work, saying at which step, and skips one no flow can connect.
func TestConformFailsBrokenEntries(t *testing.T) {
	base := func() integrations.Config {
		return integrations.Config{Type: "custom", Slug: "broken", BaseURL: "https://api.broken.test/v1",
			Auth: integrations.SchemeConfig{Type: integrations.AuthOAuth2, AuthURL: "https://id.broken.test/authorize",
				TokenURL: "https://id.broken.test/token", RevokeURL: "https://id.broken.test/revoke"},
			Verify: &integrations.Verification{Path: "/me"}}
	}
	if r := conform(t, base()); r.failed || r.skipped {
		t.Fatalf("the sound entry: %v", r.msgs)
	}
	for _, tc := range []struct {
		name   string
		change func(*integrations.Config)
		want   string
	}{
		{"verification that never passes", func(c *integrations.Config) { c.Verify.OK = []int{204} }, "verification_failed"},
		{"no authorization endpoint", func(c *integrations.Config) { c.Auth.AuthURL = "" }, "auth.authUrl is empty"},
		{"client credentials have no connect flow", func(c *integrations.Config) {
			c.Auth = integrations.SchemeConfig{Type: integrations.AuthClientCredentials, TokenURL: "https://id.broken.test/token"}
		}, "no connect flow reaches it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.change(&cfg)
			r := conform(t, cfg)
			if !r.failed || !strings.Contains(strings.Join(r.msgs, "\n"), tc.want) {
				t.Fatalf("failed %v, messages %v; want a failure saying %q", r.failed, r.msgs, tc.want)
			}
		})
	}
	cfg := base()
	cfg.Auth = integrations.SchemeConfig{Type: integrations.AuthNone}
	cfg.Headers = map[string]string{"X-Token": "{credential.access_token}"}
	if r := conform(t, cfg); !r.skipped || r.failed {
		t.Fatalf("auth.type none with a credential header: skipped %v failed %v %v", r.skipped, r.failed, r.msgs)
	}
}
