package mailparse

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// computed returns the declarations that apply to n: its style attribute
// (normalised) with the rules of the message's <style> blocks cascaded in.
// An inline declaration beats a rule's, unless only the rule's is
// !important; without a style sheet this is the style attribute alone.
func (w *htmlWriter) computed(n *html.Node, style string) decls {
	d := styleDecls(style)
	sheet := w.sheet.cascade(n)
	if len(sheet) == 0 {
		return d
	}
	var inline []cssDecl
	if len(d) > 0 {
		inline = parseDecls(style)
	}
	for p, sd := range sheet {
		if _, ok := d.get(p); !ok || (sd.important && !importantIn(inline, p)) {
			d.set(p, sd.val)
		}
	}
	return d
}

// importantIn tells whether list sets p !important.
func importantIn(list []cssDecl, p string) bool {
	for _, c := range list {
		if c.important && c.prop == p {
			return true
		}
	}
	return false
}

// decls are an element's declarations, one per property: a short list,
// which costs less than a map for the few an element has.
type decls []cssDecl

// get returns the value of property p, and whether it is set.
func (d decls) get(p string) (string, bool) {
	for _, c := range d {
		if c.prop == p {
			return c.val, true
		}
	}
	return "", false
}

// val is the value of property p, "" when unset.
func (d decls) val(p string) string {
	v, _ := d.get(p)
	return v
}

// set sets property p to v.
func (d *decls) set(p, v string) {
	for i := range *d {
		if (*d)[i].prop == p {
			(*d)[i].val = v
			return
		}
	}
	*d = append(*d, cssDecl{prop: p, val: v})
}

// normStyle lower-cases a style attribute and removes its white space.
func normStyle(s string) string {
	if s == "" || isNormalASCIIStyle(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// isNormalASCIIStyle tells ASCII text without capitals or white space,
// which normStyle leaves as it is.
func isNormalASCIIStyle(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || (c >= 'A' && c <= 'Z') || unicode.IsSpace(rune(c)) {
			return false
		}
	}
	return true
}

// styleDecls splits a normalised style into property → value (the last
// declaration wins, !important dropped).
func styleDecls(style string) decls {
	if style == "" {
		return nil
	}
	var d decls
	for decl := range strings.SplitSeq(style, ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok || k == "" {
			continue
		}
		d.set(k, strings.TrimSuffix(v, "!important"))
	}
	return d
}

// parseDecls reads the declarations of a block or style attribute that set
// a property of cssProps, normalised as normStyle does (lower case, no
// white space).
func parseDecls(block string) []cssDecl {
	var out []cssDecl
	for _, d := range strings.Split(block, ";") {
		k, v, ok := strings.Cut(d, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !cssProps[k] {
			continue
		}
		v = normStyle(v)
		imp := strings.HasSuffix(v, "!important")
		out = append(out, cssDecl{prop: k, val: strings.TrimSuffix(v, "!important"), important: imp})
	}
	return out
}

// fontSizeOf returns the font-size of an element's declarations in px,
// when set.
func fontSizeOf(d decls) (float64, bool) {
	v, ok := d.get("font-size")
	if !ok {
		// The font shorthand: "font:bold 24px Arial".
		if f, ok := d.get("font"); ok {
			for _, tok := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '/' }) {
				if px, ok := cssLengthPx(tok); ok {
					return px, true
				}
			}
		}
		return 0, false
	}
	return cssLengthPx(v)
}

func cssLengthPx(v string) (float64, bool) {
	unit := ""
	num := v
	for _, u := range []string{"px", "pt", "rem", "em", "%"} {
		if strings.HasSuffix(v, u) {
			unit, num = u, strings.TrimSuffix(v, u)
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	switch unit {
	case "pt":
		f *= 4.0 / 3.0
	case "em", "rem":
		f *= 16
	case "%":
		f = f * 16 / 100
	}
	return f, true
}

// signedLengthPx reads a CSS length, negative ones too, in px.
func signedLengthPx(v string) (float64, bool) {
	if v == "" {
		return 0, false
	}
	neg := strings.HasPrefix(v, "-")
	px, ok := cssLengthPx(strings.TrimPrefix(v, "-"))
	if neg {
		px = -px
	}
	return px, ok
}

// isZeroLength tells a CSS length of zero ("0", "0px", "0.0em", "0%").
func isZeroLength(v string) bool {
	num := strings.TrimRightFunc(v, unicode.IsLetter)
	num = strings.TrimSuffix(num, "%")
	if num == "" {
		return false
	}
	f, err := strconv.ParseFloat(num, 64)
	return err == nil && f == 0
}

// cssNumber reads a number or a percentage of full.
func cssNumber(s string, full float64) (float64, bool) {
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, false
	}
	if pct {
		f = f * full / 100
	}
	return f, true
}
