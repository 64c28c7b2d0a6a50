package upstream

import (
	"errors"
	"net/http"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// credentialTransport is the first RoundTripper of the upstream chain: it
// sends the outbound request (which carries the credential rewrite applied)
// through the integration's transport, and on a 401 to an OAuth2 token
// refreshes once (through the Refresher's coordination) and replays a clone
// with the fresh credential once when the body can be replayed. Answers the
// integration names dead-token answers (integrations.Config.DeadTokens, such
// as Salesforce's INVALID_SESSION_ID) are handled like a 401.
type credentialTransport struct {
	refresher *tokens.Refresher  // nil: no refresh-on-401
	usage     *tokens.UseTracker // nil: last use not recorded
	next      http.RoundTripper  // retry → throttle → guarded transport
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil {
		return nil, err
	}
	s := StateFrom(req.Context())
	if s.Integration.FollowRedirects() > 0 {
		if resp, err = t.follow(req, resp, s); err != nil {
			return nil, err
		}
	}
	if t.usage != nil && resp.StatusCode < 400 {
		t.usage.Used(s.Connection.Key())
	}
	return resp, nil
}

func (t *credentialTransport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st := StateFrom(ctx)
	if st.applyErr != nil {
		closeBody(req)
		return nil, st.applyErr
	}
	in, c := st.Integration, st.Connection
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	st.Upstream = time.Since(start)
	if err != nil {
		return nil, errors.Join(errUpstream, err)
	}
	rf := t.refresher
	if rf == nil || in.Grant() == nil || !replayable(req) || !deadToken(in, resp) {
		return resp, nil
	}
	fresh, err := rf.Fresh(ctx, c, in.Grant(), c.Credential.AccessToken)
	if err != nil {
		// Keep the provider's 401: the refresh error says why it stays.
		drain(resp)
		return nil, err
	}
	drain(resp)
	replay := req.Clone(ctx)
	if req.GetBody != nil {
		if replay.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	// replay is a clone (its own header and URL): the fresh credential
	// replaces the rejected one on it.
	if err := in.Apply(replay.Header, replay.URL, fresh); err != nil {
		closeBody(replay)
		return nil, err
	}
	st.secrets = append(st.secrets, in.Secrets(fresh)...)
	resp, err = t.next.RoundTrip(replay)
	if err != nil {
		return nil, errors.Join(errUpstream, err)
	}
	return resp, nil
}

// deadToken reports whether resp says the access token is dead: a 401, or
// an answer the integration's DeadTokens name. When that depends on the
// body, it reads at most integrations.MaxPeek bytes of it and puts them back,
// so an answer that is not a match reaches the caller intact.
func deadToken(in *integrations.Integration, resp *http.Response) bool {
	dead, needBody := in.DeadToken(resp.StatusCode)
	if dead || !needBody || resp.Body == nil {
		return dead
	}
	return in.DeadTokenBody(resp.StatusCode, peek(resp, integrations.MaxPeek))
}
