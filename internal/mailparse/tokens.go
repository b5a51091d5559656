package mailparse

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Code candidates: how they look.
const (
	tokDigits  = iota // 4–8 digits: 739142
	tokGrouped        // digits in equal groups: 739 142, 739-142, 7 3 9 1 4 2
	tokAlnum          // capitals and digits: ABC123, K7Q-2MX
)

// token is a code-like token on a line.
type token struct {
	start, end int // byte offsets in the line
	raw        string
	norm       string
	kind       int
	adjacent   bool // one of several numbers in a row: 482913 2025
}

// Caps on one line of the code search.
const (
	// maxLineBytes: a longer line is cut, to bound the work per line.
	maxLineBytes = 4000
	// maxTokensPerLine: a line with more candidates than this is a table
	// of numbers, not a message with a code in it.
	maxTokensPerLine = 40
)

// The runs a token is cut from: digits, alone or in groups ("739 142",
// "739-142"), and capitals and digits ("K7Q-2MX").
var (
	digitSeqRe = regexp.MustCompile(`[0-9]+(?:[ \-\x{2010}\x{2011}\x{2012}\x{2013}][0-9]+)*`)
	alnumSeqRe = regexp.MustCompile(`[A-Z0-9]+(?:-[A-Z0-9]+)*`)
)

// digitRuns is digitSeqRe.FindAllStringIndex(s, -1) (as pairs): runs of digits
// joined by single separators, scanned greedily as the expression matches.
func digitRuns(s string) [][2]int {
	return seqRuns(s, isASCIIDigit, func(s string, i int) int {
		if s[i] == ' ' || s[i] == '-' {
			return 1
		}
		if r, size := utf8.DecodeRuneInString(s[i:]); r >= '\u2010' && r <= '\u2013' {
			return size
		}
		return 0
	})
}

// alnumRuns is alnumSeqRe.FindAllStringIndex(s, -1) (as pairs).
func alnumRuns(s string) [][2]int {
	return seqRuns(s, func(c byte) bool { return isASCIIDigit(c) || (c >= 'A' && c <= 'Z') }, func(s string, i int) int {
		if s[i] == '-' {
			return 1
		}
		return 0
	})
}

// seqRuns finds the runs of bytes that are in, joined by single
// separators (sep returns a separator's size at s[i], or 0), each at least
// one byte: the matches of "in+(?:sep in+)*".
func seqRuns(s string, in func(byte) bool, sep func(string, int) int) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if !in(s[i]) {
			i++
			continue
		}
		start := i
		for {
			for i < len(s) && in(s[i]) {
				i++
			}
			if i == len(s) {
				break
			}
			n := sep(s, i)
			if n == 0 || i+n >= len(s) || !in(s[i+n]) {
				break
			}
			i += n
		}
		out = append(out, [2]int{start, i})
	}
	return out
}

// maskRe matches what holds digits but no code: URLs, email addresses and
// hex colours.
var maskRe = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s<>"]+|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|#[0-9a-f]{3,8}\b`)

// alnumStopRe matches tokens that look like codes but are names of things:
// standards, units, products, time zones.
var alnumStopRe = regexp.MustCompile(`^(?:ISO|RFC|SHA|MD|UTF|HTTP|TLS|SSL|IPV|COVID|WIN|CVE|PCI|SOC|GDPR|ISBN|IBAN|MP|H26|X50|AES|RSA|USB|HDMI|DDR|GPT|IOS|PS|XBOX|NFT|HTML|CSS|ES|EN|DIN|IEC|ICD|WCAG|OAUTH|FIDO|U2F|WEBAUTHN|TOTP|HOTP|ORDER|INV|REF|TKT|SKU|Q[1-4]|FY|KW|CW|AM|PM|GMT|UTC|CET|CEST|PST|PDT|EST|EDT)[0-9]|^[0-9]+(?:GB|MB|KB|TB|PX|MIN|MINS|HRS?|H|AM|PM|K|P|X|ST|ND|RD|TH|D|M|S|MS|FPS|MP|HZ|GHZ|MHZ|KM|KG|LB|LBS|OZ|ML|L|G|MM|CM|IN|FT|W|KW|V|MAH|DPI|PPI|BIT|BITS)$`)

// currencyBeforeRe matches a currency just before a number: a price.
var currencyBeforeRe = regexp.MustCompile(`(?i)(?:` + currencies + `)\s?$`)

const currencies = `[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|cad|aud|mxn|us\$|rs\.?|inr)`

// currencyAtEnd is currencyBeforeRe without its optional space, as an
// altRe matcher.
var currencyAtEnd = newAltRe(regexp.MustCompile(`(?i)(?:` + currencies + `)$`))

// hasCurrencyBefore is currencyBeforeRe.MatchString(before): a currency at
// its end, or before one white-space character there.
func hasCurrencyBefore(before string) bool {
	return currencyAtEnd.MatchString(before) ||
		(before != "" && isReSpace(before[len(before)-1]) && currencyAtEnd.MatchString(before[:len(before)-1]))
}

// findTokens returns the code-like tokens of a line.
func findTokens(line string) []token {
	if len(line) > maxLineBytes {
		line = TruncateUTF8(line, maxLineBytes)
	}
	// Every token holds an ASCII digit, and masking adds none.
	if !hasASCIIDigit(line) {
		return nil
	}
	return scanTokens(line)
}

// scanTokens is findTokens without its prefilter.
func scanTokens(line string) []token {
	m := mask(line)
	var toks []token
	for _, loc := range digitRuns(m) {
		toks = append(toks, digitTokens(m, line, loc[0], loc[1])...)
	}
	for _, loc := range alnumRuns(m) {
		if t, ok := alnumToken(m, line, loc[0], loc[1]); ok {
			toks = append(toks, t)
		}
	}
	sort.SliceStable(toks, func(i, j int) bool { return toks[i].start < toks[j].start })
	return toks
}

// mask blanks URLs, email addresses and hex colours out of a line,
// keeping byte offsets.
func mask(line string) string {
	if !mayNeedMask(line) {
		return line
	}
	locs := maskRe.FindAllStringIndex(line, -1)
	if locs == nil {
		return line
	}
	b := []byte(line)
	for _, l := range locs {
		for i := l[0]; i < l[1]; i++ {
			b[i] = ' '
		}
	}
	return string(b)
}

// maskRe needs "://", "www." (case-insensitively), "@" or "#".
func mayNeedMask(l string) bool {
	return strings.Contains(l, "://") || strings.IndexByte(l, '@') >= 0 || strings.IndexByte(l, '#') >= 0 || containsFoldASCII(l, "www.")
}

// digitTokens judges a run of digit groups m[s:e].
func digitTokens(m, line string, s, e int) []token {
	if isWordRune(runeBefore(m, s)) || isWordRune(runeAfter(m, e)) {
		return nil
	}
	if numberContextRejects(m, s, e) {
		return nil
	}
	seq := m[s:e]
	var groups []string
	var offs []int
	dash := false
	start := 0
	for i := 0; i < len(seq); {
		r, size := utf8.DecodeRuneInString(seq[i:])
		if r < '0' || r > '9' {
			groups = append(groups, seq[start:i])
			offs = append(offs, start)
			if r != ' ' {
				dash = true
			}
			start = i + size
		}
		i += size
	}
	groups = append(groups, seq[start:])
	offs = append(offs, start)

	total := 0
	equal := true
	for _, g := range groups {
		total += len(g)
		if len(g) != len(groups[0]) {
			equal = false
		}
	}
	if len(groups) == 1 {
		if total >= 4 && total <= 8 {
			return []token{{start: s, end: e, raw: line[s:e], norm: seq, kind: tokDigits}}
		}
		return nil
	}
	if total > 8 {
		return nil // phone, card, account or meeting number
	}
	if equal && total >= 4 && len(groups[0]) <= 4 {
		return []token{{start: s, end: e, raw: line[s:e], norm: NormalizeCode(seq), kind: tokGrouped}}
	}
	if dash {
		return nil // 555-0199, 2024-05-12
	}
	var out []token
	for i, g := range groups {
		if len(g) >= 4 && len(g) <= 8 {
			gs := s + offs[i]
			out = append(out, token{start: gs, end: gs + len(g), raw: g, norm: g, kind: tokDigits, adjacent: true})
		}
	}
	return out
}

// numberContextRejects tells numbers that are prices, decimals, times,
// dates, fractions, phone numbers, percentages or "#" references.
func numberContextRejects(m string, s, e int) bool {
	b := runeBefore(m, s)
	a := runeAfter(m, e)
	switch b {
	case '#', '+', '/', '\\', '№', '@', '=', '&', '?':
		return true
	case '.', ',', ':', '-', '–':
		if unicode.IsDigit(runeBefore(m, s-1)) {
			return true
		}
	}
	switch a {
	case '%', '/', '€', '$', '£', '¥', '°', '@':
		return true
	case '.', ',', ':', '-', '–':
		if unicode.IsDigit(runeAfter(m, e+1)) {
			return true
		}
	}
	before := m[max(0, s-6):s]
	return hasCurrencyBefore(before)
}

// alnumToken judges a run of capitals and digits m[s:e].
func alnumToken(m, line string, s, e int) (token, bool) {
	if isWordRune(runeBefore(m, s)) || isWordRune(runeAfter(m, e)) {
		return token{}, false
	}
	if b := runeBefore(m, s); b == '#' || b == '/' || b == '=' || b == '&' || b == '?' || b == '@' {
		return token{}, false
	}
	seq := m[s:e]
	hasDigit, hasLetter := false, false
	for _, r := range seq {
		if r >= '0' && r <= '9' {
			hasDigit = true
		} else if r >= 'A' && r <= 'Z' {
			hasLetter = true
		}
	}
	if !hasDigit || !hasLetter {
		return token{}, false
	}
	groups := strings.Split(seq, "-")
	norm := strings.Join(groups, "")
	if len(norm) < 5 || len(norm) > 12 {
		return token{}, false
	}
	if len(groups) > 1 {
		if len(groups) > 4 {
			return token{}, false
		}
		for _, g := range groups {
			if len(g) < 2 || len(g) > 6 {
				return token{}, false
			}
		}
	}
	if alnumStopRe.MatchString(norm) {
		return token{}, false
	}
	return token{start: s, end: e, raw: line[s:e], norm: norm, kind: tokAlnum}, true
}

// isStandalone tells a token that is all its line holds (quote markers and
// punctuation aside).
func isStandalone(line string, t token) bool {
	rest := unquoteLine(line[:t.start]) + " " + line[t.end:]
	return alnumCount(rest, 1) == 0
}

// NormalizeCode removes the spaces and dashes inside a code:
// "7 3 9 1 4 2" → "739142", "K7Q-2MX" → "K7Q2MX".
func NormalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '‐' || r == '‑' || r == '‒' || r == '–' || r == '—' {
			return -1
		}
		return r
	}, s)
}

func runeBefore(s string, i int) rune {
	if i <= 0 {
		return 0
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

func runeAfter(s string, i int) rune {
	if i >= len(s) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
