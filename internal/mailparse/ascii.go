package mailparse

import (
	"strings"
)

// Byte-level helpers for the prefilters and altRe: the cheap literal tests
// (mayBe…, mayHave…, each beside the expression it guards) run before the
// large case-insensitive expressions. A prefilter returns true whenever its
// expression may match: it only rules out lines that lack every literal
// the expression requires (fastpath_test.go checks each against its rule).
//
// (?i) matching folds a literal letter with every rune of its case-folding
// orbit. strings.ToLower maps every member of the orbits of the literals
// used here onto the lowercase literal except the Kelvin sign (K) and the
// long s (ſ), which fold with ASCII k and s; lines holding those always go
// to the expression. \b, \w and \d are ASCII-only in Go, so word checks use
// a copy lowered in the ASCII range only.

// foldLower returns l lowercased, and lowercased in the ASCII range only;
// ok is false when l holds a rune that (?i) folds onto ASCII letters
// other than the ASCII letters themselves.
func foldLower(l string) (lower, asciiLower string, ok bool) {
	if isASCII(l) {
		lower = strings.ToLower(l)
		return lower, lower, true
	}
	if strings.ContainsRune(l, '\u212A') || strings.ContainsRune(l, '\u017F') {
		return "", "", false
	}
	b := []byte(l)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return strings.ToLower(l), string(b), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func hasASCIIDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

func isASCIIWordByte(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// containsFoldASCII tells whether s contains w (lowercase ASCII) under
// ASCII case folding.
func containsFoldASCII(s, w string) bool {
	if len(w) == 0 {
		return true
	}
	c0 := w[0]
	u0 := c0
	if c0 >= 'a' && c0 <= 'z' {
		u0 = c0 - ('a' - 'A')
	}
	for i := 0; i+len(w) <= len(s); i++ {
		if c := s[i]; c != c0 && c != u0 {
			continue
		}
		if equalFoldASCII(s[i+1:i+len(w)], w[1:]) {
			return true
		}
	}
	return false
}

// equalFoldASCII tells whether s equals w (lowercase ASCII) under ASCII
// case folding.
func equalFoldASCII(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for j := 0; j < len(w); j++ {
		c := s[j]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[j] {
			return false
		}
	}
	return true
}

// isReSpace is \s of Go's regexp: ASCII only.
func isReSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// lowerASCII appends s (ASCII) lowercased to dst.
func lowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
