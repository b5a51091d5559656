package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
)

// connect serves New(c) to an in-memory MCP client.
func connect(t *testing.T, c *client.Client) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := New(c).Connect(ctx, st, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx, ct, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// send_email asks the agent's allowlist first, with a fake Vault: no
// allowlist or an unreadable one refuses, and the send path is never hit.
func TestSendEmailNeedsAnAllowlist(t *testing.T) {
	for _, tc := range []struct {
		name        string
		agentStatus int
		allowlist   []string
		sends       int32
		says        string
	}{
		{"no allowlist", 200, []string{}, 0, `send_email is refused: agent "bot" has no send allowlist`},
		{"allowlist unreadable", 403, nil, 0, "send_email is refused: the agent's send allowlist could not be read"},
		{"allowlist set", 200, []string{"corp.example"}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sends atomic.Int32
			vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/v1/mailgent/agents/bot":
					w.WriteHeader(tc.agentStatus)
					if tc.agentStatus != 200 {
						_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{"permission denied"}})
						return
					}
					_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"agent": "bot", "send_allowlist": tc.allowlist}})
				case "/v1/mailgent/agents/bot/send":
					sends.Add(1)
					_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"id": "1", "status": "queued"}})
				default:
					http.NotFound(w, r)
				}
			}))
			defer vault.Close()
			cfg := api.DefaultConfig()
			cfg.Address = vault.URL
			vc, err := api.NewClient(cfg)
			require.NoError(t, err)
			vc.SetToken("test")
			cs := connect(t, client.New(vc, "mailgent", "bot"))
			r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "send_email",
				Arguments: map[string]any{"to": []string{"a@corp.example"}, "subject": "s", "text": "t"}})
			require.NoError(t, err)
			require.Equal(t, tc.says != "", r.IsError)
			if tc.says != "" {
				require.Contains(t, r.Content[0].(*mcp.TextContent).Text, tc.says)
			}
			require.Equal(t, tc.sends, sends.Load())
		})
	}
}

// Every tool tells the model when to use it, and an argument it does not
// know is refused rather than dropped.
func TestToolsAreDescribedAndStrict(t *testing.T) {
	vc, err := api.NewClient(api.DefaultConfig())
	require.NoError(t, err)
	cs := connect(t, client.New(vc, "mailgent", "bot"))
	tools, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 14)
	for _, tool := range tools.Tools {
		require.GreaterOrEqual(t, len(tool.Description), 100, tool.Name)
	}
	r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "store_credential",
		Arguments: map[string]any{"name": "site", "pasword": "typo"}})
	require.NoError(t, err)
	require.True(t, r.IsError)
	require.Contains(t, r.Content[0].(*mcp.TextContent).Text, "pasword")
}
