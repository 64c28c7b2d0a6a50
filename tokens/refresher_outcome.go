package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// This file holds how a refresh ends: saving the new token, marking a
// connection for re-authorization, cooling down after a transient failure.

// commit saves base with tok applied, compare-and-swap. On a conflict it
// re-reads and applies tok again: with rotating refresh tokens, tok holds the
// only live refresh token, so it is never dropped while the stored grant is
// the one tok came from. If the save fails for good, tok is kept in memory
// for the connection's next refresh. obtained is when tok was obtained.
func (r *Refresher) commit(ctx context.Context, ev RefreshEvent, start time.Time, base *Connection, tok *oauth2.Token, obtained time.Time, rejected string) (flightResult, error) {
	next := refreshed(base, tok, obtained)
	var err error
	for try := 1; ; try++ {
		if err = r.store.Save(ctx, next); err == nil {
			r.clearCooldown(ev.Key)
			r.dropPending(ev.Key)
			ev.Duration = r.now().Sub(start)
			if r.onRefresh != nil {
				r.onRefresh(ev)
			}
			return flightResult{conn: next, rejected: rejected}, nil
		}
		if !errors.Is(err, ErrConflict) || try == saveTries {
			break
		}
		var fresh *Connection
		if fresh, err = r.store.Get(ctx, ev.Key); err != nil {
			break
		}
		if fresh.Credential.RefreshToken != base.Credential.RefreshToken {
			// Re-authorized meanwhile (a new grant): its credential wins.
			if !fresh.Active() {
				return flightResult{}, fmt.Errorf("%w: %s", ErrReauthRequired, ev.Key)
			}
			return flightResult{conn: fresh, rejected: rejected}, nil
		}
		next = refreshed(fresh, tok, obtained)
	}
	r.putPending(ev.Key, pendingToken{from: base.Credential.RefreshToken, tok: tok, at: obtained})
	fail := r.storeError(ctx, ev.Key, "saving the refreshed token", err)
	r.failed(ev, start, fail)
	return flightResult{}, fail
}

// refreshed returns a copy of c with tok applied and its refresh intent
// cleared: the record of a completed refresh.
func refreshed(c *Connection, tok *oauth2.Token, obtained time.Time) *Connection {
	next := c.Clone()
	next.Credential = obtainedCredential(next.Credential, tok, obtained)
	next.Refreshing, next.Reason = nil, ""
	next.Failures, next.LastError = 0, ""
	return next
}

// obtainedCredential returns cred with tok applied, obtained at the given
// time (stored without a monotonic clock reading).
func obtainedCredential(cred Credential, tok *oauth2.Token, obtained time.Time) Credential {
	cred = cred.WithOAuth2Token(tok)
	cred.ObtainedAt = obtained.Round(0)
	return cred
}

// grantFailed handles a Grant's error: a gone grant marks the connection
// StatusNeedsReauth, with ReasonRefreshLost when the refresh token was one a
// previous holder had spent without saving the answer (lost); anything else
// starts the connection's cooldown and leaves the refresh intent in place,
// since the token endpoint may have answered a request it never saw the end
// of.
func (r *Refresher) grantFailed(ctx context.Context, ev RefreshEvent, start time.Time, base *Connection, err error, lost bool) error {
	if isReauth(err) {
		reason := ReasonGrantRejected
		if lost {
			reason = ReasonRefreshLost
		}
		if changed := r.markReauth(ctx, base, reason); changed {
			// The grant was replaced while we refreshed: not a reason to
			// ask the user again, and not worth a cooldown either.
			fail := newRefreshError(ErrRefreshFailed, ev.Key, "connection changed during the refresh", nil)
			r.failed(ev, start, fail)
			return fail
		}
		ev.NeedsReauth = true
		var fail error
		if lost {
			fail = newRefreshError(ErrReauthRequired, ev.Key, "refresh lost in a crash: "+describe(err), err, ErrRefreshLost)
		} else {
			fail = newRefreshError(ErrReauthRequired, ev.Key, describe(err), err)
		}
		r.failed(ev, start, fail)
		return fail
	}
	r.setCooldown(ev.Key)
	var fail error
	if isTimeout(ctx, err) {
		fail = timeoutError(ev.Key, describe(err), err)
	} else {
		fail = newRefreshError(ErrRefreshFailed, ev.Key, describe(err), err)
	}
	r.failed(ev, start, fail)
	return fail
}

// markReauth saves base as StatusNeedsReauth, compare-and-swap, re-reading on
// conflicts. It reports changed when the stored grant is no longer base's
// (someone connected again meanwhile), which it leaves alone. A store
// failure leaves the connection unmarked: the next refresh finds out again.
func (r *Refresher) markReauth(ctx context.Context, base *Connection, reason string) (changed bool) {
	c := base.Clone()
	for try := 1; try <= saveTries; try++ {
		c.Status, c.Reason, c.Refreshing = StatusNeedsReauth, reason, nil
		err := r.store.Save(ctx, c)
		if err == nil || !errors.Is(err, ErrConflict) {
			return false
		}
		if c, err = r.store.Get(ctx, base.Key()); err != nil {
			return false
		}
		if c.Credential.RefreshToken != base.Credential.RefreshToken {
			return true
		}
	}
	return false
}

// failed calls OnRefreshFailed.
func (r *Refresher) failed(ev RefreshEvent, start time.Time, err error) {
	if r.onFailed != nil {
		ev.Duration = r.now().Sub(start)
		r.onFailed(ev, err)
	}
}

// storeError wraps a store's error met during a refresh, or reports the
// refresh timeout when that is what ended it.
func (r *Refresher) storeError(ctx context.Context, key Key, what string, err error) error {
	if isTimeout(ctx, err) {
		return timeoutError(key, what, err)
	}
	return fmt.Errorf("tokens: refresh of %s: %s: %w", key, what, err)
}

// cooling returns a *CooldownError while key cools down.
func (r *Refresher) cooling(key Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.cooldowns[key]
	if !ok {
		return nil
	}
	left := until.Sub(r.now())
	if left <= 0 {
		delete(r.cooldowns, key)
		return nil
	}
	return &CooldownError{RetryAfter: left, Key: key}
}

// setCooldown starts key's cooldown, and sweeps expired ones at most once a
// Cooldown period, so the map holds only connections that failed recently.
func (r *Refresher) setCooldown(key Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.swept) >= r.cooldown {
		for k, until := range r.cooldowns {
			if !until.After(now) {
				delete(r.cooldowns, k)
			}
		}
		r.swept = now
	}
	r.cooldowns[key] = now.Add(r.cooldown)
}

// clearCooldown ends key's cooldown after a success.
func (r *Refresher) clearCooldown(key Key) {
	r.mu.Lock()
	delete(r.cooldowns, key)
	r.mu.Unlock()
}

func (r *Refresher) putPending(key Key, p pendingToken) {
	r.mu.Lock()
	r.pending[key] = p
	r.mu.Unlock()
}

// pendingFor returns key's pending token if it was obtained with
// refreshToken, the stored one; a pending token obtained with another is
// stale (the store moved on) and is dropped.
func (r *Refresher) pendingFor(key Key, refreshToken string) (pendingToken, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pending[key]
	if ok && p.from != refreshToken {
		delete(r.pending, key)
		return pendingToken{}, false
	}
	return p, ok
}

// dropPending forgets key's pending token, once a refresh of key was saved.
func (r *Refresher) dropPending(key Key) {
	r.mu.Lock()
	delete(r.pending, key)
	r.mu.Unlock()
}
