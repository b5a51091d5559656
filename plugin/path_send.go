package plugin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jhillyerd/enmime/v2"

	"github.com/mailgent/mailgent/internal/bus"
)

// agents/:agent/send: mail from the agent's own address, DKIM-signed
// inside Vault, signed by the plugin and sealed to the registered relays,
// which deliver it. What became of it is in its sent record (sent.go).

// Bounds of outbound mail.
const (
	maxSendRecipients = 50
	maxSubject        = 998
	maxBodyBytes      = 512 << 10 // below Vault's own JSON string limit, so the plugin answers
	maxAttachBytes    = 10 << 20  // all attachments, decoded
	maxAttachments    = 20
)

// The queue: a publish whose ack was lost is tried again, with the same
// Nats-Msg-Id, so JetStream keeps one copy and a retry never sends twice.
const (
	publishTries   = 3
	publishTimeout = 5 * time.Second
)

// The rate limit: a count per agent and clock hour.
//
//	sendrate/<agent>/<YYYYMMDDHH>    the count, decimal
const (
	sendRatePrefix = "sendrate/"
	rateHourLayout = "2006010215"
)

func (b *backend) pathSend() []*framework.Path {
	return []*framework.Path{{
		Pattern:        "agents/" + namePattern("agent") + "/send$",
		DisplayAttrs:   pathDisplay("message"),
		Fields:         sendFields(),
		ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },
		Operations:     writeOperations(withAgent(b, opMessageSend, readSend, b.pathSendWrite), opVerb("send")),
		HelpSynopsis:   "Send mail from the agent's own address, DKIM-signed inside Vault and delivered by the relay.",
	}}
}

func sendFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent": agentField(),
		"to": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Recipients.",
		},
		"cc": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Copy recipients.",
		},
		"bcc": {
			Type:        framework.TypeCommaStringSlice,
			Description: "Blind copy recipients (not in the headers).",
		},
		"subject": {
			Type:        framework.TypeString,
			Description: "Subject (UTF-8).",
		},
		"text": {
			Type:        framework.TypeString,
			Description: "Plain-text body.",
		},
		"html": {
			Type:        framework.TypeString,
			Description: "HTML body.",
		},
		"reply_to": {
			Type:        framework.TypeString,
			Description: "Reply-To address.",
		},
		"in_reply_to": {
			Type:        framework.TypeString,
			Description: "ID of a message in the agent's inbox this answers: sets In-Reply-To and References (and Re: subject if none given).",
		},
		"attachments": {
			Type:        framework.TypeSlice,
			Description: `Attachments: [{"filename": "…", "content_type": "…", "content": "<base64>"}].`,
		},
		"from": {
			Type:        framework.TypeString,
			Description: "Refused: the sender is always the agent's own address.",
		},
	}
}

// sendInput is a validated send.
type sendInput struct {
	// rcpts are the recipients by field (to, cc, bcc), one copy each.
	rcpts               map[string][]*mail.Address
	subject, text, html string
	replyTo             *mail.Address
	inReplyTo           string
	attachments         []attachmentIn
	// references is what the reply's References header names (threadFrom).
	references []string
}

// recipientFields are the address-list fields, in the order they are
// checked and sent.
func recipientFields() [3]string { return [3]string{"to", "cc", "bcc"} }

// readSend validates every field of a send before anything is read or
// written (steps 1–9 of docs/api.md's table): unknown fields, from,
// recipients, subject, body, reply_to, in_reply_to, attachments.
func readSend(d *framework.FieldData) (*sendInput, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return nil, resp
	}
	if _, ok := d.Raw["from"]; ok {
		return nil, logical.ErrorResponse("from: refused: an agent sends only as itself, from its own address")
	}
	in := &sendInput{subject: d.Get("subject").(string), text: d.Get("text").(string), html: d.Get("html").(string), inReplyTo: d.Get("in_reply_to").(string)}
	for _, read := range []func(*framework.FieldData) error{in.readRecipients, in.readContent, in.readReplyTo} {
		if err := read(d); err != nil {
			return nil, logical.ErrorResponse(err.Error())
		}
	}
	if in.inReplyTo != "" && !messageIDRe.MatchString(in.inReplyTo) {
		return nil, logical.ErrorResponse("in_reply_to: %q is not a message ID of the agent's inbox", in.inReplyTo)
	}
	var err error
	if in.attachments, err = readAttachments(d); err != nil {
		return nil, logical.ErrorResponse(err.Error())
	}
	return in, nil
}

// readRecipients reads to, cc and bcc: valid addresses, one copy of each
// recipient, at least one and at most maxSendRecipients in all.
func (in *sendInput) readRecipients(d *framework.FieldData) error {
	in.rcpts = map[string][]*mail.Address{}
	seen := map[string]bool{}
	total := 0
	for _, f := range recipientFields() {
		list, err := parseAddresses(f, d.Get(f).([]string))
		if err != nil {
			return err
		}
		for _, a := range list {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				in.rcpts[f] = append(in.rcpts[f], a)
				total++
			}
		}
	}
	if total == 0 {
		return fmt.Errorf("to: at least one recipient is required")
	}
	if total > maxSendRecipients {
		return fmt.Errorf("to: %d recipients in all, at most %d", total, maxSendRecipients)
	}
	return nil
}

// readContent checks the subject and the body.
func (in *sendInput) readContent(*framework.FieldData) error {
	if hasCRLF(in.subject) {
		return fmt.Errorf("subject: must not contain a line break")
	}
	if err := checkText("subject", in.subject, maxSubject); err != nil {
		return err
	}
	if in.text == "" && in.html == "" {
		return fmt.Errorf("text: text or html is required")
	}
	if err := checkText("text", in.text, maxBodyBytes); err != nil {
		return err
	}
	return checkText("html", in.html, maxBodyBytes)
}

// readReplyTo reads reply_to: one address.
func (in *sendInput) readReplyTo(d *framework.FieldData) error {
	v := d.Get("reply_to").(string)
	if v == "" {
		return nil
	}
	r, err := parseAddresses("reply_to", []string{v})
	if err != nil {
		return err
	}
	if len(r) != 1 {
		return fmt.Errorf("reply_to: must be one email address")
	}
	in.replyTo = r[0]
	return nil
}

// allRecipients are the envelope recipients, to then cc then bcc.
func (in *sendInput) allRecipients() []string {
	var out []string
	for _, f := range recipientFields() {
		out = append(out, addrStrings(in.rcpts[f])...)
	}
	return out
}

// pathSendWrite sends a message. Steps 1–10 of docs/api.md's table are the
// reader's and withAgent's; then:
//
//  11. every recipient in the agent's send allowlist (403);
//  12. the mount's config and DKIM keys (400 before the first config);
//  13. the bus connected (503);
//  14. threading from in_reply_to (threadFrom; 400 if no such message);
//  15. the rate limit, under the agent's send lock (takeRateSlot: 429,
//     recorded as denied);
//  16. build and DKIM-sign the message (buildMessage, signMessage);
//  17. queue it (queueMessage: the keys it is signed with and sealed to —
//     503 without a registered relay — its sent record, the publish —
//     503, and no record, if JetStream does not take it);
//  18. count it, record message.send, and answer with the sent record.
func (b *backend) pathSendWrite(ctx context.Context, req *logical.Request, st *agentState, in *sendInput) (*logical.Response, error) {
	if err := checkAllowlist(st.entry, in); err != nil {
		return nil, err
	}
	cfg, keys, err := b.configAndDKIM(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return logical.ErrorResponse("config: write the mount's config before sending"), nil
	}
	queue := b.connectedBus()
	if queue == nil {
		return nil, logical.CodedError(http.StatusServiceUnavailable, "the mail bus is not connected (see config bus_status); nothing was queued, try again")
	}
	var thread *thread
	if in.inReplyTo != "" {
		sum, err := b.summary(ctx, req.Storage, st, in.inReplyTo)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			return logical.ErrorResponse("in_reply_to: agent %q has no message %q", st.entry.Name, in.inReplyTo), nil
		}
		if thread, err = b.threadFrom(ctx, req.Storage, st, sum); err != nil {
			return nil, err
		}
		in.subject, in.references = thread.replySubject(in.subject), thread.refs
	}
	lock := locksutil.LockForKey(b.sendLocks, st.entry.Name) // held across the publish
	lock.Lock()
	defer lock.Unlock()
	slot, err := b.takeRateSlot(ctx, req, st, cfg)
	if err != nil {
		return nil, err
	}
	out, err := newOutbound(cfg, st.entry.Name, slot.now)
	if err != nil {
		return nil, err
	}
	part, err := buildMessage(out, in, thread)
	if err != nil {
		return logical.ErrorResponse("message: %v", err), nil
	}
	if out.Raw, err = signMessage(part, cfg.Domain, keys); err != nil {
		return nil, err
	}
	rec, err := b.queueMessage(ctx, req.Storage, st, queue, cfg.Domain, out, in)
	if err != nil {
		return nil, err
	}
	if err := slot.use(ctx, req.Storage); err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opMessageSend, outcomeSuccess)
	ev.Detail = fmt.Sprintf("message %s (<%s>) to %d recipients", out.ID, out.MessageID, len(out.Rcpts))
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: sentData(st.entry.Name, out.MailFrom, rec)}, nil
}

// checkAllowlist answers 403 for the first recipient (to, cc, bcc, in
// that order) outside the agent's send allowlist.
func checkAllowlist(a *agentEntry, in *sendInput) error {
	for _, f := range recipientFields() {
		for _, r := range in.rcpts[f] {
			if !allowed(a.SendAllowlist, r.Address) {
				return logical.CodedError(http.StatusForbidden, fmt.Sprintf("%s: %s is not in agent %q's send allowlist", f, r.Address, a.Name))
			}
		}
	}
	return nil
}

// thread is what a reply takes from the message it answers.
type thread struct {
	// headers are In-Reply-To and References, when the original has a
	// Message-ID; refs the message IDs of the latter.
	headers [][2]string
	refs    []string
	// subject is the original's.
	subject string
}

// threadFrom reads the message a reply answers (neither marking it read
// nor recording message.read).
func (b *backend) threadFrom(ctx context.Context, s logical.Storage, st *agentState, sum *inboxSummary) (*thread, error) {
	orig, err := b.readRecord(ctx, s, st, sum)
	if err != nil {
		return nil, err
	}
	t := &thread{subject: orig.Subject}
	if orig.MessageID != "" {
		mid := "<" + orig.MessageID + ">"
		refs := make([]string, 0, len(orig.References)+1)
		for _, r := range orig.References {
			refs = append(refs, "<"+strings.Trim(r, "<>")+">")
		}
		refs = append(refs, mid)
		t.headers = [][2]string{{"In-Reply-To", mid}, {"References", strings.Join(refs, " ")}}
		t.refs = threadIDs(append(slices.Clone(orig.References), orig.MessageID))
	}
	return t, nil
}

// replySubject is subject, or when it is empty the original's with "Re: "
// in front (unless it starts with re: already), within maxSubject.
func (t *thread) replySubject(subject string) string {
	if subject != "" {
		return subject
	}
	subject = t.subject
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	if len(subject) > maxSubject || hasCRLF(subject) {
		subject = "Re: " + strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(t.subject))[:min(len(t.subject), maxSubject-4)]
	}
	return subject
}

// rateSlot is a send the rate limit allows: this hour's count, to be
// incremented once the message is queued.
type rateSlot struct {
	key  string
	sent int
	now  time.Time
}

// takeRateSlot checks the agent's count for this clock hour against the
// mount's send_rate_limit: at the limit, a denied event and a 429. The
// caller holds the agent's send lock.
func (b *backend) takeRateSlot(ctx context.Context, req *logical.Request, st *agentState, cfg *mailgentConfig) (*rateSlot, error) {
	now := b.now().UTC()
	slot := &rateSlot{key: sendRatePrefix + st.entry.Name + "/" + now.Format(rateHourLayout), now: now}
	e, err := req.Storage.Get(ctx, slot.key)
	if err != nil {
		return nil, err
	}
	if e != nil {
		_, _ = fmt.Sscanf(string(e.Value), "%d", &slot.sent)
	}
	if slot.sent < cfg.SendRateLimit {
		return slot, nil
	}
	ev := b.agentEvent(req, st.entry, opMessageSend, outcomeDenied)
	ev.Detail = "send rate limit reached"
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	next := now.Truncate(time.Hour).Add(time.Hour)
	return nil, logical.CodedError(http.StatusTooManyRequests, fmt.Sprintf("agent %q reached the mount's send_rate_limit of %d messages per hour; try again after %s", st.entry.Name, cfg.SendRateLimit, next.Format(time.RFC3339)))
}

// use counts the send.
func (r *rateSlot) use(ctx context.Context, s logical.Storage) error {
	return s.Put(ctx, &logical.StorageEntry{Key: r.key, Value: []byte(strconv.Itoa(r.sent + 1))})
}

// newOutbound starts a queued message: its IDs, sender and time.
func newOutbound(cfg *mailgentConfig, agent string, now time.Time) (*bus.Outbound, error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	return &bus.Outbound{
		ID:        reverseTime(now) + "-" + hex.EncodeToString(rnd[:6]),
		MessageID: hex.EncodeToString(rnd[:]) + "@" + cfg.Domain,
		Agent:     agent,
		MailFrom:  address(cfg, agent),
		QueuedAt:  now,
	}, nil
}

// buildMessage is the MIME message: headers (threading's too), body and
// attachments.
func buildMessage(out *bus.Outbound, in *sendInput, t *thread) (*enmime.Part, error) {
	mb := enmime.Builder().From("", out.MailFrom).Subject(in.subject).Date(out.QueuedAt).Header("Message-ID", "<"+out.MessageID+">")
	for f, set := range map[string]func(enmime.MailBuilder, []mail.Address) enmime.MailBuilder{
		"to":  enmime.MailBuilder.ToAddrs,
		"cc":  enmime.MailBuilder.CCAddrs,
		"bcc": enmime.MailBuilder.BCCAddrs,
	} {
		if len(in.rcpts[f]) > 0 {
			mb = set(mb, derefAddrs(in.rcpts[f]))
		}
	}
	if in.replyTo != nil {
		mb = mb.ReplyTo(in.replyTo.Name, in.replyTo.Address)
	}
	if t != nil {
		for _, h := range t.headers {
			mb = mb.Header(h[0], h[1])
		}
	}
	if in.text != "" {
		mb = mb.Text([]byte(in.text))
	}
	if in.html != "" {
		mb = mb.HTML([]byte(in.html))
	}
	for _, a := range in.attachments {
		// Through a reader enmime encodes base64, so the bytes arrive exact
		// (a text/* attachment would otherwise get CRLF line ends).
		mb = mb.AddAttachmentWithReader(bytes.NewReader(a.content), a.contentType, a.filename)
	}
	return mb.Build()
}

// signMessage encodes the message and DKIM-signs it with every current key.
func signMessage(part *enmime.Part, domain string, keys *dkimKeys) ([]byte, error) {
	var buf bytes.Buffer
	if err := part.Encode(&buf); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return signDKIM(buf.Bytes(), domain, keys.Current)
}

// queueMessage puts a signed message on the bus: the keys it is signed
// with and sealed to (503 without a registered relay), then its sent
// record (queued), then the publish, tried publishTries times. If
// JetStream does not take it, the record is deleted and the answer is a
// 503: nothing was sent.
func (b *backend) queueMessage(ctx context.Context, s logical.Storage, st *agentState, queue mailBus, domain string, out *bus.Outbound, in *sendInput) (*sentRecord, error) {
	signer, relays, err := b.outboundKeys(ctx, s)
	if err != nil {
		return nil, err
	}
	out.Rcpts = in.allRecipients()
	rec := &sentRecord{
		ID: out.ID, MessageID: out.MessageID, To: addrStrings(in.rcpts["to"]), Cc: addrStrings(in.rcpts["cc"]), Bcc: addrStrings(in.rcpts["bcc"]),
		Subject: in.subject, Size: len(out.Raw), Attachments: len(in.attachments), InReplyTo: in.inReplyTo, References: in.references,
		Status: bus.StatusQueued, QueuedAt: out.QueuedAt, UpdatedAt: out.QueuedAt,
	}
	if err := b.writeSent(ctx, s, st, rec); err != nil {
		return nil, err
	}
	for try := 0; try < publishTries; try++ {
		qctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err = queue.queueOutbound(qctx, domain, out, signer, relays)
		cancel()
		if err == nil {
			b.metrics.queued.Inc()
			return rec, nil
		}
	}
	_ = s.Delete(ctx, sentPrefix+st.entry.Name+"/"+out.ID)
	b.logger.Warn("queue outbound message", "agent", st.entry.Name, "error", err)
	return nil, logical.CodedError(http.StatusServiceUnavailable, "the mail bus did not take the message; nothing was sent, try again")
}

// hasCRLF tells header injection attempts apart.
func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// parseAddresses validates one address-list field.
func parseAddresses(field string, list []string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, raw := range list {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if hasCRLF(raw) {
			return nil, fmt.Errorf("%s: %q contains a line break", field, raw)
		}
		a, err := mail.ParseAddress(raw)
		if err != nil || !strings.Contains(a.Address, "@") {
			return nil, fmt.Errorf("%s: %q is not a valid email address", field, raw)
		}
		out = append(out, a)
	}
	return out, nil
}

// allowed checks a recipient against an allowlist of addresses and domains.
func allowed(list []string, addr string) bool {
	if len(list) == 0 {
		return true
	}
	addr = strings.ToLower(addr)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	for _, a := range list {
		a = strings.ToLower(strings.TrimPrefix(a, "@"))
		if a == addr || a == domain {
			return true
		}
	}
	return false
}

type attachmentIn struct {
	filename, contentType string
	content               []byte
}

func readAttachments(d *framework.FieldData) ([]attachmentIn, error) {
	raw, ok := d.GetOk("attachments")
	if !ok {
		return nil, nil
	}
	items := raw.([]interface{})
	if len(items) > maxAttachments {
		return nil, fmt.Errorf("attachments: %d given, at most %d", len(items), maxAttachments)
	}
	var out []attachmentIn
	total := 0
	for i, it := range items {
		m, ok := it.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("attachments[%d]: must be an object with filename, content_type and content", i)
		}
		name, _ := m["filename"].(string)
		ct, _ := m["content_type"].(string)
		b64, _ := m["content"].(string)
		if name == "" || hasCRLF(name) || strings.ContainsAny(name, `/\"`) || len(name) > 255 {
			return nil, fmt.Errorf("attachments[%d].filename: must be a plain file name without line breaks, slashes or quotes", i)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		if _, ok := m["content"]; !ok {
			return nil, fmt.Errorf("attachments[%d].content: is required (base64)", i)
		}
		if _, _, err := mime.ParseMediaType(ct); err != nil || hasCRLF(ct) {
			return nil, fmt.Errorf("attachments[%d].content_type: %q is not a MIME type", i, ct)
		}
		content, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("attachments[%d].content: not valid base64", i)
		}
		total += len(content)
		if total > maxAttachBytes {
			return nil, fmt.Errorf("attachments: more than %d bytes in all", maxAttachBytes)
		}
		out = append(out, attachmentIn{name, ct, content})
	}
	return out, nil
}

func derefAddrs(in []*mail.Address) []mail.Address {
	out := make([]mail.Address, len(in))
	for i, a := range in {
		out[i] = *a
	}
	return out
}

func addrStrings(in []*mail.Address) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = a.Address
	}
	return out
}

// outboundKeys are what a queued message is signed with and sealed to; no
// registered relay is a 503 (nothing could deliver it).
func (b *backend) outboundKeys(ctx context.Context, s logical.Storage) (ed25519.PrivateKey, []bus.RelayPublic, error) {
	set, err := b.relays(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if len(set.sorted) == 0 {
		return nil, nil, errNoRelays
	}
	signer, err := b.readBusSigningKey(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return signer, set.publics(), nil
}
