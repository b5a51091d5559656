package plugin

import (
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

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
