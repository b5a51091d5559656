package plugin

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// agents/:agent/threads and threads/:thread: the agent's inbox and sent
// mail grouped into conversations (threads.go), so that an agent can
// follow a reply to mail it sent.

const (
	defaultThreadsPage = 50
	maxThreadsPage     = 500
)

var (
	// threadIDRe is the shape of a thread ID; threadCursorRe of a cursor.
	threadIDRe     = regexp.MustCompile(`^[0-9a-f]{24}$`)
	threadCursorRe = regexp.MustCompile(`^[0-9]{19}-[0-9a-f]{24}$`)
)

func (b *backend) pathThreads() []*framework.Path {
	base := "agents/" + namePattern("agent") + "/threads"
	return []*framework.Path{
		{
			Pattern:      base + "/?$",
			DisplayAttrs: pathDisplay("threads"),
			Fields: map[string]*framework.FieldSchema{
				"agent": agentField(),
				"limit": limitField("Threads", maxThreadsPage, defaultThreadsPage),
				"after": afterField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, opThreadList, readThreadList, b.pathThreadList)},
				logical.ListOperation: &framework.PathOperation{Callback: withAgent(b, opThreadList, readThreadList, b.pathThreadList)},
			},
			HelpSynopsis:    "The agent's conversations: inbox and sent mail grouped by thread, newest activity first.",
			HelpDescription: pathThreadsHelpDesc,
		},
		{
			Pattern:      base + "/" + namePattern("thread") + "$",
			DisplayAttrs: pathDisplay("thread"),
			Fields: map[string]*framework.FieldSchema{
				"agent":  agentField(),
				"thread": requiredString("Thread ID (id in the listing)."),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, opThreadRead, readThreadID, b.pathThreadRead)},
			},
			HelpSynopsis:    "One conversation: its messages in order, inbox and sent, with sender, recipients and subject.",
			HelpDescription: pathThreadsHelpDesc,
		},
	}
}

func readThreadList(d *framework.FieldData) (page, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return page{}, resp
	}
	return readPage(d, defaultThreadsPage, maxThreadsPage, threadCursorRe.MatchString)
}

// readThreadID reads the thread a threads/:thread path names.
func readThreadID(d *framework.FieldData) (string, *logical.Response) {
	if resp := rejectUnknownFields(d); resp != nil {
		return "", resp
	}
	id := d.Get("thread").(string)
	if !threadIDRe.MatchString(id) {
		return "", agentNameFirst(d, logical.ErrorResponse("thread: %q is not a thread ID", id))
	}
	return id, nil
}

// threads groups the agent's inbox and sent mail, from the two indexes.
func (b *backend) threads(ctx context.Context, s logical.Storage, st *agentState) ([]*conversation, error) {
	sums, err := b.summaries(ctx, s, st, false)
	if err != nil {
		return nil, err
	}
	sent, err := b.sentEntries(ctx, s, st)
	if err != nil {
		return nil, err
	}
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	self := address(cfg, st.entry.Name)
	items := make([]*threadItem, 0, len(sums)+len(sent))
	for _, sum := range sums {
		items = append(items, inboxItem(sum))
	}
	for _, e := range sent {
		items = append(items, sentItem(e, self))
	}
	return groupThreads(items), nil
}

// pathThreadList lists a page of threads, newest activity first, and
// records thread.list.
func (b *backend) pathThreadList(ctx context.Context, req *logical.Request, st *agentState, in page) (*logical.Response, error) {
	all, err := b.threads(ctx, req.Storage, st)
	if err != nil {
		return nil, err
	}
	var picked []*conversation
	next := ""
	for _, c := range all {
		if in.after != "" && c.cursor() <= in.after {
			continue
		}
		if len(picked) == in.limit {
			next = picked[len(picked)-1].cursor()
			break
		}
		picked = append(picked, c)
	}
	ev := b.agentEvent(req, st.entry, opThreadList, outcomeSuccess)
	ev.Detail = fmt.Sprintf("%d threads listed", len(picked))
	if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
		return nil, err
	}
	ids := make([]string, len(picked))
	list := make([]map[string]interface{}, len(picked))
	for i, c := range picked {
		ids[i], list[i] = c.id, threadData(c, false)
	}
	return pageResponse(req, ids, list, "threads", next, map[string]interface{}{"agent": st.entry.Name}), nil
}

// pathThreadRead returns one thread with its messages' details, and
// records thread.read.
func (b *backend) pathThreadRead(ctx context.Context, req *logical.Request, st *agentState, id string) (*logical.Response, error) {
	all, err := b.threads(ctx, req.Storage, st)
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.id != id {
			continue
		}
		ev := b.agentEvent(req, st.entry, opThreadRead, outcomeSuccess)
		ev.Detail = fmt.Sprintf("thread %s (%d messages)", id, len(c.items))
		if err := b.record(ctx, req.Storage, subjectAgent, st.entry.Name, ev); err != nil {
			return nil, err
		}
		data := threadData(c, true)
		data["agent"] = st.entry.Name
		return &logical.Response{Data: data}, nil
	}
	return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q has no thread %q", st.entry.Name, id))
}

// threadData is a thread as the API shows it; with detail each message
// carries its sender, recipients, subject and state.
func threadData(c *conversation, detail bool) map[string]interface{} {
	msgs := make([]map[string]interface{}, len(c.items))
	var inbox, sent []string
	for i, it := range c.items {
		m := map[string]interface{}{"kind": it.kind, "id": it.id, "at": it.at.UTC().Format(time.RFC3339Nano)}
		if it.kind == itemInbox {
			inbox = append(inbox, it.id)
		} else {
			sent = append(sent, it.id)
		}
		if detail {
			m["from"], m["to"], m["subject"] = it.from, nonNil(it.to), it.subject
			if it.kind == itemInbox {
				m["unread"] = it.unread
			} else {
				m["status"] = it.status
			}
		}
		msgs[i] = m
	}
	return map[string]interface{}{
		"id":             c.id,
		"subject":        c.subject,
		"participants":   c.participants(),
		"message_count":  len(c.items),
		"unread":         c.unread,
		"first_activity": c.first.UTC().Format(time.RFC3339Nano),
		"last_activity":  c.last.UTC().Format(time.RFC3339Nano),
		"messages":       msgs,
		"inbox_ids":      nonNil(inbox),
		"sent_ids":       nonNil(sent),
	}
}

const pathThreadsHelpDesc = `
Threads group the agent's inbox and sent mail by conversation: a message
joins the messages its In-Reply-To and References headers name (and those
naming the same), a sent reply the inbox message it answered. A message
whose headers link it to nothing the agent holds joins by subject only if
its subject is a reply or forward (Re:, Fwd:, AW:, …) of a thread's subject.
Each thread has an id, its first message's subject, participants,
message_count, unread, first_activity, last_activity and its messages in
order (kind inbox or sent, id, at); inbox_ids and sent_ids are the IDs for
messages/:id and sent/:id. The listing is newest activity first, paged with
limit and after (next_cursor).
`
