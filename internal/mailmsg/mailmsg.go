// Package mailmsg is the one message schema the relay and the plugin share:
// what the relay makes of an accepted email, what travels (encrypted) over
// JetStream, and what the plugin stores in an agent's inbox.
package mailmsg

import "time"

// Message is one email as parsed and analysed by the relay.
type Message struct {
	// ID is assigned by the relay at accept time; it is the JetStream
	// Nats-Msg-Id (dedup) and the inbox key.
	ID string `json:"id"`
	// ReceivedAt is when the relay accepted the message.
	ReceivedAt time.Time `json:"received_at"`

	// Envelope: what the sending MTA said in the SMTP dialogue.
	Envelope Envelope `json:"envelope"`

	// Headers, decoded (RFC 2047) to UTF-8.
	From string `json:"from"` // display form, e.g. `GitHub <noreply@github.com>`
	// FromAddress is the bare, lower-cased address of From (empty if unparseable).
	FromAddress string    `json:"from_address"`
	To          []string  `json:"to"`
	Cc          []string  `json:"cc"`
	ReplyTo     []string  `json:"reply_to,omitempty"`
	Subject     string    `json:"subject"`
	Date        time.Time `json:"date"` // zero if absent or unparseable
	MessageID   string    `json:"message_id"`
	InReplyTo   string    `json:"in_reply_to,omitempty"`
	References  []string  `json:"references,omitempty"`

	// Text is the text/plain body (decoded to UTF-8); HTML the text/html body.
	Text string `json:"text"`
	HTML string `json:"html"`
	// ExtractedText is what an LLM should read: the HTML rendered to text
	// (or the text body), with quoted replies, signatures, legal footers,
	// preheaders and tracking noise stripped.
	ExtractedText string `json:"extracted_text"`
	// Codes are candidate verification codes, best first.
	Codes []Code `json:"codes"`
	// Links are the message's links, verification and magic links first,
	// unsubscribe/privacy/tracking last.
	Links []Link `json:"links"`
	// Attachments describe the attachment and inline parts; their bytes are
	// retrievable from the raw source by Index.
	Attachments []Attachment `json:"attachments"`

	// Size is the raw message size in bytes.
	Size int64 `json:"size"`
	// Auth is the sender authentication result (DKIM, SPF, DMARC).
	Auth AuthResults `json:"auth"`
	// SenderDomain is the From address's domain, lower-cased and in its
	// IDNA ASCII form (internal/domain); empty when From has no domain.
	SenderDomain string `json:"sender_domain"`
	// Trust is TrustVerified when an aligned DKIM/SPF/DMARC pass
	// authenticates SenderDomain, else TrustUnverified; TrustReason says
	// why in a line (mailauth.Verdict).
	Trust       string `json:"trust"`
	TrustReason string `json:"trust_reason"`
	// ParseErrors lists what could not be parsed; the message is stored as
	// far as it parsed.
	ParseErrors []string `json:"parse_errors,omitempty"`
}

// Envelope is the SMTP envelope and connection of a message.
type Envelope struct {
	MailFrom   string   `json:"mail_from"`
	RcptTo     []string `json:"rcpt_to"`
	RemoteAddr string   `json:"remote_addr"`
	Helo       string   `json:"helo"`
	// TLS tells whether the session used STARTTLS.
	TLS bool `json:"tls"`
}

// Code is a candidate verification code.
type Code struct {
	// Code is normalised: spaces and dashes inside removed ("7 3 9 1 4 2" → "739142").
	Code string `json:"code"`
	// Context is the text around the code, for a human or an LLM to judge.
	Context string `json:"context"`
}

// Link kinds. Links are ranked aligned verify, aligned reset, other
// (aligned first), unaligned verify, unaligned reset, then unsubscribe,
// privacy, tracking and suspicious.
const (
	LinkVerify      = "verify"      // verify/confirm/activate/magic sign-in link
	LinkReset       = "reset"       // password reset
	LinkOther       = "other"       // anything else
	LinkUnsubscribe = "unsubscribe" // unsubscribe, preferences
	LinkPrivacy     = "privacy"     // privacy, terms, legal
	LinkTracking    = "tracking"    // tracking pixels and redirects
	// LinkSuspicious is a link whose text names a domain of another
	// organisation than the one it leads to (text github.com, href
	// github.com.evil.example).
	LinkSuspicious = "suspicious"
)

// Link is one link of the message.
type Link struct {
	URL  string `json:"url"`
	Text string `json:"text"`
	Kind string `json:"kind"`
	// Host is the URL's host, lower-cased and in its ASCII (punycode) form,
	// so that a look-alike shows as xn--….
	Host string `json:"host"`
	// Aligned tells that Host is the sender's (From) domain or shares its
	// organisational domain; a link of another organisation never ranks
	// first as the verification link.
	Aligned bool `json:"aligned"`
}

// Attachment describes one attachment or inline part.
type Attachment struct {
	// Index is the part's position among attachments, for retrieval.
	Index       int    `json:"index"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline"`
}

// Sender trust verdicts.
const (
	TrustVerified   = "verified"
	TrustUnverified = "unverified"
)

// AuthResults is the outcome of sender authentication.
type AuthResults struct {
	DKIM  []DKIMResult `json:"dkim"`
	SPF   SPFResult    `json:"spf"`
	DMARC DMARCResult  `json:"dmarc"`
}

// DKIMResult is one DKIM signature's verification.
type DKIMResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	// Result is pass, fail, temperror, permerror or none.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// SPFResult is the SPF check of the envelope sender (or HELO).
type SPFResult struct {
	Domain string `json:"domain"`
	// Result is pass, fail, softfail, neutral, none, temperror or permerror.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// DMARCResult is the DMARC evaluation of the From domain.
type DMARCResult struct {
	Domain string `json:"domain"`
	// Result is pass, fail, none (no policy), temperror or permerror.
	Result string `json:"result"`
	// Policy is the domain's published policy: none, quarantine or reject.
	Policy string `json:"policy,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Head is what the plugin needs of a message to file it in an inbox: it
// travels beside the whole message on the bus, so the plugin stores the
// message's JSON as it came without decoding it (decoding is costly, see
// docs/benchmarks.md).
type Head struct {
	ID          string    `json:"id"`
	ReceivedAt  time.Time `json:"received_at"`
	From        string    `json:"from"`
	FromAddress string    `json:"from_address"`
	Subject     string    `json:"subject"`
	// Code is the best candidate code, if any.
	Code        string `json:"code,omitempty"`
	Attachments int    `json:"attachments"`
	RemoteAddr  string `json:"remote_addr,omitempty"`
	// The sender verdict, as on Message.
	SenderDomain string `json:"sender_domain,omitempty"`
	Trust        string `json:"trust,omitempty"`
	TrustReason  string `json:"trust_reason,omitempty"`
	// The threading headers, as on Message: what the plugin groups
	// conversations by (agents/:agent/threads). Empty from relays that
	// predate them.
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`
}

// Head returns the message's head.
func (m *Message) Head() Head {
	h := Head{ID: m.ID, ReceivedAt: m.ReceivedAt, From: m.From, FromAddress: m.FromAddress, Subject: m.Subject,
		Attachments: len(m.Attachments), RemoteAddr: m.Envelope.RemoteAddr,
		SenderDomain: m.SenderDomain, Trust: m.Trust, TrustReason: m.TrustReason,
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References}
	if len(m.Codes) > 0 {
		h.Code = m.Codes[0].Code
	}
	return h
}
