package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// Errors of state stores. Implementations wrap them with %w.
var (
	// ErrStateNotFound: no pending state under the key (never stored,
	// already taken, or dropped after expiry).
	ErrStateNotFound = errors.New("connect: state not found")
	// ErrStateStoreFull: the store refuses more pending states.
	ErrStateStoreFull = errors.New("connect: state store full")
)

// State is one started connection, kept server-side between the start call
// and the provider's callback. Verifier is a secret (the PKCE code verifier):
// never log a State.
type State struct {
	Project     string
	User        string // the user token's sub at start: the connection is saved for this user
	Integration string // the integration key
	// CredentialID names the connection a reconnect updates; "" means the
	// user's default connection of the integration (created when absent).
	CredentialID string
	Verifier     string // PKCE code verifier
	ReturnURL    string
	// Browser is the SHA-256 (hex) of the binding cookie's value set at start;
	// "" when browser binding is off.
	Browser string
	Expires time.Time
	// Session is the SDK session id of a popup install (the SDK's
	// oauthMetaKeyId); "" for other flows.
	Session string
	// Inputs are the values the user entered for the integration's
	// non-secret inputs (they become connection fields); InputCredential
	// holds the secret ones (an API key, a password). Both are validated.
	Inputs          map[string]string `json:",omitempty"`
	InputCredential tokens.Credential `json:",omitzero"`
	// Reauth records that the user connects again an account already
	// connected (the authorization URL carried auth.reauthParams).
	Reauth bool `json:",omitempty"`
	// Pending, when set, is a connection waiting for the user's choice
	// among a lookup's items: the state's key is then the chooser's, not
	// an authorization request's. It holds the new token: a State is
	// secret as a whole.
	Pending *Pending `json:",omitempty"`
}

// Pending is a connection between the token exchange and its save, kept
// server-side while the user chooses among a lookup's items (Atlassian
// sites, Xero tenants). The page shows only labels and indexes.
type Pending struct {
	Credential tokens.Credential
	Fields     map[string]string
	// Lookup is the index of the lookup whose items the user chooses among.
	Lookup int
	Items  []integrations.LookupItem
}

// StateStore keeps pending states. Keys are the SHA-256 (hex) of the state
// value sent to the provider, so a store never holds a usable state value.
// Implementations must be safe for concurrent use; for several replicas the
// store must be shared (Redis: SET with EX, then GETDEL).
type StateStore interface {
	// Put stores s under key. It may drop it after s.Expires.
	Put(ctx context.Context, key string, s State) error
	// Take returns the state under key and removes it, atomically: of
	// concurrent Takes of one key at most one succeeds. It returns an error
	// wrapping ErrStateNotFound when there is none. It may return an
	// expired state: the caller checks Expires.
	Take(ctx context.Context, key string) (State, error)
}

// MemoryStateStore is the in-memory StateStore: one process only. States
// are kept until an hour past their expiry (so a late callback is told
// "expired" rather than "invalid"), at most MaxStates at once.
type MemoryStateStore struct {
	mu  sync.Mutex
	m   map[string]State
	now func() time.Time
}

// MaxStates bounds a MemoryStateStore.
const MaxStates = 100_000

// expiredKeep is how long a MemoryStateStore keeps an expired state.
const expiredKeep = time.Hour

var _ StateStore = (*MemoryStateStore)(nil)

// NewMemoryStateStore returns an empty MemoryStateStore.
func NewMemoryStateStore() *MemoryStateStore {
	return &MemoryStateStore{m: map[string]State{}, now: time.Now}
}

// Put implements StateStore.
func (s *MemoryStateStore) Put(ctx context.Context, key string, st State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= MaxStates/2 {
		cut := s.now().Add(-expiredKeep)
		for k, v := range s.m {
			if v.Expires.Before(cut) {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) >= MaxStates {
		return ErrStateStoreFull
	}
	s.m[key] = st
	return nil
}

// Take implements StateStore.
func (s *MemoryStateStore) Take(ctx context.Context, key string) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[key]
	if !ok {
		return State{}, ErrStateNotFound
	}
	delete(s.m, key)
	return st, nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is the hex SHA-256 of s: state keys and cookie bindings.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
