package mailparse

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// offScreenPx is how far out a box must be placed to be off any screen.
const offScreenPx = -1000

// maxOpacity is the opacity at and below which content cannot be seen.
const maxOpacity = 0.05

// isHiddenElem tells an element whose content no reader sees: hidden by an
// attribute, a preheader class, or its declarations d (see hiddenByDecls).
func isHiddenElem(n *html.Node, d decls) bool {
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
func hiddenByDecls(d decls) bool {
	switch {
	case d.val("display") == "none", d.val("visibility") == "hidden", d.val("visibility") == "collapse", d.val("mso-hide") == "all":
		return true
	}
	if v, ok := d.get("max-height"); ok && isZeroLength(v) {
		return true
	}
	if v, ok := d.get("opacity"); ok {
		if f, ok := cssNumber(v, 1); ok && f <= maxOpacity {
			return true
		}
	}
	if d.val("overflow") == "hidden" {
		for _, k := range []string{"height", "width", "max-width", "max-height"} {
			if px, ok := signedLengthPx(d.val(k)); ok && px <= 1 {
				return true
			}
		}
	}
	if w, ok := d.get("width"); ok && isZeroLength(w) {
		if h, ok := d.get("height"); ok && isZeroLength(h) {
			return true
		}
	}
	return offScreen(d) || clippedAway(d)
}

// offScreen tells a box positioned, or its text indented, out of sight.
func offScreen(d decls) bool {
	if px, ok := signedLengthPx(d.val("text-indent")); ok && px <= offScreenPx {
		return true
	}
	if p := d.val("position"); p == "absolute" || p == "fixed" {
		for _, k := range []string{"left", "top"} {
			if px, ok := signedLengthPx(d.val(k)); ok && px <= offScreenPx {
				return true
			}
		}
	}
	return false
}

// clippedAway tells a box clipped to nothing: clip:rect(0,0,0,0) (in any
// spelling, white space being gone) or clip-path:inset(50%) or more.
func clippedAway(d decls) bool {
	if c := d.val("clip"); strings.HasPrefix(c, "rect(") {
		zeros := strings.NewReplacer("rect(", "", ")", "", "px", "", ",", "", ".", "").Replace(c)
		if zeros != "" && strings.Trim(zeros, "0") == "" {
			return true
		}
	}
	if c := d.val("clip-path"); strings.HasPrefix(c, "inset(") {
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
