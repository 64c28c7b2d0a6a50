package integrations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/onbehalf/onbehalf/tokens"
)

// ErrNoVerification is returned by Verify for an integration whose Config
// has no Verify request.
var ErrNoVerification = errors.New("integrations: no verification request is configured")

// VerifyError is Verify's answer when the provider answered a status that
// Verification.OK does not list, or an answer without BodyContains: the
// connection does not work.
type VerifyError struct {
	Status int // the provider's status
	// BodyMismatch reports that the status was one of OK but the answer
	// lacked Verification.BodyContains.
	BodyMismatch bool
}

func (e *VerifyError) Error() string {
	if e.BodyMismatch {
		return fmt.Sprintf("integrations: verification answered status %d without the expected content", e.Status)
	}
	return fmt.Sprintf("integrations: verification answered status %d", e.Status)
}

// compileVerify checks cfg.Verify.
func (in *Integration) compileVerify(d *declared) error {
	v := in.cfg.Verify
	if v == nil {
		return nil
	}
	if v.Path == "" {
		return cfgErr("verify.path", "required")
	}
	if err := checkMethod("verify.method", v.Method); err != nil {
		return err
	}
	for i, s := range v.OK {
		if s < 100 || s > 599 {
			return cfgErr(fmt.Sprintf("verify.ok[%d]", i), "%d is not an HTTP status", s)
		}
	}
	if v.Body != "" && !json.Valid([]byte(v.Body)) {
		return cfgErr("verify.body", "not valid JSON")
	}
	t, err := d.checkTemplate("verify.path", v.Path, stageAny, 0, false)
	if err != nil {
		return err
	}
	in.verifyPath = t
	return nil
}

// Verify runs the integration's verification request (Config.Verify) for
// connection c: the path joined to the connection's base URL, the
// credential and headers applied as for a proxied call. client must be a
// client whose transport is the guarded dial (hosts), as the proxy's is; it
// must not follow redirects to other hosts with the credential. Verify
// answers nil when the status is one Verification.OK lists (200 to 299
// when empty), a *VerifyError for another status, ErrNoVerification when
// there is no request, and the transport's error otherwise. It reads at
// most 64 KiB of the answer and never returns its body: the body may carry
// the credential.
func (in *Integration) Verify(ctx context.Context, client *http.Client, c *tokens.Connection) error {
	v := in.cfg.Verify
	if v == nil || in.verifyPath == nil {
		return ErrNoVerification
	}
	base, err := in.BaseURL(c)
	if err != nil {
		return err
	}
	p, err := in.verifyPath.expand(c, url.PathEscape)
	if err != nil {
		return err
	}
	ref, err := url.Parse(p)
	if err != nil || ref.IsAbs() || ref.Host != "" {
		return fmt.Errorf("integrations: verify.path %q is not a relative path", v.Path)
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(ref.Path, "/")
	u.RawPath = ""
	u.RawQuery = ref.RawQuery
	method := v.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if v.Body != "" {
		body = strings.NewReader(v.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if v.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := in.Apply(req.Header, req.URL, c); err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("integrations: verification request: %w", stripURL(err))
	}
	answer, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ok := len(v.OK) == 0 && resp.StatusCode >= 200 && resp.StatusCode <= 299 || slices.Contains(v.OK, resp.StatusCode)
	switch {
	case !ok:
		return &VerifyError{Status: resp.StatusCode}
	case v.BodyContains == "":
		return nil
	case rerr != nil:
		return fmt.Errorf("integrations: verification answer: %w", rerr)
	case !bytes.Contains(answer, []byte(v.BodyContains)):
		return &VerifyError{Status: resp.StatusCode, BodyMismatch: true}
	}
	return nil
}

// stripURL drops the URL from a *url.Error: an API key may travel in the query.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
