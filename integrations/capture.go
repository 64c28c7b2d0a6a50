package integrations

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/onbehalf/onbehalf/tokens"
)

// Capture error codes (CaptureError.Code), stable for the connect flow.
const (
	CodeCaptureMissing = "capture_missing"  // a required capture found nothing
	CodeIDTokenInvalid = "id_token_invalid" // the ID token is absent, malformed, for another client or expired
)

// CaptureError is the error of a capture: which field, and a stable code.
// It never quotes a value.
type CaptureError struct {
	Field string
	Code  string
}

// Error implements error; it names the field and the code.
func (e *CaptureError) Error() string {
	return "integrations: capture of field " + e.Field + ": " + e.Code
}

// CallbackCaptures returns the fields captured from the OAuth callback's
// query (QuickBooks' realmId), before the code exchange.
func (in *Integration) CallbackCaptures(q url.Values) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range in.cfg.Capture {
		if c.From != CaptureCallback {
			continue
		}
		v := q.Get(c.Path)
		if v == "" || len(v) > maxInputLen {
			if c.Optional {
				continue
			}
			return nil, &CaptureError{Field: c.Field, Code: CodeCaptureMissing}
		}
		out[c.Field] = v
	}
	return out, nil
}

// TokenCaptures returns the fields captured from the token answer (by
// dotted path) and from the claims of its OpenID Connect ID token.
//
// The ID token is not checked for a signature: it came straight from the
// token endpoint over TLS, which OpenID Connect Core 1.0 section 3.1.3.7
// (step 6) allows in place of the signature check ("If the ID Token is
// received via direct communication between the Client and the Token
// Endpoint (which it is in this flow), the TLS server validation MAY be
// used to validate the issuer in place of checking the token signature";
// https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation,
// checked 2026-12-02). The issuer is not compared: the entry names no
// issuer, and the TLS connection to the configured token endpoint is what
// authenticates it.
// Its aud must contain the client id (and azp, when present, be the client
// id) and exp must be in the future (steps 3, 4 and 9); otherwise the
// capture fails with CodeIDTokenInvalid.
func (in *Integration) TokenCaptures(tok *oauth2.Token, now time.Time) (map[string]string, error) {
	out := map[string]string{}
	var claims map[string]any
	for _, c := range in.cfg.Capture {
		var v string
		var ok bool
		switch c.From {
		case CaptureToken:
			v, ok = tokenValue(tok, c.Path)
		case CaptureIDToken:
			if claims == nil {
				var err error
				if claims, err = in.idTokenClaims(tok, now); err != nil {
					if c.Optional {
						claims = nil
						continue
					}
					return nil, &CaptureError{Field: c.Field, Code: CodeIDTokenInvalid}
				}
			}
			v, ok = tokens.ValueAt(claims, c.Path)
		default:
			continue
		}
		if !ok || v == "" {
			if c.Optional {
				continue
			}
			return nil, &CaptureError{Field: c.Field, Code: CodeCaptureMissing}
		}
		out[c.Field] = v
	}
	return out, nil
}

// idTokenClaims decodes the ID token of tok and checks aud, azp and exp.
func (in *Integration) idTokenClaims(tok *oauth2.Token, now time.Time) (map[string]any, error) {
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errIDToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errIDToken
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil {
		return nil, errIDToken
	}
	client := in.cfg.Auth.ClientID
	var auds []string
	switch a := claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	if client == "" || !slices.Contains(auds, client) {
		return nil, errIDToken
	}
	if azp, ok := claims["azp"].(string); ok && azp != client {
		return nil, errIDToken
	}
	exp, ok := claims["exp"].(json.Number)
	if !ok {
		return nil, errIDToken
	}
	secs, err := exp.Float64()
	if err != nil || !now.Before(time.Unix(int64(secs), 0)) {
		return nil, errIDToken
	}
	return claims, nil
}

var errIDToken = &CaptureError{Code: CodeIDTokenInvalid}
