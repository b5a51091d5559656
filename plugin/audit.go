package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/logical"
)

// The per-agent (and per-org) audit trail. Events are written before the
// response that caused it returns, in entries of one or more events (see
// record). Keys sort newest first:
// audit/<kind>/<name>/<reverse day>/<reverse nanos>-<random>, so a listing
// walks days and entries in storage order and stops early. An event's ID is
// its entry key and its index in the entry: <entry key>.<NNN>.
const auditPrefix = "audit/"

// Audit subjects.
const (
	subjectAgent = "agent"
	subjectOrg   = "org"
)

// Audit operations: every one the plugin records, by what it is about.
const (
	opOrgCreate = "org.create"
	opOrgUpdate = "org.update"
	opOrgDelete = "org.delete"

	opAgentCreate = "agent.create"
	opAgentUpdate = "agent.update"
	opAgentRevoke = "agent.revoke"

	opCredWrite    = "cred.write"
	opCredRead     = "cred.read"
	opCredDelete   = "cred.delete"
	opTOTPGenerate = "totp.generate"
	opLoginReport  = "login.report"
	opBackupCode   = "cred.backup_code"

	opMessageReceive    = "message.receive"
	opMessageList       = "message.list"
	opMessageRead       = "message.read"
	opMessageWait       = "message.wait"
	opMessageDelete     = "message.delete"
	opMessageRaw        = "message.raw"
	opMessageAttachment = "message.attachment"
	opMessageSend       = "message.send"

	opThreadList    = "thread.list"
	opThreadRead    = "thread.read"
	opWebhookCreate = "webhook.create"
	opWebhookUpdate = "webhook.update"
	opWebhookDelete = "webhook.delete"
	opWebhookRotate = "webhook.rotate"
)

// Audit outcomes.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure" // a login the agent reported as failed
	outcomeDenied  = "denied"  // refused: the agent is revoked, the mail forged, the rate limit reached
	outcomeError   = "error"   // failed inside: e.g. a credential that does not decrypt
)

// auditMaxPerPage bounds one page of an audit listing.
const auditMaxPerPage = 1000

// auditEvent is one entry of an audit trail. It never holds a secret: no
// password, seed, code or field value — only names, versions and outcomes.
type auditEvent struct {
	// ID is the event's storage key below its subject; also the paging cursor.
	ID string `json:"id"`
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Operation is what happened (cred.read, totp.generate, …).
	Operation string `json:"operation"`
	// Outcome is success, failure, denied or error.
	Outcome string `json:"outcome"`
	// Agent, AgentID and Org name the identity acted on or acting.
	Agent   string `json:"agent,omitempty"`
	AgentID string `json:"agent_id,omitempty"`
	Org     string `json:"org,omitempty"`
	// DelegationChain is the agent's chain, human > org > agent.
	DelegationChain []string `json:"delegation_chain,omitempty"`
	// Credential and Version name the credential involved.
	Credential string `json:"credential,omitempty"`
	Version    int    `json:"version,omitempty"`
	// Detail is a short, secret-free explanation.
	Detail string `json:"detail,omitempty"`
	// Requester is who made the Vault request.
	Requester actor `json:"requester"`
	// RequesterIsAgent says whether the requester was the agent itself (its
	// own AppRole login) or someone else acting on its paths — an admin's
	// break-glass read, say. Nil where it does not apply (an org's event,
	// mail the bus delivered) and in events written before it was recorded.
	RequesterIsAgent *bool `json:"requester_is_agent,omitempty"`
	// RequestID is Vault's request ID: join it with Vault's own audit device.
	RequestID string `json:"request_id"`
	// RemoteAddr is the client address Vault saw.
	RemoteAddr string `json:"remote_addr,omitempty"`
}

func (e *auditEvent) responseData() map[string]interface{} {
	m := map[string]interface{}{
		"id":           e.ID,
		"time":         e.Time.UTC().Format(time.RFC3339Nano),
		"operation":    e.Operation,
		"outcome":      e.Outcome,
		"request_id":   e.RequestID,
		"remote_addr":  e.RemoteAddr,
		"entity_id":    e.Requester.EntityID,
		"entity_name":  e.Requester.EntityName,
		"display_name": e.Requester.DisplayName,
	}
	for k, v := range map[string]string{"agent": e.Agent, "agent_id": e.AgentID, "org": e.Org, "credential": e.Credential, "detail": e.Detail} {
		if v != "" {
			m[k] = v
		}
	}
	if e.Version != 0 {
		m["version"] = e.Version
	}
	if len(e.DelegationChain) > 0 {
		m["delegation_chain"] = e.DelegationChain
	}
	if e.RequesterIsAgent != nil {
		m["requester_is_agent"] = *e.RequesterIsAgent
	}
	return m
}

func auditSubjectPrefix(kind, name string) string {
	return auditPrefix + kind + "/" + name + "/"
}

// eventKey is <reverse day>/<reverse nanos>-<random>: lexical order is
// newest first, and the day level keeps each List small.
func eventKey(t time.Time) (string, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	day := t.Unix() / 86400
	return fmt.Sprintf("%08d/%s-%s", 99999999-day, reverseTime(t), hex.EncodeToString(rnd[:])), nil
}

// agentEvent starts an event about an agent from a request: the agent's
// delegation chain, who made the request, and whether that was the agent.
func (b *backend) agentEvent(req *logical.Request, a *agentEntry, op, outcome string) *auditEvent {
	byAgent := b.requesterIsAgent(req, a.Name)
	return &auditEvent{
		Operation:        op,
		Outcome:          outcome,
		Agent:            a.Name,
		AgentID:          a.ID,
		Org:              a.Org,
		DelegationChain:  a.chain(),
		Requester:        b.requestActor(req),
		RequesterIsAgent: &byAgent,
		RequestID:        req.ID,
		RemoteAddr:       remoteAddr(req),
	}
}

// orgEvent is an event about an org (its change, by the requester).
func (b *backend) orgEvent(req *logical.Request, org, op string) *auditEvent {
	return &auditEvent{
		Operation:  op,
		Outcome:    outcomeSuccess,
		Org:        org,
		Requester:  b.requestActor(req),
		RequestID:  req.ID,
		RemoteAddr: remoteAddr(req),
	}
}

// sanitize escapes, in every free-text field, what could forge or hide
// lines when the event is shown on a terminal or in a log: C0 and C1
// controls, DEL, Unicode line and paragraph separators, bidi controls and
// invalid UTF-8. Entity and display names come from Vault, detail from the
// agent: neither is trusted.
func (e *auditEvent) sanitize() {
	for _, f := range []*string{
		&e.Detail, &e.Agent, &e.AgentID, &e.Org, &e.Credential, &e.RequestID, &e.RemoteAddr,
		&e.Requester.EntityID, &e.Requester.EntityName, &e.Requester.DisplayName,
	} {
		*f = escapeText(*f)
	}
	for i := range e.DelegationChain {
		e.DelegationChain[i] = escapeText(e.DelegationChain[i])
	}
}

// escapeText writes each unsafe rune as \uXXXX (an invalid byte as \xXX)
// and a backslash as \\, so an escape in the stored text is never mistaken
// for one the sender typed.
func escapeText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '\\' || unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune: C0, DEL and C1 (unicode.IsControl), U+2028 and U+2029, and
// the bidi controls (LRM, RLM, ALM, embeddings, overrides, isolates).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

func remoteAddr(req *logical.Request) string {
	if req.Connection != nil {
		return req.Connection.RemoteAddr
	}
	return ""
}

// record makes an event durable. Callers return the response only after
// record returned nil: a secret is never disclosed (credential read, TOTP
// code) without its event stored. A change (write, delete, revoke) is
// stored first and audited after; if the event cannot be written the client
// gets an error, and the change stands.
//
// Concurrent events of one subject are written together (group commit):
// the first caller to find no write in progress becomes the leader and
// writes everything queued meanwhile, one storage entry per subject, until
// the queue is empty; the others wait for the write that holds their event.
// Under load this turns N storage writes — each a gRPC call into Vault —
// into a few, without ever answering before the event is stored.
func (b *backend) record(ctx context.Context, s logical.Storage, kind, name string, e *auditEvent) error {
	e.sanitize()
	p := &pendingEvent{kind: kind, name: name, event: e, storage: s, done: make(chan error, 1)}
	q := &b.auditQueue
	q.mu.Lock()
	e.Time = b.now().UTC() // under the lock: queue order is time order
	q.pending = append(q.pending, p)
	if q.flushing {
		q.mu.Unlock()
		err := <-p.done
		if err == nil {
			b.metrics.audit.Inc()
		}
		return err
	}
	q.flushing = true
	for len(q.pending) > 0 {
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		b.writeBatch(ctx, batch)
		q.mu.Lock()
	}
	q.flushing = false
	q.mu.Unlock()
	err := <-p.done
	if err == nil {
		b.metrics.audit.Inc()
	}
	return err
}

// auditQueue is the group-commit queue of record.
type auditQueue struct {
	mu       sync.Mutex
	pending  []*pendingEvent
	flushing bool
}

type pendingEvent struct {
	kind, name string
	event      *auditEvent
	storage    logical.Storage
	done       chan error
}

// maxEventsPerEntry bounds one storage entry of the audit trail.
const maxEventsPerEntry = 100

// writeBatch stores queued events, one entry per subject (and per
// maxEventsPerEntry), newest event first within an entry, and tells each
// waiter how its write went.
func (b *backend) writeBatch(ctx context.Context, batch []*pendingEvent) {
	groups := map[string][]*pendingEvent{}
	var order []string
	for _, p := range batch {
		k := p.kind + "/" + p.name
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	// Subjects are written concurrently (at most auditWriters at once): on
	// Raft, writes in flight together share a commit, where one after the
	// other each waits for its own — a batch of mail for 32 agents was 32
	// commits in a row.
	sem := make(chan struct{}, auditWriters)
	var wg sync.WaitGroup
	for _, k := range order {
		ps := groups[k]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for len(ps) > 0 {
				n := min(len(ps), maxEventsPerEntry)
				chunk := ps[:n]
				ps = ps[n:]
				// Not the leader's own cancellation: these are other requests' events.
				err := writeEntry(context.WithoutCancel(ctx), chunk)
				if err == nil {
					b.metrics.auditPut.Inc()
				}
				for _, p := range chunk {
					p.done <- err
				}
			}
		})
	}
	wg.Wait()
}

// auditWriters bounds the concurrent storage writes of one batch.
const auditWriters = 16

func writeEntry(ctx context.Context, chunk []*pendingEvent) error {
	newest := chunk[len(chunk)-1].event.Time
	key, err := eventKey(newest)
	if err != nil {
		return err
	}
	events := make([]*auditEvent, len(chunk))
	for i, p := range chunk {
		e := p.event
		e.ID = fmt.Sprintf("%s.%03d", key, len(chunk)-1-i)
		events[len(chunk)-1-i] = e
	}
	first := chunk[0]
	if err := putJSON(ctx, first.storage, auditSubjectPrefix(first.kind, first.name)+key, events); err != nil {
		return fmt.Errorf("audit event: %w", err)
	}
	return nil
}

// auditQuery filters and pages a listing.
type auditQuery struct {
	operation  string
	credential string
	since      time.Time
	page       // after: an event ID cursor, list events older than it
}

func (q auditQuery) match(e *auditEvent) bool {
	return (q.operation == "" || e.Operation == q.operation || strings.HasSuffix(q.operation, ".*") && strings.HasPrefix(e.Operation, strings.TrimSuffix(q.operation, "*"))) &&
		(q.credential == "" || e.Credential == q.credential)
}

// listEvents returns matching events newest first, and the cursor of the
// next page ("" when there is none).
func listEvents(ctx context.Context, s logical.Storage, kind, name string, q auditQuery) ([]*auditEvent, string, error) {
	prefix := auditSubjectPrefix(kind, name)
	days, err := s.List(ctx, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("list audit days: %w", err)
	}
	sort.Strings(days)
	afterDay := ""
	if q.after != "" {
		afterDay, _, _ = strings.Cut(q.after, "/")
		afterDay += "/"
	}
	var out []*auditEvent
	for _, day := range days {
		if afterDay != "" && day < afterDay {
			continue
		}
		keys, err := s.List(ctx, prefix+day)
		if err != nil {
			return nil, "", fmt.Errorf("list audit events: %w", err)
		}
		sort.Strings(keys)
		for _, k := range keys {
			entryID := day + k
			if q.after != "" && entryID+".999" <= q.after {
				continue
			}
			events, err := getJSON[[]*auditEvent](ctx, s, prefix+entryID)
			if err != nil {
				return nil, "", err
			}
			if events == nil {
				continue // swept meanwhile
			}
			for _, e := range *events {
				if q.after != "" && e.ID <= q.after {
					continue
				}
				if !q.since.IsZero() && e.Time.Before(q.since) {
					return out, "", nil // everything further is older
				}
				if !q.match(e) {
					continue
				}
				if len(out) == q.limit {
					return out, out[len(out)-1].ID, nil
				}
				out = append(out, e)
			}
		}
	}
	return out, "", nil
}

// pruneEvents deletes a subject's events older than cutoff, whole days at
// a time where it can, and reports how many it removed.
func pruneEvents(ctx context.Context, s logical.Storage, kind, name string, cutoff time.Time) (int, error) {
	prefix := auditSubjectPrefix(kind, name)
	days, err := s.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	cutoffKey := reverseTime(cutoff)
	cutoffDay := fmt.Sprintf("%08d/", 99999999-cutoff.Unix()/86400)
	n := 0
	for _, day := range days {
		if day < cutoffDay {
			continue // a day newer than the cutoff's: nothing to prune
		}
		keys, err := s.List(ctx, prefix+day)
		if err != nil {
			return n, err
		}
		for _, k := range keys {
			// Keys hold the reverse timestamp: larger is older.
			if k[:19] > cutoffKey {
				if err := s.Delete(ctx, prefix+day+k); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}

// relayActor is the requester recorded for mail a relay delivered.
func relayActor() actor { return actor{DisplayName: "mailgent-relay"} }

// receiveEvent is an event about inbound mail for an agent: requested by
// the relay, identified by the bus message ID.
func receiveEvent(a *agentEntry, msgID, outcome, detail string) *auditEvent {
	return &auditEvent{
		Operation:       opMessageReceive,
		Outcome:         outcome,
		Agent:           a.Name,
		AgentID:         a.ID,
		Org:             a.Org,
		DelegationChain: a.chain(),
		Requester:       relayActor(),
		RequestID:       msgID,
		Detail:          detail,
	}
}
