package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// The scopes of a management API key.
const (
	scopeRead  = "read"
	scopeWrite = "write"
)

// The management API's own error codes, beside response's shared ones.
const (
	codeKeyMissing         response.Code = "MANAGE_KEY_MISSING"       // 401: no Authorization: Bearer key
	codeKeyInvalid         response.Code = "MANAGE_KEY_INVALID"       // 401: the key matches none configured
	codeScopeDenied        response.Code = "MANAGE_SCOPE_DENIED"      // 403: a read key on a write route
	codeConnectionNotFound response.Code = "CONNECTION_NOT_FOUND"     // 404
	codeConnectionExists   response.Code = "CONNECTION_EXISTS"        // 409: import of an id already present
	codeVersionConflict    response.Code = "CONNECTION_CHANGED"       // 409: saved concurrently; read again
	codeNoVerification     response.Code = "VERIFICATION_UNAVAILABLE" // 409: the integration has no verify request
	codeVerifyFailed       response.Code = "VERIFICATION_FAILED"      // 502: the provider could not be reached
)

// maxManageBody caps a management request body; beyond it the answer is 413.
const maxManageBody = 64 << 10

// manageBase is the management API's path.
const manageBase = "/manage/v1"

// apiKey is one configured key: its SHA-256 and scope.
type apiKey struct {
	name  string
	hash  [32]byte
	scope string
}

// manageRoute is one route of the management API; the OpenAPI document is
// tested against this table (openapi_test.go).
type manageRoute struct {
	method, path, name, scope string
	handle                    func(*manager, http.ResponseWriter, *http.Request)
}

const (
	userPath = manageBase + "/projects/{project}/users/{user}"
	connPath = userPath + "/connections/{integration}/{id}"
)

var manageRoutes = []manageRoute{
	{"GET", manageBase + "/openapi.json", "openapi", "", (*manager).openAPI},
	{"POST", userPath + "/connections", "import", scopeWrite, (*manager).importConnection},
	{"GET", userPath + "/connections", "list", scopeRead, (*manager).listConnections},
	{"GET", connPath, "get", scopeRead, (*manager).getConnection},
	{"DELETE", connPath, "delete", scopeWrite, (*manager).deleteConnection},
	{"POST", connPath + "/verify", "verify", scopeWrite, (*manager).verifyConnection},
	{"GET", userPath + "/metadata", "metadata.get", scopeRead, (*manager).getMetadata},
	{"PUT", userPath + "/metadata", "metadata.put", scopeWrite, (*manager).putMetadata},
}

// manager serves the management API.
type manager struct {
	keys     []apiKey
	reg      integrations.Registry
	projects map[string]bool
	store    tokens.Store
	meta     tokens.Metadata
	log      *slog.Logger
	metrics  *metrics
	revoke   func(r *http.Request, in *integrations.Integration, c *tokens.Connection) string
	verify   func(r *http.Request, in *integrations.Integration, c *tokens.Connection) error
}

// parseKeys converts the validated config keys.
func parseKeys(cfg []APIKeyConfig) []apiKey {
	keys := make([]apiKey, 0, len(cfg))
	for _, k := range cfg {
		var ak apiKey
		b, _ := hex.DecodeString(k.SHA256)
		copy(ak.hash[:], b)
		ak.name, ak.scope = k.Name, k.Scope
		keys = append(keys, ak)
	}
	return keys
}

// handler returns the management API's mux.
func (m *manager) handler() http.Handler {
	mux := http.NewServeMux()
	paths := map[string]bool{}
	for _, rt := range manageRoutes {
		mux.Handle(rt.method+" "+rt.path, m.guard(rt))
		if !paths[rt.path] {
			paths[rt.path] = true
			mux.HandleFunc(rt.path, func(w http.ResponseWriter, r *http.Request) {
				m.fail(w, r, "", response.New(http.StatusMethodNotAllowed, response.CodeMethodNotAllowed, "Method not allowed on this route."))
			})
		}
	}
	mux.HandleFunc(manageBase+"/", func(w http.ResponseWriter, r *http.Request) {
		m.fail(w, r, "", response.New(http.StatusNotFound, response.CodeNotFound, "No such management route; see "+manageBase+"/openapi.json."))
	})
	return mux
}

// authenticate returns the key presented in Authorization: Bearer, compared
// with every configured key in constant time (no early exit, so the time
// does not tell which key or how much of it matched).
func (m *manager) authenticate(r *http.Request) (*apiKey, error) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, response.New(http.StatusUnauthorized, codeKeyMissing, "Send a management API key as Authorization: Bearer KEY.")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return nil, response.New(http.StatusUnauthorized, codeKeyInvalid, "The Authorization header must be Bearer KEY.")
	}
	sum := sha256.Sum256([]byte(key))
	var found *apiKey
	for i := range m.keys {
		if subtle.ConstantTimeCompare(sum[:], m.keys[i].hash[:]) == 1 {
			found = &m.keys[i]
		}
	}
	if found == nil {
		return nil, response.New(http.StatusUnauthorized, codeKeyInvalid, "This management API key is not configured; check manage.apiKeys (the SHA-256 of the key).")
	}
	return found, nil
}

// guard authenticates and authorizes a route, then serves it.
func (m *manager) guard(rt manageRoute) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		defer func() { m.metrics.manage.WithLabelValues(rt.name, strconv.Itoa(w.status)).Inc() }()
		if rt.scope != "" {
			key, err := m.authenticate(r)
			if err != nil {
				m.fail(w, r, rt.name, err)
				return
			}
			if rt.scope == scopeWrite && key.scope != scopeWrite {
				m.fail(w, r, rt.name, response.New(http.StatusForbidden, codeScopeDenied, "This key has the read scope; this route needs write."))
				return
			}
			if !m.projects[r.PathValue("project")] {
				m.fail(w, r, rt.name, response.New(http.StatusNotFound, response.CodeProjectNotFound, "Unknown project: it is not in the server's config."))
				return
			}
			m.log.Debug("manage", "route", rt.name, "key", key.name)
		}
		rt.handle(m, w, r)
	})
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fail writes err as the JSON error body; a store failure is 503, anything
// unexpected 500 (logged, without detail in the answer).
func (m *manager) fail(w http.ResponseWriter, r *http.Request, route string, err error) {
	var re *response.Error
	switch {
	case errors.As(err, &re):
	case errors.Is(err, tokens.ErrUnavailable):
		re = response.Wrap(err, http.StatusServiceUnavailable, response.CodeStoreUnavailable, "The token store cannot be reached; try again.")
	default:
		m.log.Error("manage: unexpected error", "route", route, "err", err)
		re = response.Wrap(err, http.StatusInternalServerError, response.CodeInternal, "Internal error.")
	}
	response.WriteError(w, re)
}

// decode reads a JSON body of at most maxManageBody bytes into v, refusing
// unknown fields and trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxManageBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	if err == nil {
		return nil
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "The body is limited to 64 KiB.")
	}
	msg := "The body must be one JSON object of the documented shape"
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		msg += " (field " + te.Field + " has the wrong type)"
	} else if strings.HasPrefix(err.Error(), "json: unknown field ") {
		msg += " (" + strings.TrimPrefix(err.Error(), "json: ") + ")"
	}
	return response.New(http.StatusBadRequest, response.CodeBadRequest, msg+".")
}
