package mailparse

import (
	"bytes"
	"regexp"
	"strings"
)

// A postal address in a line marks it as a footer (the sender's address
// under a newsletter) and the numbers in it as no code. addressRe is the
// rule; matchAddress is a faster way to the same answer, and mayBeAddress
// rules out the lines it cannot match (fastpath_test.go holds both to it).

// addressAlts are the forms of a postal address: a number and a street
// ("12b Oak Lane"), a suite, floor or post box, a German street name and
// number, a Spanish, French or Italian street word and name, a US state
// and ZIP code or a German post code and town. matchAddress tries each
// alone behind a necessary condition that is cheap to test in ASCII text.
var addressAlts = []string{
	`\d+[a-z]?\s+(?:[\p{L}.'-]+\s+){0,4}(?:street|st\.?|avenue|ave\.?|blvd\.?|boulevard|road|rd\.?|drive|dr\.?|lane|ln\.?|way|parkway|pkwy|place|pl\.?|plaza|square|court|ct\.?|terrace|highway|hwy)\b`,
	`\b(?:suite|ste\.?|floor|fl\.?|p\.?\s?o\.?\s?box|postfach|apartado)\s*\d`,
	`[\p{L}]+(?:straße|strasse|str\.|platz|weg|allee|gasse|ring|damm)\s*\d`,
	`\b(?:calle|c/|avenida|avda\.?|av\.|plaza|paseo|rue|boulevard|via|piazza)\s+[\p{L}]`,
	`(?-i:\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|^\d{5}\s+\p{Lu}[\p{L}-]+(?:,|$)|,\s*\d{5}\s+\p{Lu}[\p{L}-]+)`,
}

// addressRe matches a line that holds a postal address.
var addressRe = regexp.MustCompile(`(?i)` + strings.Join(addressAlts, "|"))

// isAddressLine is addressRe.MatchString behind its prefilter.
func isAddressLine(l string) bool {
	return mayBeAddress(l) && matchAddress(l)
}

// Every alternative of addressRe needs an ASCII digit except the street
// words of the Spanish, French and Italian forms.
var addressLiterals = []string{"calle", "c/", "avenida", "avda", "av.", "plaza", "paseo", "rue", "boulevard", "via", "piazza"}

func mayBeAddress(l string) bool {
	if hasASCIIDigit(l) {
		return true
	}
	lower, _, ok := foldLower(l)
	return !ok || containsAny(lower, addressLiterals)
}

var addressAltRes = func() (res []*regexp.Regexp) {
	for _, a := range addressAlts {
		res = append(res, regexp.MustCompile(`(?i)`+a))
	}
	return res
}()

var (
	addressSuiteWords  = [][]byte{[]byte("suite"), []byte("ste"), []byte("floor"), []byte("fl"), []byte("box"), []byte("postfach"), []byte("apartado")}
	addressStreetWords = [][]byte{[]byte("strasse"), []byte("straß"), []byte("straẞ"), []byte("str."), []byte("platz"), []byte("weg"), []byte("allee"), []byte("gasse"), []byte("ring"), []byte("damm")}
	addressSpanish     = func() (b [][]byte) {
		for _, w := range addressLiterals {
			b = append(b, []byte(w))
		}
		return b
	}()
)

// matchAddress is addressRe.MatchString(l). Its tests look at ASCII bytes
// lowered in the ASCII range: (?i) folds ASCII letters with no other rune
// but the Kelvin sign and the long s, and ß with ẞ; \d, \s and \b are
// ASCII. A line with the Kelvin sign or the long s goes to the expression.
func matchAddress(l string) bool {
	if len(l) > 2048 || (!isASCII(l) && (strings.ContainsRune(l, '\u212A') || strings.ContainsRune(l, '\u017F'))) {
		return addressRe.MatchString(l)
	}
	var buf [2048]byte
	lower := lowerASCII(buf[:0], l)
	digit := hasASCIIDigit(l)
	// A number, an optional letter and a space; a street word after a space.
	if digit && numberThenSpace(l) && spaceThenWord(lower, addressStreetTypes) && addressAltRes[0].MatchString(l) {
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
	// A run of exactly five digits.
	return digitRunOf(l, 5) && addressAltRes[4].MatchString(l)
}

// addressStreetTypes are the street words of addressAlts[0], which follow
// \s there (lower case, as prefixes).
var addressStreetTypes = [][]byte{
	[]byte("street"), []byte("st"), []byte("avenue"), []byte("ave"), []byte("blvd"), []byte("boulevard"),
	[]byte("road"), []byte("rd"), []byte("drive"), []byte("dr"), []byte("lane"), []byte("ln"), []byte("way"),
	[]byte("parkway"), []byte("pkwy"), []byte("place"), []byte("pl"), []byte("plaza"), []byte("square"),
	[]byte("court"), []byte("ct"), []byte("terrace"), []byte("highway"), []byte("hwy"),
}

// spaceThenWord tells whether one of words follows a \s byte in s.
func spaceThenWord(s []byte, words [][]byte) bool {
	for i := 0; i+1 < len(s); i++ {
		if !isReSpace(s[i]) {
			continue
		}
		for _, w := range words {
			if bytes.HasPrefix(s[i+1:], w) {
				return true
			}
		}
	}
	return false
}

// digitRunOf tells whether l has a run of exactly n ASCII digits.
func digitRunOf(l string, n int) bool {
	run := 0
	for i := 0; i <= len(l); i++ {
		if i < len(l) && isASCIIDigit(l[i]) {
			run++
			continue
		}
		if run == n {
			return true
		}
		run = 0
	}
	return false
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
