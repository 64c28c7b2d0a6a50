package middleware

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
)

// PermissionsClaim is the optional user-token claim that limits what a token
// may do. Our reading (the original does not document it): an array of
// strings grants what it lists ("proxy", or "*" for everything); an object
// maps names to booleans ({"proxy": false} forbids proxy calls). A token
// without the claim may do everything.
const PermissionsClaim = "urn:useparagon:connect:permissions"

// PermissionProxy is the permission that proxy calls need.
const PermissionProxy = "proxy"

// ProjectConfig is one project: its id, the keys that verify its user tokens,
// and (for the standalone mode) its integrations.
type ProjectConfig struct {
	ID string `json:"id"`
	// Keys verify user tokens; several at once allow rotation.
	Keys []KeyConfig `json:"keys,omitempty"`
	// JWKSURL, when set, is fetched (and cached, refreshed on an unknown kid)
	// for further keys.
	JWKSURL string `json:"jwksUrl,omitempty"`
	// Audiences are accepted in the aud claim besides "useparagon.com/{ID}".
	Audiences []string `json:"audiences,omitempty"`
	// RequireAudience refuses tokens without an aud claim. It is implied when
	// a key of this project (the same public key, or the same JWKS URL) also
	// verifies another project's tokens: a token without aud could not say
	// which of them it was minted for.
	RequireAudience bool `json:"requireAudience,omitempty"`
	// Integrations are this project's integrations, used when Config.Registry
	// is nil.
	Integrations []integrations.Config `json:"integrations,omitempty"`
}

// AuthConfig configures the Auth stage.
type AuthConfig struct {
	Projects []ProjectConfig
	// ClockSkew tolerated on exp, iat and nbf. Zero means 30s; negative is an error.
	ClockSkew time.Duration
	// MaxLifetime, when positive, refuses tokens whose exp - iat exceeds it.
	// Zero means no maximum.
	MaxLifetime time.Duration
	// MaxTokenBytes refuses longer user tokens before parsing them. Zero means 8192.
	MaxTokenBytes int
	// HTTPClient fetches JWKS URLs. Nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the cache of verified user tokens. A token verified
	// once is accepted again for the same project without parsing it or
	// checking its signature, until its exp (without ClockSkew: past exp the
	// token is verified in full again) or until a JWKS fetch changes the
	// project's keys. Entries are keyed by the SHA-256 of the token; the token
	// itself is not kept. Zero means 10000 entries; negative disables the
	// cache.
	CacheSize int
}

// Auth is stage 1: it verifies the user token and stores the Principal in the
// request context. Build it once with NewAuth; mount Handler.
type Auth struct {
	projects map[string]*authProject
	skew     time.Duration
	maxLife  time.Duration
	maxBytes int
	now      func() time.Time
	cancel   context.CancelFunc
	cache    *verifiedCache // nil when disabled
	// keyGen counts changes of any project's JWKS keys; cache entries from
	// an older generation are not served.
	keyGen atomic.Uint64
}

type authProject struct {
	id          string
	ring        *keyRing
	audiences   map[string]bool
	requireAud  bool // tokens must carry an aud claim (see ProjectConfig.RequireAudience)
	fingerprint []string
}

// NewAuth validates cfg, loads every key and registers JWKS URLs.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	if cfg.ClockSkew < 0 || cfg.MaxLifetime < 0 || cfg.MaxTokenBytes < 0 {
		return nil, errors.New("middleware: auth: durations and sizes must not be negative")
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = 8192
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Auth{projects: map[string]*authProject{}, skew: cfg.ClockSkew, maxLife: cfg.MaxLifetime,
		maxBytes: cfg.MaxTokenBytes, now: cfg.Now, cancel: cancel}
	if cfg.CacheSize > 0 {
		a.cache = &verifiedCache{max: cfg.CacheSize, m: map[verifiedKey]Principal{}}
	}
	var cache *jwk.Cache
	for _, p := range cfg.Projects {
		if p.ID == "" {
			cancel()
			return nil, errors.New("middleware: auth: a project needs an id")
		}
		if _, dup := a.projects[p.ID]; dup {
			cancel()
			return nil, fmt.Errorf("middleware: auth: project %q defined twice", p.ID)
		}
		if p.JWKSURL != "" && cache == nil {
			cache = jwk.NewCache(ctx)
		}
		ring, err := newKeyRing(p.Keys, p.JWKSURL, cache, cfg.HTTPClient, func() { a.keyGen.Add(1) })
		if err != nil {
			cancel()
			return nil, fmt.Errorf("middleware: auth: project %q: %w", p.ID, err)
		}
		aud := map[string]bool{"useparagon.com/" + p.ID: true}
		for _, s := range p.Audiences {
			aud[s] = true
		}
		a.projects[p.ID] = &authProject{id: p.ID, ring: ring, audiences: aud,
			requireAud: p.RequireAudience, fingerprint: ring.fingerprints()}
	}
	if len(a.projects) == 0 {
		cancel()
		return nil, errors.New("middleware: auth: no project configured")
	}
	requireAudienceForSharedKeys(a.projects)
	return a, nil
}

// Close stops background JWKS refreshes.
func (a *Auth) Close() { a.cancel() }

// Handler is the stage as a middleware. The project comes from the Route in
// the context (see Router); without one, the only configured project is used.
func (a *Auth) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		project := ""
		if rt, ok := RouteFromContext(r.Context()); ok {
			project = rt.Project
		} else if len(a.projects) == 1 {
			for id := range a.projects {
				project = id
			}
		}
		token, err := bearer(r.Header)
		if err != nil {
			response.WriteError(w, err)
			return
		}
		p, err := a.verify(r.Context(), project, token)
		if err != nil {
			response.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, withContext(r, WithPrincipal(r.Context(), p)))
	})
}

// bearer extracts the token from "Authorization: Bearer <token>". A browser
// fetch can join a duplicate header into "Bearer a, Bearer b": that is refused.
func bearer(h http.Header) (string, error) {
	vals := h["Authorization"] // the canonical name, as h.Values would look it up
	if len(vals) == 0 {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenMissing, "Missing user token: send Authorization: Bearer <token>.")
	}
	if len(vals) > 1 {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenInvalid, "More than one Authorization header.")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenMissing, "Missing user token: send Authorization: Bearer <token>.")
	}
	if strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, ',') >= 0 {
		return "", response.New(http.StatusUnauthorized, response.CodeTokenInvalid, "Malformed user token.")
	}
	return tok, nil
}

// Verify checks a user token for project and returns its principal. Errors
// are *response.Error values that never contain the token or its claims.
// The principal's Permissions may be shared with other callers: do not
// modify it.
func (a *Auth) Verify(ctx context.Context, project, token string) (Principal, error) {
	return a.verify(ctx, project, token)
}

// VerifyUser is Verify returning the user only: it makes *Auth a
// connect.Verifier.
func (a *Auth) VerifyUser(ctx context.Context, project, token string) (string, error) {
	p, err := a.Verify(ctx, project, token)
	return p.User, err
}

// verify is Verify, through the cache of verified tokens.
func (a *Auth) verify(ctx context.Context, project, token string) (Principal, error) {
	ap := a.projects[project]
	if ap == nil {
		return Principal{}, response.New(http.StatusNotFound, response.CodeProjectNotFound,
			"Unknown project: the project id in the path is not configured here (check the id given to the SDK's configureGlobal and the handler's projects).")
	}
	if len(token) > a.maxBytes {
		return Principal{}, response.New(http.StatusUnauthorized, response.CodeTokenInvalid, "User token too large.")
	}
	if a.cache == nil {
		return a.parse(ctx, ap, token)
	}
	// The token is hashed in place (sha256 only reads it): no copy of it.
	k := verifiedKey{project: ap, sum: sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))}
	gen := a.keyGen.Load()
	now := a.now()
	if p, ok := a.cache.get(k, gen, now); ok {
		return p, nil
	}
	p, err := a.parse(ctx, ap, token)
	if err != nil {
		return p, err
	}
	// gen was read before verifying: if the keys changed meanwhile, the
	// entry is stale at once and never served.
	a.cache.put(k, p, gen, now)
	return p, nil
}

// parse parses and checks a token in full.
func (a *Auth) parse(ctx context.Context, ap *authProject, token string) (Principal, error) {
	tok, err := jwt.ParseString(token,
		jwt.WithKeyProvider(ap.ring.provider()),
		jwt.WithContext(ctx),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(a.skew),
		jwt.WithClock(jwt.ClockFunc(a.now)),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithRequiredClaim(jwt.IssuedAtKey),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return Principal{}, a.verifyError(err)
	}
	if strings.TrimSpace(tok.Subject()) == "" {
		return Principal{}, response.New(http.StatusUnauthorized, response.CodeTokenInvalid, "User token has an empty sub claim.")
	}
	if a.maxLife > 0 && tok.Expiration().Sub(tok.IssuedAt()) > a.maxLife {
		return Principal{}, response.New(http.StatusUnauthorized, response.CodeTokenInvalid, "User token lifetime exceeds the allowed maximum.")
	}
	if aud := tok.Audience(); len(aud) == 0 && ap.requireAud {
		// The key also serves another project: a token without aud may have
		// been minted for that one.
		return Principal{}, response.New(http.StatusForbidden, response.CodeProjectMismatch,
			"User token has no aud claim, and its signing key serves several projects: mint it with aud \"useparagon.com/"+ap.id+"\".")
	} else if len(aud) > 0 {
		ok := false
		for _, s := range aud {
			ok = ok || ap.audiences[s]
		}
		if !ok {
			// A token minted for another project carries that project's audience.
			return Principal{}, response.New(http.StatusForbidden, response.CodeProjectMismatch, "User token was issued for another project.")
		}
	}
	perms, _ := tok.Get(PermissionsClaim)
	return Principal{Project: ap.id, User: tok.Subject(), ExpiresAt: tok.Expiration(), Permissions: perms}, nil
}

func (a *Auth) verifyError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return response.Wrap(err, http.StatusUnauthorized, response.CodeTokenExpired, "User token expired.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	// Keep jwx's text out of the error: it may quote parts of the token.
	// Say what to do instead, from the kind of failure.
	switch {
	case jws.IsVerificationError(err) || errors.Is(err, errUnknownKey):
		return response.New(http.StatusUnauthorized, response.CodeTokenInvalid,
			"Invalid user token: its signature matches none of the project's keys. Mint it with the signing key configured for this project (a token from an earlier run, or for another environment, fails this way).")
	case jwt.IsValidationError(err):
		return response.New(http.StatusUnauthorized, response.CodeTokenInvalid,
			"Invalid user token: its claims are not valid now (sub, iat and exp are required; iat and nbf must not be in the future).")
	}
	return response.New(http.StatusUnauthorized, response.CodeTokenInvalid,
		"Invalid user token: not a signed JWT (send the token as Authorization: Bearer <token>).")
}

// Allows reports whether the principal's permissions claim grants perm.
func (p Principal) Allows(perm string) bool {
	switch v := p.Permissions.(type) {
	case nil:
		return true
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && (s == perm || s == "*") {
				return true
			}
		}
		return false
	case []string:
		for _, s := range v {
			if s == perm || s == "*" {
				return true
			}
		}
		return false
	case map[string]any:
		if b, ok := v[perm].(bool); ok {
			return b
		}
		if b, ok := v["*"].(bool); ok {
			return b
		}
		return true
	}
	return false
}

// requireAudienceForSharedKeys marks the projects that share a verification
// key (the same public key, or the same JWKS URL) with another project:
// their tokens must say, in aud, which project they were minted for.
func requireAudienceForSharedKeys(projects map[string]*authProject) {
	owners := map[string]map[string]bool{}
	for id, ap := range projects {
		for _, fp := range ap.fingerprint {
			if owners[fp] == nil {
				owners[fp] = map[string]bool{}
			}
			owners[fp][id] = true
		}
	}
	for _, ids := range owners {
		if len(ids) < 2 {
			continue
		}
		for id := range ids {
			projects[id].requireAud = true
		}
	}
}
