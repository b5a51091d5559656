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
	"github.com/hashicorp/vault/sdk/helper/parseutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"github.com/mailgent/mailgent/internal/mailparse"
)

const (
	defaultMessagesPage = 50
	maxMessagesPage     = 500
	defaultWaitTimeout  = 30 * time.Second
	// waitLookback lets an agent that asks a moment late still get its code.
	waitLookback = 60 * time.Second
)

// messageIDRe is the shape of an inbox key, the API's message ID.
var messageIDRe = regexp.MustCompile(`^[0-9]{19}-[a-z2-7]{32}$`)

func (b *backend) pathMessages() []*framework.Path {
	filters := func() map[string]*framework.FieldSchema {
		return map[string]*framework.FieldSchema{
			"agent":   agentField(),
			"from":    {Type: framework.TypeString, Description: "Only mail from this sender: a domain (matches it and its subdomains: github.com matches noreply@github.com and x@mail.github.com, never github.com.evil.example) or an exact address (user@host). Display names never match."},
			"subject": {Type: framework.TypeString, Description: "Only messages whose subject contains this (case-insensitive)."},
			"since":   {Type: framework.TypeString, Description: "Only messages stored at or after this: RFC 3339, or a duration back from now (e.g. 10m)."},
		}
	}
	list := filters()
	list["from_contains"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Only messages whose From (display name or address) contains this, case-insensitive. A search aid: anyone can put any text in a display name, so never use it to decide whom to trust."}
	list["trust"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Only verified or only unverified senders (verified, unverified, any; default any)."}
	list["unread"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "Only unread (true) or only read (false) messages."}
	list["has_code"] = &framework.FieldSchema{Type: framework.TypeBool, Description: "Only messages with (true) or without (false) a candidate code."}
	list["limit"] = &framework.FieldSchema{Type: framework.TypeInt, Description: fmt.Sprintf("Messages per page (1-%d, default %d).", maxMessagesPage, defaultMessagesPage)}
	list["after"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Paging cursor: next_cursor of the previous page."}
	wait := filters()
	wait["trust"] = &framework.FieldSchema{Type: framework.TypeString, Description: "verified or any. With from set, the default is verified (only mail whose sender domain an aligned DKIM/SPF/DMARC pass authenticated) unless the mount's require_verified_sender is false; any also returns unverified mail, marked."}
	wait["timeout"] = &framework.FieldSchema{Type: framework.TypeInt, Description: "Seconds to wait (default 30, at most the mount's max_wait_timeout)."}
	idFields := func() map[string]*framework.FieldSchema {
		return map[string]*framework.FieldSchema{
			"agent": agentField(),
			"id":    {Type: framework.TypeString, Description: "Message ID.", Required: true},
		}
	}
	att := idFields()
	att["index"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Attachment index.", Required: true}
	base := "agents/" + namePattern("agent") + "/messages"
	return []*framework.Path{
		{
			Pattern: base + "/?$",
			Fields:  list,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathMessageList},
				logical.ListOperation: &framework.PathOperation{Callback: b.pathMessageList},
			},
			HelpSynopsis: "The agent's inbox, newest first, with each message's best code.",
		},
		{
			// Before messages/:id, which would otherwise take "wait" as an ID.
			Pattern: base + "/wait$",
			Fields:  wait,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathMessageWait},
			},
			HelpSynopsis:    "Wait for the first matching unread message, read it and return it.",
			HelpDescription: messageWaitHelp,
		},
		{
			Pattern: base + "/" + namePattern("id") + "$",
			Fields:  idFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation:   &framework.PathOperation{Callback: b.pathMessageRead},
				logical.DeleteOperation: &framework.PathOperation{Callback: b.pathMessageDelete},
			},
			HelpSynopsis: "Read (and mark read) or delete one message.",
		},
		{
			Pattern: base + "/" + namePattern("id") + "/raw$",
			Fields:  idFields(),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathMessageRaw},
			},
			HelpSynopsis: "The message's raw source, byte-exact, base64.",
		},
		{
			Pattern: base + "/" + namePattern("id") + "/attachments/" + namePattern("index") + "$",
			Fields:  att,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathMessageAttachment},
			},
			HelpSynopsis: "One attachment's content, base64.",
		},
	}
}

// messageFilter selects messages.
type messageFilter struct {
	// from=: a sender domain (it and its subdomains match) or an exact
	// address, split into local part and normalised domain.
	fromDomain, fromLocal string
	fromContains, subject string
	// trust is "" (any), verified or unverified.
	trust           string
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
func readFrom(v string) (dom, local string, resp *logical.Response) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", nil
	}
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		local, dom = v[:at], domain.OfAddress(v)
		if local == "" || dom == "" || strings.ContainsAny(local, " \t<>\"") {
			return "", "", logical.ErrorResponse("from: %q is not an email address (user@host) or a domain", v)
		}
		return dom, local, nil
	}
	dom, err := domain.Normalize(v)
	if err != nil || !strings.Contains(dom, ".") {
		return "", "", logical.ErrorResponse("from: %q is not a domain (e.g. github.com) or an email address", v)
	}
	return dom, "", nil
}

// readTrust parses trust=; allowed lists what the path accepts.
func readTrust(d *framework.FieldData, allowed ...string) (string, bool, *logical.Response) {
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
	return "", false, logical.ErrorResponse("trust: must be %s, got %q", strings.Join(allowed, " or "), raw)
}

// trustAny asks for mail whatever its sender verdict.
const trustAny = "any"

func (b *backend) readMessageFilter(d *framework.FieldData) (messageFilter, *logical.Response) {
	f := messageFilter{}
	var resp *logical.Response
	if f.fromDomain, f.fromLocal, resp = readFrom(d.Get("from").(string)); resp != nil {
		return f, resp
	}
	if _, ok := d.Schema["from_contains"]; ok {
		f.fromContains = strings.ToLower(strings.TrimSpace(d.Get("from_contains").(string)))
	}
	f.subject = strings.ToLower(strings.TrimSpace(d.Get("subject").(string)))
	if s := d.Get("since").(string); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			f.since = t
		} else if dur, err := parseutil.ParseDurationSecond(s); err == nil && dur > 0 {
			f.since = b.now().Add(-dur)
		} else {
			return f, logical.ErrorResponse("since: %q is neither an RFC 3339 time nor a positive duration", s)
		}
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
	return f, nil
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

func (b *backend) pathMessageList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	f, resp := b.readMessageFilter(d)
	if resp != nil {
		return resp, nil
	}
	if f.trust, _, resp = readTrust(d, mailmsg.TrustVerified, mailmsg.TrustUnverified, trustAny); resp != nil {
		return resp, nil
	}
	limit, after, resp := readPage(d, defaultMessagesPage, maxMessagesPage, messageIDRe.MatchString)
	if resp != nil {
		return resp, nil
	}
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opMessageList, "", err)
	}
	agent := st.entry.Name
	all, err := b.summaries(ctx, req.Storage, st, false) // newest first
	if err != nil {
		return nil, err
	}
	var out []*inboxSummary
	next := ""
	for _, sum := range all {
		k := sum.Key
		if after != "" && k <= after {
			continue
		}
		if !f.since.IsZero() && timeOfReverse(k).Before(f.since) {
			break
		}
		if !f.match(sum) {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1].Key
			break
		}
		out = append(out, sum)
	}
	ev := b.agentEvent(req, st.entry, opMessageList, outcomeSuccess)
	ev.Detail = fmt.Sprintf("%d messages listed", len(out))
	if err := b.record(ctx, req.Storage, subjectAgent, agent, ev); err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	list := make([]map[string]interface{}, len(out))
	for i, s := range out {
		ids[i], list[i] = s.Key, summaryData(s)
	}
	return pageResponse(req, ids, list, "messages", next, map[string]interface{}{"agent": agent}), nil
}

// loadMessage resolves agent and message ID for the :id paths.
func (b *backend) loadMessage(ctx context.Context, req *logical.Request, d *framework.FieldData, op string) (*agentState, *inboxSummary, *logical.Response, error) {
	id := d.Get("id").(string)
	if !messageIDRe.MatchString(id) {
		if err := validateAgentName(d.Get("agent").(string)); err != nil {
			return nil, nil, logical.ErrorResponse(err.Error()), nil
		}
		return nil, nil, logical.ErrorResponse("id: %q is not a message ID", id), nil
	}
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return nil, nil, resp, b.deniedOnRevoked(ctx, req, st, op, "", err)
	}
	sum, err := b.summary(ctx, req.Storage, st, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if sum == nil {
		return st, nil, nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no message %q", st.entry.Name, id))
	}
	return st, sum, nil, nil
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

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (b *backend) pathMessageRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, sum, resp, err := b.loadMessage(ctx, req, d, opMessageRead)
	if resp != nil || err != nil {
		return resp, err
	}
	resp, _, err = b.respondMessage(ctx, req, st, sum, opMessageRead, false)
	return resp, err
}

// respondMessage marks read, audits and returns the full message. With
// claim set it returns (nil, false, nil) when the message was no longer
// unread: another waiter took it.
func (b *backend) respondMessage(ctx context.Context, req *logical.Request, st *agentState, sum *inboxSummary, op string, claim bool) (*logical.Response, bool, error) {
	msg, err := b.readRecord(ctx, req.Storage, st, sum)
	if err != nil {
		// Deleted (or trimmed) while we read it: a 404, not a 500.
		if again, rerr := b.summary(ctx, req.Storage, st, sum.Key); rerr == nil && again == nil {
			return nil, false, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no message %q", st.entry.Name, sum.Key))
		}
		return nil, false, err
	}
	updated, marked, err := b.markRead(ctx, req.Storage, st, sum.Key)
	if err != nil {
		return nil, false, err
	}
	if claim && !marked {
		return nil, false, nil
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
		return nil, false, err
	}
	return &logical.Response{Data: messageData(st.entry.Name, sum, msg)}, marked, nil
}

func (b *backend) pathMessageDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, sum, resp, err := b.loadMessage(ctx, req, d, opMessageDelete)
	if resp != nil || err != nil {
		if st != nil && sum == nil {
			if coded, ok := err.(logical.HTTPCodedError); ok && coded.Code() == http.StatusNotFound {
				return nil, nil // the agent exists; its message is gone already
			}
		}
		return resp, err
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

func (b *backend) pathMessageRaw(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, sum, resp, err := b.loadMessage(ctx, req, d, opMessageRaw)
	if resp != nil || err != nil {
		return resp, err
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

func (b *backend) pathMessageAttachment(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	index, err := strconv.Atoi(d.Get("index").(string))
	if err != nil || index < 0 {
		return logical.ErrorResponse("index: %q is not an attachment index", d.Get("index")), nil
	}
	st, sum, resp, err := b.loadMessage(ctx, req, d, opMessageAttachment)
	if resp != nil || err != nil {
		return resp, err
	}
	if index >= sum.Attachments {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("message %s has %d attachments; no index %d", sum.Key, sum.Attachments, index))
	}
	_, raw, err := b.readBody(ctx, req.Storage, st, sum, true)
	if err != nil {
		return nil, err
	}
	att, content, err := mailparse.AttachmentContent(raw, mailparse.DefaultLimits(), index)
	if err != nil {
		return nil, fmt.Errorf("attachment %d of %s: %w", index, sum.Key, err)
	}
	ev := b.agentEvent(req, st.entry, opMessageAttachment, outcomeSuccess)
	ev.Detail = fmt.Sprintf("message %s attachment %d", sum.Key, index)
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"agent": st.entry.Name, "id": sum.Key, "index": index,
		"filename": att.Filename, "content_type": att.ContentType, "size": len(content),
		"content": base64.StdEncoding.EncodeToString(content),
	}}, nil
}

func (b *backend) pathMessageWait(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	f, resp := b.readMessageFilter(d)
	if resp != nil {
		return resp, nil
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = defaultConfig()
	}
	if f.trust, resp = waitTrust(d, f, cfg); resp != nil {
		return resp, nil
	}
	maxWait := cfg.MaxWaitTimeout
	timeout := min(defaultWaitTimeout, maxWait)
	if v, ok, err := d.GetOkErr("timeout"); err != nil {
		return logical.ErrorResponse("timeout: %v", err), nil
	} else if ok {
		sec := v.(int)
		if sec < 0 || time.Duration(sec)*time.Second > maxWait {
			return logical.ErrorResponse("timeout: must be between 0 and %d seconds (the mount's max_wait_timeout), got %d", int(maxWait.Seconds()), sec), nil
		}
		timeout = time.Duration(sec) * time.Second
	}
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, b.deniedOnRevoked(ctx, req, st, opMessageWait, "", err)
	}
	// Answer 408 before Vault's own request deadline cuts the wait short.
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-time.Second)
	}
	start := b.now()
	threshold := f.since
	if threshold.IsZero() {
		threshold = start.Add(-waitLookback)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		arrived := b.inboxNotify.channel(st.entry.Name)
		if err := b.stillActive(ctx, req, st, opMessageWait, ""); err != nil {
			return nil, err
		}
		sum, err := b.firstUnread(ctx, req.Storage, st, f, threshold)
		if err != nil {
			return nil, err
		}
		if sum != nil {
			// respondMessage claims it (marks it read, undoing that if it
			// cannot deliver); a waiter that lost the race looks again.
			resp, claimed, err := b.respondMessage(ctx, req, st, sum, opMessageWait, true)
			if err != nil {
				return nil, err
			}
			if !claimed {
				continue
			}
			return resp, nil
		}
		select {
		case <-arrived:
		case <-deadline.C:
			return nil, logical.CodedError(http.StatusRequestTimeout, fmt.Sprintf("no matching unread message arrived within %s", timeout))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitTrust is the sender verdict a wait asks for: what the caller said,
// else verified when it names a sender and the mount requires verified
// senders — an agent asking for "GitHub's code" never gets a spoofer's.
func waitTrust(d *framework.FieldData, f messageFilter, cfg *mailgentConfig) (string, *logical.Response) {
	trust, set, resp := readTrust(d, mailmsg.TrustVerified, trustAny)
	if resp != nil || set {
		return trust, resp
	}
	if f.fromDomain != "" && cfg.RequireVerifiedSender {
		return mailmsg.TrustVerified, nil
	}
	return "", nil
}

// firstUnread returns the earliest unread matching message stored at or
// after threshold. It walks the unread messages of the index, not the
// whole inbox.
func (b *backend) firstUnread(ctx context.Context, s logical.Storage, st *agentState, f messageFilter, threshold time.Time) (*inboxSummary, error) {
	unread, err := b.summaries(ctx, s, st, true) // newest first
	if err != nil {
		return nil, err
	}
	var found *inboxSummary
	for _, sum := range unread {
		if timeOfReverse(sum.Key).Before(threshold) {
			break
		}
		if f.match(sum) {
			found = sum // keep going: the earliest match wins
		}
	}
	return found, nil
}

const messageWaitHelp = `
The call an agent makes right after pressing "send me a code": it returns
(and marks read) the first unread message matching from/subject that was
stored after since — by default the moment of the call, but a matching
unread message stored in the last 60 seconds also counts, so an agent that
asks a moment late still gets its code. It waits up to timeout seconds
(default 30, capped by the mount's max_wait_timeout) and answers 408 if
nothing came.
`
