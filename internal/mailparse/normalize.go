package mailparse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalizeText makes line ends "\n", removes invisible characters,
// collapses runs of spaces inside lines, trims lines and keeps at most one
// blank line in a row.
//
// It runs several times on every message, so valid UTF-8 (all text it is
// given by Analyse) takes one hand-written pass that builds no intermediate
// strings; normalizeTextSlow is the definition, and fastpath_test.go holds
// the two to the same results.
func normalizeText(s string) string {
	if s == "" || isNormalizedASCII(s) {
		return s
	}
	n := normalizer{b: make([]byte, 0, len(s))}
	for i := 0; i < len(s); {
		c := s[i]
		if !n.inLine && plainByte[c] {
			if e, ok := cleanLineEnd(s, i); ok {
				n.visible()
				n.b = append(n.b, s[i:e]...)
				i = e
				continue
			}
		}
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\n' || c == '\r':
				if c == '\r' && i < len(s) && s[i] == '\n' {
					i++
				}
				n.endLine()
			case c == ' ' || c == '\t':
				n.spaceSeen()
			case c < 0x20 || c == 0x7F: // invisible
			default:
				// The rest of a run of plain characters at once.
				j := i
				for j < len(s) && plainByte[s[j]] {
					j++
				}
				n.visible()
				n.b = append(n.b, s[i-1:j]...)
				i = j
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return normalizeTextSlow(s)
		}
		i += size
		switch {
		case isInvisible(r):
		case unicode.IsSpace(r):
			n.spaceSeen()
		default:
			n.visible()
			n.b = append(n.b, s[i-size:i]...)
		}
	}
	if string(n.b) == s {
		return s
	}
	return string(n.b)
}

// normalizer is the state of normalizeText's pass: what it has written,
// and the line breaks and space it owes before the next visible character.
type normalizer struct {
	b            []byte
	haveContent  bool // a non-blank line has been written
	pendingBlank bool // a blank line is owed before the next one
	space        bool // a space is owed before the next visible character
	inLine       bool // the current line has a visible character
}

// cleanLineEnd tells whether s[i:] starts with a clean line (plain
// characters and single spaces, ending in neither) and where it ends: such
// a line is copied at once.
func cleanLineEnd(s string, i int) (e int, ok bool) {
	e, sp := i, false
	for e < len(s) {
		if plainByte[s[e]] {
			sp = false
		} else if s[e] == ' ' && !sp {
			sp = true
		} else {
			break
		}
		e++
	}
	return e, !sp && (e == len(s) || s[e] == '\n' || s[e] == '\r')
}

// endLine ends the current line.
func (n *normalizer) endLine() {
	if n.inLine {
		n.haveContent = true
		n.pendingBlank = false
	} else if n.haveContent {
		n.pendingBlank = true
	}
	n.inLine, n.space = false, false
}

// visible is called before a visible character is written: it opens the
// line (with the line breaks owed) or writes the space owed.
func (n *normalizer) visible() {
	if !n.inLine {
		if n.haveContent {
			n.b = append(n.b, '\n')
			if n.pendingBlank {
				n.b = append(n.b, '\n')
			}
		}
		n.inLine = true
	} else if n.space {
		n.b = append(n.b, ' ')
	}
	n.space = false
}

// spaceSeen owes a space, if the line has begun.
func (n *normalizer) spaceSeen() {
	if n.inLine {
		n.space = true
	}
}

// normalizeTextSlow is normalizeText by its definition.
func normalizeTextSlow(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = removeInvisible(s)
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true // no blank line at the start
	for _, l := range lines {
		l = collapseSpaces(l)
		if l == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// isNormalizedASCII tells ASCII text that normalizeText leaves as it is.
func isNormalizedASCII(s string) bool {
	if s[0] == '\n' || s[0] == ' ' || s[len(s)-1] == '\n' || s[len(s)-1] == ' ' {
		return false
	}
	var p1, p2 byte = '\n', 0 // the two bytes before
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !plainByte[c] {
			switch c {
			case '\n':
				if p1 == ' ' || (p1 == '\n' && p2 == '\n') {
					return false
				}
			case ' ':
				if p1 == ' ' || p1 == '\n' {
					return false
				}
			default:
				return false
			}
		}
		p2, p1 = p1, c
	}
	return true
}

// plainByte tells the ASCII bytes that normalizeText copies as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7F; c++ {
		t[c] = true
	}
	return t
}()

// removeInvisible drops zero-width and formatting characters (preheader
// padding) and turns the exotic spaces into plain ones. It is given valid
// UTF-8: strings.Map would replace an invalid byte, the check before it
// would not.
func removeInvisible(s string) string {
	if isPlainASCII(s) {
		return s
	}
	for _, r := range s {
		if visibleRune(r) != r {
			return strings.Map(visibleRune, s)
		}
	}
	return s
}

// isPlainASCII tells text of printable ASCII, tabs and line ends, which
// removeInvisible leaves as it is.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !plainByte[c] && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// visibleRune is what removeInvisible makes of r: nothing, a plain space,
// or r itself (line ends and tabs are left to the white-space rules).
func visibleRune(r rune) rune {
	if isInvisible(r) {
		return -1
	}
	if r != '\n' && r != '\r' && r != '\t' && unicode.IsSpace(r) {
		return ' '
	}
	return r
}

func isInvisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x2060 && r <= 0x2064, r >= 0x202A && r <= 0x202E:
		return true
	case r == 0xFEFF, r == 0x034F, r == 0x00AD, r == 0x180E, r == 0x061C, r == 0x2028 || r == 0x2029:
		return true
	case r < 0x20 && r != '\n' && r != '\t' && r != '\r':
		return true
	case r == 0x7F:
		return true
	}
	return false
}

// collapseSpaces trims s and turns runs of white space into one space.
func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func alnumCount(s string, enough int) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
			if n >= enough {
				return n
			}
		}
	}
	return n
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// TruncateUTF8 cuts s to at most n bytes on a rune boundary.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
