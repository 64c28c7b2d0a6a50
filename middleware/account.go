package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

// AccessibleFeatures is what GET /sdk/me answers as project.accessibleFeatures:
// the SDK refuses installIntegration and uninstallIntegration without
// "headless-cp" (ensureHeadlessIsSupported), and the handler serves both.
var AccessibleFeatures = []string{"headless-cp", "user-metadata"}

// MetadataStore keeps each user's metadata: what the SDK's setUserMetadata
// (PATCH /sdk/me {"meta": {...}}) stores and GET /sdk/me answers as meta.
// Implementations must be safe for concurrent use; errors must not contain
// the metadata.
type MetadataStore interface {
	// Metadata returns the user's metadata; an empty map (not an error)
	// when none was stored.
	Metadata(ctx context.Context, project, user string) (map[string]any, error)
	// SetMetadata replaces the user's metadata.
	SetMetadata(ctx context.Context, project, user string, meta map[string]any) error
}

// MaxMetadataBytes bounds a user's metadata, as JSON.
const MaxMetadataBytes = 16 << 10

// MemoryMetadata is the in-memory MetadataStore: one process only.
type MemoryMetadata struct {
	mu sync.Mutex
	m  map[[2]string][]byte
}

var _ MetadataStore = (*MemoryMetadata)(nil)

// NewMemoryMetadata returns an empty MemoryMetadata.
func NewMemoryMetadata() *MemoryMetadata { return &MemoryMetadata{m: map[[2]string][]byte{}} }

// Metadata implements MetadataStore.
func (s *MemoryMetadata) Metadata(ctx context.Context, project, user string) (map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	data := s.m[[2]string{project, user}]
	s.mu.Unlock()
	out := map[string]any{}
	if data != nil {
		if err := json.Unmarshal(data, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetMetadata implements MetadataStore.
func (s *MemoryMetadata) SetMetadata(ctx context.Context, project, user string, meta map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.m[[2]string{project, user}] = data
	s.mu.Unlock()
	return nil
}

// userMeta returns the user's metadata for GET /sdk/me; for a PATCH it first
// merges the body's {"meta": {...}} into the stored metadata (a key set to
// null is removed) and stores the result.
func (b *Bootstrap) userMeta(r *http.Request, p Principal) (map[string]any, error) {
	if b.metadata == nil {
		return map[string]any{}, nil
	}
	meta, err := b.metadata.Metadata(r.Context(), p.Project, p.User)
	if err != nil {
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	if r.Method != http.MethodPatch {
		return meta, nil
	}
	var patch struct {
		Meta map[string]any `json:"meta"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxMetadataBytes+1))
	if err != nil || len(data) > MaxMetadataBytes || json.Unmarshal(data, &patch) != nil || patch.Meta == nil {
		return nil, response.New(http.StatusBadRequest, response.CodeBadRequest, `Body must be JSON {"meta": {...}} of at most 16 KiB.`)
	}
	for k, v := range patch.Meta {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	if out, _ := json.Marshal(meta); len(out) > MaxMetadataBytes {
		return nil, response.New(http.StatusRequestEntityTooLarge, response.CodeRequestTooLarge, "The user's metadata would exceed 16 KiB.")
	}
	if err := b.metadata.SetMetadata(r.Context(), p.Project, p.User, meta); err != nil {
		return nil, errors.Join(tokens.ErrUnavailable, err)
	}
	return meta, nil
}
