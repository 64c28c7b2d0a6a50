package connect

import (
	"context"
	"errors"

	"github.com/onbehalf/onbehalf/tokens"
)

// SealedStates is a StateStore decorator that keeps a pending connection's
// credential (the token the user's choice among a lookup's items waits on)
// sealed in the backing store, with the same keys as the connections
// (tokens.Sealed): a shared state store (Redis) then holds no usable token
// either. The sealed value is bound to the state's key, so it cannot be
// moved to another state. States without a pending connection pass through.
type SealedStates struct {
	states StateStore
	sealed *tokens.Sealed
}

var _ StateStore = (*SealedStates)(nil)

// NewSealedStates returns states sealed with sealed's keys.
func NewSealedStates(states StateStore, sealed *tokens.Sealed) (*SealedStates, error) {
	if states == nil || sealed == nil {
		return nil, errors.New("connect: sealed states need a state store and a tokens.Sealed")
	}
	return &SealedStates{states: states, sealed: sealed}, nil
}

// pendingKey names a pending credential for sealing: the state's key.
func pendingKey(s State, key string) tokens.Key {
	return tokens.Key{Project: s.Project, User: s.User, Integration: s.Integration, ID: "pending:" + key}
}

// Put implements StateStore.
func (s *SealedStates) Put(ctx context.Context, key string, st State) error {
	if st.Pending != nil {
		sealed, err := s.sealed.SealCredential(pendingKey(st, key), st.Pending.Credential)
		if err != nil {
			return err
		}
		p := *st.Pending
		p.Credential = tokens.Credential{Sealed: sealed}
		st.Pending = &p
	}
	return s.states.Put(ctx, key, st)
}

// Take implements StateStore. A pending credential that cannot be opened
// (another key ring, an altered record) is ErrStateNotFound: the flow
// answers state_invalid and the user starts again.
func (s *SealedStates) Take(ctx context.Context, key string) (State, error) {
	st, err := s.states.Take(ctx, key)
	if err != nil || st.Pending == nil {
		return st, err
	}
	cred, err := s.sealed.OpenCredential(pendingKey(st, key), st.Pending.Credential.Sealed)
	if err != nil {
		return State{}, errors.Join(ErrStateNotFound, err)
	}
	p := *st.Pending
	p.Credential = cred
	st.Pending = &p
	return st, nil
}
