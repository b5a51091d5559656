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
// every link unaligned). It runs in five steps:
//
//  1. the text to read: the HTML rendered, when it shows any text, else the
//     text body (readableText);
//  2. the message itself: that text without a reply's quoted history (in a
//     forward, the forwarded message is kept) (splitQuoted);
//  3. the extracted text: the message without its footers, signature and
//     sign-off (stripBoilerplate);
//  4. the codes of the subject and the extracted text, and of the other
//     texts at a penalty (secondarySources, extractCodes);
//  5. the links of the HTML, of the text body and of List-Unsubscribe,
//     ranked (extractLinks).
func Analyse(subject, text, htmlBody, listUnsubscribe, senderDomain string) Analysis {
	text = normalizeText(TruncateUTF8(toValidUTF8(text), maxTextBytes))
	primary, r := readableText(text, htmlBody)
	forward := forwardSubjectRe.MatchString(subject)
	cache := newLineCache()
	extracted := stripBoilerplate(cache, splitQuoted(primary, forward))
	return Analysis{
		ExtractedText: extracted,
		Codes:         extractCodes(cache, cleanHeader(subject), extracted, secondarySources(text, primary, forward), r.emph),
		Links:         extractLinks(r.links, text, listUnsubscribe, senderDomain),
	}
}

// readableText returns the text a reader sees: the HTML body rendered,
// when it shows any text, else the text body (normalised already); r is
// the rendering, with the emphasised snippets and the links.
func readableText(text, htmlBody string) (primary string, r rendered) {
	primary = text
	if strings.TrimSpace(htmlBody) != "" {
		r = renderHTML(TruncateUTF8(toValidUTF8(htmlBody), maxHTMLBytes))
		if alnumCount(r.text, 1) > 0 {
			primary = r.text
		}
	}
	return primary, r
}

// secondarySources are where else codes may be: the text alternative of an
// HTML message (its own quotes removed), then the unstripped texts, which
// hold the quoted replies and footers.
func secondarySources(text, primary string, forward bool) []codeSource {
	var secondary []codeSource
	alternative := primary != text && text != ""
	if alternative {
		secondary = append(secondary, codeSource{lines: splitLines(splitQuoted(text, forward)), secondary: true, weight: weightTextAlternative})
	}
	secondary = append(secondary, codeSource{lines: splitLines(primary), secondary: true, weight: weightUnstripped})
	if alternative {
		secondary = append(secondary, codeSource{lines: splitLines(text), secondary: true, weight: weightUnstripped})
	}
	return secondary
}

// ExtractText is the text an LLM should read: the HTML rendered to text
// when there is HTML with any text in it, else the text body, with quoted
// replies, signatures, footers and superfluous white space removed.
func ExtractText(text, htmlBody string) string {
	return Analyse("", text, htmlBody, "", "").ExtractedText
}
