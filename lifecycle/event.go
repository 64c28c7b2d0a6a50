package lifecycle

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Type names what happened to a connection. Its values are stable strings,
// sent as the "type" of a webhook's payload.
type Type string

const (
	// TypeCreated: the connect flow saved a new connection, or replaced the
	// credential of an active one (Reason "reconnected").
	TypeCreated Type = "connection.created"
	// TypeRefreshed: the Refresher obtained and saved a new access token.
	TypeRefreshed Type = "connection.refreshed"
	// TypeRefreshFailing: a refresh failed for a transient reason (network,
	// 5xx, timeout); the connection is still active and will be retried.
	// Sent once when a connection starts failing, not on every attempt.
	TypeRefreshFailing Type = "connection.refresh_failing"
	// TypeReauthRequired: the grant is gone; the connection is now
	// needs_reauth and the user must connect again. Reason tells why
	// (tokens.ReasonGrantRejected, tokens.ReasonRefreshLost).
	TypeReauthRequired Type = "connection.reauth_required"
	// TypeRecovered: a connection that was failing to refresh refreshed
	// again, or one that needed re-authorization was connected again.
	TypeRecovered Type = "connection.recovered"
	// TypeVerificationFailed: the integration's verification request
	// failed for a connection whose previous one passed (or that was never
	// verified); Reason is its code ("http_403", "network", "timeout").
	// Sent once per episode: a connection failing again sends nothing until
	// it recovers (TypeRecovered, Reason "verified").
	TypeVerificationFailed Type = "connection.verification_failed"
	// TypeDeleted: the connect flow deleted the connection (a disconnect).
	TypeDeleted Type = "connection.deleted"
	// TypeConnectFailed: a connect attempt failed after the user came back
	// from the provider, and nothing was saved; Reason is the stable code
	// the return URL also carried (connect.ErrorVerificationFailed
	// "verification_failed", "lookup_empty", "exchange_failed", ...).
	// ConnectionID is empty; User and Integration are empty when the
	// attempt's state was unusable.
	TypeConnectFailed Type = "connection.connect_failed"
)

// Types lists every Type, in the order of the list above.
var Types = []Type{TypeCreated, TypeRefreshed, TypeRefreshFailing, TypeReauthRequired,
	TypeRecovered, TypeVerificationFailed, TypeDeleted, TypeConnectFailed}

// Reason codes of events, beside the tokens.Reason* codes.
const (
	// ReasonReconnected: a TypeCreated or TypeRecovered event of a connection
	// that existed and was connected again.
	ReasonReconnected = "reconnected"
	// ReasonRefreshFailed: a transient refresh failure.
	ReasonRefreshFailed = "refresh_failed"
	// ReasonRefreshTimeout: a refresh that ran out of its time.
	ReasonRefreshTimeout = "refresh_timeout"
	// ReasonRefreshed: a TypeRecovered event after a successful refresh.
	ReasonRefreshed = "refreshed"
	// ReasonVerified: a TypeRecovered event after a verification that
	// passed, of a connection whose previous one had failed.
	ReasonVerified = "verified"
)

// Event is one thing that happened to a connection. It names the connection
// and never carries a token, secret or provider answer, so it may be logged
// and sent to a webhook as is. Its JSON form is the webhook's body.
type Event struct {
	// ID identifies the event: "evt_" and 32 hex digits (128 random bits).
	// A delivery may be repeated (at-least-once): receivers de-duplicate by
	// ID. Emit fills it when empty.
	ID string `json:"id"`
	// Type says what happened.
	Type Type `json:"type"`
	// Time is when it happened, in UTC. Emit fills it when zero.
	Time time.Time `json:"time"`
	// Project, User, Integration and ConnectionID name the connection
	// (tokens.Key's parts).
	Project      string `json:"project"`
	User         string `json:"user"`
	Integration  string `json:"integration"`
	ConnectionID string `json:"connection_id"`
	// Reason is a stable code saying why, such as "grant_rejected"; empty
	// when there is nothing to add.
	Reason string `json:"reason,omitempty"`
}

// NewEventID returns a new random event id: "evt_" and 16 bytes from
// crypto/rand, hex-encoded.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "evt_" + hex.EncodeToString(b[:])
}
