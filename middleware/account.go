package middleware

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// AccessibleFeatures is what GET /sdk/me answers as project.accessibleFeatures:
// the SDK refuses installIntegration and uninstallIntegration without
// "headless-cp" (ensureHeadlessIsSupported), and the handler serves both.
var AccessibleFeatures = []string{"headless-cp", "user-metadata"}

// userMeta returns the user's metadata for GET /sdk/me; for a PATCH it first
// merges the body's {"meta": {...}} into the stored metadata (a key set to
// null is removed) and stores the result.
func (b *Bootstrap) userMeta(r *http.Request, p Principal) (map[string]any, error) {
	if b.metadata == nil {
		return map[string]any{}, nil
	}
	meta, err := b.metadata.Get(r.Context(), p.Project, p.User)
	if err != nil {
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	if r.Method != http.MethodPatch {
		return meta, nil
	}
	var patch struct {
		Meta map[string]any `json:"meta"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, tokens.MaxMetadataBytes+1))
	if err != nil || len(data) > tokens.MaxMetadataBytes || json.Unmarshal(data, &patch) != nil || patch.Meta == nil {
		return nil, response.New(http.StatusBadRequest, response.CodeBadRequest, `Body must be JSON {"meta": {...}} of at most 64 KiB.`)
	}
	for k, v := range patch.Meta {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	if err := b.metadata.Put(r.Context(), p.Project, p.User, meta); err != nil {
		if errors.Is(err, tokens.ErrMetadataTooLarge) {
			return nil, response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "User metadata is limited to 64 KiB of JSON.")
		}
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	return meta, nil
}
