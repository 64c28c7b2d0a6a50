package connect

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// The SDK's popup install (installIntegration, FINDINGS.md section 9), in
// the SDK's order:
//
//  1. the SDK opens a popup at actions/oauth-nonce?...&userToken=<token>:
//     the page verifies the token, sets an HttpOnly cookie that proves this
//     browser holds it, and posts {type:"oauth-nonce-loaded"} to the opener
//     (only to a configured origin);
//  2. at the same time GET /v2/.../actions/build-oauth (Bearer) records the
//     SDK session id and answers {"redirectUrl": actions/oauth-go?g=...};
//  3. the SDK sends the popup there: oauth-go takes the pending session and
//     the cookie (same user, or it refuses), stores the OAuth state bound to
//     this browser and redirects to the provider;
//  4. the provider returns to the connect callback, which saves the
//     connection, records it under the session and lands on actions/oauth-done,
//     which closes the popup;
//  5. the SDK polls GET actions/session-id/{id} until connectCredentialId,
//     then DELETEs it.
//
// Every record lives in the Config.States store under a key of its own kind,
// so replicas that share the state store share the sessions.

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// nonceCookie proves that the browser opened oauth-nonce with the user's token.
const nonceCookie = "onbehalf_sdk_nonce"

func sessionGoKey(value string) string { return digest("sdk-go|" + value) }
func sessionNonceKey(value string) string {
	return digest("sdk-nonce|" + value)
}
func sessionDoneKey(project, user, id string) string {
	return digest("sdk-done|" + strconv.Quote(project) + "|" + strconv.Quote(user) + "|" + id)
}

// serveActions routes actions/...
func (h *Handler) serveActions(w http.ResponseWriter, r *http.Request, rt route) {
	rest := rt.rest
	switch {
	case len(rest) == 2 && rest[1] == "build-oauth" && r.Method == http.MethodGet:
		h.buildOAuth(w, r, rt)
	case len(rest) == 2 && rest[1] == "oauth-nonce" && r.Method == http.MethodGet:
		h.oauthNonce(w, r, rt)
	case len(rest) == 2 && rest[1] == "oauth-go" && r.Method == http.MethodGet:
		h.oauthGo(w, r, rt)
	case len(rest) == 2 && rest[1] == "oauth-done" && r.Method == http.MethodGet:
		h.page(w, http.StatusOK, "", doneScript, pageData{Text: "You can close this window."})
	case len(rest) == 3 && rest[1] == "session-id" && (r.Method == http.MethodGet || r.Method == http.MethodDelete):
		h.sessionPoll(w, r, rt)
	case len(rest) == 2 || len(rest) == 3:
		w.Header().Set("Allow", http.MethodGet)
		response.WriteError(w, response.New(http.StatusMethodNotAllowed, response.CodeMethodNotAllowed, "Method not allowed on this route."))
	default:
		notFound(w)
	}
}

type installOptions struct {
	SelectedCredentialID string `json:"selectedCredentialId"`
}

// buildOAuth serves GET /v2/projects/{p}/sdk/actions/build-oauth (Bearer):
// it records the pending session and answers where the popup goes next.
func (h *Handler) buildOAuth(w http.ResponseWriter, r *http.Request, rt route) {
	user, err := h.principal(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	id := q.Get("oauthMetaKeyId")
	if !sessionIDPattern.MatchString(id) {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "oauthMetaKeyId is missing or malformed."))
		return
	}
	ref := q.Get("integrationId")
	if ref == "" {
		ref = q.Get("action")
	}
	in, err := h.integration(r.Context(), rt.project, ref)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	if method(in) != "oauth" {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeConnectUnsupported,
			"This integration is not connected through OAuth."))
		return
	}
	var opts installOptions
	if s := q.Get("installOptions"); s != "" && len(s) <= 16<<10 {
		_ = json.Unmarshal([]byte(s), &opts) // another shape: no selected credential
	}
	if len(opts.SelectedCredentialID) > 256 {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "selectedCredentialId is too long."))
		return
	}
	value := randomToken(32)
	st := State{Project: rt.project, User: user, Integration: in.Key(), CredentialID: opts.SelectedCredentialID,
		Session: id, Expires: h.now().Add(h.ttl)}
	if err := h.states.Put(r.Context(), sessionGoKey(value), st); err != nil {
		response.WriteError(w, response.Wrap(err, http.StatusServiceUnavailable, response.CodeConnectStateCapacity, "Cannot start a connection now; try again later."))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	response.WriteJSON(w, http.StatusOK, map[string]any{
		"redirectUrl": h.projectBase(rt.project) + "/actions/oauth-go?g=" + url.QueryEscape(value)})
}

// oauthNonce serves the popup's first page. The SDK puts the user token in
// its query; the page proves the browser holds it with an HttpOnly cookie,
// drops the token from the address bar and tells the opener, at its
// configured origin only, that it is loaded.
func (h *Handler) oauthNonce(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	origin := q.Get("originForPostMessage")
	allowed := false
	for _, o := range h.origins(rt.project) {
		allowed = allowed || o == origin
	}
	if !allowed {
		h.page(w, http.StatusBadRequest, "", "", pageData{Text: "This window was not opened by an allowed app."})
		return
	}
	user, err := h.auth.VerifyUser(r.Context(), rt.project, q.Get("userToken"))
	if err != nil {
		h.page(w, http.StatusUnauthorized, "", "", pageData{Text: "Your session has ended. Please start again from the app."})
		return
	}
	v := randomToken(32)
	if err := h.states.Put(r.Context(), sessionNonceKey(v), State{Project: rt.project, User: user, Expires: h.now().Add(h.ttl)}); err != nil {
		h.page(w, http.StatusServiceUnavailable, "", "", pageData{Text: "Cannot start a connection now; please try again later."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: nonceCookie, Value: v, Path: h.public.Path + "/projects/" + url.PathEscape(rt.project) + "/sdk/actions",
		MaxAge: int(h.ttl / time.Second), HttpOnly: true, Secure: h.public.Scheme == "https", SameSite: http.SameSiteLaxMode})
	h.page(w, http.StatusOK, origin, nonceScript, pageData{Text: "Opening the sign-in page…"})
}

// oauthGo serves the popup's second page: the pending session of build-oauth
// and the cookie of oauth-nonce must name the same user; then the OAuth
// state is stored, bound to this browser, and the popup goes to the provider.
func (h *Handler) oauthGo(w http.ResponseWriter, r *http.Request, rt route) {
	g := r.URL.Query().Get("g")
	c, cerr := r.Cookie(nonceCookie)
	if g == "" || len(g) > 128 || cerr != nil || len(c.Value) > 128 {
		h.page(w, http.StatusBadRequest, "", "", pageData{Text: "This connection attempt is no longer valid. Please start again from the app."})
		return
	}
	sess, err := h.states.Take(r.Context(), sessionGoKey(g))
	nonce, nerr := h.states.Take(r.Context(), sessionNonceKey(c.Value))
	http.SetCookie(w, &http.Cookie{Name: nonceCookie, Value: "", Path: h.public.Path + "/projects/" + url.PathEscape(rt.project) + "/sdk/actions", MaxAge: -1})
	if err != nil || nerr != nil || sess.Project != rt.project || nonce.Project != rt.project ||
		subtle.ConstantTimeCompare([]byte(sess.User), []byte(nonce.User)) != 1 ||
		!h.now().Before(sess.Expires) || !h.now().Before(nonce.Expires) {
		// Another user's link, a replay, or an expired attempt.
		h.page(w, http.StatusBadRequest, "", "", pageData{Text: "This connection attempt is no longer valid. Please start again from the app."})
		return
	}
	in, err := h.integration(r.Context(), rt.project, sess.Integration)
	if err != nil {
		h.page(w, http.StatusNotFound, "", "", pageData{Text: "This integration is no longer available."})
		return
	}
	value := randomToken(32)
	key := digest(value)
	verifier := oauth2.GenerateVerifier()
	// The SDK sends no inputs: an integration that asks for some is
	// connected from the Connect Portal instead.
	authURL, err := in.AuthCodeURL(&tokens.Connection{}, integrations.AuthCodeRequest{RedirectURI: h.RedirectURI(rt.project),
		State: value, Verifier: verifier, Reauth: sess.CredentialID != ""})
	if err != nil {
		h.page(w, http.StatusBadRequest, "", "", pageData{Text: "This integration asks for details before connecting; please connect it from the Connect Portal."})
		return
	}
	st := State{Project: rt.project, User: sess.User, Integration: in.Key(), CredentialID: sess.CredentialID, Session: sess.Session,
		Verifier: verifier, ReturnURL: h.projectBase(rt.project) + "/actions/oauth-done", Expires: h.now().Add(h.ttl)}
	b := randomToken(32)
	st.Browser = digest(b)
	if err := h.states.Put(r.Context(), key, st); err != nil {
		h.page(w, http.StatusServiceUnavailable, "", "", pageData{Text: "Cannot start a connection now; please try again later."})
		return
	}
	http.SetCookie(w, h.cookie(rt.project, bindingCookie(key), b, int(h.ttl/time.Second), "callback"))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// sessionConnected records a popup install's outcome for the SDK's poll. The
// callback calls it after the connection is saved.
func (h *Handler) sessionConnected(ctx context.Context, st State, c *tokens.Connection) {
	if st.Session == "" {
		return
	}
	done := State{Project: st.Project, User: st.User, Integration: st.Integration, CredentialID: c.ID, Expires: h.now().Add(h.ttl)}
	if err := h.states.Put(ctx, sessionDoneKey(st.Project, st.User, st.Session), done); err != nil {
		h.log.Warn("connect: recording an SDK session failed", "project", st.Project, "err", storeLog(err))
	}
}

// sessionPoll serves GET and DELETE actions/session-id/{id} (Bearer): the
// session's connectCredentialId once the user connected, {} until then. The
// record is the user's own: another user's poll of the same id sees {}.
func (h *Handler) sessionPoll(w http.ResponseWriter, r *http.Request, rt route) {
	user, err := h.principal(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	id, ok := segment(rt.rest[2])
	if !ok || !sessionIDPattern.MatchString(id) {
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, "Malformed session id."))
		return
	}
	key := sessionDoneKey(rt.project, user, id)
	st, err := h.states.Take(r.Context(), key)
	switch {
	case errors.Is(err, ErrStateNotFound):
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		response.WriteJSON(w, http.StatusOK, map[string]any{})
		return
	case err != nil:
		response.WriteError(w, response.Wrap(err, http.StatusServiceUnavailable, response.CodeConnectStateCapacity, "The session store is unavailable."))
		return
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if h.now().Before(st.Expires) {
		_ = h.states.Put(r.Context(), key, st) // polled until the SDK deletes it
	}
	response.WriteJSON(w, http.StatusOK, map[string]any{"connectCredentialId": st.CredentialID, "integrationType": st.Integration})
}

// pageData is what the popup pages show and hand their script.
type pageData struct {
	Nonce  string
	Text   string
	Script template.JS
	Origin string
}

var popupPage = template.Must(template.New("popup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Connect</title><style nonce="{{.Nonce}}">body{font:16px system-ui,sans-serif;margin:3rem auto;max-width:28rem;padding:0 1rem;color:#1f2328}</style></head>
<body><p role="status">{{.Text}}</p>
<script id="onbehalf-origin" type="application/json">{{.Origin}}</script>
{{if .Script}}<script nonce="{{.Nonce}}">{{.Script}}</script>{{end}}
</body></html>`))

// nonceScript drops the token from the address bar and tells the opener, at
// the configured origin only, that the popup is ready.
const nonceScript = `(function(){history.replaceState(null,'',location.pathname);
var o=JSON.parse(document.getElementById('onbehalf-origin').textContent);
if(window.opener&&o){window.opener.postMessage({type:'oauth-nonce-loaded'},o);}})();`

// doneScript closes the popup: the SDK then reads the outcome by its poll.
const doneScript = `(function(){var q=new URLSearchParams(location.search);
var ok=q.get('onbehalf_status')==='connected';
document.querySelector('[role=status]').textContent=ok?'Connected. This window closes now.':'The connection did not complete. You can close this window.';
history.replaceState(null,'',location.pathname);setTimeout(function(){window.close();},ok?300:4000);})();`

// page writes one of the popup pages: no framing, scripts only with the nonce.
func (h *Handler) page(w http.ResponseWriter, status int, origin, script string, d pageData) {
	d.Nonce = randomToken(18)
	d.Script = template.JS(script)
	d.Origin = origin
	var buf bytes.Buffer
	if err := popupPage.Execute(&buf, d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+d.Nonce+"'; style-src 'nonce-"+d.Nonce+"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
