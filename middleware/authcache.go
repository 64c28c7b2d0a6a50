package middleware

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache holds the principals of verified tokens. It is bounded:
// when full, expired and stale entries go first, then arbitrary ones.
type verifiedCache struct {
	mu  sync.RWMutex
	m   map[verifiedKey]Principal
	gen uint64 // the key generation the entries were verified under
	max int
}

// verifiedKey names a token for one project: a token verified for project A
// is never served for project B.
type verifiedKey struct {
	project *authProject
	sum     [sha256.Size]byte
}

// get returns the principal cached for k, if it was verified under key
// generation gen and its token has not reached exp at now.
func (c *verifiedCache) get(k verifiedKey, gen uint64, now time.Time) (Principal, bool) {
	c.mu.RLock()
	p, ok := c.m[k]
	fresh := c.gen == gen
	c.mu.RUnlock()
	if !ok || !fresh || !now.Before(p.ExpiresAt) {
		return Principal{}, false
	}
	return p, true
}

func (c *verifiedCache) put(k verifiedKey, p Principal, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return // verified under keys that have changed since
	case gen > c.gen:
		clear(c.m) // the keys changed: nothing verified before counts
		c.gen = gen
	}
	if len(c.m) >= c.max {
		for ek, ep := range c.m {
			if !now.Before(ep.ExpiresAt) {
				delete(c.m, ek)
			}
		}
		// Still full: drop an arbitrary eighth (map order is unspecified).
		for ek := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, ek)
		}
	}
	c.m[k] = p
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
