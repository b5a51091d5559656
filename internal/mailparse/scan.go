package mailparse

import (
	"bytes"
	"regexp"
)

// Faster equivalents of a few expressions that run on many lines. Each is
// held to the expression it replaces by the tests (scan_test.go, and the
// golden and reference tests for the whole analysis).

// --- matches that start at a word start ---

// Every alternative of strongKwRe, mediumKwRe and negativeKwRe starts with
// \b and an ASCII word character, but for negativeKwRe's "©". In ASCII text
// a match can therefore only start where a word starts, and there the
// expression anchored to the start of the rest of the line (where \b looks
// at no character before) finds what the unanchored one does: Go's \b is
// ASCII-only and the character before is not a word character. Trying the
// anchored expression at the word starts only is much cheaper than the
// unanchored search, which restarts every alternative at every byte.

type wordStartRe struct {
	re       *regexp.Regexp
	anchored *regexp.Regexp
}

func newWordStartRe(re *regexp.Regexp) wordStartRe {
	return wordStartRe{re: re, anchored: regexp.MustCompile(`^(?:` + re.String() + `)`)}
}

var (
	strongKwWS   = newWordStartRe(strongKwRe)
	mediumKwWS   = newWordStartRe(mediumKwRe)
	negativeKwWS = newWordStartRe(negativeKwRe)
)

// findAll is re.FindAllStringIndex(s, -1).
func (w wordStartRe) findAll(s string) [][]int {
	if !isASCII(s) {
		return w.re.FindAllStringIndex(s, -1)
	}
	var out [][]int
	for p := 0; p < len(s); p++ {
		if !isASCIIWordByte(s[p]) || (p > 0 && isASCIIWordByte(s[p-1])) {
			continue
		}
		loc := w.anchored.FindStringIndex(s[p:])
		if loc == nil {
			continue
		}
		out = append(out, []int{p, p + loc[1]})
		if loc[1] > 0 {
			p += loc[1] - 1
		}
	}
	return out
}

// --- addressRe ---

// addressAlts are the alternatives of addressRe, each matched alone behind
// a necessary condition that is cheap to test in ASCII text.
var addressAlts = []string{
	`\d+[a-z]?\s+(?:[\p{L}.'-]+\s+){0,4}(?:street|st\.?|avenue|ave\.?|blvd\.?|boulevard|road|rd\.?|drive|dr\.?|lane|ln\.?|way|parkway|pkwy|place|pl\.?|plaza|square|court|ct\.?|terrace|highway|hwy)\b`,
	`\b(?:suite|ste\.?|floor|fl\.?|p\.?\s?o\.?\s?box|postfach|apartado)\s*\d`,
	`[\p{L}]+(?:straße|strasse|str\.|platz|weg|allee|gasse|ring|damm)\s*\d`,
	`\b(?:calle|c/|avenida|avda\.?|av\.|plaza|paseo|rue|boulevard|via|piazza)\s+[\p{L}]`,
	`(?-i:\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|^\d{5}\s+\p{Lu}[\p{L}-]+(?:,|$)|,\s*\d{5}\s+\p{Lu}[\p{L}-]+)`,
}

var addressAltRes = func() (res []*regexp.Regexp) {
	for _, a := range addressAlts {
		res = append(res, regexp.MustCompile(`(?i)`+a))
	}
	return res
}()

var (
	addressSuiteWords  = [][]byte{[]byte("suite"), []byte("ste"), []byte("floor"), []byte("fl"), []byte("box"), []byte("postfach"), []byte("apartado")}
	addressStreetWords = [][]byte{[]byte("strasse"), []byte("str."), []byte("platz"), []byte("weg"), []byte("allee"), []byte("gasse"), []byte("ring"), []byte("damm")}
	addressSpanish     = func() (b [][]byte) {
		for _, w := range addressLiterals {
			b = append(b, []byte(w))
		}
		return b
	}()
)

// matchAddress is addressRe.MatchString(l).
func matchAddress(l string) bool {
	if !isASCII(l) || len(l) > 2048 {
		return addressRe.MatchString(l)
	}
	var buf [2048]byte
	lower := lowerASCII(buf[:0], l)
	digit := hasASCIIDigit(l)
	// A number, an optional letter and a space.
	if digit && numberThenSpace(l) && addressAltRes[0].MatchString(l) {
		return true
	}
	if digit && containsAnyBytes(lower, addressSuiteWords) && addressAltRes[1].MatchString(l) {
		return true
	}
	if digit && containsAnyBytes(lower, addressStreetWords) && addressAltRes[2].MatchString(l) {
		return true
	}
	if containsAnyBytes(lower, addressSpanish) && addressAltRes[3].MatchString(l) {
		return true
	}
	// Five digits in a row.
	return digitRun(l, 5) && addressAltRes[4].MatchString(l)
}

func containsAnyBytes(s []byte, words [][]byte) bool {
	for _, w := range words {
		if bytes.Contains(s, w) {
			return true
		}
	}
	return false
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// numberThenSpace: an ASCII digit followed by \s, or by a letter and \s.
func numberThenSpace(l string) bool {
	for i := 0; i+1 < len(l); i++ {
		if !isASCIIDigit(l[i]) {
			continue
		}
		if isReSpace(l[i+1]) || (isASCIILetter(l[i+1]) && i+2 < len(l) && isReSpace(l[i+2])) {
			return true
		}
	}
	return false
}

// digitRun tells whether l has n ASCII digits in a row.
func digitRun(l string, n int) bool {
	run := 0
	for i := 0; i < len(l); i++ {
		if isASCIIDigit(l[i]) {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
