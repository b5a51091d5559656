package mailparse

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// offScreenPx is how far out a box must be placed to be off any screen.
const offScreenPx = -1000

// maxOpacity is the opacity at and below which content cannot be seen.
const maxOpacity = 0.05

// computed returns the declarations that apply to n: its style attribute
// (normalised) with the rules of the message's <style> blocks cascaded in.
// An inline declaration beats a rule's, unless only the rule's is
// !important; without a style sheet this is the style attribute alone.
func (w *htmlWriter) computed(n *html.Node, style string) map[string]string {
	d := styleDecls(style)
	sheet := w.sheet.cascade(n)
	if len(sheet) == 0 {
		return d
	}
	var important map[string]bool
	if d == nil {
		d = make(map[string]string, len(sheet))
	} else {
		important = map[string]bool{}
		for _, id := range parseDecls(style) {
			if id.important {
				important[id.prop] = true
			}
		}
	}
	for p, sd := range sheet {
		if _, ok := d[p]; !ok || (sd.important && !important[p]) {
			d[p] = sd.val
		}
	}
	return d
}

// isHiddenElem tells an element whose content no reader sees: hidden by an
// attribute, a preheader class, or its declarations d (see hiddenByDecls).
func isHiddenElem(n *html.Node, d map[string]string) bool {
	if hasAttr(n, "hidden") {
		return true
	}
	if strings.EqualFold(getAttr(n, "type"), "hidden") {
		return true
	}
	class := strings.ToLower(getAttr(n, "class"))
	if strings.Contains(class, "preheader") || strings.Contains(class, "preview-text") {
		return true
	}
	return d != nil && hiddenByDecls(d)
}

// hiddenByDecls tells declarations that hide a box: display:none,
// visibility:hidden, opacity 0, no height (max-height 0, or a box of at
// most 1px with overflow hidden, or 0×0), placed off-screen, or clipped to
// nothing.
func hiddenByDecls(d map[string]string) bool {
	switch {
	case d["display"] == "none", d["visibility"] == "hidden", d["visibility"] == "collapse", d["mso-hide"] == "all":
		return true
	}
	if v, ok := d["max-height"]; ok && isZeroLength(v) {
		return true
	}
	if v, ok := d["opacity"]; ok {
		if f, ok := cssNumber(v, 1); ok && f <= maxOpacity {
			return true
		}
	}
	if d["overflow"] == "hidden" {
		for _, k := range []string{"height", "width", "max-width", "max-height"} {
			if px, ok := signedLengthPx(d[k]); ok && px <= 1 {
				return true
			}
		}
	}
	if w, ok := d["width"]; ok && isZeroLength(w) {
		if h, ok := d["height"]; ok && isZeroLength(h) {
			return true
		}
	}
	return offScreen(d) || clippedAway(d)
}

// offScreen tells a box positioned, or its text indented, out of sight.
func offScreen(d map[string]string) bool {
	if px, ok := signedLengthPx(d["text-indent"]); ok && px <= offScreenPx {
		return true
	}
	if p := d["position"]; p == "absolute" || p == "fixed" {
		for _, k := range []string{"left", "top"} {
			if px, ok := signedLengthPx(d[k]); ok && px <= offScreenPx {
				return true
			}
		}
	}
	return false
}

// clippedAway tells a box clipped to nothing: clip:rect(0,0,0,0) (in any
// spelling, white space being gone) or clip-path:inset(50%) or more.
func clippedAway(d map[string]string) bool {
	if c := d["clip"]; strings.HasPrefix(c, "rect(") {
		zeros := strings.NewReplacer("rect(", "", ")", "", "px", "", ",", "", ".", "").Replace(c)
		if zeros != "" && strings.Trim(zeros, "0") == "" {
			return true
		}
	}
	if c := d["clip-path"]; strings.HasPrefix(c, "inset(") {
		v := strings.TrimSuffix(strings.TrimPrefix(c, "inset("), ")")
		if i := strings.IndexAny(v, ",r"); i >= 0 { // "inset(50%round…)"
			v = v[:i]
		}
		if strings.HasSuffix(v, "%") {
			if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64); err == nil && f >= 50 {
				return true
			}
		}
	}
	return false
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

// elemColours returns the text colour and background of n from its
// declarations d and, where CSS says nothing, the presentational
// attributes mail still uses (bgcolor, <font color>, <body text>); the
// parent's otherwise. A link without a colour of its own is the browsers'
// link blue; a background image makes the background unknown.
func elemColours(n *html.Node, d map[string]string, parent renderState) (fg, bg colour) {
	fg, bg = parent.fg, parent.bg
	if c, set := parseColour(d["color"]); set {
		fg = c
	} else if a := legacyColourAttr(n); a != "" {
		if c, set := parseColour(a); set {
			fg = c
		}
	} else if n.DataAtom == atom.A && hasAttr(n, "href") {
		fg = defaultLink
	}
	if c, set := backgroundColour(d); set {
		bg = c
	} else if v := getAttr(n, "bgcolor"); v != "" {
		if c, set := parseColour(legacyColour(v)); set && !c.clear {
			bg = c
		}
	}
	if getAttr(n, "background") != "" {
		bg = unknown
	}
	return fg, bg
}

// legacyColourAttr is the text colour an attribute gives: <font color>,
// <body text>.
func legacyColourAttr(n *html.Node) string {
	switch n.DataAtom {
	case atom.Font:
		return legacyColour(getAttr(n, "color"))
	case atom.Body:
		return legacyColour(getAttr(n, "text"))
	}
	return ""
}

// legacyColour normalises an attribute colour, which browsers also read
// without its "#" ("ffffff").
func legacyColour(v string) string {
	v = normStyle(v)
	if (len(v) == 3 || len(v) == 6) && strings.IndexFunc(v, func(r rune) bool { return !isHexDigit(r) }) < 0 {
		return "#" + v
	}
	return v
}
