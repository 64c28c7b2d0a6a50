package onbehalftest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authCode is an issued, not yet redeemed authorization code.
type authCode struct {
	clientID, redirectURI, challenge, scope string
	expires                                 time.Time
}

// Exchanges counts authorization codes redeemed (each with a verified PKCE
// code verifier).
func (tl *TaskLab) Exchanges() int64 { return tl.exchanges.Load() }

// Revocations counts revocation requests served (RFC 7009).
func (tl *TaskLab) Revocations() int64 { return tl.revocations.Load() }

// RefreshTokenLive reports whether a refresh token still works.
func (tl *TaskLab) RefreshTokenLive(refresh string) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.refresh[refresh]
}

// authRequest is a checked authorization request.
type authRequest struct {
	ClientID, RedirectURI, State, Scope, Challenge string
	Scopes                                         []string
}

// checkAuthRequest validates an authorization request. A bad client or
// redirect URI is answered here (never redirected to); other errors go back
// to the redirect URI.
func (tl *TaskLab) checkAuthRequest(w http.ResponseWriter, r *http.Request, v url.Values) (*authRequest, bool) {
	ar := &authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Scope: v.Get("scope"), Challenge: v.Get("code_challenge")}
	if ar.ClientID == "" || ar.ClientID != tl.ClientID {
		consentError(w, "Unknown client.")
		return nil, false
	}
	if !slices.Contains(tl.RedirectURIs, ar.RedirectURI) {
		consentError(w, "This redirect URI is not registered for the client.")
		return nil, false
	}
	back := func(code, desc string) (*authRequest, bool) {
		redirectTo(w, r, ar.RedirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {ar.State}})
		return nil, false
	}
	if v.Get("response_type") != "code" {
		return back("unsupported_response_type", "only response_type=code")
	}
	if v.Get("code_challenge_method") != "S256" || len(ar.Challenge) != 43 {
		return back("invalid_request", "PKCE with code_challenge_method=S256 is required")
	}
	ar.Scopes = strings.Fields(ar.Scope)
	return ar, true
}

func redirectTo(w http.ResponseWriter, r *http.Request, target string, params url.Values) {
	u, _ := url.Parse(target)
	q := u.Query()
	for k, vs := range params {
		if len(vs) > 0 && vs[0] != "" {
			q[k] = vs
		}
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func consentHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

func consentError(w http.ResponseWriter, msg string) {
	consentHeaders(w)
	w.WriteHeader(http.StatusBadRequest)
	_ = consentTemplate.Execute(w, map[string]any{"Error": msg})
}

// authorize serves GET /oauth/authorize: the consent page.
func (tl *TaskLab) authorize(w http.ResponseWriter, r *http.Request) {
	ar, ok := tl.checkAuthRequest(w, r, r.URL.Query())
	if !ok {
		return
	}
	consentHeaders(w)
	_ = consentTemplate.Execute(w, map[string]any{"Req": ar})
}

// decide serves POST /oauth/authorize: the consent page's Approve or Deny.
func (tl *TaskLab) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		consentError(w, "Malformed form.")
		return
	}
	ar, ok := tl.checkAuthRequest(w, r, r.PostForm)
	if !ok {
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		redirectTo(w, r, ar.RedirectURI, url.Values{"error": {"access_denied"}, "state": {ar.State}})
		return
	}
	code := "tl-code-" + randHex()
	tl.mu.Lock()
	tl.codes[code] = authCode{clientID: ar.ClientID, redirectURI: ar.RedirectURI, challenge: ar.Challenge,
		scope: ar.Scope, expires: time.Now().Add(time.Minute)}
	tl.mu.Unlock()
	redirectTo(w, r, ar.RedirectURI, url.Values{"code": {code}, "state": {ar.State}})
}

// redeem is the authorization_code grant of /oauth/token; the client is
// already authenticated.
func (tl *TaskLab) redeem(w http.ResponseWriter, r *http.Request) {
	code := r.PostFormValue("code")
	tl.mu.Lock()
	ac, ok := tl.codes[code]
	delete(tl.codes, code) // one time, whatever happens next
	tl.mu.Unlock()
	bad := func(desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": desc})
	}
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case !ok || time.Now().After(ac.expires):
		bad("authorization code is invalid, expired or was used")
	case ac.clientID != tl.ClientID || ac.redirectURI != r.PostFormValue("redirect_uri"):
		bad("redirect_uri does not match the authorization request")
	case r.PostFormValue("code_verifier") == "" ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(ac.challenge)) != 1:
		bad("PKCE verification failed")
	default:
		tl.exchanges.Add(1)
		ttl := tl.TokenTTL
		if ttl == 0 {
			ttl = time.Hour
		}
		access, refresh := tl.Issue(ttl)
		out := map[string]any{"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
			"expires_in": int(ttl.Seconds()), "scope": ac.scope}
		for k, v := range tl.TokenExtra {
			out[k] = v
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// revoke serves POST /oauth/revoke (RFC 7009): client authentication, then
// the token (refresh or access) stops working. Unknown tokens answer 200 too.
func (tl *TaskLab) revoke(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != tl.ClientID || secret != tl.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tl.revocations.Add(1)
	tok := r.PostFormValue("token")
	tl.mu.Lock()
	delete(tl.refresh, tok)
	delete(tl.access, tok)
	tl.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Consent plays the user on TaskLab's consent page: it loads authURL (the
// provider URL a connect start answered), checks that the page renders, and
// submits Approve or Deny. It returns where TaskLab redirects the browser (the
// callback URL with code or error) without following it.
func Consent(authURL string, approve bool) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		return resp.Header.Get("Location"), nil // refused before consent: the error goes back
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Approve") {
		return "", fmt.Errorf("onbehalftest: consent page answered %d", resp.StatusCode)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return "", err
	}
	form := u.Query()
	form.Set("decision", "deny")
	if approve {
		form.Set("decision", "approve")
	}
	u.RawQuery = ""
	resp, err = client.PostForm(u.String(), form)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("onbehalftest: consent answered %d", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return loc, nil
	}
	return "", errors.New("onbehalftest: consent redirected nowhere")
}

var consentTemplate = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>TaskLab · Authorize access</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f1fb;color:#1d1b2c}
main{max-width:440px;margin:40px auto;padding:28px;background:#fff;border-radius:16px;box-shadow:0 4px 24px #0001}
.brand{font-weight:800;color:#5b3cc4;letter-spacing:.02em}
h1{font-size:1.3rem;margin:.4em 0}
ul{padding-left:1.2em}
.row{display:flex;gap:10px;margin-top:20px}
button{flex:1;font:inherit;font-weight:600;padding:10px;border-radius:10px;border:1px solid #c9c3e6;background:#fff;cursor:pointer;min-height:44px}
button[value=approve]{background:#5b3cc4;border-color:#5b3cc4;color:#fff}
button:focus-visible{outline:3px solid #f0a300;outline-offset:2px}
.err{color:#a4231b}
</style></head><body><main>
<div class="brand">TaskLab</div>
{{if .Error}}<h1>Authorization failed</h1><p class="err" role="alert">{{.Error}}</p>{{else}}{{with .Req}}
<h1>Allow <strong>{{.ClientID}}</strong> to access your TaskLab account?</h1>
<p>It will be able to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{else}}<li>read and change your tasks</li>{{end}}</ul>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
<div class="row"><button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="approve">Approve</button></div>
</form>{{end}}{{end}}
</main></body></html>
`))
