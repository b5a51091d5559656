package mailparse

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	// "On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:" and its
	// German, Spanish, French, Italian, Dutch, Portuguese forms.
	attributionRe = regexp.MustCompile(`(?i)^(?:on|am|el|le|il|op|em|den)\s.{4,300}\s(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit|ha\s+scritto|schreef|skrev|escreveu)\s*:?\s*$`)
	// "Acme Support <x@acme.io> wrote:"
	attributionAddrRe = regexp.MustCompile(`(?i)^.{0,200}<[^<>\s]+@[^<>\s]+>\s*(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit)\s*:?\s*$`)
	// The same over two lines: "On Tue, 4 Mar 2025 at 10:02, Acme" / "<x@acme.io> wrote:".
	attributionHeadRe = regexp.MustCompile(`(?i)^(?:on|am|el|le|il|op|em|den)\s.{4,300}$`)
	attributionTailRe = regexp.MustCompile(`(?i)^.{0,200}(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit|ha\s+scritto|schreef|escreveu)\s*:?\s*$`)

	// "-----Original Message-----" and its translations.
	originalMsgRe = regexp.MustCompile(`(?i)^[-_=\s]{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|mensaje original|message d'origine|messaggio originale|oorspronkelijk bericht)\s*[-_=\s]{2,}$`)

	// A forwarded message starts here; the forward itself is content.
	forwardStartRe = regexp.MustCompile(`(?i)^[-_=*\s]*(?:forwarded message|begin forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|mensaje reenviado|inicio del mensaje reenviado|message transf[ée]r[ée]|messaggio inoltrato|doorgestuurd bericht)`)
	// "Fwd:", "WG:", "TR:": a subject that says the message is a forward.
	forwardSubjectRe = regexp.MustCompile(`(?i)^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|wg|rv|tr|enc|i)\s*:`)

	// An Outlook header block: "From:", then "Sent:" and "Subject:" within
	// a few lines, or all three on one line; a rule of underscores above it.
	outlookFromRe    = regexp.MustCompile(`(?i)^\*?(?:from|von|de|da|van)\s*:\*?\s*\S`)
	outlookSentRe    = regexp.MustCompile(`(?i)^\*?(?:sent|date|gesendet|datum|enviado|fecha|envoy[ée]|date d'envoi|inviato|verzonden)\s*:`)
	outlookSubjectRe = regexp.MustCompile(`(?i)^\*?(?:subject|betreff|asunto|objet|oggetto|onderwerp)\s*:`)
	outlookInlineRe  = regexp.MustCompile(`(?i)\b(?:from|von)\s*:.{1,200}\b(?:sent|gesendet|date)\s*:.{1,200}\b(?:subject|betreff)\s*:`)
	underscoreLineRe = regexp.MustCompile(`^[_\-=]{10,}$`)
)

// splitQuoted returns the part of text that is the message itself: the
// quoted history of a reply (after "On … wrote:", "-----Original
// Message-----", an Outlook header block, or "> " lines) removed.
// Forwarded messages are kept: they are what the sender meant to send;
// in a message whose subject says it is a forward, an Outlook header block
// or "Original Message" marker also starts the forward. When removing the
// quotes leaves (almost) nothing, the whole text is returned unquoted.
func splitQuoted(text string, forward bool) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		t := lines[i]
		if t == "" || isQuotedLine(t) {
			continue
		}
		if ok, outlook := replyCutAt(lines, i); ok {
			if forward && outlook {
				forward = false // the forwarded message starts here; keep it
				continue
			}
			cut = i
			break
		}
	}
	if cut > 0 && cut < len(lines) && underscoreLineRe.MatchString(lines[cut-1]) {
		cut--
	}
	kept := make([]string, 0, cut)
	for _, l := range lines[:cut] {
		if !isQuotedLine(l) {
			kept = append(kept, l)
		}
	}
	current := normalizeText(strings.Join(kept, "\n"))
	if alnumCount(current, 12) < 12 && (cut < len(lines) || len(kept) < cut) {
		return normalizeText(stripQuotePrefixes(text))
	}
	return current
}

// replyCutAt tells whether the quoted history of a reply starts at line i:
// an attribution line ("On … wrote:", possibly over two lines), an
// "-----Original Message-----" marker or an Outlook header block.
func replyCutAt(lines []string, i int) (cut bool, outlookStyle bool) {
	t := lines[i]
	if len(t) > 700 {
		return false, false
	}
	if mayBeAttribution(t) && (attributionRe.MatchString(t) || attributionAddrRe.MatchString(t)) {
		return true, false
	}
	if i+1 < len(lines) && len(t)+len(lines[i+1]) < 400 && mayBeAttribution(lines[i+1]) &&
		attributionHeadRe.MatchString(t) && attributionTailRe.MatchString(lines[i+1]) &&
		strings.ContainsAny(t, "0123456789") {
		return true, false
	}
	// Cheap necessary conditions (the prefilters below) before the expressions.
	if mayBeOriginalMsg(t) && originalMsgRe.MatchString(t) {
		return true, true
	}
	if mayBeOutlookInline(t) && outlookInlineRe.MatchString(t) {
		return true, true
	}
	if mayBeOutlookFrom(t) && outlookFromRe.MatchString(t) {
		sent, subj := false, false
		for j, seen := i+1, 0; j < len(lines) && seen < 6; j++ {
			if lines[j] == "" {
				continue
			}
			seen++
			if outlookSentRe.MatchString(lines[j]) {
				sent = true
			}
			if outlookSubjectRe.MatchString(lines[j]) {
				subj = true
			}
		}
		if sent && subj {
			return true, true
		}
	}
	return false, false
}

// isQuotedLine tells a "> " quoted line.
func isQuotedLine(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " "), ">")
}

// stripQuotePrefixes removes "> " quote markers at line starts.
func stripQuotePrefixes(s string) string {
	if !strings.Contains(s, ">") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = unquoteLine(l)
	}
	return strings.Join(lines, "\n")
}

func unquoteLine(l string) string {
	t := strings.TrimLeft(l, " ")
	for strings.HasPrefix(t, ">") {
		t = strings.TrimLeft(t[1:], " ")
	}
	return t
}

// mayBeAttribution is a cheap test before the attribution expressions.
func mayBeAttribution(l string) bool {
	if isASCII(l) {
		// strings.ToLower of ASCII text is ASCII case folding. Every word
		// has one "r": look for the words around the r's of l.
		for _, rc := range [2]byte{'r', 'R'} {
			for off := 0; ; {
				j := strings.IndexByte(l[off:], rc)
				if j < 0 {
					break
				}
				i := off + j
				off = i + 1
				for k, w := range attributionWords {
					s := i - attributionR[k]
					if s >= 0 && s+len(w) <= len(l) && equalFoldASCII(l[s:s+len(w)], w) {
						return true
					}
				}
			}
		}
		return false
	}
	if strings.ContainsRune(l, '\u212A') || strings.ContainsRune(l, '\u017F') {
		return true // the Kelvin sign and the long s, which (?i) folds with k and s
	}
	l = strings.ToLower(l)
	for _, w := range attributionWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

var attributionWords = []string{"wrote", "schrieb", "escribi", "crit", "scritto", "schreef", "skrev", "escreveu"}

// attributionR holds the offset of the "r" in each attributionWords.
var attributionR = func() (r []int) {
	for _, w := range attributionWords {
		r = append(r, strings.IndexByte(w, 'r'))
	}
	return r
}()

// originalMsgRe starts with two of [-_=\s].
func mayBeOriginalMsg(l string) bool {
	in := func(c byte) bool { return c == '-' || c == '_' || c == '=' || isReSpace(c) }
	return len(l) >= 2 && in(l[0]) && in(l[1])
}

// mayBeOutlookInline: outlookInlineRe needs three colons.
func mayBeOutlookInline(l string) bool {
	return strings.Count(l, ":") >= 3
}

// outlookFromRe is anchored: an optional "*", then from, von, de, da or
// van (whose letters (?i) folds with their ASCII case only), and a ":"
// somewhere after.
func mayBeOutlookFrom(l string) bool {
	if strings.HasPrefix(l, "*") {
		l = l[1:]
	}
	if l == "" {
		return false
	}
	switch l[0] {
	case 'f', 'F', 'v', 'V', 'd', 'D':
		return strings.IndexByte(l, ':') >= 0
	}
	return false
}

// forwardStartRe is anchored: [-_=*\s]*, then a phrase whose first three
// letters are one of forwardStartPrefixes (of the letters in them, (?i)
// folds only s with a non-ASCII rune).
func mayBeForwardStart(l string) bool {
	i := 0
	for i < len(l) && (l[i] == '-' || l[i] == '_' || l[i] == '=' || l[i] == '*' || isReSpace(l[i])) {
		i++
	}
	if i == len(l) {
		return false
	}
	rest := l[i:]
	if len(rest) < 3 {
		return false
	}
	for j := 0; j < 3; j++ {
		if rest[j] >= utf8.RuneSelf {
			return true // perhaps the long s, which (?i) folds with s
		}
	}
	for _, p := range forwardStartPrefixes {
		if equalFoldASCII(rest[:3], p) {
			return true
		}
	}
	return false
}

// The first three letters of the phrases of forwardStartRe.
var forwardStartPrefixes = []string{"for", "beg", "wei", "anf", "men", "ini", "mes", "doo"}
