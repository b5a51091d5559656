// Package frame is the one length-prefixed framing Mailgent writes: fields
// each preceded by their length as a uvarint, then whatever follows (often
// a last field that runs to the end). Sealed inbound payloads, inbox
// entries and sealed credentials all use it.
package frame

import (
	"encoding/binary"
	"errors"
)

// ErrMalformed is returned for bytes that do not hold the fields asked for.
var ErrMalformed = errors.New("malformed frame")

// Append appends each field to dst, length-prefixed.
func Append(dst []byte, fields ...[]byte) []byte {
	for _, f := range fields {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// Size is how many bytes Append adds for fields.
func Size(fields ...[]byte) int {
	n := 0
	for _, f := range fields {
		n += uvarintLen(uint64(len(f))) + len(f)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Split reads n length-prefixed fields from b and returns them, sharing
// b's memory, and the bytes after them.
func Split(b []byte, n int) (fields [][]byte, rest []byte, err error) {
	fields = make([][]byte, n)
	for i := range fields {
		l, w := binary.Uvarint(b)
		if w <= 0 || l > uint64(len(b)-w) {
			return nil, nil, ErrMalformed
		}
		fields[i], b = b[w:w+int(l)], b[w+int(l):]
	}
	return fields, b, nil
}
