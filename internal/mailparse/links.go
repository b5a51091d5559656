package mailparse

import (
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// maxLinks caps Message.Links.
const maxLinks = 500

// rawLink is a link as found, before ranking.
type rawLink struct {
	url   string
	text  string
	pixel bool
	// hidden: nothing of the link can be seen (its text is in the
	// background's colour or too small); dropped before ranking.
	hidden bool
}

var (
	// The URLs of a List-Unsubscribe header, and those of a text body.
	angleRe   = regexp.MustCompile(`<([^<>]+)>`)
	textURLRe = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'\x60{}|\\^\[\]]+`)

	// What a link's text or URL says it is (classifyLink).
	unsubWordsRe   = regexp.MustCompile(`(?i)unsubscri|\bunsub\b|opt[-_ ]?out|optout|e-?mail[-_ ]?(?:preferences|settings)|manage[-_ ]?(?:your[-_ ]?)?(?:preferences|notifications|subscriptions?|e-?mails?)|notification[-_ ]?(?:settings|preferences)|subscription[-_ ]?(?:center|centre|preferences|settings)|/preferences|abmelden|abbestellen|newsletter[-_ ]?abmelden|darse de baja|dar de baja|\bbaja\b|desuscrib|cancelar (?:la )?suscripci|d[ée]sabonner|d[ée]sinscri|list-unsubscribe`)
	privacyWordsRe = regexp.MustCompile(`(?i)privacy|privacidad|datenschutz|confidentialit|\bterms\b|/terms|\btos\b|/tos\b|\blegal\b|/legal|impressum|imprint|cookie|\bpolicy\b|policies|\bagb\b|aviso[-_ ]legal|t[ée]rminos|condiciones|nutzungsbedingungen|\bgdpr\b|dsgvo|privacy[-_]?policy`)
	resetTextRe    = regexp.MustCompile(`(?i)reset|forgot|\brecover (?:your )?(?:password|account)|(?:change|new|set|choose|create|update) (?:your |a )?(?:new )?password|passwort|kennwort|contrase[ñn]a|mot de passe|restablecer|zur[üu]cksetzen|r[ée]initialiser`)
	resetURLRe     = regexp.MustCompile(`(?i)reset|forgot|password|passwort|kennwort|contrase|restablecer|zur[üu]cksetzen|zuruecksetzen|reinitialiser`)
	verifyWordsRe  = regexp.MustCompile(`(?i)verif|confirm|activat|activar|activer|aktivier|validat|validar|valider|magic|best[äa]tig|bestaetig|email[-_]?link|one[-_]?click[-_]?(?:login|sign)|passwordless|\bverify\b`)
	loginWordsRe   = regexp.MustCompile(`(?i)log[-_ ]?in|sign[-_ ]?in|signin|login|\bauth|\bsso\b|session|anmelden|einloggen|iniciar[-_ ]sesi|inicia[-_ ]sesi|connexion|se connecter|acceder|callback|continue|accept|\bjoin\b`)
	// A secret in a URL: a token-like parameter, a long opaque value.
	tokenParamRe = regexp.MustCompile(`(?i)[?&#;](?:token|t|code|otp|key|auth|sig|signature|hash|nonce|ticket|jwt|magic|login_token|confirmation_token|verification_token|k|c|s|h|u|id|email_token|oobcode)=[^&#]{6,}`)
	opaqueRe     = regexp.MustCompile(`[A-Za-z0-9_\-.~%]{20,}`)
	// The URLs of open-tracking pixels and click redirects.
	pixelURLRe = regexp.MustCompile(`(?i)/track/open|/open\b|/o\.gif|/wf/open|/e/o/|open\.php|/trk/|/ss/o/|beacon|pixel|/imp\b|/o/\w|\.gif\?|/t\.gif`)
	clickURLRe = regexp.MustCompile(`(?i)/ls/click|/wf/click|/track/click|/click\b|clicks?\.|/c/|/r/|redirect|ct\.sendgrid|links?\.|/e/c/|/ss/c/|/trk/`)
)

// The expressions of classifyLink as altRe matchers: the same answers,
// found faster.
var (
	unsubWords   = newAltRe(unsubWordsRe)
	privacyWords = newAltRe(privacyWordsRe)
	resetText    = newAltRe(resetTextRe)
	resetURL     = newAltRe(resetURLRe)
	verifyWords  = newAltRe(verifyWordsRe)
	loginWords   = newAltRe(loginWordsRe)
	pixelURL     = newAltRe(pixelURLRe)
	clickURL     = newAltRe(clickURLRe)
)

// ClassifyLink returns the mailmsg kind of a link from its URL and text.
func ClassifyLink(rawURL, text string) string {
	k, _ := classifyLink(rawURL, text, false)
	return k
}

// How strongly a link is of its kind (links of one tier rank by it): what
// its text says counts more than what its URL says, and a URL that agrees
// with the text or carries a token adds to it.
const (
	linkScoreNone              = 0
	linkTextSaysUnsubOrPrivacy = 2 // the text says unsubscribe or privacy
	linkURLSaysUnsubOrPrivacy  = 1 // only the URL does
	linkTextSaysVerify         = 4 // the text says verify, confirm, activate
	linkTextSaysReset          = 3 // the text says reset or forgot a password
	linkTextSaysLogin          = 3 // the text says sign in, and the URL carries a token
	linkURLSaysVerify          = 3 // only the URL says verify
	linkURLSaysReset           = 2 // only the URL says reset
	linkURLSaysLogin           = 2 // only the URL says sign in, and it carries a token
	linkURLAgreesVerify        = 3 // the URL says verify too
	linkURLAgreesReset         = 2 // the URL says reset too
	linkURLAgreesLogin         = 1 // the URL says sign in or verify too
	linkCarriesToken           = 2 // the URL carries a token: a link for this reader alone
	linkURLSaysPixel           = 1 // an open-tracking pixel by its URL, with no text
	linkURLSaysClickOnly       = 0 // a click redirect with no words of its own
)

// linkEvidence is what classifyLink reads of a link.
type linkEvidence struct {
	text  string // lower-cased
	url   string // urlWords
	token bool   // hasToken
}

// classifyLink returns a link's kind and, within the kind, how strongly it
// is one: by what its text says, else by what its URL says.
func classifyLink(u, text string, pixel bool) (string, int) {
	if pixel {
		return mailmsg.LinkTracking, linkScoreNone
	}
	l := linkEvidence{text: strings.ToLower(text), url: urlWords(u), token: hasToken(u)}
	if kind, score, ok := l.byText(); ok {
		return kind, score
	}
	return l.byURL()
}

// byText classifies a link by what its text says, when it says something.
func (l linkEvidence) byText() (kind string, score int, ok bool) {
	switch {
	case unsubWords.MatchString(l.text):
		return mailmsg.LinkUnsubscribe, linkTextSaysUnsubOrPrivacy, true
	case verifyWords.MatchString(l.text) && !resetText.MatchString(l.text):
		score = linkTextSaysVerify + weightIf(verifyWords.MatchString(l.url), linkURLAgreesVerify)
		return mailmsg.LinkVerify, score + l.tokenScore(), true
	case resetText.MatchString(l.text):
		score = linkTextSaysReset + weightIf(resetURL.MatchString(l.url), linkURLAgreesReset)
		return mailmsg.LinkReset, score + l.tokenScore(), true
	case loginWords.MatchString(l.text) && l.token:
		agrees := loginWords.MatchString(l.url) || verifyWords.MatchString(l.url)
		return mailmsg.LinkVerify, linkTextSaysLogin + weightIf(agrees, linkURLAgreesLogin), true
	case privacyWords.MatchString(l.text):
		return mailmsg.LinkPrivacy, linkTextSaysUnsubOrPrivacy, true
	}
	return "", linkScoreNone, false
}

// byURL classifies a link by what its URL says.
func (l linkEvidence) byURL() (kind string, score int) {
	switch {
	case unsubWords.MatchString(l.url):
		return mailmsg.LinkUnsubscribe, linkURLSaysUnsubOrPrivacy
	case privacyWords.MatchString(pathOf(l.url)):
		return mailmsg.LinkPrivacy, linkURLSaysUnsubOrPrivacy
	case resetURL.MatchString(l.url) && !verifyWords.MatchString(pathOf(l.url)):
		return mailmsg.LinkReset, linkURLSaysReset + l.tokenScore()
	case verifyWords.MatchString(l.url):
		return mailmsg.LinkVerify, linkURLSaysVerify + l.tokenScore()
	case loginWords.MatchString(l.url) && l.token:
		return mailmsg.LinkVerify, linkURLSaysLogin
	case pixelURL.MatchString(l.url) && strings.TrimSpace(l.text) == "":
		return mailmsg.LinkTracking, linkURLSaysPixel
	case clickURL.MatchString(l.url) && alnumCount(l.text, 1) == 0:
		return mailmsg.LinkTracking, linkURLSaysClickOnly
	}
	return mailmsg.LinkOther, linkScoreNone
}

// weightIf is w when yes holds, else nothing.
func weightIf(yes bool, w int) int {
	if yes {
		return w
	}
	return linkScoreNone
}

// tokenScore is what a token in the URL adds.
func (l linkEvidence) tokenScore() int {
	return weightIf(l.token, linkCarriesToken)
}

// urlWords is the lower-cased, unescaped text of a URL, with any URL it
// redirects to (a query value that is itself a URL) appended.
func urlWords(u string) string {
	w := strings.ToLower(u)
	if un, err := url.QueryUnescape(u); err == nil {
		w = strings.ToLower(un)
	}
	if p, err := url.Parse(u); err == nil {
		for _, vs := range p.Query() {
			for _, v := range vs {
				if isHTTP(v) {
					w += " " + strings.ToLower(v)
				}
			}
		}
	}
	return w
}

// hasToken tells a URL that carries a secret: a token-like parameter or
// a long opaque path segment or value.
func hasToken(u string) bool {
	if tokenParamRe.MatchString(u) {
		return true
	}
	rest := u
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		return false
	}
	for _, m := range opaqueRe.FindAllString(rest, 20) {
		letters, digits := 0, 0
		for _, r := range m {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
				letters++
			}
		}
		if letters > 0 && digits > 0 {
			return true
		}
	}
	return false
}

// pathOf is a URL's text after its host, so that a host name (legal.x.com,
// help.x.com) does not decide alone.
func pathOf(uw string) string {
	rest := uw
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return rest[i:]
	}
	return ""
}

type linkEntry struct {
	link  mailmsg.Link
	score int
	pos   int
	tier  int
	pixel bool
	// anchor: an HTML link, whose text a reader sees instead of its URL.
	anchor bool
}

// extractLinks gathers the HTML links, the URLs of the text body and those
// of the List-Unsubscribe header, de-duplicates and ranks them: by tier
// (see linkTier; alignment with senderDomain, the normalised From domain,
// decides where a verify, reset or other link goes), then by score, then
// by position.
func extractLinks(htmlLinks []rawLink, text, listUnsubscribe, senderDomain string) []mailmsg.Link {
	var entries []*linkEntry
	byURL := map[string]*linkEntry{}
	add := func(u, t string, pixel, anchor bool) {
		if !isHTTP(u) || len(entries) >= maxLinks*2 {
			return
		}
		if e, ok := byURL[u]; ok {
			if e.link.Text == "" && t != "" {
				e.link.Text = t
			}
			if e.pixel && !pixel {
				e.pixel = false
			}
			return
		}
		e := &linkEntry{link: mailmsg.Link{URL: u, Text: t}, pos: len(entries), pixel: pixel, anchor: anchor}
		entries = append(entries, e)
		byURL[u] = e
	}
	for _, l := range htmlLinks {
		add(l.url, l.text, l.pixel, !l.pixel)
	}
	for _, tl := range textLinks(text) {
		add(tl.url, tl.text, false, false)
	}
	for _, m := range angleRe.FindAllStringSubmatch(listUnsubscribe, 10) {
		if u := cleanURL(m[1]); isHTTP(u) {
			add(u, "List-Unsubscribe", false, false)
		}
	}
	hosts := hostCache{}
	for _, e := range entries {
		kind, score := classifyLink(e.link.URL, e.link.Text, e.pixel)
		if e.link.Text == "List-Unsubscribe" {
			kind = mailmsg.LinkUnsubscribe
		}
		e.link.Host = hosts.host(e.link.URL)
		e.link.Aligned = domain.Aligned(e.link.Host, senderDomain)
		if e.anchor && isSuspicious(e.link.Text, e.link.URL, e.link.Host) {
			kind = mailmsg.LinkSuspicious
		}
		e.link.Kind, e.score = kind, score
		e.tier = linkTier(e.link)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.tier != b.tier {
			return a.tier < b.tier
		}
		if a.score != b.score {
			return a.score > b.score
		}
		return a.pos < b.pos
	})
	if len(entries) > maxLinks {
		entries = entries[:maxLinks]
	}
	out := make([]mailmsg.Link, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.link)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Link tiers, in ranking order: an unaligned link never ranks first as the
// verification link, and a suspicious one always comes last.
const (
	tierAlignedVerify = iota
	tierAlignedReset
	tierAlignedOther
	tierUnalignedOther
	tierUnalignedVerify
	tierUnalignedReset
	tierUnsubscribe
	tierPrivacy
	tierTracking
	tierSuspicious
)

// linkTier is where a link ranks.
func linkTier(l mailmsg.Link) int {
	switch l.Kind {
	case mailmsg.LinkVerify:
		if l.Aligned {
			return tierAlignedVerify
		}
		return tierUnalignedVerify
	case mailmsg.LinkReset:
		if l.Aligned {
			return tierAlignedReset
		}
		return tierUnalignedReset
	case mailmsg.LinkUnsubscribe:
		return tierUnsubscribe
	case mailmsg.LinkPrivacy:
		return tierPrivacy
	case mailmsg.LinkTracking:
		return tierTracking
	case mailmsg.LinkSuspicious:
		return tierSuspicious
	}
	if l.Aligned {
		return tierAlignedOther
	}
	return tierUnalignedOther
}

// textLinks finds the URLs of a text body; a URL's text is what precedes
// it on its line, or the line before when it stands alone.
func textLinks(text string) []rawLink {
	// Most texts have no URL at all.
	if !mayHaveURL(text) {
		return nil
	}
	var out []rawLink
	lines := strings.Split(text, "\n")
	prev := ""
	for _, line := range lines {
		var locs [][]int
		if mayHaveURL(line) {
			locs = textURLRe.FindAllStringIndex(line, 50)
		}
		for _, loc := range locs {
			u := trimURLPunct(line[loc[0]:loc[1]])
			label := strings.Trim(unquoteLine(line[:loc[0]]), " :-–—>(<[*\t")
			if label == "" {
				label = strings.Trim(unquoteLine(prev), " :-–—>(<[*\t")
			}
			out = append(out, rawLink{url: cleanURL(u), text: TruncateUTF8(collapseSpaces(label), 120)})
		}
		if strings.TrimSpace(line) != "" && len(locs) == 0 {
			prev = line
		}
	}
	return out
}

// mayHaveURL: textURLRe needs "://".
func mayHaveURL(s string) bool {
	return strings.Contains(s, "://")
}

// trimURLPunct removes the sentence punctuation a URL in text is followed
// by, and a closing parenthesis that does not belong to it.
func trimURLPunct(u string) string {
	for len(u) > 0 {
		c := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?'\"*>", c) >= 0:
			u = u[:len(u)-1]
		case c == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

func isHTTP(u string) bool {
	l := strings.ToLower(u)
	return (strings.HasPrefix(l, "http://") && len(u) > len("http://")) ||
		(strings.HasPrefix(l, "https://") && len(u) > len("https://"))
}

// cleanURL trims an href the way browsers do (surrounding space, and tabs
// and newlines inside) and lower-cases an http(s) scheme.
func cleanURL(u string) string {
	u = strings.TrimSpace(u)
	if strings.ContainsAny(u, "\t\n\r") {
		u = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, u)
	}
	l := strings.ToLower(u)
	switch {
	case strings.HasPrefix(l, "https://"):
		u = "https://" + u[len("https://"):]
	case strings.HasPrefix(l, "http://"):
		u = "http://" + u[len("http://"):]
	}
	return toValidUTF8(u)
}
