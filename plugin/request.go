package plugin

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Helpers for reading requests, shared by the paths: unknown fields,
// free text and maps, paging, and the fields many paths have.

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
// limit and after in, next_cursor out.

// readPage reads limit (default def, 1 to max) and after, a cursor that
// valid must accept; resp is the 400 for a bad one.
func readPage(d *framework.FieldData, def, max int, valid func(string) bool) (limit int, after string, resp *logical.Response) {
	limit = def
	if v, ok, err := d.GetOkErr("limit"); err != nil {
		return 0, "", logical.ErrorResponse("limit: %v", err)
	} else if ok {
		if limit = v.(int); limit < 1 || limit > max {
			return 0, "", logical.ErrorResponse("limit: must be between 1 and %d, got %d", max, limit)
		}
	}
	after = d.Get("after").(string)
	if after != "" && !valid(after) {
		return 0, "", logical.ErrorResponse("after: %q is not a cursor returned as next_cursor", after)
	}
	return limit, after, nil
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

func agentField() *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: "Agent name.", Required: true}
}
