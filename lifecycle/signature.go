package lifecycle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	// SignatureHeader carries the signature: "t=<unix seconds>,v1=<hex>",
	// where hex is HMAC-SHA256, keyed with the endpoint's secret, of the
	// timestamp, a ".", and the exact request body. See Sign and Verify.
	SignatureHeader = "Onbehalf-Signature"
	// EventIDHeader carries the event's ID: de-duplicate on it.
	EventIDHeader = "Onbehalf-Event-Id"
	// EventTypeHeader carries the event's Type.
	EventTypeHeader = "Onbehalf-Event-Type"
	// AttemptHeader carries the delivery attempt, from 1.
	AttemptHeader = "Onbehalf-Delivery-Attempt"
)

// DefaultTolerance is the tolerance of Verify when it is given zero: how far
// a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify; test them with errors.Is.
var (
	// ErrSignature: the header is missing or malformed, or no v1 signature
	// in it matches the body under the secret.
	ErrSignature = errors.New("lifecycle: webhook signature does not match")
	// ErrTimestamp: the signature's timestamp is further from now than the
	// tolerance: a replay of an old delivery, or a clock far off.
	ErrTimestamp = errors.New("lifecycle: webhook timestamp outside the tolerance")
)

// Sign returns the SignatureHeader value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>." + body)>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a webhook request for a receiver: header is the request's
// SignatureHeader, body its exact bytes (read before any JSON decoding).
// It returns nil when one v1 signature in header (there may be several,
// while a secret is rotated) matches, in constant time, and the timestamp
// is within tolerance of now, either way; otherwise an error wrapping
// ErrSignature or ErrTimestamp. Zero tolerance means DefaultTolerance.
//
// A valid signature proves the sender and the body; the tolerance refuses
// a replay of a delivery older than it. Within it, de-duplicate by the
// EventIDHeader.
func Verify(secret, header string, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, header, body, tolerance, time.Now())
}

func verifyAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	return nil
}
