package tokens

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrSealed is returned (wrapped) by a Sealed store when a stored credential
// cannot be opened: its key id is not in the KeyRing, it was altered, it was
// moved to another connection's row, or it was stored unsealed.
var ErrSealed = errors.New("tokens: sealed credential cannot be opened")

// KeyRing holds the keys of a Sealed store.
type KeyRing struct {
	// Keys maps a key id to a 32-byte AES-256 key. Ids are non-empty and
	// contain no ':'. Keep retired keys here as long as values sealed with
	// them may remain in the store.
	Keys map[string][]byte
	// Current is the id of the key that seals new writes; it must be in Keys.
	Current string
}

// sealedPrefix starts every sealed value: "v1:<key id>:<base64url(nonce|ciphertext)>".
const sealedPrefix = "v1"

// Sealed is a Store decorator that encrypts credentials at rest with
// AES-256-GCM, so the backing store (and its backups) hold no plaintext
// secret. What it hands the backing store has a Credential whose only set
// field is Sealed; ids, Fields, Status, Version and timestamps stay in the
// clear. The connection's key is the additional authenticated data, so a
// sealed value copied to another row fails to open.
//
// Rotation: add a new key to the KeyRing and make it Current. New writes use
// it; values sealed under older keys still open, and are resealed with the
// current key the next time they are saved (a token refresh does that).
//
// Migration from an unsealed store: Get each connection from the plain store
// and Save it through the Sealed one, Version unchanged (a compare-and-swap
// update). Until then, Get on an unsealed row fails with ErrSealed.
//
// Sealed is safe for concurrent use.
type Sealed struct {
	store   Store
	aeads   map[string]cipher.AEAD
	current string
}

var (
	_ Store       = (*Sealed)(nil)
	_ Invalidator = (*Sealed)(nil)
)

// NewSealed returns an encrypting decorator of s. It checks ring: every key 32
// bytes, ids non-empty and without ':', Current present. It copies the keys.
func NewSealed(s Store, ring KeyRing) (*Sealed, error) {
	if s == nil {
		return nil, errors.New("tokens: sealed: nil store")
	}
	if len(ring.Keys) == 0 {
		return nil, errors.New("tokens: sealed: key ring has no keys")
	}
	aeads := make(map[string]cipher.AEAD, len(ring.Keys))
	for id, key := range ring.Keys {
		if id == "" || strings.Contains(id, ":") {
			return nil, fmt.Errorf("tokens: sealed: key id %q must be non-empty and without ':'", id)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("tokens: sealed: key %q has %d bytes, want 32", id, len(key))
		}
		block, err := aes.NewCipher(append([]byte(nil), key...))
		if err != nil {
			return nil, fmt.Errorf("tokens: sealed: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("tokens: sealed: key %q: %w", id, err)
		}
		aeads[id] = aead
	}
	if _, ok := aeads[ring.Current]; !ok {
		return nil, fmt.Errorf("tokens: sealed: current key %q is not in the key ring", ring.Current)
	}
	return &Sealed{store: s, aeads: aeads, current: ring.Current}, nil
}

// additionalData binds a sealed value to the connection's key. JSON keeps the
// encoding unambiguous whatever the ids contain.
func additionalData(k Key) []byte {
	b, _ := json.Marshal([4]string{k.Project, k.User, k.Integration, k.ID})
	return b
}

// seal returns the sealed form of cred for the connection named k.
func (s *Sealed) seal(k Key, cred Credential) (string, error) {
	cred.Sealed = ""
	plain, err := json.Marshal(cred)
	if err != nil {
		return "", errors.New("tokens: sealed: cannot encode credential")
	}
	defer clear(plain)
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce) // never fails
	box := aead.Seal(nonce, nonce, plain, additionalData(k))
	return sealedPrefix + ":" + s.current + ":" + base64.RawURLEncoding.EncodeToString(box), nil
}

// open returns the credential sealed in sealed for the connection named k.
// Its errors wrap ErrSealed and name no secret.
func (s *Sealed) open(k Key, sealed string) (Credential, error) {
	if sealed == "" {
		return Credential{}, fmt.Errorf("%w: %s: stored unsealed", ErrSealed, k)
	}
	version, rest, _ := strings.Cut(sealed, ":")
	id, b64, ok := strings.Cut(rest, ":")
	if version != sealedPrefix || !ok {
		return Credential{}, fmt.Errorf("%w: %s: unknown format", ErrSealed, k)
	}
	aead, ok := s.aeads[id]
	if !ok {
		return Credential{}, fmt.Errorf("%w: %s: unknown key id %q", ErrSealed, k, id)
	}
	box, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(box) < aead.NonceSize()+aead.Overhead() {
		return Credential{}, fmt.Errorf("%w: %s: malformed", ErrSealed, k)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, box[:n], box[n:], additionalData(k))
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s: authentication failed", ErrSealed, k)
	}
	defer clear(plain)
	var cred Credential
	if err := json.Unmarshal(plain, &cred); err != nil {
		return Credential{}, fmt.Errorf("%w: %s: malformed content", ErrSealed, k)
	}
	cred.Sealed = ""
	return cred, nil
}

// openConn replaces c's sealed credential with the opened one.
func (s *Sealed) openConn(c *Connection) error {
	cred, err := s.open(c.Key(), c.Credential.Sealed)
	if err != nil {
		return err
	}
	c.Credential = cred
	return nil
}

// Get implements Store.
func (s *Sealed) Get(ctx context.Context, k Key) (*Connection, error) {
	c, err := s.store.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	if err := s.openConn(c); err != nil {
		return nil, err
	}
	return c, nil
}

// List implements Store. One credential that fails to open fails the List.
func (s *Sealed) List(ctx context.Context, project, user string) ([]*Connection, error) {
	cs, err := s.store.List(ctx, project, user)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := s.openConn(c); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// Save implements Store. A create with an empty ID gets its random id here,
// before sealing, since the id is part of what the seal is bound to.
func (s *Sealed) Save(ctx context.Context, c *Connection) error {
	inner := c.Clone()
	if inner.ID == "" && inner.Version == 0 {
		inner.ID = NewID()
	}
	sealed, err := s.seal(inner.Key(), c.Credential)
	if err != nil {
		return err
	}
	// Expiry and ObtainedAt stay readable (times, not secrets) so the
	// backing store can index the connection for a KeepAlive (Schedule).
	inner.Credential = Credential{Sealed: sealed, Expiry: c.Credential.Expiry, ObtainedAt: c.Credential.ObtainedAt}
	if err := s.store.Save(ctx, inner); err != nil {
		return err
	}
	c.ID = inner.ID
	c.Version = inner.Version
	c.CreatedAt = inner.CreatedAt
	c.UpdatedAt = inner.UpdatedAt
	return nil
}

// Delete implements Store.
func (s *Sealed) Delete(ctx context.Context, k Key) error {
	return s.store.Delete(ctx, k)
}

// Invalidate implements Invalidator: it passes k on to the backing store when
// that caches, and does nothing otherwise.
func (s *Sealed) Invalidate(ctx context.Context, k Key) {
	if inv, ok := s.store.(Invalidator); ok {
		inv.Invalidate(ctx, k)
	}
}

// Unwrap returns the backing store (IndexOf finds its DueIndex through it).
func (s *Sealed) Unwrap() Store { return s.store }

// SealCredential returns cred sealed with the current key for the record
// named k (its additional authenticated data): for code that keeps a
// credential outside the Store, such as a connect flow's pending
// connection in a shared state store. OpenCredential reverses it.
func (s *Sealed) SealCredential(k Key, cred Credential) (string, error) { return s.seal(k, cred) }

// OpenCredential opens what SealCredential returned for the same k. Its
// errors wrap ErrSealed and name no secret.
func (s *Sealed) OpenCredential(k Key, sealed string) (Credential, error) { return s.open(k, sealed) }
