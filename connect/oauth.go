package connect

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// WellKnownFields are the token-response fields kept in Connection.Fields for
// every integration: integrations.WellKnownFields (the same slice), what
// base URL templates of common providers need. Config.CaptureFields adds
// more; an integration's Capture declares its own.
var WellKnownFields = integrations.WellKnownFields

// The outcomes a callback reports to the return URL in onbehalf_status and error.
const (
	StatusConnected = "connected"
	StatusError     = "error"

	ErrorAccessDenied     = "access_denied"     // the user refused consent at the provider
	ErrorProvider         = "provider_error"    // the provider answered another OAuth error
	ErrorStateInvalid     = "state_invalid"     // missing, unknown, already used, or started in another browser
	ErrorStateExpired     = "state_expired"     // older than Config.StateTTL
	ErrorExchangeFailed   = "exchange_failed"   // the token endpoint refused the code or failed
	ErrorStoreUnavailable = "store_unavailable" // the connection could not be saved
)

// bindingCookie names the browser-binding cookie of one state: one per
// started connection, so flows in two tabs do not overwrite each other.
func bindingCookie(key string) string { return "onbehalf_connect_" + key[:16] }

// oauthConfig is the x/oauth2 config of an integration with project's redirect URI.
func (h *Handler) oauthConfig(in *integrations.Integration, project string) *oauth2.Config {
	c := in.OAuth2Config()
	if c == nil {
		c = &oauth2.Config{}
	}
	c.RedirectURL = h.RedirectURI(project)
	return c
}

type startRequest struct {
	ReturnURL    string `json:"returnUrl"`
	CredentialID string `json:"credentialId"`
}

// start serves POST connect/{integration}/start: it records the state and
// answers the provider's authorization URL.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, rt route) {
	user, in, err := h.userIntegration(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	if method(in) != "oauth" {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeConnectUnsupported,
			"This integration is not connected through OAuth; use the credentials route."))
		return
	}
	var body startRequest
	if err := decodeBody(r, &body); err != nil {
		response.WriteError(w, err)
		return
	}
	ret, err := h.checkReturnURL(rt.project, body.ReturnURL)
	if err != nil {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeReturnURLNotAllowed, err.Error()+"."))
		return
	}
	value := randomToken(32)
	key := digest(value)
	verifier := oauth2.GenerateVerifier()
	st := State{Project: rt.project, User: user, Integration: in.Key(), CredentialID: body.CredentialID,
		Verifier: verifier, ReturnURL: ret, Expires: h.now().Add(h.ttl)}
	var cookie *http.Cookie
	if h.bind {
		v := randomToken(32)
		st.Browser = digest(v)
		cookie = h.cookie(rt.project, bindingCookie(key), v, int(h.ttl/time.Second))
	}
	if err := h.states.Put(r.Context(), key, st); err != nil {
		response.WriteError(w, response.Wrap(err, http.StatusServiceUnavailable, response.CodeConnectStateCapacity, "Cannot start a connection now; try again later."))
		return
	}
	if cookie != nil {
		http.SetCookie(w, cookie)
	}
	authURL := h.oauthConfig(in, rt.project).AuthCodeURL(value, oauth2.S256ChallengeOption(verifier))
	response.WriteJSON(w, http.StatusOK, map[string]any{"url": authURL, "expiresAt": st.Expires.UTC().Format(time.RFC3339)})
}

// cookie is the browser-binding cookie: sent only to the callback, never
// readable by scripts, sent on the provider's top-level redirect (Lax).
func (h *Handler) cookie(project, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: h.public.Path + "/projects/" + url.PathEscape(project) + "/sdk/connect/callback",
		MaxAge: maxAge, HttpOnly: true, Secure: h.public.Scheme == "https", SameSite: http.SameSiteLaxMode}
}

// decodeBody reads a small JSON object; an empty body is an empty object.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<10+1))
	if err != nil {
		return response.Wrap(err, http.StatusBadRequest, response.CodeBadRequest, "Could not read the body.")
	}
	if len(data) > 16<<10 {
		return response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "Body too large.")
	}
	if len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return response.Wrap(err, http.StatusBadRequest, response.CodeBadRequest, "Body must be a JSON object.")
	}
	return nil
}

// callback serves GET connect/callback?code&state: the browser arrives from
// the provider. Whatever happens, the answer is a 303 to the state's return
// URL (or, without a usable state, to the project's portal) carrying
// onbehalf_status and, on failure, an error code; nothing secret goes into it.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	target := h.PortalURL(rt.project)
	outcome := url.Values{"onbehalf_status": {StatusError}}
	defer func() {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, withQuery(target, outcome), http.StatusSeeOther)
	}()
	fail := func(code string) { outcome.Set("error", code) }

	value := q.Get("state")
	if value == "" || len(value) > 512 {
		fail(ErrorStateInvalid)
		return
	}
	key := digest(value)
	st, err := h.states.Take(r.Context(), key)
	if err != nil || st.Project != rt.project {
		if err != nil {
			h.log.Warn("connect: state store failed", "project", rt.project, "err", storeLog(err))
		}
		fail(ErrorStateInvalid)
		return
	}
	target = st.ReturnURL
	outcome.Set("integration", st.Integration)
	if st.Browser != "" {
		c, err := r.Cookie(bindingCookie(key))
		http.SetCookie(w, h.cookie(rt.project, bindingCookie(key), "", -1))
		if err != nil || subtle.ConstantTimeCompare([]byte(digest(c.Value)), []byte(st.Browser)) != 1 {
			// Started in another browser: a link someone else sent this user.
			fail(ErrorStateInvalid)
			return
		}
	}
	if !h.now().Before(st.Expires) {
		fail(ErrorStateExpired)
		return
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			fail(ErrorAccessDenied)
		} else {
			fail(ErrorProvider)
		}
		return
	}
	code := q.Get("code")
	if code == "" {
		fail(ErrorExchangeFailed)
		return
	}
	in, err := h.integration(r.Context(), st.Project, st.Integration)
	if err != nil {
		fail(ErrorExchangeFailed)
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, h.client)
	tok, err := h.oauthConfig(in, st.Project).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		// The endpoint's error code is quoted only when it is one of RFC
		// 6749's: an endpoint may reflect what it was sent (the code, the
		// client secret) in its "error" field.
		h.log.Warn("connect: code exchange failed", "project", st.Project, "integration", st.Integration,
			"err", tokens.DescribeError(err))
		fail(ErrorExchangeFailed)
		return
	}
	cred := tokens.Credential{}.WithOAuth2Token(tok)
	// The token's lifetime is known from now on: the refresher's margin
	// stays within a fraction of it (a 30 s token is not due at once).
	cred.ObtainedAt = h.now().Round(0)
	c, err := h.upsert(r.Context(), tokens.Key{Project: st.Project, User: st.User, Integration: st.Integration, ID: st.CredentialID},
		cred, h.fields(st.Integration, tok))
	if err != nil {
		h.log.Warn("connect: saving the connection failed", "project", st.Project, "integration", st.Integration, "err", storeLog(err))
		fail(ErrorStoreUnavailable)
		return
	}
	outcome.Set("onbehalf_status", StatusConnected)
	outcome.Set("credentialId", c.ID)
}

// fields collects the well-known and configured extra fields of a token answer.
func (h *Handler) fields(integration string, tok *oauth2.Token) map[string]string {
	out := map[string]string{}
	add := func(name string) {
		switch v := tok.Extra(name).(type) {
		case string:
			if v != "" {
				out[name] = v
			}
		case float64:
			out[name] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[name] = strconv.FormatBool(v)
		case json.Number:
			out[name] = v.String()
		}
	}
	for _, name := range WellKnownFields {
		add(name)
	}
	for _, name := range h.capture[integration] {
		add(name)
	}
	return out
}

// upsert saves a new credential for k: it updates the connection k names
// (k.ID "" : the user's default one of the integration), clearing a
// needs_reauth mark and merging fields, or creates one when there is none.
// It retries a few times on a version conflict.
func (h *Handler) upsert(ctx context.Context, k tokens.Key, cred tokens.Credential, fields map[string]string) (*tokens.Connection, error) {
	var err error
	for range 3 {
		var c *tokens.Connection
		c, err = h.store.Get(ctx, k)
		switch {
		case errors.Is(err, tokens.ErrNotFound):
			c = &tokens.Connection{Project: k.Project, User: k.User, Integration: k.Integration, Fields: map[string]string{}}
		case err != nil:
			return nil, err
		}
		if c.Fields == nil {
			c.Fields = map[string]string{}
		}
		for name, v := range fields {
			c.Fields[name] = v
		}
		created, previous := c.Version == 0, c.Status
		c.Credential = cred
		c.Status = tokens.StatusActive
		if err = h.store.Save(ctx, c); !errors.Is(err, tokens.ErrConflict) {
			if err != nil {
				return nil, err
			}
			h.saved(ctx, c, created, previous)
			return c, nil
		}
	}
	return nil, fmt.Errorf("connect: saving the connection: %w", err)
}

// storeLog describes a store's (or state store's) error for a log line
// without its own text, which a driver may fill with its DSN.
func storeLog(err error) string {
	if !errors.Is(err, tokens.ErrNotFound) && !errors.Is(err, tokens.ErrConflict) {
		err = errors.Join(tokens.ErrUnavailable, err)
	}
	return tokens.DescribeError(err)
}
