package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// TokenPaths says where a token endpoint's JSON answer carries each value,
// as dotted paths ("authed_user.access_token"). An empty path means the
// RFC 6749 name at the top level. ExpiresAt, when set, names an absolute
// expiry (an RFC 3339 time or epoch seconds, Square's expires_at) that is
// used instead of the lifetime when the answer carries it.
type TokenPaths struct {
	AccessToken, RefreshToken, ExpiresIn, TokenType, Scope, ExpiresAt string
}

// TokenRequest is one request to a token endpoint, for providers whose
// dialect golang.org/x/oauth2 does not speak: a JSON body, values at nested
// paths, extra parameters of the refresh grant, a default lifetime.
type TokenRequest struct {
	// URL is the token endpoint, already checked by the caller.
	URL string
	// Params are the grant's parameters (grant_type, code, refresh_token,
	// redirect_uri, code_verifier and the provider's extras).
	Params map[string]string
	// ClientID and ClientSecret authenticate the client: in an HTTP basic
	// header (RFC 6749 section 2.3.1, each part form-encoded), or, with
	// AuthInParams, as client_id and client_secret parameters. There is no
	// auto-detection: a retry in the other style would present a refresh
	// token twice.
	ClientID, ClientSecret string
	AuthInParams           bool
	// JSON sends the parameters as a JSON object instead of a form.
	JSON bool
	// Paths locates the answer's values.
	Paths TokenPaths
	// DefaultLifetime is the access token's lifetime when the answer has
	// no expires_in; zero means such a token does not expire.
	DefaultLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxTokenAnswer bounds a token endpoint's answer.
const maxTokenAnswer = 1 << 20

// ErrNoAccessToken: a token endpoint answered 2xx without an access token at
// the configured path.
var ErrNoAccessToken = errors.New("tokens: the token answer has no access token")

// PostToken sends r with client (through DirectClient: never a proxy from the
// environment) and reads the answer. The token's Extra holds the whole JSON
// answer (numbers as json.Number), so callers can read further values by
// path (see ValueAt). A non-2xx answer, or a 2xx answer with an "error" and
// no access token (Slack's {"ok": false}), is an *oauth2.RetrieveError, as
// x/oauth2 reports it, so the Refresher classifies it the same way; its
// text may hold the endpoint's body: log it only through DescribeError.
func PostToken(ctx context.Context, client *http.Client, r TokenRequest) (*oauth2.Token, error) {
	params := make(map[string]string, len(r.Params)+2)
	for k, v := range r.Params {
		params[k] = v
	}
	if r.AuthInParams {
		params["client_id"] = r.ClientID
		if r.ClientSecret != "" {
			params["client_secret"] = r.ClientSecret
		}
	}
	var body []byte
	ctype := "application/x-www-form-urlencoded"
	if r.JSON {
		ctype = "application/json"
		body, _ = json.Marshal(params) // a map of strings always marshals
	} else {
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		body = []byte(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("tokens: bad token endpoint URL")
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if !r.AuthInParams {
		req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	}
	resp, err := DirectClient(client).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("tokens: reading the token answer: %w", err)
	}
	if len(data) > maxTokenAnswer {
		return nil, errors.New("tokens: the token answer is too large")
	}
	raw := parseAnswer(resp.Header.Get("Content-Type"), data)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, retrieveError(resp, data, raw)
	}
	access, _ := ValueAt(raw, orName(r.Paths.AccessToken, "access_token"))
	if access == "" {
		if e, _ := raw["error"].(string); e != "" {
			return nil, retrieveError(resp, data, raw)
		}
		return nil, ErrNoAccessToken
	}
	tok := &oauth2.Token{AccessToken: access}
	tok.RefreshToken, _ = ValueAt(raw, orName(r.Paths.RefreshToken, "refresh_token"))
	tok.TokenType, _ = ValueAt(raw, orName(r.Paths.TokenType, "token_type"))
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	exp, _ := ValueAt(raw, orName(r.Paths.ExpiresIn, "expires_in"))
	if at, ok := expiresAt(raw, r.Paths.ExpiresAt, now()); ok {
		tok.Expiry = at
		tok.ExpiresIn = int64(at.Sub(now()) / time.Second)
	} else if secs, err := strconv.ParseFloat(exp, 64); err == nil && secs > 0 {
		tok.Expiry = now().Add(time.Duration(secs * float64(time.Second)))
		tok.ExpiresIn = int64(secs)
	} else if r.DefaultLifetime > 0 {
		tok.Expiry = now().Add(r.DefaultLifetime)
		tok.ExpiresIn = int64(r.DefaultLifetime / time.Second)
	}
	return tok.WithExtra(raw), nil
}

// expiresAt reads the absolute expiry at path: an RFC 3339 time or epoch
// seconds (a number or a string of digits). A value that is missing,
// unreadable or not in the future is not used (the lifetime then applies):
// an expiry already past would send every call to the token endpoint.
func expiresAt(raw map[string]any, path string, now time.Time) (time.Time, bool) {
	if path == "" {
		return time.Time{}, false
	}
	v, _ := ValueAt(raw, path)
	if v == "" {
		return time.Time{}, false
	}
	var at time.Time
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		at = time.Unix(0, 0).Add(time.Duration(secs * float64(time.Second)))
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		at = t
	} else {
		return time.Time{}, false
	}
	return at, at.After(now)
}

func orName(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// parseAnswer reads a JSON object (numbers as json.Number) or, for a form
// answer (GitHub's default), its values as strings.
func parseAnswer(ctype string, data []byte) map[string]any {
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		if vals, err := url.ParseQuery(string(data)); err == nil {
			out := make(map[string]any, len(vals))
			for k := range vals {
				out[k] = vals.Get(k)
			}
			return out
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out map[string]any
	if dec.Decode(&out) != nil || out == nil {
		return map[string]any{}
	}
	return out
}

// retrieveError is the *oauth2.RetrieveError for an error answer.
func retrieveError(resp *http.Response, data []byte, raw map[string]any) error {
	e := &oauth2.RetrieveError{Response: resp, Body: data}
	e.ErrorCode, _ = raw["error"].(string)
	e.ErrorDescription, _ = raw["error_description"].(string)
	e.ErrorURI, _ = raw["error_uri"].(string)
	return e
}

// ValueAt reads the value at a dotted path of a decoded JSON value as a
// string: strings as they are, numbers in their JSON form, booleans as
// "true" or "false". Objects, arrays and absent values report false.
func ValueAt(v any, path string) (string, bool) {
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[seg]; !ok {
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
