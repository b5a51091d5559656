// Package rfc6238 is an independent RFC 6238 TOTP implementation from
// crypto/hmac, written from the RFC and used only by tests to check the
// engine's codes (which come from github.com/pquerna/otp).
package rfc6238

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"time"
)

// Code is the TOTP of seed at t with algorithm SHA1, SHA256 or SHA512.
func Code(seed []byte, alg string, digits, period int, t time.Time) string {
	h := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}[alg]
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/int64(period)))
	mac := hmac.New(h, seed)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // dynamic truncation, RFC 4226 5.3
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}
