package mailparse

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// Caps on what the analysis reads, so that a huge body costs a bounded
// amount of work; verification content is at the top of a message.
const (
	maxHTMLBytes = 2 << 20
	maxTextBytes = 1 << 20
)

// Analysis is what Analyse makes of a message's content.
type Analysis struct {
	ExtractedText string
	Codes         []mailmsg.Code
	Links         []mailmsg.Link
}

// Analyse extracts the readable text, candidate codes and ranked links of
// a message from its decoded subject, text and HTML bodies and its
// List-Unsubscribe header (any of which may be empty). senderDomain is the
// normalised From domain (domain.OfAddress; "" when unknown, which makes
// every link unaligned).
func Analyse(subject, text, htmlBody, listUnsubscribe, senderDomain string) Analysis {
	text = normalizeText(TruncateUTF8(toValidUTF8(text), maxTextBytes))
	primary := text
	var r rendered
	if strings.TrimSpace(htmlBody) != "" {
		r = renderHTML(TruncateUTF8(toValidUTF8(htmlBody), maxHTMLBytes))
		if alnumCount(r.text, 1) > 0 {
			primary = r.text
		}
	}
	forward := forwardSubjectRe.MatchString(subject)
	current := splitQuoted(primary, forward)
	cache := newLineCache()
	extracted := stripBoilerplate(cache, current)

	// Where else codes may be: the text alternative of an HTML message
	// (its own quotes removed), then the unstripped texts, which hold the
	// quoted replies and footers.
	var secondary []codeSource
	if primary != text && text != "" {
		secondary = append(secondary, codeSource{lines: splitLines(splitQuoted(text, forward)), secondary: true, penalty: 2})
	}
	secondary = append(secondary, codeSource{lines: splitLines(primary), secondary: true, penalty: 6})
	if primary != text && text != "" {
		secondary = append(secondary, codeSource{lines: splitLines(text), secondary: true, penalty: 6})
	}
	return Analysis{
		ExtractedText: extracted,
		Codes:         extractCodes(cache, cleanHeader(subject), extracted, secondary, r.emph),
		Links:         extractLinks(r.links, text, listUnsubscribe, senderDomain),
	}
}

// ExtractText is the text an LLM should read: the HTML rendered to text
// when there is HTML with any text in it, else the text body, with quoted
// replies, signatures, footers and superfluous white space removed.
func ExtractText(text, htmlBody string) string {
	return Analyse("", text, htmlBody, "", "").ExtractedText
}

// --- white space ---

// removeInvisible drops zero-width and formatting characters (preheader
// padding) and turns the exotic spaces into plain ones. It is given valid
// UTF-8: strings.Map would replace an invalid byte, the check before it
// would not.
func removeInvisible(s string) string {
	for _, r := range s {
		if visibleRune(r) != r {
			return strings.Map(visibleRune, s)
		}
	}
	return s
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

// normalizeText makes line ends "\n", removes invisible characters,
// collapses runs of spaces inside lines, trims lines and keeps at most one
// blank line in a row.
//
// It runs several times on every message, so valid UTF-8 (all text it is
// given by Analyse) takes one hand-written pass that builds no intermediate
// strings; normalizeTextSlow is the definition, and the tests hold the two
// to the same results.
func normalizeText(s string) string {
	if s == "" || isNormalizedASCII(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	haveContent := false // a non-blank line has been written
	pendingBlank := false
	space := false  // a space owed before the next visible character
	inLine := false // the current line has a visible character
	endLine := func() {
		if inLine {
			haveContent = true
			pendingBlank = false
		} else if haveContent {
			pendingBlank = true
		}
		inLine, space = false, false
	}
	// visible is called before a visible character is written: it opens
	// the line (with the line breaks owed) or writes the space owed.
	visible := func() {
		if !inLine {
			if haveContent {
				b = append(b, '\n')
				if pendingBlank {
					b = append(b, '\n')
				}
			}
			inLine = true
		} else if space {
			b = append(b, ' ')
		}
		space = false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if !inLine && plainByte[c] {
			// A clean line (plain characters and single spaces) at once.
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
			if !sp && (e == len(s) || s[e] == '\n' || s[e] == '\r') {
				if haveContent {
					b = append(b, '\n')
					if pendingBlank {
						b = append(b, '\n')
					}
				}
				b = append(b, s[i:e]...)
				inLine = true
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
				endLine()
				continue
			case c == ' ' || c == '\t':
				if inLine {
					space = true
				}
				continue
			case c < 0x20 || c == 0x7F: // invisible
				continue
			}
			visible()
			// The rest of a run of plain characters at once.
			j := i
			for j < len(s) && plainByte[s[j]] {
				j++
			}
			b = append(b, s[i-1:j]...)
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return normalizeTextSlow(s)
		}
		i += size
		if isInvisible(r) {
			continue
		}
		if unicode.IsSpace(r) {
			if inLine {
				space = true
			}
			continue
		}
		visible()
		b = append(b, s[i-size:i]...)
	}
	if string(b) == s {
		return s
	}
	return string(b)
}

// plainByte tells the ASCII bytes that normalizeText copies as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7F; c++ {
		t[c] = true
	}
	return t
}()

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

// collapseSpaces trims s and turns runs of white space into one space.
func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
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

// --- quoted replies ---

var (
	// "On Tue, 4 Mar 2025 at 10:02, Acme <x@acme.io> wrote:" and its
	// German, Spanish, French, Italian, Dutch, Portuguese forms.
	attributionRe = regexp.MustCompile(`(?i)^(?:on|am|el|le|il|op|em|den)\s.{4,300}\s(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit|ha\s+scritto|schreef|skrev|escreveu)\s*:?\s*$`)
	// "Acme Support <x@acme.io> wrote:"
	attributionAddrRe = regexp.MustCompile(`(?i)^.{0,200}<[^<>\s]+@[^<>\s]+>\s*(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit)\s*:?\s*$`)
	attributionHeadRe = regexp.MustCompile(`(?i)^(?:on|am|el|le|il|op|em|den)\s.{4,300}$`)
	attributionTailRe = regexp.MustCompile(`(?i)^.{0,200}(?:wrote|schrieb|escribi[óo]|a\s+[ée]crit|ha\s+scritto|schreef|escreveu)\s*:?\s*$`)

	originalMsgRe = regexp.MustCompile(`(?i)^[-_=\s]{2,}\s*(?:original message|ursprüngliche nachricht|original-nachricht|mensaje original|message d'origine|messaggio originale|oorspronkelijk bericht)\s*[-_=\s]{2,}$`)

	// A forwarded message starts here; the forward itself is content.
	forwardStartRe   = regexp.MustCompile(`(?i)^[-_=*\s]*(?:forwarded message|begin forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|mensaje reenviado|inicio del mensaje reenviado|message transf[ée]r[ée]|messaggio inoltrato|doorgestuurd bericht)`)
	forwardSubjectRe = regexp.MustCompile(`(?i)^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|wg|rv|tr|enc|i)\s*:`)

	outlookFromRe    = regexp.MustCompile(`(?i)^\*?(?:from|von|de|da|van)\s*:\*?\s*\S`)
	outlookSentRe    = regexp.MustCompile(`(?i)^\*?(?:sent|date|gesendet|datum|enviado|fecha|envoy[ée]|date d'envoi|inviato|verzonden)\s*:`)
	outlookSubjectRe = regexp.MustCompile(`(?i)^\*?(?:subject|betreff|asunto|objet|oggetto|onderwerp)\s*:`)
	outlookInlineRe  = regexp.MustCompile(`(?i)\b(?:from|von)\s*:.{1,200}\b(?:sent|gesendet|date)\s*:.{1,200}\b(?:subject|betreff)\s*:`)
	underscoreLineRe = regexp.MustCompile(`^[_\-=]{10,}$`)
)

// isQuotedLine tells a "> " quoted line.
func isQuotedLine(l string) bool {
	return strings.HasPrefix(strings.TrimLeft(l, " "), ">")
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
	// Cheap necessary conditions (see prefilter.go) before the expressions.
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

// --- signatures, sign-offs, footers ---

var (
	signOffRe = regexp.MustCompile(`(?i)^(?:thanks|thank you|many thanks|thanks again|thanks so much|cheers|best|best wishes|best regards|kind regards|warm regards|warmly|regards|sincerely|yours sincerely|yours truly|all the best|talk soon|see you soon|happy \w+ing|mit freundlichen gr[üu](?:ß|ss)en|freundliche gr[üu](?:ß|ss)e|viele gr[üu](?:ß|ss)e|beste gr[üu](?:ß|ss)e|liebe gr[üu](?:ß|ss)e|gr[üu](?:ß|ss)e|saludos|un saludo|saludos cordiales|atentamente|cordialmente|cordialement|bien [àa] vous|merci|gracias|danke)\s*[,!.]*$`)
	teamRe    = regexp.MustCompile(`(?i)^[-—–~\s]*(?:the\s.{1,40}\steams?|[\p{L}\p{N}.&' ]{1,40}\steams?|(?:das|dein|ihr|euer)\s.{1,40}[-\s]team|el equipo(?: de)?\s.{1,40}|l['’][ée]quipe\s.{1,40}|team\s.{1,40})\s*[.!]?$`)

	footerRe  = regexp.MustCompile(`(?i)unsubscri|\bopt[- ]?out\b|abmelden|abbestellen|darse de baja|dar(?:te)? de baja|cancelar (?:la |tu )?suscripci|d[ée]sabonner|d[ée]sinscri|email preferences|e-mail preferences|manage (?:your )?(?:preferences|notifications|subscriptions|emails?|settings)|notification settings|privacy|datenschutz|privacidad|confidentialit|terms of (?:service|use)|terms (?:&|and) conditions|\bterms\b|nutzungsbedingungen|\bagb\b|impressum|aviso legal|legal notice|t[ée]rminos|you(?:'re| are) receiving this|you received this|this (?:e-?mail|message|notification) (?:was|has been|is) (?:sent|intended)|sent (?:to|by) [^ ]+@|diese (?:e-?mail|nachricht) wurde|sie erhalten diese|este (?:correo|mensaje|e-?mail) (?:fue|ha sido|se) (?:enviado|envi[óo])|has recibido este|recibes este|©|\(c\)\s*\d{4}|copyright|all rights reserved|alle rechte vorbehalten|todos los derechos reservados|tous droits r[ée]serv[ée]s|registered (?:office|in|trademark)|\b(?:inc|llc|ltd|gmbh|plc|corp|ag|kg)\b\.?(?:\s|,|$)|\bs\.[la]\.(?:u\.)?|\bb\.v\.|view (?:it |this )?(?:e-?mail |message )?in (?:your |a )?browser|view (?:this )?(?:e-?mail )?online|help cent(?:er|re)|contact us|kontakt|contáctanos|do not reply|don't reply|no[- ]?reply|please do not respond|this is an automated|automatically generated|mailbox is not monitored|not monitored|download (?:the|our) app|follow us|app store|google play|sent from my|get the app|powered by`)
	addressRe = regexp.MustCompile(`(?i)\d+[a-z]?\s+(?:[\p{L}.'-]+\s+){0,4}(?:street|st\.?|avenue|ave\.?|blvd\.?|boulevard|road|rd\.?|drive|dr\.?|lane|ln\.?|way|parkway|pkwy|place|pl\.?|plaza|square|court|ct\.?|terrace|highway|hwy)\b|\b(?:suite|ste\.?|floor|fl\.?|p\.?\s?o\.?\s?box|postfach|apartado)\s*\d|[\p{L}]+(?:straße|strasse|str\.|platz|weg|allee|gasse|ring|damm)\s*\d|\b(?:calle|c/|avenida|avda\.?|av\.|plaza|paseo|rue|boulevard|via|piazza)\s+[\p{L}]|(?-i:\b[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|^\d{5}\s+\p{Lu}[\p{L}-]+(?:,|$)|,\s*\d{5}\s+\p{Lu}[\p{L}-]+)`)
	urlOnlyRe = regexp.MustCompile(`(?i)^[<(\[]?(?:https?://|www\.)\S+[>)\]]?$`)
)

// StripBoilerplate removes, from the end of a message's text, legal
// footers and boilerplate (unsubscribe, privacy, "you received this email
// because", copyright, postal addresses, social links), a "-- " signature
// and a closing sign-off ("Thanks, The Acme Team"). A line that holds a
// verification code is never removed, nor anything before it.
func StripBoilerplate(s string) string {
	return stripBoilerplate(newLineCache(), s)
}

func stripBoilerplate(cache *lineCache, s string) string {
	lines := strings.Split(normalizeText(s), "\n")
	// The strippers only ever cut lines off the end, so the last line that
	// holds a code stays where it is.
	protect := protectedFrom(cache, lines)
	lines = stripFooter(cache, lines, protect)
	lines = stripSignature(lines, protect)
	lines = stripSignOff(lines, protect)
	lines = stripFooter(cache, lines, protect)
	return normalizeText(strings.Join(lines, "\n"))
}

// protectedFrom returns the index of the last line that holds a likely
// verification code, or -1.
func protectedFrom(cache *lineCache, lines []string) int {
	for i := len(lines) - 1; i >= 0; i-- {
		if lineHoldsCode(cache, lines, i) {
			return i
		}
	}
	return -1
}

// lineHoldsCode: a code-like token on a line with a code keyword, or a
// line that is nothing but a code-like token after such a line.
func lineHoldsCode(cache *lineCache, lines []string, i int) bool {
	l := lines[i]
	if len(l) > maxLineBytes {
		l = TruncateUTF8(l, maxLineBytes)
	}
	toks := cache.tokens(l)
	if len(toks) == 0 {
		return false
	}
	if hasCodeKeyword(cache, l) {
		return true
	}
	for _, t := range toks {
		if isStandalone(l, t) {
			for j, seen := i-1, 0; j >= 0 && seen < 2; j-- {
				if lines[j] == "" {
					continue
				}
				seen++
				if hasCodeKeyword(cache, TruncateUTF8(lines[j], maxLineBytes)) {
					return true
				}
			}
		}
	}
	return false
}

// isFooterLine tells a footer or postal address line, memoised:
// stripBoilerplate looks at the same lines twice.
func (c *lineCache) isFooterLine(l string) bool {
	if len(l) > 2000 {
		return false
	}
	if c == nil {
		return (mayBeFooter(l) && footerRe.MatchString(l)) || isAddressLine(l)
	}
	return memo(c.footer, l, func(l string) bool { return (mayBeFooter(l) && footerRe.MatchString(l)) || c.isAddressLine(l) })
}

// isAddressLine memoised: scoreToken and stripFooter ask about the same
// lines.
func (c *lineCache) isAddressLine(l string) bool {
	if c == nil {
		return isAddressLine(l)
	}
	return memo(c.addr, l, isAddressLine)
}

// isFillerLine: blank, punctuation, a bare URL, or a few short words
// (social links, "Help | Privacy").
func isFillerLine(cache *lineCache, l string) bool {
	if l == "" || (mayBeURLOnly(l) && urlOnlyRe.MatchString(l)) {
		return true
	}
	if alnumCount(l, 1) == 0 {
		return true
	}
	if utf8.RuneCountInString(l) <= 40 && len(strings.Fields(l)) <= 5 && len(cache.tokens(l)) == 0 {
		return true
	}
	return false
}

func stripFooter(cache *lineCache, lines []string, protect int) []string {
	cut := len(lines)
	for i := len(lines) - 1; i > protect; i-- {
		l := lines[i]
		if cache.isFooterLine(l) {
			cut = i
			continue
		}
		if isFillerLine(cache, l) {
			continue
		}
		break
	}
	if cut == 0 {
		// Everything looked like a footer: keep it rather than nothing.
		return lines
	}
	return lines[:cut]
}

func stripSignature(lines []string, protect int) []string {
	for i := len(lines) - 1; i > protect && i > 0; i-- {
		if lines[i] != "--" && lines[i] != "-- " {
			continue
		}
		if nonEmptyCount(lines[i+1:]) <= 15 {
			return lines[:i]
		}
		break
	}
	return lines
}

func stripSignOff(lines []string, protect int) []string {
	cut := -1
	for i, seen := len(lines)-1, 0; i > protect && i > 0 && seen < 5; i-- {
		if lines[i] == "" {
			continue
		}
		seen++
		if (mayBeSignOff(lines[i]) && signOffRe.MatchString(lines[i])) ||
			(len(lines[i]) <= 60 && mayBeTeam(lines[i]) && teamRe.MatchString(lines[i])) {
			cut = i
		}
	}
	if cut > 0 {
		return lines[:cut]
	}
	return lines
}

func nonEmptyCount(lines []string) int {
	n := 0
	for _, l := range lines {
		if l != "" {
			n++
		}
	}
	return n
}
