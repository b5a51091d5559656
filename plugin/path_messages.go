package plugin

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
)

// agents/:agent/messages, messages/:id, :id/raw and :id/attachments/:index:
// an agent's inbox as the API shows it (its storage is inbox.go; the wait
// is path_wait.go).

const (
	defaultMessagesPage = 50
	maxMessagesPage     = 500
)

// messageIDRe is the shape of an inbox key, the API's message ID.
var messageIDRe = regexp.MustCompile(`^[0-9]{19}-[a-z2-7]{32}$`)

func (b *backend) pathMessages() []*framework.Path {
	base := "agents/" + namePattern("agent") + "/messages"
	return []*framework.Path{
		{
			Pattern:      base + "/?$",
			DisplayAttrs: pathDisplay("messages"),
			Fields:       messageListFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, opMessageList, b.readMessageList, b.pathMessageList)},
				logical.ListOperation: &framework.PathOperation{Callback: withAgent(b, opMessageList, b.readMessageList, b.pathMessageList)},
			},
			HelpSynopsis: "The agent's inbox, newest first, with each message's best code.",
		},
		{
			Pattern:      base + "/" + namePattern("id") + "$",
			DisplayAttrs: pathDisplay("message"),
			Fields:       messageIDFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: withAgent(b, opMessageRead, readMessageID, b.pathMessageRead)},
				logical.DeleteOperation: &framework.PathOperation{Callback: withAgent(b, opMessageDelete, readMessageID, b.pathMessageDelete)},
			},
			HelpSynopsis: "Read (and mark read) or delete one message.",
		},
		{
			Pattern:      base + "/" + namePattern("id") + "/raw$",
			DisplayAttrs: pathDisplay("message-raw-source"),
			Fields:       messageIDFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, opMessageRaw, readMessageID, b.pathMessageRaw)},
			},
			HelpSynopsis: "The message's raw source, byte-exact, base64.",
		},
		{
			Pattern:      base + "/" + namePattern("id") + "/attachments/" + namePattern("index") + "$",
			DisplayAttrs: pathDisplay("message-attachment"),
			Fields:       messageAttachmentFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, opMessageAttachment, readAttachmentRef, b.pathMessageAttachment)},
			},
			HelpSynopsis: "One attachment's content, base64.",
		},
	}
}

// messageFilterFields are the filters the listing and the wait share.
func messageFilterFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent": agentField(),
		"from": {
			Type: framework.TypeString,
			Description: "Only mail from this sender: a domain (matches it and its subdomains: github.com matches " +
				"noreply@github.com and x@mail.github.com, never github.com.evil.example) or an exact address " +
				"(user@host). Display names never match.",
		},
		"subject": {
			Type:        framework.TypeString,
			Description: "Only messages whose subject contains this (case-insensitive).",
		},
		"since": {
			Type:        framework.TypeString,
			Description: "Only messages stored at or after this: RFC 3339, or a duration back from now (e.g. 10m).",
		},
	}
}

func messageListFields() map[string]*framework.FieldSchema {
	f := messageFilterFields()
	f["from_contains"] = &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "Only messages whose From (display name or address) contains this, case-insensitive. A search " +
			"aid: anyone can put any text in a display name, so never use it to decide whom to trust.",
	}
	f["trust"] = &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "Only verified or only unverified senders (verified, unverified, any; default any).",
	}
	f["unread"] = &framework.FieldSchema{
		Type:        framework.TypeBool,
		Description: "Only unread (true) or only read (false) messages.",
	}
	f["has_code"] = &framework.FieldSchema{
		Type:        framework.TypeBool,
		Description: "Only messages with (true) or without (false) a candidate code.",
	}
	f["limit"] = limitField("Messages", maxMessagesPage, defaultMessagesPage)
	f["after"] = afterField()
	return f
}

func messageIDFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"agent": agentField(),
		"id":    requiredString("Message ID."),
	}
}

func messageAttachmentFields() map[string]*framework.FieldSchema {
	f := messageIDFields()
	f["index"] = requiredString("Attachment index.")
	return f
}

// messageFilter selects messages.
type messageFilter struct {
	// from=: a sender domain (it and its subdomains match) or an exact
	// address, split into local part and normalised domain.
	fromDomain, fromLocal string
	fromContains, subject string
	// trust is "" (any), verified or unverified; trustSet tells whether
	// the request named it.
	trust           string
	trustSet        bool
	since           time.Time
	unread, hasCode *bool
}

func (f messageFilter) match(s *inboxSummary) bool {
	sender := s.senderDomain()
	switch {
	case f.fromDomain != "" && f.fromLocal == "" && !domain.Under(sender, f.fromDomain):
		return false
	case f.fromLocal != "" && (sender != f.fromDomain || !strings.EqualFold(localPart(s.FromAddress), f.fromLocal)):
		return false
	case f.fromContains != "" && !strings.Contains(strings.ToLower(s.FromAddress), f.fromContains) && !strings.Contains(strings.ToLower(s.From), f.fromContains):
		return false
	case f.trust != "" && s.trust() != f.trust:
		return false
	}
	return (f.subject == "" || strings.Contains(strings.ToLower(s.Subject), f.subject)) &&
		(f.unread == nil || *f.unread == s.Unread) &&
		(f.hasCode == nil || *f.hasCode == (s.Code != ""))
}

// localPart is what precedes the last @ of an address.
func localPart(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[:at]
	}
	return addr
}

// readFrom parses from=: a domain, or an address whose domain normalises.
func readFrom(v string) (dom, local string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", nil
	}
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		local, dom = v[:at], domain.OfAddress(v)
		if local == "" || dom == "" || strings.ContainsAny(local, " \t<>\"") {
			return "", "", fmt.Errorf("from: %q is not an email address (user@host) or a domain", v)
		}
		return dom, local, nil
	}
	dom, err = domain.Normalize(v)
	if err != nil || !strings.Contains(dom, ".") {
		return "", "", fmt.Errorf("from: %q is not a domain (e.g. github.com) or an email address", v)
	}
	return dom, "", nil
}

// trustAny asks for mail whatever its sender verdict.
const trustAny = "any"

// readTrust parses trust= ("" for any); allowed lists what the path
// accepts, and set tells whether the request gave it.
func readTrust(d *framework.FieldData, allowed ...string) (trust string, set bool, err error) {
	raw, ok := d.GetOk("trust")
	if !ok {
		return "", false, nil
	}
	v := strings.ToLower(strings.TrimSpace(raw.(string)))
	for _, a := range allowed {
		if v == a {
			if v == trustAny {
				v = ""
			}
			return v, true, nil
		}
	}
	return "", false, fmt.Errorf("trust: must be %s, got %q", strings.Join(allowed, " or "), raw)
}

// readMessageFilter reads the fields of a listing or a wait (which has
// no from_contains, unread or has_code): unknown fields are refused, and
// trust must be one of allowed.
func (b *backend) readMessageFilter(d *framework.FieldData, allowed ...string) (messageFilter, *logical.Response) {
	f := messageFilter{}
	if resp := rejectUnknownFields(d); resp != nil {
		return f, resp
	}
	var err error
	if f.fromDomain, f.fromLocal, err = readFrom(d.Get("from").(string)); err != nil {
		return f, logical.ErrorResponse(err.Error())
	}
	if _, ok := d.Schema["from_contains"]; ok {
		f.fromContains = strings.ToLower(strings.TrimSpace(d.Get("from_contains").(string)))
	}
	f.subject = strings.ToLower(strings.TrimSpace(d.Get("subject").(string)))
	if f.since, err = readSince(d, b.now()); err != nil {
		return f, logical.ErrorResponse(err.Error())
	}
	for _, bf := range []struct {
		name string
		dst  **bool
	}{{"unread", &f.unread}, {"has_code", &f.hasCode}} {
		if _, ok := d.Schema[bf.name]; !ok {
			continue
		}
		v, ok, err := d.GetOkErr(bf.name)
		if err != nil {
			return f, logical.ErrorResponse("%s: %v", bf.name, err)
		}
		if ok {
			bv := v.(bool)
			*bf.dst = &bv
		}
	}
	if f.trust, f.trustSet, err = readTrust(d, allowed...); err != nil {
		return f, logical.ErrorResponse(err.Error())
	}
	return f, nil
}

// messageListInput is a listing's filter and page.
type messageListInput struct {
	filter messageFilter
	page
}

func (b *backend) readMessageList(d *framework.FieldData) (messageListInput, *logical.Response) {
	in := messageListInput{}
	var resp *logical.Response
	if in.filter, resp = b.readMessageFilter(d, mailmsg.TrustVerified, mailmsg.TrustUnverified, trustAny); resp != nil {
		return in, resp
	}
	in.page, resp = readPage(d, defaultMessagesPage, maxMessagesPage, messageIDRe.MatchString)
	return in, resp
}

// pathMessageList lists matching messages from the index, newest first,
// and records message.list.
func (b *backend) pathMessageList(ctx context.Context, req *logical.Request, st *agentState, in messageListInput) (*logical.Response, error) {
	all, err := b.summaries(ctx, req.Storage, st, false) // newest first
	if err != nil {
		return nil, err
	}
	picked, next := in.pick(all)
	ev := b.agentEvent(req, st.entry, opMessageList, outcomeSuccess)
	ev.Detail = fmt.Sprintf("%d messages listed", len(picked))
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	ids := make([]string, len(picked))
	list := make([]map[string]interface{}, len(picked))
	for i, s := range picked {
		ids[i], list[i] = s.Key, summaryData(s)
	}
	return pageResponse(req, ids, list, "messages", next, map[string]interface{}{"agent": st.entry.Name}), nil
}

// pick is the listing's page of all (newest first), and the cursor of
// the next page.
func (in messageListInput) pick(all []*inboxSummary) (picked []*inboxSummary, next string) {
	for _, sum := range all {
		k := sum.Key
		if in.after != "" && k <= in.after {
			continue
		}
		if !in.filter.since.IsZero() && timeOfReverse(k).Before(in.filter.since) {
			break
		}
		if !in.filter.match(sum) {
			continue
		}
		if len(picked) == in.limit {
			return picked, picked[len(picked)-1].Key
		}
		picked = append(picked, sum)
	}
	return picked, ""
}

func summaryData(s *inboxSummary) map[string]interface{} {
	m := map[string]interface{}{
		"id":            s.Key,
		"from":          s.From,
		"from_address":  s.FromAddress,
		"sender_domain": s.senderDomain(),
		"trust":         s.trust(),
		"trust_reason":  s.trustReason(),
		"subject":       s.Subject,
		"code":          s.Code,
		"attachments":   s.Attachments,
		"size":          s.Size,
		"unread":        s.Unread,
		"stored_at":     s.StoredAt.Format(time.RFC3339Nano),
		"received_at":   s.ReceivedAt.Format(time.RFC3339Nano),
	}
	if !s.ReadAt.IsZero() {
		m["read_at"] = s.ReadAt.Format(time.RFC3339Nano)
	}
	return m
}

func messageData(agent string, sum *inboxSummary, msg *mailmsg.Message) map[string]interface{} {
	m := summaryData(sum)
	m["agent"] = agent
	// The index keeps truncated header fields; a read shows them whole.
	m["subject"], m["from"], m["from_address"] = msg.Subject, msg.From, msg.FromAddress
	m["message_id"] = msg.MessageID
	m["envelope"] = msg.Envelope
	m["to"], m["cc"], m["reply_to"] = nonNil(msg.To), nonNil(msg.Cc), nonNil(msg.ReplyTo)
	m["in_reply_to"], m["references"] = msg.InReplyTo, nonNil(msg.References)
	if !msg.Date.IsZero() {
		m["date"] = msg.Date.Format(time.RFC3339)
	}
	m["text"], m["html"], m["extracted_text"] = msg.Text, msg.HTML, msg.ExtractedText
	codes := make([]map[string]interface{}, len(msg.Codes))
	for i, c := range msg.Codes {
		codes[i] = map[string]interface{}{"code": c.Code, "context": c.Context}
	}
	links := make([]map[string]interface{}, len(msg.Links))
	for i, l := range msg.Links {
		links[i] = map[string]interface{}{"url": l.URL, "text": l.Text, "kind": l.Kind, "host": l.Host, "aligned": l.Aligned}
	}
	atts := make([]map[string]interface{}, len(msg.Attachments))
	for i, a := range msg.Attachments {
		atts[i] = map[string]interface{}{"index": a.Index, "filename": a.Filename, "content_type": a.ContentType, "size": a.Size, "inline": a.Inline, "content_id": a.ContentID}
	}
	m["codes"], m["links"], m["attachments"] = codes, links, atts
	m["auth"] = msg.Auth
	if len(msg.ParseErrors) > 0 {
		m["parse_errors"] = msg.ParseErrors
	}
	return m
}

// readMessageID reads the message a :id path names. A bad agent name is
// answered before a bad ID.
func readMessageID(d *framework.FieldData) (string, *logical.Response) {
	id := d.Get("id").(string)
	if !messageIDRe.MatchString(id) {
		return "", agentNameFirst(d, logical.ErrorResponse("id: %q is not a message ID", id))
	}
	return id, nil
}

// errNoMessage is the 404 of a message that is not (or no longer) there.
func errNoMessage(agent, id string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no message %q", agent, id))
}

// message returns the summary of a message of the agent, or a 404.
func (b *backend) message(ctx context.Context, s logical.Storage, st *agentState, id string) (*inboxSummary, error) {
	sum, err := b.summary(ctx, s, st, id)
	if err != nil {
		return nil, err
	}
	if sum == nil {
		return nil, errNoMessage(st.entry.Name, id)
	}
	return sum, nil
}

// pathMessageRead returns the whole message and marks it read.
func (b *backend) pathMessageRead(ctx context.Context, req *logical.Request, st *agentState, id string) (*logical.Response, error) {
	sum, err := b.message(ctx, req.Storage, st, id)
	if err != nil {
		return nil, err
	}
	return b.deliverMessage(ctx, req, st, sum, opMessageRead, false)
}

// deliverMessage returns the whole message once it is marked read and its
// event (op) recorded; if the event cannot be stored, the message is
// unread again. With claim set it returns nil, nil when the message was
// no longer unread: another waiter took it.
func (b *backend) deliverMessage(ctx context.Context, req *logical.Request, st *agentState, sum *inboxSummary, op string, claim bool) (*logical.Response, error) {
	msg, err := b.readRecord(ctx, req.Storage, st, sum)
	if err != nil {
		// Deleted (or trimmed) while we read it: a 404, not a 500.
		if again, rerr := b.summary(ctx, req.Storage, st, sum.Key); rerr == nil && again == nil {
			return nil, errNoMessage(st.entry.Name, sum.Key)
		}
		return nil, err
	}
	updated, marked, err := b.markRead(ctx, req.Storage, st, sum.Key)
	if err != nil {
		return nil, err
	}
	if claim && !marked {
		return nil, nil
	}
	if updated != nil {
		sum = updated
	}
	ev := b.agentEvent(req, st.entry, op, outcomeSuccess)
	ev.Detail = "message " + sum.Key + " from " + sum.FromAddress
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		if marked {
			// Not delivered after all: unread again, so a retried wait finds it.
			if uerr := b.markUnread(ctx, req.Storage, st, sum.Key); uerr != nil {
				b.logger.Error("restore unread after a failed read", "message", sum.Key, "error", uerr)
			}
		}
		return nil, err
	}
	return &logical.Response{Data: messageData(st.entry.Name, sum, msg)}, nil
}

// pathMessageDelete deletes a message; one that is gone already is a 204
// too.
func (b *backend) pathMessageDelete(ctx context.Context, req *logical.Request, st *agentState, id string) (*logical.Response, error) {
	sum, err := b.summary(ctx, req.Storage, st, id)
	if err != nil || sum == nil {
		return nil, err
	}
	lock := b.inboxLock(st.entry.Name)
	lock.Lock()
	err = b.deleteMessageLocked(ctx, req.Storage, st, sum)
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opMessageDelete, outcomeSuccess)
	ev.Detail = "message " + sum.Key
	return nil, b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev)
}

// pathMessageRaw returns the message's raw source; it does not mark it
// read.
func (b *backend) pathMessageRaw(ctx context.Context, req *logical.Request, st *agentState, id string) (*logical.Response, error) {
	sum, err := b.message(ctx, req.Storage, st, id)
	if err != nil {
		return nil, err
	}
	_, raw, err := b.readBody(ctx, req.Storage, st, sum, true)
	if err != nil {
		return nil, err
	}
	ev := b.agentEvent(req, st.entry, opMessageRaw, outcomeSuccess)
	ev.Detail = "message " + sum.Key
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent": st.entry.Name, "id": sum.Key, "size": len(raw),
		"raw": base64.StdEncoding.EncodeToString(raw),
	}}, nil
}

// attachmentRef names one attachment of a message.
type attachmentRef struct {
	id    string
	index int
}

// readAttachmentRef reads the index first, then the message ID.
func readAttachmentRef(d *framework.FieldData) (attachmentRef, *logical.Response) {
	index, err := strconv.Atoi(d.Get("index").(string))
	if err != nil || index < 0 {
		return attachmentRef{}, logical.ErrorResponse("index: %q is not an attachment index", d.Get("index"))
	}
	id, resp := readMessageID(d)
	return attachmentRef{id: id, index: index}, resp
}

// pathMessageAttachment returns one attachment's content, decoded from
// the stored raw source; it does not mark the message read.
func (b *backend) pathMessageAttachment(ctx context.Context, req *logical.Request, st *agentState, ref attachmentRef) (*logical.Response, error) {
	sum, err := b.message(ctx, req.Storage, st, ref.id)
	if err != nil {
		return nil, err
	}
	if ref.index >= sum.Attachments {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("message %s has %d attachments; no index %d", sum.Key, sum.Attachments, ref.index))
	}
	_, raw, err := b.readBody(ctx, req.Storage, st, sum, true)
	if err != nil {
		return nil, err
	}
	att, content, err := mailparse.AttachmentContent(raw, mailparse.DefaultLimits(), ref.index)
	if err != nil {
		return nil, fmt.Errorf("attachment %d of %s: %w", ref.index, sum.Key, err)
	}
	ev := b.agentEvent(req, st.entry, opMessageAttachment, outcomeSuccess)
	ev.Detail = fmt.Sprintf("message %s attachment %d", sum.Key, ref.index)
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent": st.entry.Name, "id": sum.Key, "index": ref.index,
		"filename": att.Filename, "content_type": att.ContentType, "size": len(content),
		"content": base64.StdEncoding.EncodeToString(content),
	}}, nil
}
