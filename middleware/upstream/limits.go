package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/limits"
	"github.com/onbehalf/onbehalf/response"
)

// LimitsConfig configures the limits stage, the outermost RoundTripper of the
// upstream chain: before a request is sent it takes a permit from every
// static limit of the integration's rate-limit dialect (per connection, per
// provider account, per integration; see integrations.RateLimitInfo) and
// from the user's quota, and it honours the blocks the provider's answers
// set (a throttled answer, a spent budget). A request over a limit waits up
// to MaxWait within its deadline, or answers 429 RATE_LIMITED (429
// USER_QUOTA_EXCEEDED for a quota) with Retry-After and is never sent.
// The zero value enforces the catalog's limits in process.
type LimitsConfig struct {
	// Limiter holds the buckets. Nil means limits.NewLocal(): each replica
	// counts alone, so N replicas may spend N times a provider's allowance;
	// share one (limits/redislimiter) across replicas.
	Limiter limits.Limiter
	// Disabled turns off the integrations' limits and the feedback from the
	// provider's answers; user quotas still apply. False (the zero value)
	// enforces them.
	Disabled bool
	// MaxWait is the longest a request waits for its permits (never past its
	// deadline); a longer wait answers 429 at once. Zero means 10 s;
	// negative means no wait.
	MaxWait time.Duration
	// MaxBlock caps how long one provider answer blocks its scope (a reset a
	// day away). Zero means 1 hour.
	MaxBlock time.Duration
	// UserQuota caps each end user's requests to each integration: the host
	// app's own limit on its users. The zero value means no quota.
	UserQuota Quota
	// UserQuotas overrides UserQuota per integration key ("salesforce",
	// "custom.crm"); a zero Quota there means none for that integration.
	// Nil means UserQuota everywhere.
	UserQuotas map[string]Quota
}

// Quota is Requests per Window. The window slides: a user who spent the
// quota gets one more request every Window/Requests. Zero Requests means no
// quota.
type Quota struct {
	Requests int           `json:"requests,omitempty"`
	Window   time.Duration `json:"window,omitempty"`
}

func (q Quota) validate(where string) error {
	if q.Requests < 0 || (q.Requests > 0 && q.Window <= 0) {
		return fmt.Errorf("upstream: %s: requests must not be negative and a quota needs a positive window", where)
	}
	return nil
}

func (q Quota) limit() limits.Limit {
	return limits.Limit{Rate: float64(q.Requests) / q.Window.Seconds(), Burst: q.Requests}
}

// limitsTransport is the limits stage.
type limitsTransport struct {
	cfg  LimitsConfig
	lim  limits.Limiter
	next http.RoundTripper
	now  func() time.Time
}

func newLimitsTransport(cfg LimitsConfig, next http.RoundTripper) (*limitsTransport, error) {
	if err := cfg.UserQuota.validate("UserQuota"); err != nil {
		return nil, err
	}
	for k, q := range cfg.UserQuotas {
		if err := q.validate("UserQuotas[" + k + "]"); err != nil {
			return nil, err
		}
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 10 * time.Second
	}
	if cfg.MaxWait < 0 {
		cfg.MaxWait = 0
	}
	if cfg.MaxBlock <= 0 {
		cfg.MaxBlock = time.Hour
	}
	t := &limitsTransport{cfg: cfg, lim: cfg.Limiter, next: next, now: time.Now}
	if t.lim == nil {
		t.lim = limits.NewLocal()
	}
	return t, nil
}

func (t *limitsTransport) quota(integration string) (Quota, bool) {
	q := t.cfg.UserQuota
	if o, ok := t.cfg.UserQuotas[integration]; ok {
		q = o
	}
	return q, q.Requests > 0
}

func (t *limitsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s := StateFrom(ctx)
	if s == nil {
		return t.next.RoundTrip(req)
	}
	in, c := s.Integration, s.Connection
	now := t.now()
	maxWait := t.cfg.MaxWait
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(min(maxWait, dl.Sub(now)), 0)
	}
	if q, ok := t.quota(in.Key()); ok {
		if _, err := t.reserve(req, limits.Request{Key: scopeKey("quota", c.Project, c.User, in.Key()), Limit: q.limit()}, quotaExceeded); err != nil {
			return nil, err
		}
	}
	if t.cfg.Disabled {
		return t.next.RoundTrip(req)
	}
	rl := in.RateLimits()
	sc, field := rl.Scope()
	blockKey := t.key(in, s, sc, field, -1)
	var wait time.Duration
	static := rl.StaticLimits()
	for i, l := range static {
		w, err := t.reserve(req, limits.Request{Key: t.key(in, s, l.Scope, l.Field, i), BlockKey: blockKey,
			Limit: limits.Limit{Rate: l.Rate(), Burst: l.BurstSize()}, MaxWait: maxWait}, rateLimited)
		if err != nil {
			return nil, err
		}
		wait = max(wait, w)
	}
	if len(static) == 0 { // headers only: the blocks the provider's answers set
		w, err := t.reserve(req, limits.Request{Key: blockKey, MaxWait: maxWait}, rateLimited)
		if err != nil {
			return nil, err
		}
		wait = w
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			closeBody(req)
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.learn(ctx, rl, resp, blockKey)
	}
	return resp, err
}

// reserve takes one permit of r for req and returns how long to wait for
// it. A limiter failure or a refusal (refused builds the 429) closes the
// request's body: nothing is sent.
func (t *limitsTransport) reserve(req *http.Request, r limits.Request, refused func(time.Duration) error) (time.Duration, error) {
	d, err := t.lim.Reserve(req.Context(), r)
	switch {
	case err != nil:
		closeBody(req)
		return 0, limiterFailed(err)
	case !d.Allowed:
		closeBody(req)
		return 0, refused(d.Wait)
	}
	return d.Wait, nil
}

// key names the bucket of a scope: one per connection, per account (the
// connection field's value; a connection without it counts alone) or per
// integration, and per static limit (i; -1 for the blocks). Parts are joined
// with a byte no key part holds in practice; the Limiter treats keys as
// opaque.
func (t *limitsTransport) key(in *integrations.Integration, s *State, sc integrations.Scope, field string, i int) string {
	c := s.Connection
	idx := "b"
	if i >= 0 {
		idx = fmt.Sprint(i)
	}
	switch sc {
	case integrations.ScopeIntegration:
		return scopeKey("app", in.Key(), c.Project, idx)
	case integrations.ScopeAccount:
		if v := c.Fields[field]; v != "" {
			return scopeKey("acct", in.Key(), field, strings.ToLower(v), idx)
		}
	}
	return scopeKey("conn", in.Key(), c.Project, c.User, c.ID, idx)
}

func scopeKey(parts ...string) string { return strings.Join(parts, "\x1f") }

// learn blocks the answer's scope when the provider said it is throttled
// (a 429, or an answer the dialect names) or that the budget is spent: until
// Retry-After, else the reset, else the dialect's block time.
func (t *limitsTransport) learn(ctx context.Context, rl *integrations.RateLimits, resp *http.Response, key string) {
	throttled, needBody := rl.Throttled(resp.StatusCode)
	if needBody && resp.Body != nil {
		throttled = rl.ThrottledBody(resp.StatusCode, peek(resp, integrations.MaxPeek))
	}
	now := t.now()
	o := rl.Observe(resp.Header, now)
	var d time.Duration
	switch {
	case throttled:
		d = o.RetryAfter
		if d == 0 {
			d = o.Reset
		}
	case o.Exhausted:
		d = o.Reset
	default:
		return
	}
	if d <= 0 {
		d = rl.Block()
	}
	d = min(d, t.cfg.MaxBlock)
	// A block is worth setting even when the caller has gone.
	_ = t.lim.Block(context.WithoutCancel(ctx), key, now.Add(d))
}

// peek reads up to n bytes of resp's body and puts them back in front: the
// body then reads as it would have, a read error included.
func peek(resp *http.Response, n int) []byte {
	buf := make([]byte, n)
	k, err := io.ReadFull(resp.Body, buf)
	buf = buf[:k]
	rest := io.Reader(resp.Body)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		rest = errReader{err}
	}
	resp.Body = peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: resp.Body}
	return buf
}

type peekedBody struct {
	io.Reader
	io.Closer
}

func quotaExceeded(wait time.Duration) error {
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	e := response.New(http.StatusTooManyRequests, response.CodeUserQuotaExceeded,
		fmt.Sprintf("This user has used the quota for this integration; retry in %d s.", secs))
	e.Meta = map[string]any{"retryAfterSeconds": secs}
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// LimiterRetryAfter is the Retry-After of a 503 LIMITER_UNAVAILABLE answer.
const LimiterRetryAfter = time.Second

func limiterFailed(err error) error {
	if !errors.Is(err, limits.ErrUnavailable) {
		return err
	}
	e := response.Wrap(err, http.StatusServiceUnavailable, response.CodeLimiterUnavailable,
		"The shared rate limiter is unavailable; nothing was sent.")
	e.RetryAfter = LimiterRetryAfter
	return e
}
