package mailparse

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// altRe answers MatchString of an alternation ("a|b|c", or "\b(?:a|b)\b")
// alternative by alternative: an alternative is tried only on text that
// holds the literal every match of it holds, and an alternative that is
// nothing but that literal needs no expression at all. Most of the
// package's case-insensitive word lists are such literals, and the
// unanchored search of the whole list restarts every alternative at every
// byte (fastpath_test.go holds MatchString to the expression's).
//
// The literal test folds ASCII case only: (?i) also folds the Kelvin sign
// and the long s with k and s, so text holding either goes to the whole
// expression (see ascii.go).
type altRe struct {
	re   *regexp.Regexp
	alts []altCheck
	lits litSet
}

// altCheck is one alternative of an altRe.
type altCheck struct {
	// lit is lower-case: every match of the alternative holds it, ASCII
	// case folded; empty when no literal is required. litIdx is its index
	// in the altRe's litSet.
	lit    []byte
	litIdx int
	// re is the alternative alone; nil when lit decides: holding it is a
	// match, between ASCII word boundaries where wordBefore, wordAfter
	// say ("\blit\b").
	re                    *regexp.Regexp
	wordBefore, wordAfter bool
}

// newAltRe splits re into its alternatives. It panics on a pattern it
// cannot split, at package initialisation.
func newAltRe(re *regexp.Regexp) *altRe {
	flags, body := splitFlags(re.String())
	m := &altRe{re: re}
	for _, alt := range expandAlternatives(body) {
		c := newAltCheck(flags, alt)
		c.litIdx = m.lits.add(c.lit)
		m.alts = append(m.alts, c)
	}
	return m
}

func newAltCheck(flags, alt string) altCheck {
	tree, err := syntax.Parse(flags+alt, syntax.Perl)
	if err != nil {
		panic("newAltRe: " + alt + ": " + err.Error())
	}
	lit, whole := requiredLiteral(tree)
	c := altCheck{lit: []byte(lit)}
	if whole {
		return c
	}
	if l, before, after, ok := boundedLiteral(tree); ok {
		return altCheck{lit: []byte(l), wordBefore: before, wordAfter: after}
	}
	c.re = regexp.MustCompile(flags + alt)
	return c
}

// boundedLiteral tells an alternative that is a literal between word
// boundaries (\blit\b, \blit, lit\b) whose ends are ASCII word
// characters, so that Go's \b (ASCII) means what hasWordAt tests.
func boundedLiteral(re *syntax.Regexp) (lit string, before, after bool, ok bool) {
	if re.Op != syntax.OpConcat {
		return "", false, false, false
	}
	subs := re.Sub
	if len(subs) > 0 && subs[0].Op == syntax.OpWordBoundary {
		before, subs = true, subs[1:]
	}
	if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpWordBoundary {
		after, subs = true, subs[:len(subs)-1]
	}
	if len(subs) != 1 || subs[0].Op != syntax.OpLiteral {
		return "", false, false, false
	}
	lit, whole := requiredLiteral(subs[0])
	if !whole || !isASCIIWordByte(lit[0]) || !isASCIIWordByte(lit[len(lit)-1]) {
		return "", false, false, false
	}
	return lit, before, after, true
}

// MatchString is re.MatchString(s).
func (m *altRe) MatchString(s string) bool {
	if !isASCII(s) && (strings.ContainsRune(s, '\u212A') || strings.ContainsRune(s, '\u017F')) {
		return m.re.MatchString(s)
	}
	var buf [1024]byte
	hay := lowerASCII(buf[:0], s)
	found := m.lits.find(hay)
	for i := range m.alts {
		a := &m.alts[i]
		if len(a.lit) > 0 && found[a.litIdx/64]&(1<<(a.litIdx%64)) == 0 {
			continue
		}
		switch {
		case a.re != nil:
			if a.re.MatchString(s) {
				return true
			}
		case a.wordBefore || a.wordAfter:
			if hasWordAt(hay, a.lit, a.wordBefore, a.wordAfter) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// hasWordAt tells whether w occurs in s with an ASCII word boundary before
// it (when before) and after it (when after); w starts and ends with a
// word character.
func hasWordAt(s, w []byte, before, after bool) bool {
	for off := 0; ; {
		i := bytes.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w)
		if (!before || i == 0 || !isASCIIWordByte(s[i-1])) && (!after || j == len(s) || !isASCIIWordByte(s[j])) {
			return true
		}
		off = i + 1
	}
}

// litSet finds which of a few hundred literals a text holds, in one pass:
// a table of the literals' first two bytes rules out most positions.
type litSet struct {
	lits    [][]byte
	pairs   [1 << 16 / 64]uint64 // the first two bytes of each literal
	single  [256]bool            // one-byte literals
	byFirst [256][]int
}

// maxLits bounds a litSet: find's answer is a fixed bitset.
const maxLits = 256

// add adds lit (if new and not empty) and returns its index.
func (ls *litSet) add(lit []byte) int {
	if len(lit) == 0 {
		return -1
	}
	for i, l := range ls.lits {
		if bytes.Equal(l, lit) {
			return i
		}
	}
	i := len(ls.lits)
	if i == maxLits {
		panic("litSet: more than maxLits literals")
	}
	ls.lits = append(ls.lits, lit)
	if len(lit) == 1 {
		ls.single[lit[0]] = true
	} else {
		p := int(lit[0])<<8 | int(lit[1])
		ls.pairs[p/64] |= 1 << (p % 64)
	}
	ls.byFirst[lit[0]] = append(ls.byFirst[lit[0]], i)
	return i
}

// find returns the set of the literals hay holds, by index.
func (ls *litSet) find(hay []byte) (found [maxLits / 64]uint64) {
	for i, c := range hay {
		if i+1 < len(hay) {
			if p := int(c)<<8 | int(hay[i+1]); ls.pairs[p/64]&(1<<(p%64)) == 0 && !ls.single[c] {
				continue
			}
		} else if !ls.single[c] {
			continue
		}
		for _, li := range ls.byFirst[c] {
			if bytes.HasPrefix(hay[i:], ls.lits[li]) {
				found[li/64] |= 1 << (li % 64)
			}
		}
	}
	return found
}

// splitFlags separates a leading "(?flags)" from a pattern.
func splitFlags(p string) (flags, body string) {
	if strings.HasPrefix(p, "(?") {
		if i := strings.IndexByte(p, ')'); i > 0 && !strings.ContainsAny(p[2:i], ":(") {
			return p[:i+1], p[i+1:]
		}
	}
	return "", p
}

// expandAlternatives returns the alternatives of a pattern: its top-level
// ones, and in each, those of its groups that have alternatives, with the
// text around the group ("\b(?:a|b)\b" is "\b(?:a)\b|\b(?:b)\b"), and an
// optional group's two cases ("a(?:b)?" is "a|a(?:b)"). An alternative
// that would make more than maxExpansion stays whole.
func expandAlternatives(p string) []string {
	var out []string
	for _, alt := range splitTop(p, '|') {
		var exp []string
		if pre, inner, post, ok := optionalGroup(alt); ok {
			exp = append(expandAlternatives(pre+post), expandAlternatives(pre+"(?:"+inner+")"+post)...)
		} else if pre, inner, post, ok := alternationGroup(alt); ok {
			for _, in := range splitTop(inner, '|') {
				exp = append(exp, expandAlternatives(pre+"(?:"+in+")"+post)...)
			}
		}
		if len(exp) == 0 || len(exp) > maxExpansion {
			exp = []string{alt}
		}
		out = append(out, exp...)
	}
	return out
}

// maxExpansion bounds the alternatives one alternative becomes.
const maxExpansion = 64

// alternationGroup finds the first top-level group of p that holds a
// top-level "|" and is not repeated: p is pre + "(?:" + inner + ")" + post.
func alternationGroup(p string) (pre, inner, post string, ok bool) {
	for _, g := range topGroups(p) {
		if !strings.HasPrefix(p[g[0]:g[1]], "(?:") || (g[1] < len(p) && strings.IndexByte("?*+{", p[g[1]]) >= 0) {
			continue
		}
		if in := p[g[0]+3 : g[1]-1]; len(splitTop(in, '|')) > 1 {
			return p[:g[0]], in, p[g[1]:], true
		}
	}
	return "", "", "", false
}

// optionalGroup finds the first top-level "(?:inner)?" of p (a greedy
// one: "??" is left alone), which p matches with or without.
func optionalGroup(p string) (pre, inner, post string, ok bool) {
	for _, g := range topGroups(p) {
		if strings.HasPrefix(p[g[0]:g[1]], "(?:") && g[1] < len(p) && p[g[1]] == '?' && (g[1]+1 == len(p) || p[g[1]+1] != '?') {
			return p[:g[0]], p[g[0]+3 : g[1]-1], p[g[1]+1:], true
		}
	}
	return "", "", "", false
}

// topGroups returns the spans of the top-level parenthesised groups of p.
func topGroups(p string) [][2]int {
	var out [][2]int
	depth, start := 0, 0
	walkPattern(p, func(i int, c byte) {
		switch c {
		case '(':
			if depth == 0 {
				start = i
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				out = append(out, [2]int{start, i + 1})
			}
		}
	})
	return out
}

// splitTop splits p at the separator sep outside groups and classes.
func splitTop(p string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	walkPattern(p, func(i int, c byte) {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, p[start:i])
			start = i + 1
		}
	})
	return append(out, p[start:])
}

// walkPattern calls f with each byte of p that is syntax: not escaped and
// not inside a character class.
func walkPattern(p string, f func(i int, c byte)) {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[':
			i = classEnd(p, i)
		default:
			f(i, p[i])
		}
	}
}

// classEnd returns the index of the "]" that closes the class at p[i].
func classEnd(p string, i int) int {
	j := i + 1
	if j < len(p) && p[j] == '^' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++ // a leading "]" is literal
	}
	for ; j < len(p); j++ {
		switch p[j] {
		case '\\':
			j++
		case '[':
			if j+1 < len(p) && p[j+1] == ':' { // [:alpha:]
				if k := strings.Index(p[j:], ":]"); k >= 0 {
					j += k + 1
				}
			}
		case ']':
			return j
		}
	}
	return len(p)
}

// requiredLiteral returns the longest literal that every match of re
// holds, lower-cased, as altRe looks for it; whole tells that holding it
// is a match of re.
func requiredLiteral(re *syntax.Regexp) (lit string, whole bool) {
	switch re.Op {
	case syntax.OpLiteral:
		runs := safeRuns(re.Rune, re.Flags&syntax.FoldCase != 0)
		for _, r := range runs {
			if len(r) > len(lit) {
				lit = r
			}
		}
		fold := re.Flags&syntax.FoldCase != 0
		return lit, len(runs) == 1 && utf8.RuneCountInString(lit) == len(re.Rune) && (fold || !hasASCIILetter(lit))
	case syntax.OpCapture, syntax.OpPlus:
		lit, _ = requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min > 0 {
			lit, _ = requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if l, _ := requiredLiteral(sub); len(l) > len(lit) {
				lit = l
			}
		}
	}
	return lit, false
}

// safeRuns splits a literal into the runs altRe can look for in text
// lowered in the ASCII range: ASCII runes (lowered), and runes that fold
// with no other; a rune that folds with others (é, É) ends a run.
func safeRuns(runes []rune, fold bool) []string {
	var out []string
	var b strings.Builder
	for _, r := range runes {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(unicode.ToLower(r))
			continue
		case !fold || unicode.SimpleFold(r) == r:
			b.WriteRune(r)
			continue
		}
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func hasASCIILetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if isASCIILetter(s[i]) {
			return true
		}
	}
	return false
}
