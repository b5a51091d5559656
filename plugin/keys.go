package plugin

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Storage keys that list newest first (audit events, inbox messages, sent
// mail) begin with the time as reverse nanoseconds, zero-padded: Vault's
// List returns keys in lexical order, so the newest comes first and a scan
// can stop at a cutoff without decoding anything.

// reverseTime is t as a 19-digit reverse-nanosecond key prefix.
func reverseTime(t time.Time) string {
	return fmt.Sprintf("%019d", math.MaxInt64-t.UnixNano())
}

// timeOfReverse reads the time back from a key that begins with reverseTime.
func timeOfReverse(key string) time.Time {
	if len(key) < 19 {
		return time.Time{}
	}
	n, err := strconv.ParseInt(key[:19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, math.MaxInt64-n)
}
