package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// KeyConfig is one user-token verification key of a project. Exactly one of
// PEM and JWK is set. A project may list several keys at once, so a new key
// can be added before the old one is retired.
type KeyConfig struct {
	// PEM is a public key ("PUBLIC KEY", "RSA PUBLIC KEY") or certificate; a
	// private key is accepted and only its public half is kept.
	PEM string `json:"pem,omitempty"`
	// JWK is one JSON Web Key.
	JWK json.RawMessage `json:"jwk,omitempty"`
	// KID overrides the key id; tokens naming a kid are checked only against
	// keys with that id, tokens without one against every key.
	KID string `json:"kid,omitempty"`
	// Alg is the one signature algorithm the key accepts. "" means the key's
	// own "alg" (JWK), else RS256 for RSA keys, ES256/ES384/ES512 by EC curve,
	// EdDSA for Ed25519. Symmetric (HMAC) keys are refused.
	Alg string `json:"alg,omitempty"`
}

// loadKey parses a KeyConfig into a public jwk.Key with its alg set.
func loadKey(kc KeyConfig) (jwk.Key, error) {
	var (
		k   jwk.Key
		err error
	)
	switch {
	case kc.PEM != "" && len(kc.JWK) > 0:
		return nil, errors.New("set pem or jwk, not both")
	case kc.PEM != "":
		k, err = jwk.ParseKey([]byte(kc.PEM), jwk.WithPEM(true))
	case len(kc.JWK) > 0:
		k, err = jwk.ParseKey(kc.JWK)
	default:
		return nil, errors.New("a key needs pem or jwk")
	}
	if err != nil {
		return nil, errors.New("cannot parse key")
	}
	if kc.Alg != "" {
		if err := k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(kc.Alg)); err != nil {
			return nil, err
		}
	}
	if kc.KID != "" {
		if err := k.Set(jwk.KeyIDKey, kc.KID); err != nil {
			return nil, err
		}
	}
	return publicWithAlg(k)
}

// publicWithAlg returns the public key of k with an explicit asymmetric alg,
// refusing symmetric keys and algorithms that do not fit the key type.
func publicWithAlg(k jwk.Key) (jwk.Key, error) {
	if k.KeyType() == jwa.OctetSeq {
		return nil, errors.New("symmetric keys are not accepted: user tokens are signed with an asymmetric key")
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, errors.New("cannot derive the public key")
	}
	alg := jwa.SignatureAlgorithm(k.Algorithm().String())
	if alg == "" {
		alg, err = defaultAlg(pub)
		if err != nil {
			return nil, err
		}
	}
	if !algFits(pub.KeyType(), alg) {
		return nil, fmt.Errorf("algorithm %s does not fit a %s key", alg, pub.KeyType())
	}
	if err := pub.Set(jwk.AlgorithmKey, alg); err != nil {
		return nil, err
	}
	return pub, nil
}

func defaultAlg(k jwk.Key) (jwa.SignatureAlgorithm, error) {
	switch k.KeyType() {
	case jwa.RSA:
		return jwa.RS256, nil
	case jwa.EC:
		var raw ecdsa.PublicKey
		if err := k.Raw(&raw); err != nil {
			return "", errors.New("cannot read EC key")
		}
		switch raw.Curve {
		case elliptic.P256():
			return jwa.ES256, nil
		case elliptic.P384():
			return jwa.ES384, nil
		case elliptic.P521():
			return jwa.ES512, nil
		}
		return "", errors.New("unsupported EC curve")
	case jwa.OKP:
		return jwa.EdDSA, nil
	}
	return "", fmt.Errorf("unsupported key type %s", k.KeyType())
}

func algFits(kt jwa.KeyType, alg jwa.SignatureAlgorithm) bool {
	switch kt {
	case jwa.RSA:
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return true
		}
	case jwa.EC:
		switch alg {
		case jwa.ES256, jwa.ES384, jwa.ES512:
			return true
		}
	case jwa.OKP:
		return alg == jwa.EdDSA
	}
	return false
}

// keyRing is one project's verification keys: static keys and, optionally, a
// JWKS URL kept fresh by jwx's cache.
type keyRing struct {
	static jwk.Set
	jwks   string
	cache  *jwk.Cache

	mu          sync.Mutex
	lastRefresh time.Time
	// fetched is the fingerprint of the last fetched JWKS; onChange is
	// called when a fetch brings a different one (the Auth stage then stops
	// serving tokens it verified under the old keys).
	fetched  [sha256.Size]byte
	onChange func()
}

// minUnknownKidRefresh bounds how often an unknown kid may trigger a JWKS fetch.
const minUnknownKidRefresh = 30 * time.Second

// provider returns the jws.KeyProvider for one verification: keys with the
// token's kid (every key when it has none), trying a JWKS refresh once when a
// kid is unknown.
func (kr *keyRing) provider() jws.KeyProvider {
	return jws.KeyProviderFunc(func(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		kid := sig.ProtectedHeaders().KeyID()
		found := addKeys(sink, kr.static, kid)
		if kr.jwks == "" {
			if !found {
				return errUnknownKey
			}
			return nil
		}
		set, err := kr.cache.Get(ctx, kr.jwks)
		if err == nil && addKeys(sink, set, kid) {
			found = true
		}
		if !found && kid != "" && kr.mayRefresh() {
			if set, err = kr.cache.Refresh(ctx, kr.jwks); err == nil && addKeys(sink, set, kid) {
				found = true
			}
		}
		if !found {
			return errUnknownKey
		}
		return nil
	})
}

var errUnknownKey = errors.New("no verification key matches the token")

func (kr *keyRing) mayRefresh() bool {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if time.Since(kr.lastRefresh) < minUnknownKidRefresh {
		return false
	}
	kr.lastRefresh = time.Now()
	return true
}

// addKeys offers the keys of set that match kid (all keys when kid is "")
// with their one algorithm, and reports whether it offered any.
func addKeys(sink jws.KeySink, set jwk.Set, kid string) bool {
	if set == nil {
		return false
	}
	found := false
	for i := range set.Len() {
		k, _ := set.Key(i)
		if kid != "" && k.KeyID() != kid {
			continue
		}
		alg := jwa.SignatureAlgorithm(k.Algorithm().String())
		if alg == "" || !algFits(k.KeyType(), alg) {
			continue
		}
		sink.Key(alg, k)
		found = true
	}
	return found
}

// postFetch keeps only public asymmetric keys of a fetched JWKS and gives
// each its one algorithm. It runs on every fetch (first use, refresh on an
// unknown kid, jwx's periodic refresh) and reports a changed key set.
func (kr *keyRing) postFetch(_ string, set jwk.Set) (jwk.Set, error) {
	out := jwk.NewSet()
	for i := range set.Len() {
		k, _ := set.Key(i)
		if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		pub, err := publicWithAlg(k)
		if err != nil {
			continue
		}
		_ = out.AddKey(pub)
	}
	// A fingerprint that cannot be computed counts as a change.
	var fp [sha256.Size]byte
	if b, err := json.Marshal(out); err == nil {
		fp = sha256.Sum256(b)
	}
	kr.mu.Lock()
	changed := fp != kr.fetched || fp == [sha256.Size]byte{}
	kr.fetched = fp
	kr.mu.Unlock()
	if changed && kr.onChange != nil {
		kr.onChange()
	}
	return out, nil
}

// jwksTransport is http.DefaultTransport's configuration with Proxy nil: a
// JWKS decides which user tokens are accepted, and an HTTP_PROXY or
// HTTPS_PROXY left in the process environment must not let a third party
// see or answer its fetch.
var jwksTransport = sync.OnceValue(func() http.RoundTripper {
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t := dt.Clone()
		t.Proxy = nil
		return t
	}
	return &http.Transport{ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second}
})

// jwksClient returns c when it has a Transport of its own (the caller's
// explicit choice, used as is), else a copy of c, or a new client when c is
// nil, whose Transport is jwksTransport. c is not modified.
func jwksClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Transport: jwksTransport(), Timeout: 10 * time.Second}
	}
	if c.Transport != nil {
		return c
	}
	cc := *c
	cc.Transport = jwksTransport()
	return &cc
}

// newKeyRing builds a project's ring. The JWKS, if any, is registered with
// cache and fetched lazily on first use, through client (see jwksClient:
// never through the environment's proxy); onChange (may be nil) is called
// when a fetch changes its keys.
func newKeyRing(keys []KeyConfig, jwksURL string, cache *jwk.Cache, client *http.Client, onChange func()) (*keyRing, error) {
	kr := &keyRing{static: jwk.NewSet(), jwks: jwksURL, cache: cache, onChange: onChange}
	for i, kc := range keys {
		k, err := loadKey(kc)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if err := kr.static.AddKey(k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
	}
	if jwksURL != "" {
		err := cache.Register(jwksURL,
			jwk.WithHTTPClient(jwksClient(client)),
			jwk.WithMinRefreshInterval(5*time.Minute),
			jwk.WithPostFetcher(jwk.PostFetchFunc(kr.postFetch)))
		if err != nil {
			return nil, fmt.Errorf("jwksUrl: %w", err)
		}
	}
	if len(keys) == 0 && jwksURL == "" {
		return nil, errors.New("a project needs at least one key or a jwksUrl")
	}
	return kr, nil
}
