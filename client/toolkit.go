package client

import (
	"context"
	"net/url"
	"sort"
	"strconv"
)

// AgentInfo is the agent as the mount describes it to the agent's own token.
type AgentInfo struct {
	Agent           string   `json:"agent"`
	Address         string   `json:"address"`
	Org             string   `json:"org"`
	Status          string   `json:"status"`
	DelegationChain []string `json:"delegation_chain"`
	// SendAllowlist holds the addresses and domains the agent may send
	// to; empty means the mount does not limit recipients.
	SendAllowlist []string `json:"send_allowlist"`
}

// AgentInfo reads the agent itself.
func (c *Client) AgentInfo(ctx context.Context) (*AgentInfo, error) {
	out := &AgentInfo{}
	return out, c.read(ctx, "read agent "+c.agent, c.mount+"/agents/"+c.agent, nil, out)
}

// CredentialSummary is a listed credential: no secret, no seed.
type CredentialSummary struct {
	Name           string `json:"-"`
	CurrentVersion int    `json:"current_version"`
	URL            string `json:"url"`
	TOTPEnabled    bool   `json:"totp_enabled"`
	UpdatedAt      string `json:"updated_at"`
	// BackupCodesRemaining counts the unused recovery codes, never shown.
	BackupCodesRemaining int `json:"backup_codes_remaining"`
}

// CredentialSummaries lists the agent's credentials with what the list
// shows of each, sorted by name.
func (c *Client) CredentialSummaries(ctx context.Context) ([]CredentialSummary, error) {
	sec, err := c.vault.Logical().ListWithContext(ctx, c.path("creds"))
	if err != nil {
		return nil, wrapErr("list credentials", err)
	}
	out := []CredentialSummary{}
	if sec == nil {
		return out, nil
	}
	var list struct {
		Keys    []string                     `json:"keys"`
		KeyInfo map[string]CredentialSummary `json:"key_info"`
	}
	if err := decode("list credentials", sec.Data, &list); err != nil {
		return nil, err
	}
	sort.Strings(list.Keys)
	for _, k := range list.Keys {
		s := list.KeyInfo[k]
		s.Name = k
		out = append(out, s)
	}
	return out, nil
}

// SentFilter selects sent messages.
type SentFilter struct {
	// Status is queued, deferred, sent, failed, cancelled or "" (all).
	Status string
	Limit  int
	// After is a page's next cursor.
	After string
}

// SentMessages lists what the agent sent, newest first, and the cursor of
// the next page ("" on the last).
func (c *Client) SentMessages(ctx context.Context, f SentFilter) ([]Sent, string, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After != "" {
		q.Set("after", f.After)
	}
	var out struct {
		Messages   []Sent `json:"messages"`
		NextCursor string `json:"next_cursor"`
	}
	err := c.read(ctx, "list sent", c.path("sent"), q, &out)
	return out.Messages, out.NextCursor, err
}
