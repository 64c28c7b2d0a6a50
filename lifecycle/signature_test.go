package lifecycle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/lifecycle"
)

func TestSignVerify(t *testing.T) {
	const secret = "whsec_test"
	body := []byte(`{"id":"evt_1","type":"connection.created"}`)
	now := time.Now()
	good := lifecycle.Sign(secret, now, body)
	other := lifecycle.Sign("whsec_other", now, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		tol    time.Duration
		want   error
	}{
		{"valid", secret, good, body, 0, nil},
		{"spaces after commas", secret, strings.ReplaceAll(good, ",", ", "), body, 0, nil},
		// A secret being rotated: the sender signs with both; either verifies.
		{"one of two signatures", secret, other + "," + strings.Split(good, ",")[1], body, 0, nil},
		// Defends against a forged sender: a signature under another secret.
		{"wrong secret", "whsec_wrong", good, body, 0, lifecycle.ErrSignature},
		// Defends against a body changed in transit.
		{"tampered body", secret, good, []byte(`{"id":"evt_1","type":"connection.deleted"}`), 0, lifecycle.ErrSignature},
		// Defends against moving a signature to another time: t is signed too.
		{"timestamp changed", secret, strings.Replace(good, "t=", "t=1", 1), body, 0, lifecycle.ErrSignature},
		{"missing header", secret, "", body, 0, lifecycle.ErrSignature},
		{"no v1", secret, "t=" + strings.Split(strings.TrimPrefix(good, "t="), ",")[0], body, 0, lifecycle.ErrSignature},
		{"no t", secret, strings.Split(good, ",")[1], body, 0, lifecycle.ErrSignature},
		{"v1 not hex", secret, strings.Split(good, ",")[0] + ",v1=zz", body, 0, lifecycle.ErrSignature},
		{"unknown scheme only", secret, strings.Replace(good, "v1=", "v0=", 1), body, 0, lifecycle.ErrSignature},
		// Defends against a replay: a valid delivery captured and sent again
		// after the tolerance.
		{"replay outside tolerance", secret, lifecycle.Sign(secret, now.Add(-6*time.Minute), body), body, 0, lifecycle.ErrTimestamp},
		{"replay inside a longer tolerance", secret, lifecycle.Sign(secret, now.Add(-6*time.Minute), body), body, 10 * time.Minute, nil},
		{"from the future", secret, lifecycle.Sign(secret, now.Add(time.Hour), body), body, time.Minute, lifecycle.ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lifecycle.Verify(tt.secret, tt.header, tt.body, tt.tol)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Verify: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	// The documented scheme, computed independently:
	// HMAC-SHA256("k", "1700000000.{}").
	got := lifecycle.Sign("k", time.Unix(1700000000, 0), []byte("{}"))
	// (python3 -c 'import hmac,hashlib; print(hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest())')
	const want = "t=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
	if got != want {
		t.Fatalf("Sign: got %q, want %q", got, want)
	}
}
