package connect_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/connect"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// echoingTokenEndpoint answers every token request with a 400 whose "error"
// field and description reflect what it was sent: the authorization code,
// the PKCE verifier and the client secret.
type echoingTokenEndpoint struct{ sent chan url.Values }

func (e echoingTokenEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	if user, pass, ok := r.BasicAuth(); ok {
		form.Set("client_id", user)
		form.Set("client_secret", pass)
	}
	select {
	case e.sent <- form:
	default:
	}
	reflected := form.Get("code") + form.Get("code_verifier") + form.Get("client_secret")
	body := `{"error":"` + reflected + `","error_description":"` + reflected + `"}`
	return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// failingStore fails every write with an error whose text holds a DSN
// password, as a database driver's may.
type failingStore struct{ tokens.Store }

const dsnPassword = "dsn-pa55word-xyz"

func (failingStore) Save(context.Context, *tokens.Connection) error {
	return errors.New("dial postgres://app:" + dsnPassword + "@db:5432/app: connection refused")
}

// TestCallbackLogsNoSecrets: a token endpoint that reflects the
// authorization code, the PKCE verifier and the client secret in its error
// code, and a store whose error text holds its DSN password: the connect
// flow's log lines name what failed without repeating any of them.
func TestCallbackLogsNoSecrets(t *testing.T) {
	t.Run("token endpoint echoes", func(t *testing.T) {
		var logs onbehalftest.LogBuffer
		sent := make(chan url.Values, 1)
		e := newEnv(t, func(c *connect.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			c.HTTPClient = &http.Client{Transport: echoingTokenEndpoint{sent: sent}}
		})
		s := e.start(t, "u-echo", nil)
		wantOutcome(t, e.callback(t, consent(t, s.authURL, true), s.cookies), connect.StatusError, connect.ErrorExchangeFailed)
		form := <-sent
		out := logs.String()
		if !strings.Contains(out, "code exchange failed") || !strings.Contains(out, "400") {
			t.Fatalf("the failure is not logged with its status: %q", out)
		}
		for _, secret := range []string{form.Get("code"), form.Get("code_verifier"), form.Get("client_secret")} {
			if secret == "" {
				t.Fatalf("the token request lacked a value: %v", form)
			}
			if strings.Contains(out, secret) {
				t.Errorf("a secret the endpoint reflected reached the log: %q", out)
			}
		}
	})
	t.Run("store error text", func(t *testing.T) {
		var logs onbehalftest.LogBuffer
		e := newEnv(t, func(c *connect.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			c.Store = failingStore{c.Store}
		})
		s := e.start(t, "u-store", nil)
		wantOutcome(t, e.callback(t, consent(t, s.authURL, true), s.cookies), connect.StatusError, connect.ErrorStoreUnavailable)
		out := logs.String()
		if !strings.Contains(out, "saving the connection failed") || !strings.Contains(out, "store unavailable") {
			t.Fatalf("the failure is not logged: %q", out)
		}
		if strings.Contains(out, dsnPassword) {
			t.Errorf("the store's error text reached the log: %q", out)
		}
	})
}
