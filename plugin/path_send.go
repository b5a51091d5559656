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
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jhillyerd/enmime/v2"

	"github.com/mailgent/mailgent/internal/bus"
)

// Bounds of outbound mail.
const (
	maxSendRecipients = 50
	maxSubject        = 998
	maxBodyBytes      = 512 << 10 // below Vault's own JSON string limit, so the plugin answers
	maxAttachBytes    = 10 << 20  // all attachments, decoded
	maxAttachments    = 20
	sendRatePrefix    = "sendrate/" // sendrate/<agent>/<hour> → count
)

func (b *backend) pathSend() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "agents/" + namePattern("agent") + "/send$",
			Fields: map[string]*framework.FieldSchema{
				"agent":       agentField(),
				"to":          {Type: framework.TypeCommaStringSlice, Description: "Recipients."},
				"cc":          {Type: framework.TypeCommaStringSlice, Description: "Copy recipients."},
				"bcc":         {Type: framework.TypeCommaStringSlice, Description: "Blind copy recipients (not in the headers)."},
				"subject":     {Type: framework.TypeString, Description: "Subject (UTF-8)."},
				"text":        {Type: framework.TypeString, Description: "Plain-text body."},
				"html":        {Type: framework.TypeString, Description: "HTML body."},
				"reply_to":    {Type: framework.TypeString, Description: "Reply-To address."},
				"in_reply_to": {Type: framework.TypeString, Description: "ID of a message in the agent's inbox this answers: sets In-Reply-To and References (and Re: subject if none given)."},
				"attachments": {Type: framework.TypeSlice, Description: `Attachments: [{"filename": "…", "content_type": "…", "content": "<base64>"}].`},
				"from":        {Type: framework.TypeString, Description: "Refused: the sender is always the agent's own address."},
			},
			ExistenceCheck: func(context.Context, *logical.Request, *framework.FieldData) (bool, error) { return false, nil },
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{Callback: b.pathSendWrite},
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathSendWrite},
			},
			HelpSynopsis: "Send mail from the agent's own address, DKIM-signed inside Vault and delivered by the relay.",
		},
	}
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

func (b *backend) pathSendWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	if _, ok := d.Raw["from"]; ok {
		return logical.ErrorResponse("from: refused: an agent sends only as itself, from its own address"), nil
	}
	// Everything is validated before anything is read or written.
	lists := map[string][]*mail.Address{}
	seen := map[string]bool{}
	total := 0
	for _, f := range []string{"to", "cc", "bcc"} {
		v, err := parseAddresses(f, d.Get(f).([]string))
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		for _, a := range v {
			if k := strings.ToLower(a.Address); !seen[k] { // one copy per recipient
				seen[k] = true
				lists[f] = append(lists[f], a)
				total++
			}
		}
	}
	if total == 0 {
		return logical.ErrorResponse("to: at least one recipient is required"), nil
	}
	if total > maxSendRecipients {
		return logical.ErrorResponse("to: %d recipients in all, at most %d", total, maxSendRecipients), nil
	}
	subject := d.Get("subject").(string)
	if hasCRLF(subject) {
		return logical.ErrorResponse("subject: must not contain a line break"), nil
	}
	if err := checkText("subject", subject, maxSubject); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	text, html := d.Get("text").(string), d.Get("html").(string)
	if text == "" && html == "" {
		return logical.ErrorResponse("text: text or html is required"), nil
	}
	for f, v := range map[string]string{"text": text, "html": html} {
		if err := checkText(f, v, maxBodyBytes); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	var replyTo *mail.Address
	if v := d.Get("reply_to").(string); v != "" {
		r, err := parseAddresses("reply_to", []string{v})
		if err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		if len(r) != 1 {
			return logical.ErrorResponse("reply_to: must be one email address"), nil
		}
		replyTo = r[0]
	}
	inReplyTo := d.Get("in_reply_to").(string)
	if inReplyTo != "" && !messageIDRe.MatchString(inReplyTo) {
		return logical.ErrorResponse("in_reply_to: %q is not a message ID of the agent's inbox", inReplyTo), nil
	}
	atts, err := readAttachments(d)
	if err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}

	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opMessageSend, "", err)
	}
	agent := st.entry.Name
	for _, f := range []string{"to", "cc", "bcc"} {
		for _, a := range lists[f] {
			if !allowed(st.entry.SendAllowlist, a.Address) {
				return nil, logical.CodedError(http.StatusForbidden, fmt.Sprintf("%s: %s is not in agent %q's send allowlist", f, a.Address, agent))
			}
		}
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

	// Threading.
	var threadHeaders [][2]string
	if inReplyTo != "" {
		sum, err := b.summary(ctx, req.Storage, st, inReplyTo)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			return logical.ErrorResponse("in_reply_to: agent %q has no message %q", agent, inReplyTo), nil
		}
		orig, err := b.readRecord(ctx, req.Storage, st, sum)
		if err != nil {
			return nil, err
		}
		if orig.MessageID != "" {
			mid := "<" + orig.MessageID + ">"
			refs := make([]string, 0, len(orig.References)+1)
			for _, r := range orig.References {
				refs = append(refs, "<"+strings.Trim(r, "<>")+">")
			}
			refs = append(refs, mid)
			threadHeaders = append(threadHeaders, [2]string{"In-Reply-To", mid}, [2]string{"References", strings.Join(refs, " ")})
		}
		if subject == "" {
			subject = orig.Subject
			if !strings.HasPrefix(strings.ToLower(subject), "re:") {
				subject = "Re: " + subject
			}
			if len(subject) > maxSubject || hasCRLF(subject) {
				subject = "Re: " + strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(orig.Subject))[:min(len(orig.Subject), maxSubject-4)]
			}
		}
	}

	// Rate limit: per agent, per clock hour.
	// A lock set of its own: it is held across the publish.
	lock := locksutil.LockForKey(b.sendLocks, agent)
	lock.Lock()
	defer lock.Unlock()
	now := b.now().UTC()
	rateKey := sendRatePrefix + agent + "/" + now.Format("2006010215")
	sentThisHour := 0
	if e, err := req.Storage.Get(ctx, rateKey); err != nil {
		return nil, err
	} else if e != nil {
		_, _ = fmt.Sscanf(string(e.Value), "%d", &sentThisHour)
	}
	if sentThisHour >= cfg.SendRateLimit {
		next := now.Truncate(time.Hour).Add(time.Hour)
		ev := b.agentEvent(req, st.entry, opMessageSend, outcomeDenied)
		ev.Detail = "send rate limit reached"
		if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
			return nil, err
		}
		return nil, logical.CodedError(http.StatusTooManyRequests, fmt.Sprintf("agent %q reached the mount's send_rate_limit of %d messages per hour; try again after %s", agent, cfg.SendRateLimit, next.Format(time.RFC3339)))
	}

	// Build, sign, record, queue.
	from := address(cfg, agent)
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	messageID := hex.EncodeToString(rnd[:]) + "@" + cfg.Domain
	mb := enmime.Builder().From("", from).Subject(subject).Date(now).Header("Message-ID", "<"+messageID+">")
	for f, set := range map[string]func(enmime.MailBuilder, []mail.Address) enmime.MailBuilder{
		"to":  enmime.MailBuilder.ToAddrs,
		"cc":  enmime.MailBuilder.CCAddrs,
		"bcc": enmime.MailBuilder.BCCAddrs,
	} {
		if len(lists[f]) > 0 {
			mb = set(mb, derefAddrs(lists[f]))
		}
	}
	if replyTo != nil {
		mb = mb.ReplyTo(replyTo.Name, replyTo.Address)
	}
	for _, h := range threadHeaders {
		mb = mb.Header(h[0], h[1])
	}
	if text != "" {
		mb = mb.Text([]byte(text))
	}
	if html != "" {
		mb = mb.HTML([]byte(html))
	}
	for _, a := range atts {
		// Through a reader enmime encodes base64, so the bytes arrive exact
		// (a text/* attachment would otherwise get CRLF line ends).
		mb = mb.AddAttachmentWithReader(bytes.NewReader(a.content), a.contentType, a.filename)
	}
	part, err := mb.Build()
	if err != nil {
		return logical.ErrorResponse("message: %v", err), nil
	}
	var buf strings.Builder
	if err := part.Encode(&buf); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	signed, err := signDKIM([]byte(buf.String()), cfg.Domain, keys.Current)
	if err != nil {
		return nil, err
	}

	key := reverseTime(now) + "-" + hex.EncodeToString(rnd[:6])
	rec := &sentRecord{
		ID: key, MessageID: messageID, To: addrStrings(lists["to"]), Cc: addrStrings(lists["cc"]), Bcc: addrStrings(lists["bcc"]),
		Subject: subject, Size: len(signed), Attachments: len(atts), InReplyTo: inReplyTo,
		Status: bus.StatusQueued, QueuedAt: now, UpdatedAt: now,
	}
	if err := b.writeSent(ctx, req.Storage, st, rec); err != nil {
		return nil, err
	}
	var rcpts []string
	for _, f := range []string{"to", "cc", "bcc"} {
		for _, a := range lists[f] {
			rcpts = append(rcpts, a.Address)
		}
	}
	// A publish whose ack was lost is retried with the same Nats-Msg-Id:
	// JetStream keeps one copy, so a retry never sends twice.
	out := &bus.Outbound{ID: key, MessageID: messageID, Agent: agent, MailFrom: from, Rcpts: rcpts, Raw: signed, QueuedAt: now}
	signer, relays, err := b.outboundKeys(ctx, req.Storage)
	if err != nil {
		_ = req.Storage.Delete(ctx, sentPrefix+agent+"/"+key)
		return nil, err
	}
	var perr error
	for try := 0; try < 3; try++ {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		perr = queue.queueOutbound(qctx, cfg.Domain, out, signer, relays)
		cancel()
		if perr == nil {
			break
		}
	}
	if err := perr; err != nil {
		_ = req.Storage.Delete(ctx, sentPrefix+agent+"/"+key)
		b.logger.Warn("queue outbound message", "agent", agent, "error", err)
		return nil, logical.CodedError(http.StatusServiceUnavailable, "the mail bus did not take the message; nothing was sent, try again")
	}
	if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: rateKey, Value: []byte(fmt.Sprint(sentThisHour + 1))}); err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opMessageSend, outcomeSuccess)
	ev.Detail = fmt.Sprintf("message %s (<%s>) to %d recipients", key, messageID, len(rcpts))
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: sentData(agent, from, rec)}, nil
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
