package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// RefresherConfig configures NewRefresher. Zero values are safe defaults.
type RefresherConfig struct {
	// Store holds the connections; required. When it implements Invalidator
	// (Cached does), a refresh invalidates the connection before re-reading it.
	Store Store
	// Locker coordinates refreshes of one connection across processes. Nil
	// means NewMemoryLocker(), which coordinates one process only: give
	// several replicas a shared Locker.
	Locker Locker
	// Margin: an access token that expires within Margin is refreshed. When
	// the token's lifetime is known (Credential.ObtainedAt), the margin is
	// at most half of it (see MaxMarginFraction), so a token is never due
	// the moment it is issued. Zero means 1 minute; negative is an error.
	Margin time.Duration
	// Timeout bounds one refresh: lock wait, token request and save. Zero
	// means 30 seconds; negative is an error.
	Timeout time.Duration
	// LeaseTTL is the lock's lease. The holder extends it every third of
	// LeaseTTL while its refresh runs (a heartbeat, when the Locker's leases
	// implement Extender, as MemoryLocker's, redisstore's and pgstore's do),
	// so a live holder keeps it however long the refresh takes, and a dead
	// holder's lease runs out at most LeaseTTL after its last heartbeat:
	// another replica then takes over. Zero means DefaultLeaseTTL (9
	// seconds, a heartbeat every 3); negative is an error. With leases that
	// cannot be extended, a holder works no longer than nine tenths of
	// LeaseTTL: set it above Timeout then.
	LeaseTTL time.Duration
	// Cooldown: after a transient refresh failure of a connection, further
	// attempts fail fast with a *CooldownError, without a token request,
	// until Cooldown has passed. Zero means 30 seconds; negative is an error.
	Cooldown time.Duration
	// HTTPClient calls the token endpoint; the Refresher puts it into the
	// Grant's context as oauth2.HTTPClient. Nil means an http.Client whose
	// Timeout is Timeout. A client whose Transport is nil (nil included) is
	// given a copy of http.DefaultTransport with Proxy nil: token requests
	// never go through a proxy named by HTTP_PROXY or HTTPS_PROXY. A
	// Transport of your own is used as is.
	HTTPClient *http.Client
	// OnRefresh, when not nil, is called after a successful refresh and
	// save. It runs in the refresh; keep it quick.
	OnRefresh func(RefreshEvent)
	// OnRefreshFailed, when not nil, is called when a refresh fails: the
	// grant is gone (NeedsReauth) or a transient failure. The error is safe
	// to log. It is not called for attempts refused by the cooldown.
	OnRefreshFailed func(RefreshEvent, error)
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// RefreshEvent describes one refresh, for OnRefresh and OnRefreshFailed.
type RefreshEvent struct {
	Key         Key           // the connection's exact key
	Forced      bool          // the upstream had rejected the access token
	Duration    time.Duration // from the start of the refresh (lock wait included) to its end
	NeedsReauth bool          // the grant is gone; the connection is now StatusNeedsReauth
}

// Refresher keeps OAuth2 connections usable: it hands back a connection as
// is while its access token is valid, and refreshes it when due, at most once
// at a time per connection (singleflight in the process, Locker across
// processes), saving the result with compare-and-swap.
//
// Refresher is safe for concurrent use. Build it once with NewRefresher.
type Refresher struct {
	store                     Store
	locker                    Locker
	margin, timeout, leaseTTL time.Duration
	heartbeat                 time.Duration // how often a holder extends its lease
	cooldown                  time.Duration
	client                    *http.Client
	onRefresh                 func(RefreshEvent)
	onFailed                  func(RefreshEvent, error)
	now                       func() time.Time
	flights                   singleflight.Group
	mu                        sync.Mutex
	cooldowns                 map[Key]time.Time // key → end of its cooldown
	swept                     time.Time         // last sweep of expired cooldowns
	pending                   map[Key]pendingToken
	flying                    int           // flights running (see Shutdown)
	shutdown                  bool          // Shutdown was called
	drained                   chan struct{} // closed when flying drops to 0 after Shutdown
}

// pendingToken is a refreshed token that could not be saved. With rotating
// refresh tokens it holds the only live refresh token, so the next refresh
// of the connection saves it instead of spending the stale one.
type pendingToken struct {
	from string // the refresh token it was obtained with
	tok  *oauth2.Token
	at   time.Time // when it was obtained
}

// DefaultLeaseTTL is the lease of a refresh when RefresherConfig.LeaseTTL
// is zero: short, because the holder extends it every third of it (3
// seconds) while it works, so a holder that died blocks its connection for
// at most this long, and a waiting replica completes the refresh within 10
// seconds of the death.
const DefaultLeaseTTL = 9 * time.Second

const (
	lockPrefix     = "onbehalf:refresh:"
	saveTries      = 4               // attempts of a compare-and-swap save under conflicts
	releaseTimeout = 5 * time.Second // bounds the lease release after the refresh
)

// NewRefresher checks cfg and returns a Refresher.
func NewRefresher(cfg RefresherConfig) (*Refresher, error) {
	if cfg.Store == nil {
		return nil, errors.New("tokens: refresher: Store is required")
	}
	if cfg.Margin < 0 || cfg.Timeout < 0 || cfg.LeaseTTL < 0 || cfg.Cooldown < 0 {
		return nil, errors.New("tokens: refresher: negative Margin, Timeout, LeaseTTL or Cooldown")
	}
	r := &Refresher{
		store: cfg.Store, locker: cfg.Locker,
		margin: cfg.Margin, timeout: cfg.Timeout, leaseTTL: cfg.LeaseTTL, cooldown: cfg.Cooldown,
		client: cfg.HTTPClient, onRefresh: cfg.OnRefresh, onFailed: cfg.OnRefreshFailed, now: cfg.Now,
		cooldowns: make(map[Key]time.Time), pending: make(map[Key]pendingToken),
	}
	if r.locker == nil {
		r.locker = NewMemoryLocker()
	}
	if r.margin == 0 {
		r.margin = time.Minute
	}
	if r.timeout == 0 {
		r.timeout = 30 * time.Second
	}
	if r.leaseTTL == 0 {
		r.leaseTTL = DefaultLeaseTTL
	}
	r.heartbeat = r.leaseTTL / 3
	if r.cooldown == 0 {
		r.cooldown = 30 * time.Second
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: r.timeout}
	}
	r.client = DirectClient(r.client)
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// MaxMarginFraction bounds the refresh margin by the token's lifetime: a
// token whose lifetime (Expiry - ObtainedAt) is known is refreshed once
// less than min(Margin, lifetime*MaxMarginFraction) of it is left, that is
// no earlier than halfway through its life. With 30-second tokens and the
// default one-minute Margin, a token is refreshed 15 seconds after it was
// obtained, not at once.
const MaxMarginFraction = 0.5

// Valid reports whether c needs no refresh now: it is active and has an
// access token that never expires (zero Expiry) or expires after its
// margin: Margin, capped at MaxMarginFraction of the token's lifetime when
// Credential.ObtainedAt is set.
func (r *Refresher) Valid(c *Connection) bool {
	if c == nil || !c.Active() || c.Credential.AccessToken == "" {
		return false
	}
	exp := c.Credential.Expiry
	return exp.IsZero() || r.now().Add(r.marginOf(c.Credential)).Before(exp)
}

// marginOf returns how long before its expiry cred's access token is due.
func (r *Refresher) marginOf(cred Credential) time.Duration {
	if cred.ObtainedAt.IsZero() {
		return r.margin
	}
	life := cred.Expiry.Sub(cred.ObtainedAt)
	if life <= 0 {
		return r.margin
	}
	return min(r.margin, time.Duration(float64(life)*MaxMarginFraction))
}

// due reports whether c must be refreshed, given the access token the
// upstream rejected ("" for none).
func (r *Refresher) due(c *Connection, rejected string) bool {
	return !r.Valid(c) || (rejected != "" && c.Credential.AccessToken == rejected)
}

// Fresh returns a connection whose credential can be used now.
//
// With rejected == "", a connection whose access token is valid (see Valid)
// is returned as is, without lock or store I/O; otherwise it is refreshed.
// With rejected != "", the upstream answered 401 to that access token: Fresh
// forces a refresh, unless c or the store by then holds a different, valid
// access token, which it returns. A connection that is not Active fails at
// once with ErrReauthRequired.
//
// A refresh re-reads the connection under the Locker (its lease extended by
// heartbeat), calls g only when it is still due, after saving a
// RefreshIntent on the connection, and saves the result, which clears the
// intent. An intent left by a holder that died for the same refresh token
// turns an invalid_grant answer into ErrRefreshLost (see RefreshIntent). A
// refresh runs detached from ctx, bounded by Timeout, so it completes and is
// saved even when every caller went away; a caller whose ctx ends first gets
// ctx's error, wrapped. c must have its ID.
//
// Errors wrap ErrReauthRequired (the connection is saved as
// StatusNeedsReauth with a Reason; ErrRefreshLost too when the refresh was
// lost in a crash), ErrRefreshTimeout, ErrRefreshFailed (a
// *CooldownError while the connection cools down after a transient
// failure), or the store's errors. The connection returned by a refresh is
// the caller's own copy.
func (r *Refresher) Fresh(ctx context.Context, c *Connection, g Grant, rejected string) (*Connection, error) {
	if c == nil {
		return nil, errors.New("tokens: Fresh of a nil connection")
	}
	if !c.Active() {
		return nil, fmt.Errorf("%w: %s", ErrReauthRequired, c.Key())
	}
	if !r.due(c, rejected) {
		return c, nil
	}
	key := c.Key()
	if key.ID == "" || g == nil {
		return nil, fmt.Errorf("tokens: refresh of %s needs the connection's ID and a Grant", key)
	}
	res, err := r.join(ctx, key, g, rejected)
	if err == nil && rejected != "" && res.rejected != rejected && res.conn.Credential.AccessToken == rejected {
		// We joined a flight that did not know of the rejection and kept
		// the rejected token: run one forced flight of our own.
		res, err = r.join(ctx, key, g, rejected)
	}
	if err != nil {
		return nil, err
	}
	return res.conn.Clone(), nil
}

// flightResult is what a flight shares with its callers.
type flightResult struct {
	conn     *Connection
	rejected string // the rejected access token the flight was forced by
}

// join joins the connection's flight or starts one, and waits for it with ctx.
func (r *Refresher) join(ctx context.Context, key Key, g Grant, rejected string) (flightResult, error) {
	if err := ctx.Err(); err != nil {
		return flightResult{}, fmt.Errorf("tokens: refresh of %s: %w", key, err)
	}
	if err := r.cooling(key); err != nil {
		return flightResult{}, err
	}
	ch := r.flights.DoChan(cacheKey(key), func() (any, error) {
		if !r.startFlight() {
			return nil, newRefreshError(ErrRefreshFailed, key, "refresher shut down", nil, ErrRefresherShutDown)
		}
		defer r.endFlight()
		return r.refresh(ctx, key, g, rejected)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return flightResult{}, res.Err
		}
		return res.Val.(flightResult), nil
	case <-ctx.Done():
		// The flight goes on (detached, under its own deadline) and saves
		// what it gets; this caller's deadline is what ran out: a refresh
		// timeout to it, or the caller's own cancellation.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return flightResult{}, timeoutError(key, "waiting for the refresh", ctx.Err())
		}
		return flightResult{}, fmt.Errorf("tokens: waiting for the refresh of %s: %w", key, ctx.Err())
	}
}

// refresh is one flight. See Fresh.
func (r *Refresher) refresh(parent context.Context, key Key, g Grant, rejected string) (flightResult, error) {
	ev := RefreshEvent{Key: key, Forced: rejected != ""}
	start := r.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.client)

	lease, err := r.locker.Lock(ctx, lockKey(key), r.leaseTTL)
	if err != nil {
		if isTimeout(ctx, err) {
			return flightResult{}, timeoutError(key, "waiting for the lock", err)
		}
		return flightResult{}, fmt.Errorf("%w: %s: lock: %w", ErrRefreshFailed, key, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(parent), releaseTimeout)
		defer cancel()
		_ = lease.Release(rctx) // ErrNotHeld: it expired, and then nothing is left to free
	}()
	ctx, stop := r.hold(ctx, lease)
	defer stop()
	// Another process may have failed meanwhile.
	if err := r.cooling(key); err != nil {
		return flightResult{}, err
	}

	// Re-read under the lease; when the token is still due, record the
	// intent to refresh it before calling the token endpoint.
	var base, work *Connection
	var lost bool
	for try := 1; ; try++ {
		if inv, ok := r.store.(Invalidator); ok {
			inv.Invalidate(ctx, key)
		}
		if base, err = r.store.Get(ctx, key); err != nil {
			return flightResult{}, r.storeError(ctx, key, "re-read", err)
		}
		if !base.Active() {
			return flightResult{}, fmt.Errorf("%w: %s", ErrReauthRequired, key)
		}
		work = base
		if p, ok := r.pendingFor(key, base.Credential.RefreshToken); ok {
			work = base.Clone()
			work.Credential = obtainedCredential(work.Credential, p.tok, p.at)
			if !r.due(work, rejected) {
				return r.commit(ctx, ev, start, base, p.tok, p.at, rejected)
			}
		}
		if !r.due(work, rejected) {
			return flightResult{conn: work, rejected: rejected}, nil // refreshed by someone else
		}
		rt := work.Credential.RefreshToken
		lost = lostRefresh(base, rt)
		if rt == "" {
			break // nothing to spend: no intent to record
		}
		marked, err := r.markRefreshing(ctx, base, rt)
		if err == nil {
			base = marked
			break
		}
		if !errors.Is(err, ErrConflict) || try == saveTries {
			return flightResult{}, r.storeError(ctx, key, "recording the refresh", err)
		}
	}

	tok, err := g.Token(ctx, work)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("tokens: grant returned no access token")
	}
	if err != nil {
		return flightResult{}, r.grantFailed(ctx, ev, start, base, err, lost)
	}
	obtained := r.now()
	if tok.RefreshToken == "" {
		t := *tok
		t.RefreshToken = work.Credential.RefreshToken // keep a pending rotated refresh token
		tok = &t
	}
	return r.commit(ctx, ev, start, base, tok, obtained, rejected)
}

// lockKey names a connection's refresh lease. Each part is path-escaped, so
// distinct keys never share a name (project "a/b" with user "c" and project
// "a" with user "b/c" differ).
func lockKey(k Key) string {
	return lockPrefix + url.PathEscape(k.Project) + "/" + url.PathEscape(k.User) + "/" +
		url.PathEscape(k.Integration) + "/" + url.PathEscape(k.ID)
}
