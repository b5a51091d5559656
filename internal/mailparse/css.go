package mailparse

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A small CSS reader for the <style> blocks of a mail: just enough to know
// which elements a rule hides or colours. Not a library: cascadia (the
// selector engine of goquery) can match a selector but cannot index rules
// by class, id or tag, and matching every rule at every node costs more
// than the whole parse may; douceur is unmaintained and tdewolff/parse only
// tokenises. Mail CSS needs a small subset, read here in one pass.
//
// Supported selectors: a compound of tag (or *), .class and #id parts, and
// chains of them with the descendant (space) and child (>) combinators,
// matched exactly against the element's ancestors, so a rule is neither
// applied too widely nor ignored. Any other selector (attributes,
// pseudo-classes, sibling combinators: `a:hover`, `u + .body .x`) is not
// applied, because applying only its last part would hide text that is
// visible; a colour or background such a rule sets makes the element's
// colours unknown, which only ever keeps text. @media, @supports and the
// other at-rules are skipped: the text is judged as a desktop client with
// no media condition shows it.

// Caps that bound the work a style sheet can cause.
const (
	maxStyleBytes     = 256 << 10
	maxCSSRules       = 2000
	maxCompounds      = 8
	maxSelectorSteps  = 2000 // ancestor comparisons per match attempt
	maxStyleElemsSeen = 100
)

// cssProps are the properties that decide whether text is seen; other
// declarations are dropped as they are read.
var cssProps = map[string]bool{
	"display": true, "visibility": true, "mso-hide": true, "opacity": true,
	"max-height": true, "max-width": true, "height": true, "width": true, "overflow": true,
	"position": true, "left": true, "top": true, "text-indent": true, "clip": true, "clip-path": true,
	"font-size": true, "font": true, "color": true, "background": true, "background-color": true,
}

// unknownColour is the value a colour or background gets from a rule that
// may or may not apply (see above).
const unknownColour = "unknown"

type cssDecl struct {
	prop, val string
	important bool
}

// compound is one step of a selector: tag (or ""), id, classes, all
// lower-case; child tells that the step to its left is its parent (">"),
// not any ancestor.
type compound struct {
	tag, id string
	classes []string
	child   bool
}

type cssRule struct {
	sel   []compound // left to right; the last is the subject
	spec  int        // specificity: ids<<16 | classes<<8 | tags
	order int
	decls []cssDecl
}

// styleSheet holds the rules of a message's <style> blocks, indexed by the
// id, a class or the tag of their subject compound.
type styleSheet struct {
	rules                 []cssRule
	byID, byClass, byTag  map[string][]int
	universal             []int
	hasIDs, hasClassRules bool
}

// hasStyleTag tells, without parsing, whether an HTML text may have a
// <style> element: most mail without one pays nothing.
func hasStyleTag(s string) bool {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			return false
		}
		i += j + 1
		if len(s)-i >= 5 && equalFoldASCII(s[i:i+5], "style") {
			return true
		}
	}
}

// collectStyleSheet reads the <style> elements of a parsed document (not
// those inside comments: Outlook's conditional styles are not the ones
// other clients apply).
func collectStyleSheet(doc *html.Node) *styleSheet {
	var css strings.Builder
	seen := 0
	stack := []*html.Node{doc}
	for len(stack) > 0 && seen < maxStyleElemsSeen && css.Len() < maxStyleBytes {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Type == html.ElementNode && n.DataAtom == atom.Style {
			seen++
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.TextNode {
					css.WriteString(c.Data)
					css.WriteByte('\n')
				}
			}
			continue
		}
		for c := n.LastChild; c != nil; c = c.PrevSibling {
			if c.Type == html.ElementNode || c.Type == html.DocumentNode {
				stack = append(stack, c)
			}
		}
	}
	if css.Len() == 0 {
		return nil
	}
	return parseStyleSheet(TruncateUTF8(css.String(), maxStyleBytes))
}

// parseStyleSheet reads the rules of a style sheet that set a property of
// cssProps; nil when there are none.
func parseStyleSheet(css string) *styleSheet {
	css = stripCSSComments(css)
	sh := &styleSheet{byID: map[string][]int{}, byClass: map[string][]int{}, byTag: map[string][]int{}}
	order := 0
	for i := 0; i < len(css) && len(sh.rules) < maxCSSRules; {
		open := strings.IndexAny(css[i:], "{;}")
		if open < 0 {
			break
		}
		prelude := strings.TrimSpace(css[i : i+open])
		if css[i+open] != '{' {
			i += open + 1 // "@import …;", a stray "}"
			continue
		}
		body, next := cssBlock(css, i+open+1)
		i = next
		if strings.HasPrefix(prelude, "@") {
			continue
		}
		decls := parseDecls(body)
		if len(decls) == 0 {
			continue
		}
		for _, s := range strings.Split(prelude, ",") {
			sh.add(strings.TrimSpace(s), decls, order)
			order++
		}
	}
	if len(sh.rules) == 0 {
		return nil
	}
	return sh
}

// cssBlock returns the text of the block that starts at i (after its "{")
// and the index after its closing brace; nested blocks are kept inside.
func cssBlock(css string, i int) (string, int) {
	depth := 1
	for j := i; j < len(css); j++ {
		switch css[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return css[i:j], j + 1
			}
		}
	}
	return css[i:], len(css)
}

func stripCSSComments(css string) string {
	if !strings.Contains(css, "/*") {
		return css
	}
	var b strings.Builder
	for {
		i := strings.Index(css, "/*")
		if i < 0 {
			b.WriteString(css)
			return b.String()
		}
		b.WriteString(css[:i])
		j := strings.Index(css[i+2:], "*/")
		if j < 0 {
			return b.String()
		}
		b.WriteByte(' ')
		css = css[i+2+j+2:]
	}
}

// add indexes one selector of a rule.
func (sh *styleSheet) add(sel string, decls []cssDecl, order int) {
	if len(sh.rules) >= maxCSSRules {
		return
	}
	comps, ok := parseSelector(sel)
	if !ok {
		sh.addUncertain(sel, decls, order)
		return
	}
	r := cssRule{sel: comps, order: order, decls: decls}
	for _, c := range comps {
		if c.id != "" {
			r.spec += 1 << 16
		}
		r.spec += len(c.classes) << 8
		if c.tag != "" {
			r.spec++
		}
	}
	sh.index(r)
}

// addUncertain keeps, of a selector that is not supported, only that the
// colours of its subject are unknown: it may make them readable.
func (sh *styleSheet) addUncertain(sel string, decls []cssDecl, order int) {
	var unknown []cssDecl
	for _, d := range decls {
		switch d.prop {
		case "color", "background", "background-color":
			unknown = append(unknown, cssDecl{prop: d.prop, val: unknownColour, important: true})
		}
	}
	if len(unknown) == 0 {
		return
	}
	// The subject: the last compound, cut at its first unsupported part.
	last := sel
	if i := strings.LastIndexAny(last, " >+~"); i >= 0 {
		last = last[i+1:]
	}
	if i := strings.IndexAny(last, ":[("); i >= 0 {
		last = last[:i]
	}
	c, ok := parseCompound(last)
	if !ok {
		return
	}
	sh.index(cssRule{sel: []compound{c}, spec: 1 << 24, order: order, decls: unknown})
}

func (sh *styleSheet) index(r cssRule) {
	i := len(sh.rules)
	sh.rules = append(sh.rules, r)
	s := r.sel[len(r.sel)-1]
	switch {
	case s.id != "":
		sh.byID[s.id] = append(sh.byID[s.id], i)
		sh.hasIDs = true
	case len(s.classes) > 0:
		sh.byClass[s.classes[0]] = append(sh.byClass[s.classes[0]], i)
		sh.hasClassRules = true
	case s.tag != "":
		sh.byTag[s.tag] = append(sh.byTag[s.tag], i)
	default:
		sh.universal = append(sh.universal, i)
	}
}

// parseSelector reads a selector of supported compounds and combinators.
func parseSelector(sel string) ([]compound, bool) {
	if sel == "" {
		return nil, false
	}
	var out []compound
	child := false
	for _, f := range strings.Fields(strings.ReplaceAll(sel, ">", " > ")) {
		if f == ">" {
			if len(out) == 0 || child {
				return nil, false
			}
			child = true
			continue
		}
		c, ok := parseCompound(f)
		if !ok || len(out) == maxCompounds {
			return nil, false
		}
		c.child = child
		child = false
		out = append(out, c)
	}
	if len(out) == 0 || child {
		return nil, false
	}
	return out, true
}

// parseCompound reads "tag.class#id" (each part optional, tag first).
func parseCompound(s string) (compound, bool) {
	var c compound
	if s == "" {
		return c, false
	}
	s = strings.ToLower(s)
	i := 0
	for i < len(s) && isCSSName(s[i]) {
		i++
	}
	c.tag = s[:i]
	if c.tag == "" && strings.HasPrefix(s, "*") {
		i = 1
	}
	for i < len(s) {
		kind := s[i]
		if kind != '.' && kind != '#' {
			return c, false
		}
		j := i + 1
		for j < len(s) && isCSSName(s[j]) {
			j++
		}
		if j == i+1 {
			return c, false
		}
		if kind == '.' {
			c.classes = append(c.classes, s[i+1:j])
		} else {
			c.id = s[i+1 : j]
		}
		i = j
	}
	return c, true
}

func isCSSName(b byte) bool {
	return b == '-' || b == '_' || b >= 0x80 || unicode.IsLetter(rune(b)) || unicode.IsDigit(rune(b))
}

// classesOf returns the lower-cased id and classes of an element, the
// keys its rules are indexed by.
func classesOf(n *html.Node) (id string, classes []string) {
	for _, a := range n.Attr {
		if a.Namespace != "" {
			continue
		}
		switch strings.ToLower(a.Key) {
		case "id":
			id = strings.ToLower(strings.TrimSpace(a.Val))
		case "class":
			classes = strings.Fields(strings.ToLower(a.Val))
		}
	}
	return id, classes
}

// matches tells whether element n matches c; ids and classes compare
// without case, as in the quirks mode most mail renders in.
func (c *compound) matches(n *html.Node) bool {
	if n == nil || n.Type != html.ElementNode || (c.tag != "" && c.tag != n.Data) {
		return false
	}
	if c.id == "" && len(c.classes) == 0 {
		return true
	}
	var id, class string
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, "id") {
			id = strings.TrimSpace(a.Val)
		} else if a.Namespace == "" && strings.EqualFold(a.Key, "class") {
			class = a.Val
		}
	}
	if c.id != "" && !strings.EqualFold(c.id, id) {
		return false
	}
	for _, want := range c.classes {
		if !hasWordFold(class, want) {
			return false
		}
	}
	return true
}

// hasWordFold tells whether the space-separated list s holds w, without
// case.
func hasWordFold(s, w string) bool {
	for len(s) > 0 {
		i := strings.IndexFunc(s, unicode.IsSpace)
		word := s
		if i >= 0 {
			word, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if len(word) == len(w) && strings.EqualFold(word, w) {
			return true
		}
	}
	return false
}

// matchLeft tells whether sel[:i] matches the ancestors of n, given the
// combinator before sel[i]; steps bounds the backtracking.
func matchLeft(sel []compound, i int, n *html.Node, steps *int) bool {
	if i == 0 {
		return true
	}
	if sel[i].child {
		return matchAt(sel, i-1, n.Parent, steps)
	}
	for a := n.Parent; a != nil && a.Type == html.ElementNode; a = a.Parent {
		if matchAt(sel, i-1, a, steps) {
			return true
		}
		if *steps < 0 {
			return false
		}
	}
	return false
}

func matchAt(sel []compound, i int, n *html.Node, steps *int) bool {
	*steps--
	if *steps < 0 || !sel[i].matches(n) {
		return false
	}
	return matchLeft(sel, i, n, steps)
}

// cascade returns the declarations of the sheet's rules that apply to n,
// one per property: the winner by importance, specificity and order.
func (sh *styleSheet) cascade(n *html.Node) map[string]cssDecl {
	if sh == nil {
		return nil
	}
	id, classes := "", []string(nil)
	if sh.hasIDs || sh.hasClassRules {
		id, classes = classesOf(n)
	}
	var won map[string]cssDecl
	var wonRank map[string][3]int
	try := func(list []int) {
		for _, ri := range list {
			r := &sh.rules[ri]
			steps := maxSelectorSteps
			if !matchAt(r.sel, len(r.sel)-1, n, &steps) {
				continue
			}
			for _, d := range r.decls {
				rank := [3]int{boolInt(d.important), r.spec, r.order}
				if old, ok := wonRank[d.prop]; ok && !rankLess(old, rank) {
					continue
				}
				if won == nil {
					won, wonRank = map[string]cssDecl{}, map[string][3]int{}
				}
				won[d.prop], wonRank[d.prop] = d, rank
			}
		}
	}
	if id != "" {
		try(sh.byID[id])
	}
	for i, c := range classes {
		if !containsBefore(classes, i, c) {
			try(sh.byClass[c])
		}
	}
	try(sh.byTag[n.Data])
	try(sh.universal)
	return won
}

// containsBefore tells whether list[:i] holds s: a class named twice is
// looked up once.
func containsBefore(list []string, i int, s string) bool {
	for _, x := range list[:i] {
		if x == s {
			return true
		}
	}
	return false
}

func rankLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
