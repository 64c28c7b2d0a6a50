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
	"strings"
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

	ErrorCaptureMissing      = integrations.CodeCaptureMissing // a required value was missing from the callback or the token answer
	ErrorIDTokenInvalid      = integrations.CodeIDTokenInvalid // the ID token was malformed, for another client or expired
	ErrorLookupFailed        = integrations.CodeLookupFailed   // a post-connect lookup failed or answered an error
	ErrorLookupEmpty         = integrations.CodeLookupEmpty    // a required lookup found nothing (no site, no tenant)
	ErrorChoiceInvalid       = "choice_invalid"                // the chooser's answer named no offered item
	ErrorVerificationFailed  = "verification_failed"           // the new connection did not pass the integration's verification
	ErrorEndpointNotAllowed  = "endpoint_not_allowed"          // an expanded endpoint's host was outside the allowed hosts
	ErrorIntegrationNotFound = "integration_not_found"         // the integration was removed while the user was away
)

// Codes of the connect routes' JSON errors added by the connection-life schema.
const (
	// CodeInputInvalid: 400, an input is missing, too long, refused by its
	// pattern or unknown; the answer's message names the input.
	CodeInputInvalid response.Code = "CONNECT_INPUT_INVALID"
	// CodeVerificationFailed: 400, entered credentials did not pass the
	// integration's verification request.
	CodeVerificationFailed response.Code = "CONNECT_VERIFICATION_FAILED"
)

// bindingCookie names the browser-binding cookie of one state: one per
// started connection, so flows in two tabs do not overwrite each other.
func bindingCookie(key string) string { return "onbehalf_connect_" + key[:16] }

type startRequest struct {
	ReturnURL    string            `json:"returnUrl"`
	CredentialID string            `json:"credentialId"`
	Inputs       map[string]string `json:"inputs"`
}

// inputError is the 400 answer for an *integrations.InputError.
func inputError(err error) error {
	var ie *integrations.InputError
	if errors.As(err, &ie) {
		e := response.Wrap(err, http.StatusBadRequest, CodeInputInvalid, strings.ToUpper(ie.Error()[:1])+ie.Error()[1:]+".")
		return e
	}
	return response.Wrap(err, http.StatusBadRequest, CodeInputInvalid, "The inputs do not give an allowed address for this integration.")
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
		response.WriteError(w, errNotOAuth)
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
	fields, inputCred, err := in.CheckInputs(body.Inputs)
	if err != nil {
		response.WriteError(w, inputError(err))
		return
	}
	// A reconnect: the user names a connection, or already has one of this
	// integration. The authorization then asks again for what only a first
	// consent grants (Google's prompt=consent for a new refresh token).
	reauth := body.CredentialID != ""
	if !reauth {
		_, gerr := h.store.Get(r.Context(), tokens.Key{Project: rt.project, User: user, Integration: in.Key()})
		if gerr != nil && !errors.Is(gerr, tokens.ErrNotFound) {
			response.WriteError(w, storeError(gerr))
			return
		}
		reauth = gerr == nil
	}
	value := randomToken(32)
	key := digest(value)
	verifier := oauth2.GenerateVerifier()
	authURL, err := in.AuthCodeURL(&tokens.Connection{Fields: fields}, integrations.AuthCodeRequest{
		RedirectURI: h.RedirectURI(rt.project), State: value, Verifier: verifier, Reauth: reauth})
	if err != nil {
		response.WriteError(w, inputError(err))
		return
	}
	st := State{Project: rt.project, User: user, Integration: in.Key(), CredentialID: body.CredentialID,
		Verifier: verifier, ReturnURL: ret, Expires: h.now().Add(h.ttl),
		Inputs: fields, InputCredential: inputCred, Reauth: reauth}
	var cookie *http.Cookie
	if h.bind {
		v := randomToken(32)
		st.Browser = digest(v)
		cookie = h.cookie(rt.project, bindingCookie(key), v, int(h.ttl/time.Second), "callback")
	}
	if err := h.states.Put(r.Context(), key, st); err != nil {
		response.WriteError(w, response.Wrap(err, http.StatusServiceUnavailable, response.CodeConnectStateCapacity, "Cannot start a connection now; try again later."))
		return
	}
	if cookie != nil {
		http.SetCookie(w, cookie)
	}
	response.WriteJSON(w, http.StatusOK, map[string]any{"url": authURL, "expiresAt": st.Expires.UTC().Format(time.RFC3339)})
}

// takeState takes, once, the state whose value a callback ("callback") or
// a choice ("choose") carries. It must belong to the project, be of that
// step (a choice's holds a Pending connection, a callback's none), come
// back to the browser that started it (the binding cookie, which is
// cleared), and not be expired. It records the state's return URL, user
// and integration in o, and on failure the code; ok is false then.
func (h *Handler) takeState(w http.ResponseWriter, r *http.Request, rt route, value, step string, o *outcome) (st State, ok bool) {
	if value == "" || len(value) > 512 {
		o.fail(ErrorStateInvalid)
		return st, false
	}
	key := digest(value)
	st, err := h.states.Take(r.Context(), key)
	if err != nil || st.Project != rt.project || (st.Pending != nil) != (step == "choose") {
		if err != nil && !errors.Is(err, ErrStateNotFound) {
			h.log.Warn("connect: state store failed", "project", rt.project, "err", storeLog(err))
		}
		o.fail(ErrorStateInvalid)
		return st, false
	}
	o.target, o.user, o.integration = st.ReturnURL, st.User, st.Integration
	if st.Browser != "" {
		c, err := r.Cookie(bindingCookie(key))
		http.SetCookie(w, h.cookie(rt.project, bindingCookie(key), "", -1, step))
		if err != nil || subtle.ConstantTimeCompare([]byte(digest(c.Value)), []byte(st.Browser)) != 1 {
			// Started in another browser: a link someone else sent this user.
			o.fail(ErrorStateInvalid)
			return st, false
		}
	}
	if !h.now().Before(st.Expires) {
		o.fail(ErrorStateExpired)
		return st, false
	}
	return st, true
}

// cookie is the browser-binding cookie: sent only to the callback, never
// readable by scripts, sent on the provider's top-level redirect (Lax).
func (h *Handler) cookie(project, name, value string, maxAge int, route string) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: h.public.Path + "/projects/" + url.PathEscape(project) + "/sdk/connect/" + route,
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
// onbehalf_status and, on failure, an error code; nothing secret goes into
// it. The one exception is a lookup whose items the user must choose
// among: the answer is then the chooser page (see choose).
func (h *Handler) callback(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	o := &outcome{target: h.PortalURL(rt.project), project: rt.project}
	defer h.finish(w, r, o)

	st, ok := h.takeState(w, r, rt, q.Get("state"), "callback", o)
	if !ok {
		return
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			o.fail(ErrorAccessDenied)
		} else {
			o.fail(ErrorProvider)
		}
		return
	}
	code := q.Get("code")
	if code == "" {
		o.fail(ErrorExchangeFailed)
		return
	}
	in, err := h.integration(r.Context(), st.Project, st.Integration)
	if err != nil {
		o.fail(ErrorIntegrationNotFound)
		return
	}
	fields, err := in.CallbackCaptures(q)
	if err != nil {
		o.failErr(h, err)
		return
	}
	for k, v := range st.Inputs {
		fields[k] = v
	}
	pending := &tokens.Connection{Project: st.Project, User: st.User, Integration: st.Integration, ID: st.CredentialID, Fields: fields}
	verifier := st.Verifier
	tok, err := in.Exchange(r.Context(), h.client, pending, code, h.RedirectURI(st.Project), verifier)
	if err != nil {
		// The endpoint's error code is quoted only when it is one of RFC
		// 6749's: an endpoint may reflect what it was sent (the code, the
		// client secret) in its "error" field.
		h.log.Warn("connect: code exchange failed", "project", st.Project, "integration", st.Integration,
			"err", tokens.DescribeError(err))
		if errors.Is(err, integrations.ErrEndpointHost) {
			o.fail(ErrorEndpointNotAllowed)
		} else {
			o.fail(ErrorExchangeFailed)
		}
		return
	}
	captured, err := in.TokenCaptures(tok, h.now())
	if err != nil {
		o.failErr(h, err)
		return
	}
	for k, v := range h.fields(st.Integration, tok) {
		if _, declared := fields[k]; !declared {
			fields[k] = v
		}
	}
	for k, v := range captured {
		fields[k] = v
	}
	cred := st.InputCredential.WithOAuth2Token(tok)
	// The token's lifetime is known from now on: the refresher's margin
	// stays within a fraction of it (a 30 s token is not due at once).
	cred.ObtainedAt = h.now().Round(0)
	pending.Credential = cred
	h.proceed(r.Context(), o, &st, in, pending, 0)
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
