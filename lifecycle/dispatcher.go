package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Endpoint is a webhook receiver of the host app.
type Endpoint struct {
	// URL receives a POST of each event's JSON; an absolute http(s) URL.
	URL string
	// Secret keys the HMAC-SHA256 signature (SignatureHeader); required.
	// Share it with the receiver only; use at least 32 random bytes.
	Secret string
}

// DispatcherConfig configures NewDispatcher. Outbox and Endpoints are
// required; every other zero value is a safe default.
type DispatcherConfig struct {
	// Outbox is drained; share it with the Emitter.
	Outbox Outbox
	// Endpoints receive every event. An event is done when each has
	// answered 2xx; a retry goes only to the endpoints that have not.
	Endpoints []Endpoint
	// HTTPClient posts the events. Nil means a client over a clone of
	// http.DefaultTransport with Proxy nil: webhooks never go through a
	// proxy named by HTTP_PROXY or HTTPS_PROXY. A client of your own is used
	// as is. Redirects are not followed either way.
	HTTPClient *http.Client
	// AttemptTimeout bounds one POST. Zero means 10 seconds.
	AttemptTimeout time.Duration
	// PollInterval is how often the Outbox is asked for due entries when
	// the last claim found none. Zero means 1 second.
	PollInterval time.Duration
	// BatchSize is how many entries one claim takes and delivers at once.
	// Zero means 16.
	BatchSize int
	// Lease hides a claimed entry from other Dispatchers; one that dies
	// mid-delivery has its entries delivered by another after the lease.
	// Zero means 1 minute; it must exceed AttemptTimeout times the number
	// of Endpoints.
	Lease time.Duration
	// RetryBase and RetryMax shape the backoff between failed rounds:
	// RetryBase × 2^(n-1) after the n-th, capped at RetryMax, with jitter
	// (a random point in the upper half). Zero means 5 seconds and 1 hour.
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how many failed rounds an event gets before it is
	// dropped (logged, and OnGiveUp called). Zero means 25 (about a day
	// with the default backoff).
	MaxAttempts int
	// OnGiveUp, when not nil, is called with an event dropped after
	// MaxAttempts.
	OnGiveUp func(Event)
	// Logger receives delivery failures (URL host, status, never a secret);
	// nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Dispatcher delivers the Outbox's events to the webhook Endpoints, signed,
// at least once: an event is removed from the Outbox only after every
// endpoint accepted it, so a crash, a restart or a receiver that is down
// delays an event but does not lose it, and may deliver it again (receivers
// de-duplicate by EventIDHeader). Several Dispatchers, in one process or
// many, may drain one shared Outbox. Build it with NewDispatcher, then
// Start it; Close stops it.
type Dispatcher struct {
	cfg    DispatcherConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
}

// NewDispatcher checks cfg and returns a Dispatcher, not started.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("lifecycle: DispatcherConfig.Outbox is required")
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("lifecycle: DispatcherConfig.Endpoints is empty")
	}
	for i, ep := range cfg.Endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("lifecycle: Endpoints[%d].URL is not an absolute http(s) URL", i)
		}
		if ep.Secret == "" {
			return nil, fmt.Errorf("lifecycle: Endpoints[%d].Secret is required", i)
		}
	}
	if cfg.AttemptTimeout < 0 || cfg.PollInterval < 0 || cfg.BatchSize < 0 || cfg.Lease < 0 ||
		cfg.RetryBase < 0 || cfg.RetryMax < 0 || cfg.MaxAttempts < 0 {
		return nil, errors.New("lifecycle: negative value in DispatcherConfig")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.AttemptTimeout, 10*time.Second)
	def(&cfg.PollInterval, time.Second)
	def(&cfg.Lease, time.Minute)
	def(&cfg.RetryBase, 5*time.Second)
	def(&cfg.RetryMax, time.Hour)
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 16
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 25
	}
	if cfg.Lease <= cfg.AttemptTimeout*time.Duration(len(cfg.Endpoints)) {
		return nil, errors.New("lifecycle: DispatcherConfig.Lease must exceed AttemptTimeout × len(Endpoints)")
	}
	if cfg.RetryMax < cfg.RetryBase {
		return nil, errors.New("lifecycle: DispatcherConfig.RetryMax is below RetryBase")
	}
	d := &Dispatcher{cfg: cfg, client: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1)}
	if d.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		d.client = &http.Client{Transport: tr}
	}
	c := *d.client // our copy: no redirects followed
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.client = &c
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// Start runs the delivery loop in a goroutine until Close. Starting a
// started Dispatcher does nothing.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go d.loop(ctx, d.done)
}

// Notify asks a started Dispatcher to claim now rather than at its next
// poll, as after an Emit in this process. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Close stops the loop and waits for it. Deliveries in flight are abandoned
// and their entries made due again at once, for the next Dispatcher. Close
// is idempotent; a closed Dispatcher can be started again.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel, d.done = nil, nil
	d.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

func (d *Dispatcher) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("lifecycle: outbox claim failed", "err", err)
		}
		wait := d.cfg.PollInterval
		if n == d.cfg.BatchSize && err == nil {
			wait = 0 // more may be due
		}
		t.Reset(wait)
	}
}

// RunOnce claims one batch of due entries and delivers it, returning how
// many it claimed. The loop of Start calls it; call it yourself to drain an
// Outbox without the loop (tests, a cron job).
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	entries, err := d.cfg.Outbox.Claim(ctx, ClaimRequest{Now: d.now(), Limit: d.cfg.BatchSize, Lease: d.cfg.Lease})
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() { d.deliver(ctx, e) })
	}
	wg.Wait()
	return len(entries), nil
}

// deliver posts e to the endpoints that have not accepted it, then acks or
// reschedules it.
func (d *Dispatcher) deliver(ctx context.Context, e Entry) {
	body, err := json.Marshal(e.Event)
	if err != nil { // cannot happen: Event is plain data
		d.finish(ctx, e, false, false)
		return
	}
	allOK := true
	for _, ep := range d.cfg.Endpoints {
		if slices.Contains(e.Delivered, ep.URL) {
			continue
		}
		if err := d.post(ctx, ep, e, body); err != nil {
			allOK = false
			if ctx.Err() != nil {
				break
			}
			d.log.Warn("lifecycle: webhook delivery failed", "event", e.Event.ID, "type", string(e.Event.Type),
				"endpoint", hostOf(ep.URL), "attempt", e.Attempts+1, "err", err)
			continue
		}
		e.Delivered = append(e.Delivered, ep.URL)
	}
	d.finish(ctx, e, allOK, ctx.Err() != nil)
}

// finish acks a delivered entry, or reschedules it: at once and without
// counting the round when the Dispatcher is closing, else after a backoff
// (or drops it after MaxAttempts).
func (d *Dispatcher) finish(ctx context.Context, e Entry, ok, closing bool) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	switch {
	case ok:
		err = d.cfg.Outbox.Ack(sctx, e.Event.ID)
	case closing:
		err = d.cfg.Outbox.Nack(sctx, e, d.now())
	default:
		e.Attempts++
		if e.Attempts >= d.cfg.MaxAttempts {
			d.log.Error("lifecycle: webhook event dropped after its last attempt", "event", e.Event.ID,
				"type", string(e.Event.Type), "attempts", e.Attempts)
			if err = d.cfg.Outbox.Ack(sctx, e.Event.ID); err == nil && d.cfg.OnGiveUp != nil {
				d.cfg.OnGiveUp(e.Event)
			}
			break
		}
		err = d.cfg.Outbox.Nack(sctx, e, d.now().Add(jitteredBackoff(e.Attempts, d.cfg.RetryBase, d.cfg.RetryMax)))
	}
	if err != nil {
		// The lease runs out and the entry is claimed again: a repeat,
		// never a loss.
		d.log.Warn("lifecycle: outbox update failed", "event", e.Event.ID, "err", err)
	}
}

// post sends one signed delivery; a 2xx answer is success.
func (d *Dispatcher) post(ctx context.Context, ep Endpoint, e Entry, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad endpoint URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "onbehalf-webhooks/1")
	req.Header.Set(EventIDHeader, e.Event.ID)
	req.Header.Set(EventTypeHeader, string(e.Event.Type))
	req.Header.Set(AttemptHeader, strconv.Itoa(e.Attempts+1))
	req.Header.Set(SignatureHeader, Sign(ep.Secret, d.now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("request failed: %w", ue.Err) // the URL, which may hold a token, left out
		}
		return errors.New("request failed")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// hostOf returns the host of a URL, for logs: a URL's path or query may
// hold a token of the receiver's.
func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return ""
}
