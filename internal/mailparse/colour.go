package mailparse

import (
	"math"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// colour is a text or background colour as far as it is known.
type colour struct {
	known   bool // false: an image, a gradient, a name or function not read here
	clear   bool // transparent
	r, g, b uint8
}

// Defaults: a page is black text on white, and a link is the browsers'
// blue unless its colour is set.
var (
	defaultText       = colour{known: true}
	defaultBackground = colour{known: true, r: 255, g: 255, b: 255}
	defaultLink       = colour{known: true, b: 0xEE}
	unknown           = colour{}
)

// minContrast is the contrast ratio (WCAG 2) below which text cannot be
// told from its background: #f8f8f8 on white is 1.07, #eeeeee 1.16.
const minContrast = 1.1

// namedColours are the CSS colour names mail uses, and every near-white
// and near-black one a hider could reach for; another name is unknown.
var namedColours = map[string][3]uint8{
	"black": {0, 0, 0}, "white": {255, 255, 255}, "red": {255, 0, 0}, "green": {0, 128, 0},
	"blue": {0, 0, 255}, "gray": {128, 128, 128}, "grey": {128, 128, 128}, "silver": {192, 192, 192},
	"yellow": {255, 255, 0}, "orange": {255, 165, 0}, "navy": {0, 0, 128}, "maroon": {128, 0, 0},
	"purple": {128, 0, 128}, "teal": {0, 128, 128}, "lime": {0, 255, 0}, "aqua": {0, 255, 255},
	"fuchsia": {255, 0, 255}, "olive": {128, 128, 0}, "darkgray": {169, 169, 169},
	"darkgrey": {169, 169, 169}, "lightgray": {211, 211, 211}, "lightgrey": {211, 211, 211},
	"gainsboro": {220, 220, 220}, "whitesmoke": {245, 245, 245}, "snow": {255, 250, 250},
	"honeydew": {240, 255, 240}, "mintcream": {245, 255, 250}, "azure": {240, 255, 255},
	"aliceblue": {240, 248, 255}, "ghostwhite": {248, 248, 255}, "seashell": {255, 245, 238},
	"beige": {245, 245, 220}, "oldlace": {253, 245, 230}, "floralwhite": {255, 250, 240},
	"ivory": {255, 255, 240}, "antiquewhite": {250, 235, 215}, "linen": {250, 240, 230},
	"lavenderblush": {255, 240, 245}, "mistyrose": {255, 228, 225}, "cornsilk": {255, 248, 220},
	"lightyellow": {255, 255, 224}, "lightcyan": {224, 255, 255}, "dimgray": {105, 105, 105},
	"dimgrey": {105, 105, 105},
}

// elemColours returns the text colour and background of n from its
// declarations d and, where CSS says nothing, the presentational
// attributes mail still uses (bgcolor, <font color>, <body text>); the
// parent's otherwise. A link without a colour of its own is the browsers'
// link blue; a background image makes the background unknown.
func elemColours(n *html.Node, d decls, parent renderState) (fg, bg colour) {
	fg, bg = parent.fg, parent.bg
	if c, set := parseColour(d.val("color")); set {
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

// backgroundColour reads the background of an element from its
// background-color or background declarations: an image or a gradient
// makes it unknown, a colour sets it, anything else leaves it.
func backgroundColour(decls decls) (colour, bool) {
	bg, hasBG := decls.get("background")
	bc, hasBC := decls.get("background-color")
	if hasBG && (strings.Contains(bg, "url(") || strings.Contains(bg, "gradient(") || bg == unknownColour) {
		return unknown, true
	}
	if hasBC {
		if c, set := parseColour(bc); set && !c.clear {
			return c, true
		}
		if !hasBG {
			return colour{}, false
		}
	}
	if !hasBG {
		return colour{}, false
	}
	return shorthandColour(bg)
}

// shorthandColour finds the colour in a background shorthand: "#fff",
// "none", "#ffffffno-repeat" (white space is gone), "rgb(…)".
func shorthandColour(bg string) (colour, bool) {
	switch {
	case bg == "none" || bg == "transparent":
		return colour{}, false
	case strings.Contains(bg, "#"):
		return parseHex(bg[strings.IndexByte(bg, '#')+1:]), true
	case strings.Contains(bg, "rgb"):
		return parseRGB(bg[strings.Index(bg, "rgb"):]), true
	}
	c, set := parseColour(bg)
	if !set || c.clear {
		return colour{}, false
	}
	return c, true
}

// parseColour reads a normalised colour value (lower case, no spaces). set
// is false for a value that leaves the colour as it was (inherit, empty).
func parseColour(v string) (c colour, set bool) {
	switch v {
	case "", "inherit", "initial", "unset", "currentcolor", "revert":
		return colour{}, false
	case "transparent":
		return colour{known: true, clear: true}, true
	case unknownColour:
		return unknown, true
	}
	if v[0] == '#' {
		return parseHex(v[1:]), true
	}
	if strings.HasPrefix(v, "rgb(") || strings.HasPrefix(v, "rgba(") {
		return parseRGB(v), true
	}
	if rgb, ok := namedColours[v]; ok {
		return colour{known: true, r: rgb[0], g: rgb[1], b: rgb[2]}, true
	}
	return unknown, true
}

func parseHex(h string) colour {
	if i := strings.IndexFunc(h, func(r rune) bool { return !isHexDigit(r) }); i >= 0 {
		h = h[:i]
	}
	x := func(s string) uint8 {
		n, _ := strconv.ParseUint(s, 16, 8)
		return uint8(n)
	}
	switch len(h) {
	case 3, 4:
		if len(h) == 4 && h[3] == '0' {
			return colour{known: true, clear: true}
		}
		return colour{known: true, r: x(h[0:1]) * 17, g: x(h[1:2]) * 17, b: x(h[2:3]) * 17}
	case 6, 8:
		if len(h) == 8 && h[6:8] == "00" {
			return colour{known: true, clear: true}
		}
		return colour{known: true, r: x(h[0:2]), g: x(h[2:4]), b: x(h[4:6])}
	}
	return unknown
}

func isHexDigit(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// parseRGB reads rgb(r,g,b) and rgba(r,g,b,a), numbers or percentages; a
// zero alpha is transparent, another partial alpha unknown.
func parseRGB(v string) colour {
	open, end := strings.IndexByte(v, '('), strings.IndexByte(v, ')')
	if end < open {
		return unknown
	}
	parts := strings.FieldsFunc(v[open+1:end], func(r rune) bool { return r == ',' || r == '/' })
	if len(parts) < 3 || len(parts) > 4 {
		return unknown
	}
	if len(parts) == 4 {
		a, ok := cssNumber(parts[3], 1)
		switch {
		case !ok:
			return unknown
		case a <= 0:
			return colour{known: true, clear: true}
		case a < 1:
			return unknown
		}
	}
	var ch [3]uint8
	for i := range ch {
		f, ok := cssNumber(parts[i], 255)
		if !ok {
			return unknown
		}
		ch[i] = uint8(math.Round(math.Max(0, math.Min(255, f))))
	}
	return colour{known: true, r: ch[0], g: ch[1], b: ch[2]}
}

// invisibleOn tells text of colour fg that cannot be seen on bg.
func invisibleOn(fg, bg colour) bool {
	if fg.known && fg.clear {
		return true
	}
	if !fg.known || !bg.known || bg.clear {
		return false
	}
	l1, l2 := luminance(fg), luminance(bg)
	if l1 < l2 {
		l1, l2 = l2, l1
	}
	return (l1+0.05)/(l2+0.05) < minContrast
}

// luminance is the relative luminance of WCAG 2.
func luminance(c colour) float64 {
	return 0.2126*linear(c.r) + 0.7152*linear(c.g) + 0.0722*linear(c.b)
}

func linear(v uint8) float64 { return linearTable[v] }

// linearTable maps an sRGB channel to its linear value.
var linearTable = func() (t [256]float64) {
	for i := range t {
		f := float64(i) / 255
		if f <= 0.03928 {
			t[i] = f / 12.92
		} else {
			t[i] = math.Pow((f+0.055)/1.055, 2.4)
		}
	}
	return t
}()
