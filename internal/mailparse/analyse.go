package mailparse

import (
	"strings"

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
		secondary = append(secondary, codeSource{lines: splitLines(splitQuoted(text, forward)), secondary: true, weight: weightTextAlternative})
	}
	secondary = append(secondary, codeSource{lines: splitLines(primary), secondary: true, weight: weightUnstripped})
	if primary != text && text != "" {
		secondary = append(secondary, codeSource{lines: splitLines(text), secondary: true, weight: weightUnstripped})
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
