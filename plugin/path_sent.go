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

// agents/:agent/sent: what the agent sent, and what became of it.

func (b *backend) pathSentList(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	status := d.Get("status").(string)
	switch status {
	case "", bus.StatusQueued, bus.StatusDeferred, bus.StatusSent, bus.StatusFailed, bus.StatusCancelled:
	default:
		return logical.ErrorResponse("status: %q is not queued, deferred, sent, failed or cancelled", status), nil
	}
	limit, after, resp := readPage(d, defaultMessagesPage, maxMessagesPage, sentIDRe.MatchString)
	if resp != nil {
		return resp, nil
	}
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, err
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys, err := req.Storage.List(ctx, sentPrefix+st.entry.Name+"/")
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	var out []map[string]interface{}
	next := ""
	for _, k := range keys {
		if after != "" && k <= after {
			continue
		}
		rec, err := b.readSent(ctx, req.Storage, st, k)
		if err != nil {
			return nil, err
		}
		if rec == nil || status != "" && rec.Status != status {
			continue
		}
		if len(out) == limit {
			next = out[len(out)-1]["id"].(string)
			break
		}
		out = append(out, sentData(st.entry.Name, address(cfg, st.entry.Name), rec))
	}
	ids := make([]string, len(out))
	for i, m := range out {
		ids[i] = m["id"].(string)
	}
	return pageResponse(req, ids, out, "messages", next, map[string]interface{}{"agent": st.entry.Name}), nil
}

func (b *backend) pathSentRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.Get("id").(string)
	if !sentIDRe.MatchString(id) {
		return logical.ErrorResponse("id: %q is not a sent message ID", id), nil
	}
	st, resp, err := b.activeAgent(ctx, req, d.Get("agent").(string))
	if resp != nil || err != nil {
		return resp, err
	}
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

func (b *backend) pathSent() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "agents/" + namePattern("agent") + "/sent/?$",
			Fields: map[string]*framework.FieldSchema{
				"agent":  agentField(),
				"status": {Type: framework.TypeString, Description: "Only messages in this status (queued, deferred, sent, failed, cancelled)."},
				"limit":  {Type: framework.TypeInt, Description: fmt.Sprintf("Messages per page (1-%d, default %d).", maxMessagesPage, defaultMessagesPage)},
				"after":  {Type: framework.TypeString, Description: "Paging cursor: next_cursor of the previous page."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathSentList},
				logical.ListOperation: &framework.PathOperation{Callback: b.pathSentList},
			},
			HelpSynopsis: "Mail the agent sent, newest first, with its delivery status.",
		},
		{
			Pattern: "agents/" + namePattern("agent") + "/sent/" + namePattern("id") + "$",
			Fields: map[string]*framework.FieldSchema{
				"agent": agentField(),
				"id":    {Type: framework.TypeString, Description: "Sent message ID.", Required: true},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathSentRead},
			},
			HelpSynopsis: "One sent message: queued, deferred, sent (with the smarthost's reply), failed (with the reason) or cancelled.",
		},
	}
}
