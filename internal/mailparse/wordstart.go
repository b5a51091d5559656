package mailparse

import (
	"bytes"
	"cmp"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// wordStartRe finds the matches of a keyword expression (strongKwRe,
// mediumKwRe, negativeKwRe) with the expression's own result, faster than
// its search (fastpath_test.go holds findAll to FindAllStringIndex).
//
// Every alternative of these expressions starts with \b and an ASCII word
// character, but for negativeKwRe's "©". A match can therefore only start
// where a word starts or at a non-ASCII rune, and there the expression
// anchored to the start of the rest of the line (where \b looks at no
// character before) finds what the unanchored one does: Go's \b is
// ASCII-only and the character before is not a word character. Only the
// Kelvin sign and the long s, which (?i) folds with k and s, could start a
// match after a word character: a line holding either is searched whole.
// At a word start, only the alternatives that can start with its first
// byte are tried: the unanchored search restarts every alternative at
// every byte, the full anchored one every alternative at every word.
type wordStartRe struct {
	re *regexp.Regexp
	// anchored is the whole expression, tried at a non-ASCII rune of
	// nonASCII, the runes a match can start with.
	anchored *regexp.Regexp
	nonASCII [][2]rune
	// byByte[c] is the expression anchored, with only the alternatives a
	// match starting with byte c can take; nil when there are none. The
	// wild alternative, which starts with \w (it would make every word
	// start a candidate) and can only match in a word that holds wildLit
	// (ASCII case folded), is in wildByByte[c] only.
	byByte, wildByByte [128]*regexp.Regexp
	wildLit            string
	// leads[c] are the leading literals (lower case) of the alternatives
	// of byByte[c]: at a word start that begins with none of them, none
	// can match; nil when one has no leading literal.
	leads [128][][]byte
}

// newWordStartRe makes the word-start matcher of re, which must be
// "pre(?:alt|…)post" with flags; wildAlt, if not empty, is one of the
// alternatives, which starts with \w and whose matches lie in a word
// holding wildLit.
func newWordStartRe(re *regexp.Regexp, wildAlt, wildLit string) wordStartRe {
	flags, body := splitFlags(re.String())
	pre, inner, post, ok := alternationGroup(body)
	if !ok || strings.Contains(pre+post, "|") {
		panic("newWordStartRe: " + re.String() + " is not one group of alternatives")
	}
	w := wordStartRe{re: re, anchored: regexp.MustCompile(`^(?:` + re.String() + `)`), wildLit: wildLit}
	alts := splitTop(inner, '|')
	first := make([][128]bool, len(alts))
	leads := make([]string, len(alts))
	wild := -1
	for i, alt := range alts {
		if alt == wildAlt {
			wild = i
			continue
		}
		sre, err := syntax.Parse(flags+pre+"(?:"+alt+")"+post, syntax.Perl)
		if err != nil {
			panic(err)
		}
		if !firstRunes(sre, &first[i], &w.nonASCII) {
			panic("firstRunes: " + alt + " matches the empty string")
		}
		leads[i] = leadingLiteral(sre)
	}
	slices.SortFunc(w.nonASCII, func(a, b [2]rune) int { return cmp.Compare(a[0], b[0])*2 + cmp.Compare(a[1], b[1]) })
	w.nonASCII = slices.Compact(w.nonASCII)
	if wildAlt != "" && wild < 0 {
		panic("newWordStartRe: " + wildAlt + " is not an alternative of " + re.String())
	}
	compiled := map[string]*regexp.Regexp{}
	anchoredOf := func(with func(i int) bool) *regexp.Regexp {
		var sub []string
		for i, alt := range alts {
			if with(i) {
				sub = append(sub, alt)
			}
		}
		if len(sub) == 0 {
			return nil
		}
		p := flags + `^(?:` + pre + `(?:` + strings.Join(sub, "|") + `)` + post + `)`
		if compiled[p] == nil {
			compiled[p] = regexp.MustCompile(p)
		}
		return compiled[p]
	}
	for c := range w.byByte {
		if isASCIIWordByte(byte(c)) {
			w.byByte[c] = anchoredOf(func(i int) bool { return i != wild && first[i][c] })
			w.wildByByte[c] = anchoredOf(func(i int) bool { return i == wild || first[i][c] })
			w.leads[c] = leadsOf(leads, func(i int) bool { return i != wild && first[i][c] })
		}
	}
	return w
}

// leadsOf returns the leading literals of the alternatives with says
// yes to, or nil when one has none.
func leadsOf(leads []string, with func(i int) bool) [][]byte {
	var out [][]byte
	for i, l := range leads {
		if !with(i) {
			continue
		}
		if l == "" {
			return nil
		}
		out = append(out, []byte(l))
	}
	return out
}

// leadingLiteral returns the literal every match of re starts with, as
// altRe looks for it (lower case, ASCII case folded; see safeRuns), after
// any zero-width assertions; "" when it has none.
func leadingLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		var b strings.Builder
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf && fold && unicode.SimpleFold(r) != r {
				break
			}
			b.WriteRune(unicode.ToLower(r))
		}
		return b.String()
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			switch sub.Op {
			case syntax.OpWordBoundary, syntax.OpBeginText, syntax.OpBeginLine, syntax.OpEmptyMatch:
				continue
			}
			return leadingLiteral(sub)
		}
	case syntax.OpCapture:
		return leadingLiteral(re.Sub[0])
	}
	return ""
}

// findAll is re.FindAllStringIndex(s, -1).
func (w *wordStartRe) findAll(s string) [][]int {
	if !isASCII(s) && (strings.ContainsRune(s, '\u212A') || strings.ContainsRune(s, '\u017F')) {
		return w.re.FindAllStringIndex(s, -1)
	}
	var buf [1024]byte
	hay := lowerASCII(buf[:0], s)
	var out [][]int
	for p := 0; p < len(s); {
		re, size := w.at(s, hay, p)
		if re != nil {
			if loc := re.FindStringIndex(s[p:]); loc != nil && loc[1] > 0 {
				out = append(out, []int{p, p + loc[1]})
				p += loc[1]
				continue
			}
		}
		p += size
	}
	return out
}

// at returns the expression to try at s[p] (nil for none) and the size of
// the rune there, as the unanchored search steps; hay is s lowered in the
// ASCII range.
func (w *wordStartRe) at(s string, hay []byte, p int) (*regexp.Regexp, int) {
	c := s[p]
	if c >= utf8.RuneSelf {
		r, size := utf8.DecodeRuneInString(s[p:])
		for _, rg := range w.nonASCII {
			if r >= rg[0] && r <= rg[1] {
				return w.anchored, size
			}
		}
		return nil, size
	}
	if !isASCIIWordByte(c) || (p > 0 && isASCIIWordByte(s[p-1])) {
		return nil, 1
	}
	if w.wildLit != "" && containsFoldASCII(wordAt(s, p), w.wildLit) {
		return w.wildByByte[c], 1
	}
	if w.byByte[c] == nil || w.leads[c] == nil {
		return w.byByte[c], 1
	}
	for _, l := range w.leads[c] {
		if bytes.HasPrefix(hay[p:], l) {
			return w.byByte[c], 1
		}
	}
	return nil, 1
}

// firstRunes adds to set the ASCII bytes and to nonASCII the ranges of
// other runes that a match of re can start with (a superset), and tells
// whether every match of re is non-empty. It panics on an operator it does
// not know.
func firstRunes(re *syntax.Regexp, set *[128]bool, nonASCII *[][2]rune) (nonEmpty bool) {
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
		addRune(re.Rune[0], re.Flags&syntax.FoldCase != 0, set, nonASCII)
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 128; r++ {
				addRune(r, re.Flags&syntax.FoldCase != 0, set, nonASCII)
			}
			if hi := re.Rune[i+1]; hi >= utf8.RuneSelf {
				*nonASCII = append(*nonASCII, [2]rune{max(re.Rune[i], utf8.RuneSelf), hi})
			}
		}
		return true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		for c := range set {
			set[c] = true
		}
		*nonASCII = append(*nonASCII, [2]rune{utf8.RuneSelf, unicode.MaxRune})
		return true
	case syntax.OpCapture:
		return firstRunes(re.Sub[0], set, nonASCII)
	case syntax.OpStar, syntax.OpQuest:
		firstRunes(re.Sub[0], set, nonASCII)
		return false
	case syntax.OpPlus:
		return firstRunes(re.Sub[0], set, nonASCII)
	case syntax.OpRepeat:
		ne := firstRunes(re.Sub[0], set, nonASCII)
		return ne && re.Min > 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if firstRunes(sub, set, nonASCII) {
				return true
			}
		}
		return false
	case syntax.OpAlternate:
		nonEmpty = true
		for _, sub := range re.Sub {
			if !firstRunes(sub, set, nonASCII) {
				nonEmpty = false
			}
		}
		return nonEmpty
	}
	panic("firstBytes: unknown operator " + re.Op.String())
}

func addRune(r rune, fold bool, set *[128]bool, nonASCII *[][2]rune) {
	add := func(r rune) {
		if r < utf8.RuneSelf {
			set[r] = true
		} else {
			*nonASCII = append(*nonASCII, [2]rune{r, r})
		}
	}
	add(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			add(f)
		}
	}
}

// wordAt is the run of ASCII word bytes at s[p:].
func wordAt(s string, p int) string {
	e := p
	for e < len(s) && isASCIIWordByte(s[e]) {
		e++
	}
	return s[p:e]
}
