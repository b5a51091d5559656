package mailparse

import (
	"bytes"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"slices"
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
	// byLit lists the alternatives of each literal, noLit those that
	// require none: a line is checked against the literals it holds only.
	byLit [][]int
	noLit []int
}

// altCheck is one alternative of an altRe.
type altCheck struct {
	// lit is lower-case: every match of the alternative holds it, ASCII
	// case folded; empty when no literal is required. litIdx is its index
	// in the altRe's litSet.
	lit    []byte
	litIdx int
	// re is the alternative alone; nil when lit decides: holding it is a
	// match where the zero-width marks hold (a word boundary, the start
	// or the end of the text at an offset into lit: "\blit\b", "lit$").
	re    *regexp.Regexp
	marks []litMark
	expr  bool // lit does not decide: re does
}

// litMark is a zero-width assertion at an offset of a literal, or the
// white space (\s) that follows it.
type litMark struct {
	off int
	op  syntax.Op // OpWordBoundary, OpBeginText, OpEndText; OpCharClass: \s
}

// newAltRe splits re into its alternatives. It panics on a pattern it
// cannot split, at package initialisation.
func newAltRe(re *regexp.Regexp) *altRe {
	return splitAltRe(re, true)
}

// newAltPrefilter is an altRe for mayMatch only: it compiles no
// expression.
func newAltPrefilter(re *regexp.Regexp) *altRe {
	return splitAltRe(re, false)
}

func splitAltRe(re *regexp.Regexp, compile bool) *altRe {
	flags, body := splitFlags(re.String())
	m := &altRe{re: re}
	for _, alt := range expandAlternatives(body) {
		c := newAltCheck(flags, alt, compile)
		c.litIdx = m.lits.add(c.lit)
		if c.litIdx < 0 {
			m.noLit = append(m.noLit, len(m.alts))
		} else {
			if c.litIdx == len(m.byLit) {
				m.byLit = append(m.byLit, nil)
			}
			m.byLit[c.litIdx] = append(m.byLit[c.litIdx], len(m.alts))
		}
		m.alts = append(m.alts, c)
	}
	return m
}

func newAltCheck(flags, alt string, compile bool) altCheck {
	tree, err := syntax.Parse(flags+alt, syntax.Perl)
	if err != nil {
		panic("newAltRe: " + alt + ": " + err.Error())
	}
	if lit, marks, ok := markedLiteral(tree); ok {
		return altCheck{lit: []byte(lit), marks: marks}
	}
	lit, _ := requiredLiteral(tree)
	c := altCheck{lit: []byte(lit), expr: true}
	if compile {
		c.re = regexp.MustCompile(flags + alt)
	}
	return c
}

// markedLiteral tells an alternative that is literals and the zero-width
// assertions \b, ^ and $ (without (?m)), perhaps followed by one \s, and
// returns the literals joined and where the assertions stand in it. \b and
// \s are ASCII in Go, as in the text altRe lowers: the byte tests are
// exact.
func markedLiteral(re *syntax.Regexp) (lit string, marks []litMark, ok bool) {
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var b strings.Builder
	for k, sub := range subs {
		if k == len(subs)-1 && k > 0 && isSpaceClass(sub) {
			marks = append(marks, litMark{b.Len(), syntax.OpCharClass})
			break
		}
		switch sub.Op {
		case syntax.OpLiteral:
			l, whole := requiredLiteral(sub)
			if !whole {
				return "", nil, false
			}
			b.WriteString(l)
		case syntax.OpWordBoundary, syntax.OpBeginText, syntax.OpEndText:
			marks = append(marks, litMark{b.Len(), sub.Op})
		default:
			return "", nil, false
		}
	}
	return b.String(), marks, b.Len() > 0
}

// isSpaceClass tells Go's \s: [\t\n\f\r ].
func isSpaceClass(re *syntax.Regexp) bool {
	return re.Op == syntax.OpCharClass && slices.Equal(re.Rune, []rune{'\t', '\n', '\f', '\r', ' ', ' '})
}

// MatchString is re.MatchString(s).
func (m *altRe) MatchString(s string) bool {
	return m.match(s, true)
}

// mayMatch is false only where re.MatchString(s) is: it runs no
// expression, and takes an alternative that needs one for a match.
func (m *altRe) mayMatch(s string) bool {
	return m.match(s, false)
}

func (m *altRe) match(s string, exact bool) bool {
	if !isASCII(s) && (strings.ContainsRune(s, '\u212A') || strings.ContainsRune(s, '\u017F')) {
		return !exact || m.re.MatchString(s)
	}
	var buf [1024]byte
	hay := lowerASCII(buf[:0], s)
	found := m.lits.find(hay)
	for w, set := range found {
		for ; set != 0; set &= set - 1 {
			for _, i := range m.byLit[w*64+bits.TrailingZeros64(set)] {
				if m.alts[i].matches(s, hay, exact) {
					return true
				}
			}
		}
	}
	for _, i := range m.noLit {
		if m.alts[i].matches(s, hay, exact) {
			return true
		}
	}
	return false
}

// matches tells whether the alternative matches s (hay is s lowered in
// the ASCII range; its literal is there); without exact, an alternative
// that needs its expression is taken to match.
func (a *altCheck) matches(s string, hay []byte, exact bool) bool {
	switch {
	case a.expr:
		return !exact || a.re.MatchString(s)
	case len(a.marks) == 0:
		return true
	}
	return markedAt(hay, a.lit, a.marks)
}

// markedAt tells whether lit occurs in s where its marks hold.
func markedAt(s, lit []byte, marks []litMark) bool {
	word := func(i int) bool { return i >= 0 && i < len(s) && isASCIIWordByte(s[i]) }
	for off := 0; off < len(s); {
		i := bytes.Index(s[off:], lit)
		if i < 0 {
			return false
		}
		i += off
		ok := true
		for _, mk := range marks {
			at := i + mk.off
			switch mk.op {
			case syntax.OpWordBoundary:
				ok = ok && word(at-1) != word(at)
			case syntax.OpBeginText:
				ok = ok && at == 0
			case syntax.OpEndText:
				ok = ok && at == len(s)
			case syntax.OpCharClass:
				ok = ok && at < len(s) && isReSpace(s[at])
			}
		}
		if ok {
			return true
		}
		off = i + 1
	}
	return false
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
const maxLits = 1024

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
			l := ls.lits[li]
			if len(l) > 1 && (i+1 == len(hay) || hay[i+1] != l[1]) {
				continue
			}
			if bytes.HasPrefix(hay[i:], l) {
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
// ones, each written out as the alternatives it is made of (see
// choiceAt): "\b(?:a|b)\b" is "\ba\b|\bb\b", "colou?r" is
// "color|colour". An alternative that would make more than maxExpansion
// stays whole.
func expandAlternatives(p string) []string {
	var out []string
	for _, alt := range splitTop(p, '|') {
		exp := expandAlternative(alt)
		if len(exp) > maxExpansion {
			exp = []string{alt}
		}
		out = append(out, exp...)
	}
	return out
}

// maxExpansion bounds the alternatives one alternative becomes.
const maxExpansion = 256

func expandAlternative(alt string) []string {
	for i := 0; i < len(alt); {
		variants, end := choiceAt(alt, i)
		if variants == nil {
			i = end
			continue
		}
		var out []string
		for _, v := range variants {
			out = append(out, expandAlternatives(alt[:i]+v+alt[end:])...)
			if len(out) > maxExpansion {
				break
			}
		}
		return out
	}
	return []string{alt}
}

// choiceAt reads the atom of p at i, with its quantifier, up to end, and
// returns what may stand in its place, when it is a choice: a group
// ("(?:a|b)", a group without alternatives is written out, "(?:a)?"), a
// literal character or escaped punctuation made optional ("s?", "\.?"),
// a class of a few literal characters ("[ée]", "[-_ ]?"). Otherwise
// variants is nil.
func choiceAt(p string, i int) (variants []string, end int) {
	atom := atomEnd(p, i)
	end = atom
	opt := false
	switch {
	case end < len(p) && p[end] == '?' && (end+1 == len(p) || p[end+1] != '?'):
		opt, end = true, end+1
	case end < len(p) && strings.IndexByte("?*+{", p[end]) >= 0:
		return nil, quantifierEnd(p, end)
	}
	text := p[i:atom]
	var choices []string
	switch {
	case strings.HasPrefix(text, "(?:"):
		choices = splitTop(text[3:len(text)-1], '|')
		if strings.Count(text, "(?") != strings.Count(text, "(?:") {
			return nil, end // flags inside: their scope is the group
		}
		if !opt && len(choices) == 1 {
			return choices, end
		}
		for k, c := range choices {
			choices[k] = "(?:" + c + ")"
		}
	case text[0] == '[':
		choices = classChoices(text)
	case text[0] == '\\':
		if len(text) == 2 && !isASCIILetter(text[1]) && !isASCIIDigit(text[1]) && opt {
			choices = []string{text}
		}
	case opt && len(text) == 1 && strings.IndexByte(".^$()|", text[0]) < 0:
		choices = []string{text}
	}
	if choices == nil {
		return nil, end
	}
	if opt {
		choices = append([]string{""}, choices...)
	}
	return choices, end
}

// classChoices returns the members of a class of a few (up to six)
// literal characters ("[ée]", "[-_ ]"), or nil.
func classChoices(class string) []string {
	inner := class[1 : len(class)-1]
	if inner == "" || inner[0] == '^' || strings.ContainsAny(inner, "\\[") || utf8.RuneCountInString(inner) > 6 {
		return nil
	}
	var out []string
	for k, r := range inner {
		if r == '-' && k > 0 && k+1 < len(inner) {
			return nil // a range
		}
		out = append(out, regexp.QuoteMeta(string(r)))
	}
	return out
}

// atomEnd returns the end of the atom of p at i: an escape, a class, a
// group or one rune.
func atomEnd(p string, i int) int {
	switch p[i] {
	case '\\':
		j := i + 2
		if j <= len(p) && strings.IndexByte("pPx", p[i+1]) >= 0 && j < len(p) && p[j] == '{' {
			if k := strings.IndexByte(p[j:], '}'); k >= 0 {
				return j + k + 1
			}
		} else if j <= len(p) && (p[i+1] == 'p' || p[i+1] == 'P') {
			j++
		}
		return min(j, len(p))
	case '[':
		return classEnd(p, i) + 1
	case '(':
		if g := topGroups(p[i:]); len(g) > 0 {
			return i + g[0][1]
		}
		return len(p)
	}
	_, size := utf8.DecodeRuneInString(p[i:])
	return i + size
}

// quantifierEnd returns the end of the quantifier of p at i.
func quantifierEnd(p string, i int) int {
	if p[i] == '{' {
		if k := strings.IndexByte(p[i:], '}'); k >= 0 {
			i += k
		}
	}
	i++
	if i < len(p) && p[i] == '?' {
		i++
	}
	return i
}

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
