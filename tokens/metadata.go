package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
)

// MaxMetadataBytes caps the JSON encoding of one user's metadata; Put
// implementations refuse more with ErrMetadataTooLarge.
const MaxMetadataBytes = 64 << 10

// ErrMetadataTooLarge is returned (wrapped) by Put when the metadata's JSON
// encoding exceeds MaxMetadataBytes.
var ErrMetadataTooLarge = errors.New("tokens: user metadata too large")

// Metadata holds one JSON object of free-form data per user of a project:
// what the SDK's PATCH /sdk/me stores and GET /sdk/me returns as "meta",
// and what a host backend reads and writes through a management API. It is
// not secret and holds no credential.
//
// Implementations must be safe for concurrent use (and, for shared stores,
// by many processes) and return copies the caller may modify. Get of a user
// with no metadata returns an empty, non-nil map and no error. Put replaces
// the whole object; a nil or empty map deletes it. Both return an error
// wrapping ErrUnavailable when the store fails; Put returns
// ErrMetadataTooLarge for an object over MaxMetadataBytes.
type Metadata interface {
	Get(ctx context.Context, project, user string) (map[string]any, error)
	Put(ctx context.Context, project, user string, meta map[string]any) error
}

// EncodeMetadata returns meta's JSON encoding for a store, checked against
// MaxMetadataBytes; stores share it so they refuse the same objects.
func EncodeMetadata(meta map[string]any) ([]byte, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMetadataBytes {
		return nil, ErrMetadataTooLarge
	}
	return b, nil
}

// DecodeMetadata is the inverse of EncodeMetadata; empty data is an empty map.
func DecodeMetadata(data []byte) (map[string]any, error) {
	m := map[string]any{}
	if len(data) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil { // JSON null
		m = map[string]any{}
	}
	return m, nil
}

// MemoryMetadata is an in-memory Metadata for one process. The zero value
// is ready to use.
type MemoryMetadata struct {
	mu sync.Mutex
	m  map[[2]string][]byte
}

var _ Metadata = (*MemoryMetadata)(nil)

// Get implements Metadata.
func (s *MemoryMetadata) Get(_ context.Context, project, user string) (map[string]any, error) {
	s.mu.Lock()
	b := s.m[[2]string{project, user}]
	s.mu.Unlock()
	return DecodeMetadata(b)
}

// Put implements Metadata.
func (s *MemoryMetadata) Put(_ context.Context, project, user string, meta map[string]any) error {
	k := [2]string{project, user}
	if len(meta) == 0 {
		s.mu.Lock()
		delete(s.m, k)
		s.mu.Unlock()
		return nil
	}
	b, err := EncodeMetadata(meta)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[[2]string][]byte{}
	}
	s.m[k] = b
	s.mu.Unlock()
	return nil
}
