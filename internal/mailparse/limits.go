package mailparse

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/jhillyerd/enmime/mediatype"
	"github.com/jhillyerd/enmime/v2"
)

// Limits caps the MIME structure a message may have. enmime has no caps of
// its own, so Parse enforces them: a cheap pre-scan of the raw bytes before
// enmime sees them (header section size, an upper bound of the parts and of
// the multipart nesting), a guard inside enmime's media-type parsing, and an
// exact check of the parsed part tree.
type Limits struct {
	// MaxParts is the most MIME parts (leaves and multipart containers,
	// not counting the message itself) a message may have.
	MaxParts int
	// MaxDepth is the deepest multipart nesting allowed: a multipart/
	// alternative message has depth 1, mixed→alternative 2.
	MaxDepth int
	// MaxHeaderBytes caps the top-level header section, and any single
	// Content-Type field anywhere in the message.
	MaxHeaderBytes int
}

// DefaultLimits are generous for real mail: 200 parts, 10 levels of
// multipart nesting, a 256 KiB header section.
func DefaultLimits() Limits {
	return Limits{MaxParts: 200, MaxDepth: 10, MaxHeaderBytes: 256 << 10}
}

// withDefaults replaces zero or negative fields by the default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// Which limit a LimitError is about.
const (
	LimitParts  = "parts"
	LimitDepth  = "depth"
	LimitHeader = "header"
)

// LimitError reports a message that exceeds one of the Limits. Got is what
// was seen, which for the pre-scan is an upper bound of what enmime would
// have built.
type LimitError struct {
	Limit string // LimitParts, LimitDepth or LimitHeader
	Max   int
	Got   int
}

// Error names the limit, what was seen and the maximum.
func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitHeader:
		return fmt.Sprintf("mailparse: header section too large (%d bytes, limit %d)", e.Got, e.Max)
	case LimitDepth:
		return fmt.Sprintf("mailparse: MIME parts nested too deeply (depth %d, limit %d)", e.Got, e.Max)
	default:
		return fmt.Sprintf("mailparse: too many MIME parts (%d, limit %d)", e.Got, e.Max)
	}
}

// SMTPStatus is the reply an SMTP server should give for e: 552 5.3.4
// (message too big for system) for an oversized header section, 554 5.6.0
// (media error) for too many or too deeply nested MIME parts.
func (e *LimitError) SMTPStatus() (code int, enhanced string) {
	if e.Limit == LimitHeader {
		return 552, "5.3.4"
	}
	return 554, "5.6.0"
}

// prescan checks raw against lim before enmime parses it. It never
// allocates more than a few small slices, and it is linear in len(raw)
// times the number of distinct boundaries (itself capped by MaxParts).
//
// What it bounds, and why that bounds enmime:
//   - the top-level header section (up to the first empty line);
//   - every Content-Type field found anywhere (header sections or not: a
//     superset of what enmime reads), unfolded as enmime unfolds it. Each
//     one that carries a boundary parameter is one potential multipart
//     container; their number bounds both the containers enmime builds and
//     its recursion depth, so more than MaxParts of them is refused;
//   - each enmime part starts after a line holding "--"+boundary followed
//     by white space; the number of such occurrences for the declared
//     boundaries bounds the parts enmime builds.
//
// The exact structure is checked again on enmime's part tree.
func prescan(raw []byte, lim Limits) error {
	if n := headerSectionLen(raw); n > lim.MaxHeaderBytes {
		return &LimitError{Limit: LimitHeader, Max: lim.MaxHeaderBytes, Got: n}
	}
	boundaries, decls, err := declaredBoundaries(raw, lim)
	if err != nil {
		return err
	}
	if decls > lim.MaxParts {
		return &LimitError{Limit: LimitParts, Max: lim.MaxParts, Got: decls}
	}
	parts := 0
	for _, b := range boundaries {
		parts += countDelimiters(raw, b, lim.MaxParts+1-parts)
		if parts > lim.MaxParts {
			return &LimitError{Limit: LimitParts, Max: lim.MaxParts, Got: parts}
		}
	}
	return nil
}

// headerSectionLen is the length of the top-level header section: up to
// the first empty line, or all of raw when there is none.
func headerSectionLen(raw []byte) int {
	for off := 0; off < len(raw); {
		end := bytes.IndexByte(raw[off:], '\n')
		line := raw[off:]
		if end >= 0 {
			line = raw[off : off+end]
		}
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return off
		}
		if end < 0 {
			break
		}
		off += end + 1
	}
	return len(raw)
}

// declaredBoundaries finds every Content-Type field in raw (whatever the
// case of its name, with spaces before the colon, folded over indented or
// colon-less lines as enmime folds them) and returns the distinct boundary
// parameters and how many fields declared one.
func declaredBoundaries(raw []byte, lim Limits) (distinct []string, decls int, err error) {
	seen := map[string]bool{}
	off := 0
	nextLine := func() ([]byte, bool) {
		if off >= len(raw) {
			return nil, false
		}
		end := bytes.IndexByte(raw[off:], '\n')
		var line []byte
		if end < 0 {
			line = raw[off:]
			off = len(raw)
		} else {
			line = raw[off : off+end]
			off += end + 1
		}
		return bytes.TrimSuffix(line, []byte{'\r'}), true
	}
	for {
		line, ok := nextLine()
		if !ok {
			break
		}
		if !isContentTypeLine(line) {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		var field strings.Builder
		field.Write(line[colon+1:])
		// Gather continuation lines: indented ones, and non-empty lines
		// without a colon (enmime repairs those as unindented
		// continuations).
		for off < len(raw) {
			save := off
			next, _ := nextLine()
			if len(next) == 0 {
				off = save
				break
			}
			if next[0] != ' ' && next[0] != '\t' && bytes.IndexByte(next, ':') >= 0 {
				off = save
				break
			}
			field.WriteByte(' ')
			field.Write(next)
			if field.Len() > lim.MaxHeaderBytes {
				return nil, 0, &LimitError{Limit: LimitHeader, Max: lim.MaxHeaderBytes, Got: field.Len()}
			}
		}
		if field.Len() > lim.MaxHeaderBytes {
			return nil, 0, &LimitError{Limit: LimitHeader, Max: lim.MaxHeaderBytes, Got: field.Len()}
		}
		// Parameter names are ASCII tokens, lowered: no "boundary" in the
		// text, no boundary parameter (RFC 2231's "boundary*0" holds it).
		if !containsFoldASCII(field.String(), "boundary") {
			continue
		}
		b := boundaryParam(field.String())
		if b == "" {
			continue
		}
		decls++
		if decls > lim.MaxParts {
			return distinct, decls, nil
		}
		if !seen[b] {
			seen[b] = true
			distinct = append(distinct, b)
		}
	}
	return distinct, decls, nil
}

// isContentTypeLine reports whether line starts a Content-Type field.
func isContentTypeLine(line []byte) bool {
	const name = "content-type"
	if len(line) < len(name)+1 || !bytes.EqualFold(line[:len(name)], []byte(name)) {
		return false
	}
	rest := bytes.TrimLeft(line[len(name):], " \t")
	return len(rest) > 0 && rest[0] == ':'
}

// boundaryParam parses a Content-Type value the way enmime does and
// returns its boundary parameter, whatever the media type (enmime recurses
// into any child part that has one).
func boundaryParam(value string) (b string) {
	defer func() {
		if recover() != nil {
			b = ""
		}
	}()
	_, params, _, err := mediatype.Parse(value)
	if err != nil {
		return ""
	}
	return params["boundary"]
}

// countDelimiters counts the occurrences of "--"+b followed by a byte enmime
// takes for white space, stopping once max is reached.
func countDelimiters(raw []byte, b string, max int) int {
	pat := []byte("--" + b)
	n := 0
	for off := 0; off < len(raw) && n < max; {
		i := bytes.Index(raw[off:], pat)
		if i < 0 {
			break
		}
		j := off + i + len(pat)
		if j < len(raw) && isEnmimeSpace(raw[j]) {
			// enmime takes at most one part per line.
			n++
			nl := bytes.IndexByte(raw[j:], '\n')
			if nl < 0 {
				break
			}
			off = j + nl + 1
			continue
		}
		off += i + 1
	}
	return n
}

// isEnmimeSpace mirrors enmime's unicode.IsSpace(rune(byte)).
func isEnmimeSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0:
		return true
	}
	return false
}

// mediaTypeGuard wraps enmime's media-type parser as a last line of
// defence: past a number of boundary-carrying results it strips the
// boundary (so enmime stops recursing) and remembers it did.
type mediaTypeGuard struct {
	max      int
	seen     int
	exceeded bool
}

func (g *mediaTypeGuard) parse(ctype string) (mtype string, params map[string]string, invalid []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			mtype, params, invalid, err = "", nil, nil, fmt.Errorf("media type %q: %v", ctype, r)
		}
	}()
	mtype, params, invalid, err = mediatype.Parse(ctype)
	if err == nil && params["boundary"] != "" {
		g.seen++
		if g.seen > g.max {
			g.exceeded = true
			delete(params, "boundary")
		}
	}
	return mtype, params, invalid, err
}

// treeShape counts the parts below root and the deepest multipart nesting.
func treeShape(root *enmime.Part) (parts, depth int) {
	type item struct {
		p     *enmime.Part
		level int // multipart containers above and including p
	}
	level := func(p *enmime.Part, parent int) int {
		if p.FirstChild != nil || strings.HasPrefix(p.ContentType, "multipart/") && p.Boundary != "" {
			return parent + 1
		}
		return parent
	}
	stack := []item{{root, level(root, 0)}}
	seen := map[*enmime.Part]bool{}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.p == nil || seen[it.p] {
			continue
		}
		seen[it.p] = true
		if it.p != root {
			parts++
		}
		if it.level > depth {
			depth = it.level
		}
		for c := it.p.FirstChild; c != nil; c = c.NextSibling {
			if seen[c] {
				break
			}
			stack = append(stack, item{c, level(c, it.level)})
		}
	}
	return parts, depth
}
