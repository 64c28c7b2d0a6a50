package onbehalftest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/onbehalf/onbehalf/middleware"
)

// Signer mints user tokens the way a host app's backend does: RS256 JWTs
// with sub, iat, exp and aud "useparagon.com/{project}".
type Signer struct {
	key   *rsa.PrivateKey
	jwk   jwk.Key
	kid   string
	clock func() time.Time
}

// NewSigner generates a fresh 2048-bit RSA signing key with key id kid ("" for none).
func NewSigner(kid string) (*Signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return NewSignerFromKey(k, kid)
}

// NewSignerFromKey wraps an existing RSA private key.
func NewSignerFromKey(k *rsa.PrivateKey, kid string) (*Signer, error) {
	jk, err := jwk.FromRaw(k)
	if err != nil {
		return nil, err
	}
	if kid != "" {
		if err := jk.Set(jwk.KeyIDKey, kid); err != nil {
			return nil, err
		}
	}
	return &Signer{key: k, jwk: jk, kid: kid, clock: time.Now}, nil
}

// PrivateKeyPEM returns the signing key as a PKCS#8 PEM block.
func (s *Signer) PrivateKeyPEM() string {
	der, _ := x509.MarshalPKCS8PrivateKey(s.key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// PublicKeyPEM returns the verification key as a PKIX PEM block.
func (s *Signer) PublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// KeyConfig returns the verification key for middleware.ProjectConfig.Keys.
func (s *Signer) KeyConfig() middleware.KeyConfig {
	return middleware.KeyConfig{PEM: s.PublicKeyPEM(), KID: s.kid}
}

// TokenOptions adjusts a minted token.
type TokenOptions struct {
	// TTL is exp - iat; zero means one hour.
	TTL time.Duration
	// IssuedAt overrides iat (and so exp); zero means now.
	IssuedAt time.Time
	// Audience overrides aud; "" means "useparagon.com/{project}", "-" means none.
	Audience string
	// Claims are further claims, such as middleware.PermissionsClaim.
	Claims map[string]any
}

// Token mints a user token for user in project.
func (s *Signer) Token(project, user string, opts ...TokenOptions) (string, error) {
	var o TokenOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = s.clock()
	}
	b := jwt.NewBuilder().Subject(user).IssuedAt(iat).Expiration(iat.Add(o.TTL))
	switch o.Audience {
	case "":
		b = b.Audience([]string{"useparagon.com/" + project})
	case "-":
	default:
		b = b.Audience([]string{o.Audience})
	}
	for k, v := range o.Claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, s.jwk))
	if err != nil {
		return "", fmt.Errorf("onbehalftest: sign: %w", err)
	}
	return string(signed), nil
}

// MustToken is Token that panics on error, for tests.
func (s *Signer) MustToken(project, user string, opts ...TokenOptions) string {
	t, err := s.Token(project, user, opts...)
	if err != nil {
		panic(err)
	}
	return t
}

// NewSignerFromPEM parses a PEM RSA private key (PKCS#1 or PKCS#8).
func NewSignerFromPEM(pemData, kid string) (*Signer, error) {
	block, _ := pem.Decode([]byte(pemData))
	if block == nil {
		return nil, fmt.Errorf("onbehalftest: no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return NewSignerFromKey(k, kid)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("onbehalftest: not an RSA private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("onbehalftest: not an RSA private key")
	}
	return NewSignerFromKey(rk, kid)
}

// Sign signs arbitrary claims with RS256 (and the signer's kid), for tests of
// tokens that Token will not mint: missing or odd claims.
func (s *Signer) Sign(claims map[string]any) (string, error) {
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			return "", err
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, s.jwk))
	if err != nil {
		return "", fmt.Errorf("onbehalftest: sign: %w", err)
	}
	return string(signed), nil
}

// PublicJWK returns the verification key as a JSON Web Key.
func (s *Signer) PublicJWK() json.RawMessage {
	pub, _ := s.jwk.PublicKey()
	b, _ := json.Marshal(pub)
	return b
}
