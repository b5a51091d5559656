package plugin

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/bus"
)

// agents/:agent/sent and sent/:id: what the agent sent, and what became
// of it (the records are in sent.go). Reads of these are not audited.

func (b *backend) pathSent() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "agents/" + namePattern("agent") + "/sent/?$",
			DisplayAttrs: pathDisplay("sent-messages"),
			Fields: map[string]*framework.FieldSchema{
				"agent": agentField(),
				"status": {
					Type:        framework.TypeString,
					Description: "Only messages in this status (queued, deferred, sent, failed, cancelled).",
				},
				"limit": limitField("Messages", maxMessagesPage, defaultMessagesPage),
				"after": afterField(),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, "", readSentList, b.pathSentList)},
				logical.ListOperation: &framework.PathOperation{Callback: withAgent(b, "", readSentList, b.pathSentList)},
			},
			HelpSynopsis: "Mail the agent sent, newest first, with its delivery status.",
		},
		{
			Pattern:      "agents/" + namePattern("agent") + "/sent/" + namePattern("id") + "$",
			DisplayAttrs: pathDisplay("sent-message"),
			Fields: map[string]*framework.FieldSchema{
				"agent": agentField(),
				"id":    requiredString("Sent message ID."),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: withAgent(b, "", readSentID, b.pathSentRead)},
			},
			HelpSynopsis: "One sent message: queued, deferred, sent (with the smarthost's reply), failed (with the reason) or cancelled.",
		},
	}
}

// sentListInput is a listing's status filter and page.
type sentListInput struct {
	status string
	page
}

func readSentList(d *framework.FieldData) (sentListInput, *logical.Response) {
	in := sentListInput{}
	if resp := rejectUnknownFields(d); resp != nil {
		return in, resp
	}
	in.status = d.Get("status").(string)
	switch in.status {
	case "", bus.StatusQueued, bus.StatusDeferred, bus.StatusSent, bus.StatusFailed, bus.StatusCancelled:
	default:
		return in, logical.ErrorResponse("status: %q is not queued, deferred, sent, failed or cancelled", in.status)
	}
	var resp *logical.Response
	in.page, resp = readPage(d, defaultMessagesPage, maxMessagesPage, sentIDRe.MatchString)
	return in, resp
}

// pathSentList lists the agent's sent records, newest first.
func (b *backend) pathSentList(ctx context.Context, req *logical.Request, st *agentState, in sentListInput) (*logical.Response, error) {
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys, err := req.Storage.List(ctx, sentPrefix+st.entry.Name+"/")
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	var ids []string
	var out []map[string]interface{}
	next := ""
	for _, k := range keys {
		if in.after != "" && k <= in.after {
			continue
		}
		rec, err := b.readSent(ctx, req.Storage, st, k)
		if err != nil {
			return nil, err
		}
		if rec == nil || in.status != "" && rec.Status != in.status {
			continue
		}
		if len(out) == in.limit {
			next = ids[len(ids)-1]
			break
		}
		ids = append(ids, rec.ID)
		out = append(out, sentData(st.entry.Name, address(cfg, st.entry.Name), rec))
	}
	if ids == nil {
		ids = []string{}
	}
	return pageResponse(req, ids, out, "messages", next, map[string]interface{}{"agent": st.entry.Name}), nil
}

// readSentID reads the sent message a sent/:id path names.
func readSentID(d *framework.FieldData) (string, *logical.Response) {
	id := d.Get("id").(string)
	if !sentIDRe.MatchString(id) {
		return "", logical.ErrorResponse("id: %q is not a sent message ID", id)
	}
	return id, nil
}

// pathSentRead returns one sent record.
func (b *backend) pathSentRead(ctx context.Context, req *logical.Request, st *agentState, id string) (*logical.Response, error) {
	rec, err := b.readSent(ctx, req.Storage, st, id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q sent no message %q", st.entry.Name, id))
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: sentData(st.entry.Name, address(cfg, st.entry.Name), rec)}, nil
}
