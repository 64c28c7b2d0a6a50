package tokens

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a new random connection id: 16 bytes from crypto/rand,
// hex-encoded (32 characters). Stores use it to give a connection saved with
// an empty ID its id on create; store implementations outside this package
// may use it too.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}
