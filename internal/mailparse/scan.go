package mailparse

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// Faster equivalents of a few expressions that run on many lines. Each is
// held to the expression it replaces by the tests (scan_test.go, and the
// golden test for the whole analysis).

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
	// first tells the ASCII bytes a match can start with, but for the
	// matches of the alternative wildAlt, which starts with \w and can
	// only match in a word that holds wildLit (ASCII case folded).
	first   [128]bool
	wildLit string
}

// newWordStartRe makes the word-start matcher of re; wildAlt, if not
// empty, is an alternative of re that starts with \w (which would make
// every word start a candidate), whose matches lie in a word holding
// wildLit.
func newWordStartRe(re *regexp.Regexp, wildAlt, wildLit string) wordStartRe {
	w := wordStartRe{re: re, anchored: regexp.MustCompile(`^(?:` + re.String() + `)`), wildLit: wildLit}
	rest := re.String()
	if wildAlt != "" {
		if strings.Count(rest, wildAlt) != 1 {
			panic("newWordStartRe: " + wildAlt + " is not an alternative of " + rest)
		}
		rest = strings.Replace(rest, wildAlt, "", 1)
	}
	sre, err := syntax.Parse(rest, syntax.Perl)
	if err != nil {
		panic(err)
	}
	if !firstBytes(sre, &w.first) {
		panic("firstBytes: " + re.String() + " matches the empty string")
	}
	return w
}

// firstBytes adds to set the ASCII bytes that a match of re can start with
// (a superset), and tells whether every match of re is non-empty. It
// panics on an operator it does not know.
func firstBytes(re *syntax.Regexp, set *[128]bool) (nonEmpty bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return true
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return false
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return false
		}
		addRune(re.Rune[0], re.Flags&syntax.FoldCase != 0, set)
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 128; r++ {
				addRune(r, re.Flags&syntax.FoldCase != 0, set)
			}
		}
		return true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		for c := range set {
			set[c] = true
		}
		return true
	case syntax.OpCapture:
		return firstBytes(re.Sub[0], set)
	case syntax.OpStar, syntax.OpQuest:
		firstBytes(re.Sub[0], set)
		return false
	case syntax.OpPlus:
		return firstBytes(re.Sub[0], set)
	case syntax.OpRepeat:
		ne := firstBytes(re.Sub[0], set)
		return ne && re.Min > 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if firstBytes(sub, set) {
				return true
			}
		}
		return false
	case syntax.OpAlternate:
		nonEmpty = true
		for _, sub := range re.Sub {
			if !firstBytes(sub, set) {
				nonEmpty = false
			}
		}
		return nonEmpty
	}
	panic("firstBytes: unknown operator " + re.Op.String())
}

func addRune(r rune, fold bool, set *[128]bool) {
	if r < 128 {
		set[r] = true
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < 128 {
				set[f] = true
			}
		}
	}
}

var (
	strongKwWS   = newWordStartRe(strongKwRe, `|\w*codes?`, "code")
	mediumKwWS   = newWordStartRe(mediumKwRe, "", "")
	negativeKwWS = newWordStartRe(negativeKwRe, `|\b\w+nummer\b`, "nummer")
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
		if !w.first[s[p]] && (w.wildLit == "" || !containsFoldASCII(wordAt(s, p), w.wildLit)) {
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

// wordAt is the run of ASCII word bytes at s[p:].
func wordAt(s string, p int) string {
	e := p
	for e < len(s) && isASCIIWordByte(s[e]) {
		e++
	}
	return s[p:e]
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
