package mailparse

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxDOMDepth bounds the DOM walk; anything nested deeper is not rendered
// (real mail nests a few dozen levels at most).
const maxDOMDepth = 256

// maxEmphLen is the longest emphasised snippet worth remembering: codes set
// in big or bold type are short.
const maxEmphLen = 40

// rendered is an HTML body rendered for reading.
type rendered struct {
	// text is the visible text: blocks on their own lines, table rows as
	// lines, quoted (blockquote, gmail_quote…) lines prefixed by "> ".
	text string
	// emph holds the short texts set in large, bold, spaced or monospace
	// type: where codes are usually shown.
	emph []string
	// links are the <a href> and tracking pixels, in document order.
	links []rawLink
}

// RenderHTML renders an HTML email body to plain text: what a reader sees.
// <head>, <style>, <script>, comments and hidden elements are dropped —
// hidden by their style attribute or by the rules of the <style> blocks
// (display:none, visibility:hidden, opacity:0, zero size, off-screen,
// clipped; see isHiddenElem), and text too small (font-size 0 or 1px) or
// in its background's colour — as are images; link text is kept; table
// rows become lines and block elements start new lines; quoted material
// (blockquote, div.gmail_quote) is prefixed with "> ".
func RenderHTML(s string) string {
	return renderHTML(s).text
}

type renderState struct {
	quote int  // blockquote nesting
	pre   bool // inside <pre>
	tiny  bool // font-size 0 or 1px: text invisible
	link  int  // index+1 into links of the enclosing <a>, 0 if none
	// fg and bg are the text colour and the background it is on;
	// inkHidden tells text that cannot be seen on it.
	fg, bg    colour
	inkHidden bool
}

type htmlWriter struct {
	out       strings.Builder
	nl        int  // newlines owed before the next word
	space     bool // a space owed before the next word
	lineStart bool
	emph      []string
	links     []rawLink
	linkAlt   []string // alt text of images inside each link
	linkImg   []bool   // each link holds an image
	sheet     *styleSheet
}

func renderHTML(s string) (r rendered) {
	defer func() {
		if recover() != nil {
			r = rendered{text: normalizeText(stripTagsCrude(s))}
		}
	}()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return rendered{text: normalizeText(stripTagsCrude(s))}
	}
	w := &htmlWriter{lineStart: true}
	if hasStyleTag(s) {
		w.sheet = collectStyleSheet(doc)
	}
	w.walk(doc, 0, renderState{fg: defaultText, bg: defaultBackground})
	links := w.links[:0]
	for i, l := range w.links {
		if l.hidden {
			continue
		}
		if l.text == "" && w.linkAlt[i] != "" {
			l.text = w.linkAlt[i]
		}
		links = append(links, l)
	}
	return rendered{text: normalizeText(w.out.String()), emph: w.emph, links: links}
}

// stripTagsCrude is the fallback should the HTML parser ever fail.
func stripTagsCrude(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}

// Elements whose content is never shown.
var skipElems = map[atom.Atom]bool{
	atom.Head: true, atom.Style: true, atom.Script: true, atom.Noscript: true,
	atom.Template: true, atom.Title: true, atom.Meta: true, atom.Link: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true,
	atom.Embed: true, atom.Video: true, atom.Audio: true, atom.Canvas: true,
	atom.Input: true, atom.Select: true, atom.Option: true, atom.Map: true,
	atom.Frameset: true, atom.Frame: true,
}

// Newlines around block elements: 2 for paragraph-like ones (a blank line),
// 1 for the others.
var blockElems = map[atom.Atom]int{
	atom.P: 2, atom.H1: 2, atom.H2: 2, atom.H3: 2, atom.H4: 2, atom.H5: 2, atom.H6: 2,
	atom.Blockquote: 2, atom.Ul: 2, atom.Ol: 2, atom.Pre: 2, atom.Hr: 2, atom.Table: 1,
	atom.Div: 1, atom.Tr: 1, atom.Li: 1, atom.Section: 1, atom.Article: 1,
	atom.Header: 1, atom.Footer: 1, atom.Nav: 1, atom.Aside: 1, atom.Main: 1,
	atom.Address: 1, atom.Center: 1, atom.Dl: 1, atom.Dt: 1, atom.Dd: 1,
	atom.Form: 1, atom.Fieldset: 1, atom.Figure: 1, atom.Figcaption: 1,
	atom.Caption: 1, atom.Tbody: 1, atom.Thead: 1, atom.Tfoot: 1, atom.Body: 1,
	atom.Html: 1, atom.Legend: 1, atom.Details: 1, atom.Summary: 1,
}

// Elements whose text is set apart the way codes are.
var emphElems = map[atom.Atom]bool{
	atom.B: true, atom.Strong: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.Code: true, atom.Kbd: true, atom.Tt: true, atom.Samp: true, atom.Big: true,
	atom.Pre: true, atom.Mark: true,
}

func (w *htmlWriter) walk(n *html.Node, depth int, st renderState) {
	if depth > maxDOMDepth {
		return
	}
	switch n.Type {
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			w.walk(c, depth+1, st)
		}
	case html.TextNode:
		if !st.tiny && !st.inkHidden {
			w.text(n.Data, st)
		}
	case html.ElementNode:
		w.element(n, depth, st)
	}
	// Comments (Outlook's conditional ones too) and doctypes show nothing.
}

// element renders an element that is not hidden, and its children.
func (w *htmlWriter) element(n *html.Node, depth int, st renderState) {
	a := n.DataAtom
	if skipElems[a] {
		return
	}
	style := normStyle(getAttr(n, "style"))
	decls := w.computed(n, style)
	if isHiddenElem(n, decls) {
		return
	}
	if a == atom.Img {
		w.image(n, style, st)
		return
	}
	if a == atom.Br {
		if w.nl < 2 {
			w.nl++
		}
		w.space = false
		return
	}
	inner := st
	if fs, ok := fontSizeOf(decls); ok {
		inner.tiny = fs < 2
	}
	inner.fg, inner.bg = elemColours(n, decls, st)
	inner.inkHidden = invisibleOn(inner.fg, inner.bg)
	quote := isQuoteElem(n)
	if quote {
		inner.quote++
		w.block(1)
	}
	if a == atom.Pre {
		inner.pre = true
	}
	nl := blockElems[a]
	w.open(a, nl, inner)
	start := w.out.Len()
	linkIdx := 0
	if a == atom.A || a == atom.Area {
		if href := cleanURL(getAttr(n, "href")); isHTTP(href) {
			w.links = append(w.links, rawLink{url: href})
			w.linkAlt = append(w.linkAlt, "")
			w.linkImg = append(w.linkImg, false)
			linkIdx = len(w.links)
			inner.link = linkIdx
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, depth+1, inner)
	}
	w.close(a, nl, quote)
	if linkIdx > 0 {
		w.endLink(n, linkIdx, start, inner)
	}
	if size := w.out.Len() - start; size > 0 && size <= 4*maxEmphLen && (emphElems[a] || isEmphStyle(style)) {
		t := collapseSpaces(stripQuotePrefixes(w.out.String()[start:]))
		if t != "" && len(t) <= maxEmphLen && len(w.emph) < 1000 {
			w.emph = append(w.emph, t)
		}
	}
}

// open starts an element's block, cell or list item.
func (w *htmlWriter) open(a atom.Atom, nl int, st renderState) {
	if nl > 0 {
		w.block(nl)
	}
	if a == atom.Td || a == atom.Th {
		w.space = true
	}
	if a == atom.Li {
		w.word("-", st)
		w.space = true
	}
}

// close ends what open started.
func (w *htmlWriter) close(a atom.Atom, nl int, quote bool) {
	if nl > 0 {
		w.block(nl)
	}
	if quote {
		w.block(1)
	}
	if a == atom.Td || a == atom.Th {
		w.space = true
	}
}

// endLink sets the text of link linkIdx, whose content starts at start,
// and marks it hidden when nothing of it can be seen: text in the
// background's colour or too small, and no image.
func (w *htmlWriter) endLink(n *html.Node, linkIdx, start int, st renderState) {
	// Only the start of a huge link is looked at: nested links must not
	// make the walk quadratic.
	t := collapseSpaces(stripQuotePrefixes(TruncateUTF8(w.out.String()[start:], 1000)))
	if t == "" {
		if (st.inkHidden || st.tiny) && !w.linkImg[linkIdx-1] {
			w.links[linkIdx-1].hidden = true
		}
		t = collapseSpaces(getAttr(n, "title"))
	}
	w.links[linkIdx-1].text = TruncateUTF8(t, 200)
}

func (w *htmlWriter) image(n *html.Node, style string, st renderState) {
	src := cleanURL(getAttr(n, "src"))
	if isPixel(n, style) {
		if isHTTP(src) {
			w.links = append(w.links, rawLink{url: src, pixel: true})
			w.linkAlt = append(w.linkAlt, "")
			w.linkImg = append(w.linkImg, false)
		}
		return
	}
	if st.link > 0 && st.link <= len(w.linkAlt) {
		w.linkImg[st.link-1] = true
		if w.linkAlt[st.link-1] == "" {
			w.linkAlt[st.link-1] = collapseSpaces(getAttr(n, "alt"))
		}
	}
}

// block owes at least n newlines before the next word.
func (w *htmlWriter) block(n int) {
	if n > w.nl {
		w.nl = n
	}
	w.space = false
}

// text writes a text node.
func (w *htmlWriter) text(s string, st renderState) {
	s = removeInvisible(s)
	if st.pre {
		lines := strings.Split(s, "\n")
		for i, line := range lines {
			if i > 0 {
				if w.nl < 2 {
					w.nl++
				}
			}
			if strings.TrimSpace(line) != "" {
				w.word(strings.TrimRight(line, " \t\r"), st)
			}
		}
		return
	}
	if s == "" {
		return
	}
	if unicode.IsSpace(rune(s[0])) {
		w.space = true
	}
	words := 0
	for f := range strings.FieldsSeq(s) {
		if words > 0 {
			w.space = true
		}
		w.word(f, st)
		words++
	}
	if words > 0 {
		last, _ := lastRune(s)
		if unicode.IsSpace(last) {
			w.space = true
		}
	}
}

func lastRune(s string) (rune, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0x80 {
			return rune(s[i]), true
		}
		if (s[i] & 0xC0) != 0x80 {
			r := []rune(s[i:])
			if len(r) > 0 {
				return r[0], true
			}
			return 0, false
		}
	}
	return 0, false
}

// word writes s, after the newlines or the space owed.
func (w *htmlWriter) word(s string, st renderState) {
	if w.out.Len() > 0 && w.nl > 0 {
		for range w.nl {
			w.out.WriteByte('\n')
		}
		w.lineStart = true
	}
	w.nl = 0
	if w.lineStart {
		for i := 0; i < st.quote && i < 20; i++ {
			w.out.WriteString("> ")
		}
		w.lineStart = false
	} else if w.space {
		w.out.WriteByte(' ')
	}
	w.space = false
	w.out.WriteString(s)
}

func getAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return true
		}
	}
	return false
}

func isEmphStyle(style string) bool {
	d := styleDecls(style)
	if d == nil {
		return false
	}
	if px, ok := fontSizeOf(d); ok && px >= 20 {
		return true
	}
	switch d.val("font-weight") {
	case "bold", "bolder", "600", "700", "800", "900":
		return true
	}
	if ls, ok := d.get("letter-spacing"); ok && ls != "" && ls != "normal" && !isZeroLength(ls) && !strings.HasPrefix(ls, "-") {
		return true
	}
	ff := d.val("font-family")
	return strings.Contains(ff, "mono") || strings.Contains(ff, "courier") ||
		strings.Contains(ff, "consolas") || strings.Contains(ff, "menlo")
}

// isQuoteElem tells the elements mail clients put quoted replies in.
// Forwarded messages inside a gmail_quote are not quotes: the forward is
// the content.
func isQuoteElem(n *html.Node) bool {
	if n.DataAtom == atom.Blockquote {
		return true
	}
	class := strings.ToLower(getAttr(n, "class"))
	if class == "" {
		return false
	}
	for _, c := range []string{"gmail_quote", "yahoo_quoted", "protonmail_quote", "moz-cite-prefix"} {
		if strings.Contains(class, c) {
			return !forwardStartRe.MatchString(textPrefix(n, 120))
		}
	}
	return false
}

// textPrefix returns about the first max bytes of n's text, looking at a
// bounded number of nodes.
func textPrefix(n *html.Node, max int) string {
	var b strings.Builder
	budget := 500
	var visit func(*html.Node, int)
	visit = func(n *html.Node, depth int) {
		budget--
		if b.Len() >= max || depth > 64 || budget < 0 {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(strings.Join(strings.Fields(n.Data), " "))
			b.WriteByte(' ')
			return
		}
		if n.Type == html.ElementNode && skipElems[n.DataAtom] {
			return
		}
		for c := n.FirstChild; c != nil && b.Len() < max; c = c.NextSibling {
			visit(c, depth+1)
		}
	}
	visit(n, 0)
	return strings.TrimSpace(b.String())
}

// isPixel tells a tracking pixel: an image of at most 1×1.
func isPixel(n *html.Node, style string) bool {
	small := func(v string) bool {
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "px"))
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f <= 1
	}
	d := styleDecls(style)
	w, h := getAttr(n, "width"), getAttr(n, "height")
	if sw, ok := d.get("width"); ok {
		w = sw
	}
	if sh, ok := d.get("height"); ok {
		h = sh
	}
	return w != "" && h != "" && small(w) && small(h)
}
