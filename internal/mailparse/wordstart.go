package mailparse

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// wordStartRe finds the matches of a keyword expression (strongKwRe,
// mediumKwRe, negativeKwRe) with the expression's own result, faster than
// its search (fastpath_test.go holds findAll to FindAllStringIndex).
//
// Every alternative of these expressions starts with \b and an ASCII word
// character, but for negativeKwRe's "©". In ASCII text a match can
// therefore only start where a word starts, and there the expression
// anchored to the start of the rest of the line (where \b looks at no
// character before) finds what the unanchored one does: Go's \b is
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
