package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/parseutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// Requests, as every path handles them: unknown fields refused, free text
// and maps bounded, paging; the gate of the agent-scoped paths (withAgent);
// the one rule for user errors (a 400 is logical.ErrorResponse naming the
// field — errBadRequest and respond for helpers — and logical.CodedError
// is for the other statuses: 403, 404, 408, 410, 429, 503); and the fields
// and operation names many paths share.

// rejectUnknownFields turns Vault's "ignored unrecognized parameters"
// warning into a 400: a misspelt limit must not be silently dropped.
func rejectUnknownFields(d *framework.FieldData) *logical.Response {
	var unknown []string
	for k := range d.Raw {
		if _, ok := d.Schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return logical.ErrorResponse("%s: unknown field", strings.Join(unknown, ", "))
}

// checkText bounds a free-text field: valid UTF-8, no NUL, at most max bytes.
func checkText(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s: %d bytes, at most %d allowed", field, len(v), max)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return fmt.Errorf("%s: must be valid UTF-8 text", field)
	}
	return nil
}

// checkKV bounds a map field such as metadata or fields.
func checkKV(field string, m map[string]string, maxEntries, maxKey, maxValue int) error {
	if len(m) > maxEntries {
		return fmt.Errorf("%s: %d entries, at most %d allowed", field, len(m), maxEntries)
	}
	for k, v := range m {
		if k == "" {
			return fmt.Errorf("%s: keys must not be empty", field)
		}
		if err := checkText(field+" key", k, maxKey); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("%s.%s", field, k), v, maxValue); err != nil {
			return err
		}
	}
	return nil
}

// kvField reads a TypeKVPairs field, turning a conversion error into a
// message that names the field.
func kvField(d *framework.FieldData, field string) (map[string]string, bool, error) {
	raw, ok := d.Raw[field]
	if !ok {
		return nil, false, nil
	}
	if raw == nil {
		return map[string]string{}, true, nil
	}
	v, ok, err := d.GetOkErr(field)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %v", field, err)
	}
	if !ok || v == nil {
		return map[string]string{}, true, nil
	}
	return v.(map[string]string), true, nil
}

// The paging shared by every listing (messages, sent mail, audit events):
// limit and after in (limitField, afterField), next_cursor out.

// page is the page a listing asks for: at most limit items after the
// cursor after ("": from the start).
type page struct {
	limit int
	after string
}

// readPage reads limit (default def, 1 to max) and after, a cursor that
// valid must accept.
func readPage(d *framework.FieldData, def, max int, valid func(string) bool) (page, *logical.Response) {
	p := page{limit: def}
	if v, ok, err := d.GetOkErr("limit"); err != nil {
		return page{}, logical.ErrorResponse("limit: %v", err)
	} else if ok {
		if p.limit = v.(int); p.limit < 1 || p.limit > max {
			return page{}, logical.ErrorResponse("limit: must be between 1 and %d, got %d", max, p.limit)
		}
	}
	p.after = d.Get("after").(string)
	if p.after != "" && !valid(p.after) {
		return page{}, logical.ErrorResponse("after: %q is not a cursor returned as next_cursor", p.after)
	}
	return p, nil
}

// pageResponse answers a page of a listing: to LIST, keys (ids) with
// key_info (items); to a read, the items under field, with extra fields.
// Both carry next_cursor.
func pageResponse(req *logical.Request, ids []string, items []map[string]interface{}, field, next string, extra map[string]interface{}) *logical.Response {
	if req.Operation == logical.ListOperation {
		info := make(map[string]interface{}, len(ids))
		for i, id := range ids {
			info[id] = items[i]
		}
		resp := logical.ListResponseWithInfo(ids, info)
		resp.Data["next_cursor"] = next
		return resp
	}
	if items == nil {
		items = []map[string]interface{}{}
	}
	data := map[string]interface{}{field: items, "next_cursor": next}
	for k, v := range extra {
		data[k] = v
	}
	return &logical.Response{Data: data}
}

// nameField is a path segment that names what the path is about (an
// agent, a credential, a message…): required, checked by the handler.
func requiredString(description string) *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: description,
		Required:    true,
	}
}

// agentField is the agent segment of the agent-scoped paths.
func agentField() *framework.FieldSchema { return requiredString("Agent name.") }

// The gate of the agent-scoped paths (kv's upgradeCheck pattern): one
// wrapper loads the agent a path names, or answers for it.

// agentHandler handles a request on an agent-scoped path, for an active
// agent, with the input its reader validated.
type agentHandler[In any] func(ctx context.Context, req *logical.Request, st *agentState, in In) (*logical.Response, error)

// inputReader reads and validates a request's fields — every one, before
// anything is read or written — or answers a 400 that names the field.
type inputReader[In any] func(d *framework.FieldData) (In, *logical.Response)

// noInput is the reader of a path whose only field is the agent.
func noInput(*framework.FieldData) (struct{}, *logical.Response) { return struct{}{}, nil }

// withAgent is the handler of an agent-scoped path. In order:
//
//  1. read the request's input (a 400 naming the field);
//  2. the agent the path names: a 400 for a bad name, 404 for none, and
//     410 once revoked — recorded as a denied event for op, with the
//     request's credential if it names one (op "" records nothing);
//  3. handle, with the active agent and the input.
func withAgent[In any](b *backend, op string, read inputReader[In], handle agentHandler[In]) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		in, resp := read(d)
		if resp != nil {
			return resp, nil
		}
		name := d.Get("agent").(string)
		if err := validateAgentName(name); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
		st, err := b.activeAgent(ctx, req, name, op, requestCred(d))
		if err != nil {
			return nil, err
		}
		return handle(ctx, req, st, in)
	}
}

// requestCred is the credential a request's path names, or "".
func requestCred(d *framework.FieldData) string {
	if _, ok := d.Schema["cred"]; !ok {
		return ""
	}
	return d.Get("cred").(string)
}

// agentNameFirst answers a bad agent name in preference to resp: for the
// paths whose other checks (a message ID, a credential's fields) mean
// nothing for an agent that cannot exist.
func agentNameFirst(d *framework.FieldData, resp *logical.Response) *logical.Response {
	if err := validateAgentName(d.Get("agent").(string)); err != nil {
		return logical.ErrorResponse(err.Error())
	}
	return resp
}

// activeAgent loads an agent for a request on one of its paths: 404 for
// none, 410 once revoked (recorded as denied, see withAgent).
func (b *backend) activeAgent(ctx context.Context, req *logical.Request, name, op, cred string) (*agentState, error) {
	st, err := b.loadAgent(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNoAgent(name)
	}
	if !st.active() {
		return nil, b.denied(ctx, req, st.entry, op, cred)
	}
	return st, nil
}

// stillActive re-checks, after a wait, that the agent was not revoked
// meanwhile: a long-poll answers 410 rather than data the agent lost the
// right to (and the denial is on the record).
func (b *backend) stillActive(ctx context.Context, req *logical.Request, st *agentState, op, cred string) error {
	now, err := b.loadAgent(ctx, req.Storage, st.entry.Name)
	if err != nil {
		return err
	}
	if now != nil && now.active() && now.entry.ID == st.entry.ID {
		return nil
	}
	if now == nil {
		now = st
	}
	return b.denied(ctx, req, now.entry, op, cred)
}

// denied records an attempt to use a revoked agent (when op is set) and
// returns the 410 for the client.
func (b *backend) denied(ctx context.Context, req *logical.Request, e *agentEntry, op, cred string) error {
	if op != "" {
		ev := b.agentEvent(req, e, op, outcomeDenied)
		ev.Credential, ev.Detail = cred, "agent is revoked"
		if err := b.record(ctx, req.Storage, subjectAgent, e.Name, ev); err != nil {
			return err
		}
	}
	return errRevoked(e)
}

// errNoAgent is the 404 of an agent-scoped path.
func errNoAgent(name string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("agent %q does not exist", name))
}

// errRevoked is the 410 of an agent-scoped path.
func errRevoked(e *agentEntry) error {
	when := ""
	if e.RevokedAt != nil {
		when = " at " + e.RevokedAt.UTC().Format(time.RFC3339)
	}
	return logical.CodedError(http.StatusGone, fmt.Sprintf("agent %q was revoked%s: its credentials are destroyed and it can no longer act", e.Name, when))
}

// operationPrefix begins every operation ID of the mount in Vault's
// OpenAPI document: mailgent-<verb>-<suffix>.
const operationPrefix = "mailgent"

// pathDisplay names a path's operations mailgent-<verb>-<suffix>: the
// verb is the operation's (read, write, list, delete) unless the
// operation's own DisplayAttrs (opVerb) name another.
func pathDisplay(suffix string) *framework.DisplayAttributes {
	return &framework.DisplayAttributes{OperationPrefix: operationPrefix, OperationSuffix: suffix}
}

// writeOperations is one handler of a path's writes, whether Vault calls
// the write a create or an update.
func writeOperations(handler framework.OperationFunc, attrs *framework.DisplayAttributes) map[logical.Operation]framework.OperationHandler {
	op := &framework.PathOperation{Callback: handler, DisplayAttrs: attrs}
	return map[logical.Operation]framework.OperationHandler{
		logical.CreateOperation: op,
		logical.UpdateOperation: op,
	}
}

// opVerb names one operation's verb, where read/write/list/delete would
// not say what it does.
func opVerb(verb string) *framework.DisplayAttributes {
	return &framework.DisplayAttributes{OperationVerb: verb}
}

// credField is the cred segment of a credential's paths.
func credField() *framework.FieldSchema { return requiredString("Credential name, e.g. github.com.") }

// limitField is a listing's page size.
func limitField(what string, max, def int) *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeInt,
		Description: fmt.Sprintf("%s per page (1-%d, default %d).", what, max, def),
	}
}

// afterField is a listing's paging cursor.
func afterField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type:        framework.TypeString,
		Description: "Paging cursor: next_cursor of the previous page.",
	}
}

// readSince reads a since field: an RFC 3339 time, or a positive duration
// back from now; the zero time when it is not set.
func readSince(d *framework.FieldData, now time.Time) (time.Time, error) {
	s := d.Get("since").(string)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if dur, err := parseutil.ParseDurationSecond(s); err == nil && dur > 0 {
		return now.Add(-dur), nil
	}
	return time.Time{}, fmt.Errorf("since: %q is neither an RFC 3339 time nor a positive duration", s)
}

// nonNil is s, or an empty list where a response must not show null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// badRequest is a 400 that a helper of a handler found: the handler
// answers it as logical.ErrorResponse with its text (respond), like every
// other 400, so helpers need not return a response beside their error.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// errBadRequest makes a badRequest; the text starts with the field's name.
func errBadRequest(format string, args ...any) error {
	return &badRequest{msg: fmt.Sprintf(format, args...)}
}

// respond answers err: a badRequest as a 400 response, anything else (a
// logical.CodedError, an internal failure) as it is.
func respond(err error) (*logical.Response, error) {
	var bad *badRequest
	if errors.As(err, &bad) {
		return logical.ErrorResponse(bad.msg), nil
	}
	return nil, err
}
