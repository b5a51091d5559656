package integration

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/rfc6238"
)

// TestMCPServerAsAnAgent drives cmd/mailgent-mcp over stdio with the MCP
// SDK's own client, logged in with the agent's AppRole.
func TestMCPServerAsAnAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startInbound(t)
	res := s.onboardAgent(ctx, "mcp-bot")

	// The test stores the credential as the operator, with the Go client.
	c := client.New(s.Vault.Client, "mailgent", "mcp-bot")
	seed := []byte("12345678901234567890")
	_, err := c.StoreCredential(ctx, "site", client.Credential{Username: "mcp-bot", Password: "pw-mcp-42", URL: "https://site.example",
		TOTPSecret: base32.StdEncoding.EncodeToString(seed)}, nil)
	require.NoError(t, err)

	cmd := exec.Command(harness.Own(t, "mailgent-mcp"))
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Vault.Addr, "VAULT_TOKEN=", "MAILGENT_AGENT=mcp-bot",
		"MAILGENT_ROLE_ID="+res.RoleID, "MAILGENT_WRAPPED_SECRET_ID="+res.WrappingToken)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcp-test", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err, "mailgent-mcp stderr: %s", &stderr)
	t.Cleanup(func() { _ = cs.Close() })

	tools, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	names := map[string]bool{}
	for _, tool := range tools.Tools {
		names[tool.Name] = true
		require.NotNil(t, tool.InputSchema, tool.Name)
		require.NotEmpty(t, tool.Description, tool.Name)
	}
	for _, n := range []string{"get_identity", "get_credential", "store_credential", "list_credentials", "totp_code", "enroll_totp",
		"use_backup_code", "report_login", "list_messages", "read_message", "wait_for_code", "send_email", "list_sent", "sent_status"} {
		require.True(t, names[n], "tool %s listed", n)
	}

	call := func(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
		t.Helper()
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		require.NoError(t, err, name)
		var out map[string]any
		if !r.IsError {
			b, err := json.Marshal(r.StructuredContent)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &out))
		}
		return r, out
	}
	text := func(r *mcp.CallToolResult) string {
		var sb strings.Builder
		for _, c := range r.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				sb.WriteString(tc.Text)
			}
		}
		return sb.String()
	}

	// TOTP: the code of the step that ends at valid_until.
	r, out := call("totp_code", map[string]any{"name": "site"})
	require.False(t, r.IsError, text(r))
	until, err := time.Parse(time.RFC3339, out["valid_until"].(string))
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(seed, "SHA1", 6, 30, until.Add(-30*time.Second)), out["code"])

	// The credential, never its seed.
	r, out = call("get_credential", map[string]any{"name": "site"})
	require.False(t, r.IsError, text(r))
	require.Equal(t, "pw-mcp-42", out["password"])
	require.Equal(t, "mcp-bot", out["username"])
	require.Equal(t, true, out["totp"].(map[string]any)["enabled"])
	for _, enc := range []string{base32.StdEncoding.EncodeToString(seed), strings.TrimRight(base32.StdEncoding.EncodeToString(seed), "="), string(seed)} {
		require.NotContains(t, text(r), enc)
	}

	r, _ = call("report_login", map[string]any{"credential": "site", "success": true, "detail": "dashboard reached"})
	require.False(t, r.IsError, text(r))

	// Mail in: wait_for_code, started before the mail is sent.
	to := "mcp-bot@" + s.Domain
	type waited struct {
		r   *mcp.CallToolResult
		err error
	}
	done := make(chan waited, 1)
	go func() {
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "wait_for_code", Arguments: map[string]any{"from": "service.example.com", "timeout_seconds": 30}})
		done <- waited{r, err}
	}()
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, s.send("no-reply@service.example.com", to, verificationMail(to, "271828")))
	w := <-done
	require.NoError(t, w.err)
	require.False(t, w.r.IsError, text(w.r))
	b, _ := json.Marshal(w.r.StructuredContent)
	var got struct {
		Code         string `json:"code"`
		ID           string `json:"id"`
		Content      string `json:"content"`
		Trust        string `json:"trust"`
		SenderDomain string `json:"sender_domain"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "271828", got.Code)
	require.Equal(t, "verified", got.Trust, "wait_for_code returns verified mail only")
	require.Equal(t, "service.example.com", got.SenderDomain)
	// The sender's words come framed as untrusted data.
	require.True(t, strings.HasPrefix(got.Content, "<<<UNTRUSTED EMAIL CONTENT"), got.Content)
	require.True(t, strings.HasSuffix(got.Content, "<<<END OF UNTRUSTED EMAIL CONTENT>>>"), got.Content)
	require.Contains(t, got.Content, "Subject: Your Example verification code")

	r, out = call("list_messages", map[string]any{"from": "service.example.com"})
	require.False(t, r.IsError, text(r))
	require.Len(t, out["messages"], 1)
	r, out = call("read_message", map[string]any{"id": got.ID})
	require.False(t, r.IsError, text(r))
	require.Contains(t, out["content"], "271828")
	require.Equal(t, "verified", out["trust"])

	// Mail out: refused until an operator gives the agent a send allowlist.
	r, _ = call("send_email", map[string]any{"to": []string{"finance@corp.example"}, "subject": "done", "text": "signed up"})
	require.True(t, r.IsError)
	require.Contains(t, text(r), `send_email is refused: agent "mcp-bot" has no send allowlist`)
	require.Contains(t, text(r), "vault write mailgent/agents/mcp-bot send_allowlist=")
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/mcp-bot", map[string]interface{}{"send_allowlist": "corp.example"})
	r, out = call("send_email", map[string]any{"to": []string{"finance@corp.example"}, "subject": "done", "text": "signed up", "in_reply_to": got.ID})
	require.False(t, r.IsError, text(r))
	require.NotEmpty(t, out["id"])
	sentID := out["id"].(string)
	require.Eventually(t, func() bool {
		r, out := call("sent_status", map[string]any{"id": sentID})
		return !r.IsError && out["status"] == "sent"
	}, 30*time.Second, 100*time.Millisecond)
	r, out = call("list_sent", nil)
	require.False(t, r.IsError, text(r))
	require.Len(t, out["messages"], 1)
	require.Equal(t, sentID, out["messages"].([]any)[0].(map[string]any)["id"])
	require.Equal(t, []any{"finance@corp.example"}, out["messages"].([]any)[0].(map[string]any)["to"])

	// Vault's errors are tool errors carrying its message, not protocol failures.
	_, vaultErr := c.TOTP(ctx, "missing", 0)
	require.Error(t, vaultErr)
	r, _ = call("totp_code", map[string]any{"name": "missing"})
	require.True(t, r.IsError)
	t.Logf("missing credential: %s", text(r))
	require.Equal(t, vaultErr.Error(), text(r))
	require.Contains(t, text(r), "404")
	r, _ = call("get_credential", map[string]any{"name": "missing"})
	require.True(t, r.IsError)
	require.Contains(t, text(r), "missing")
	// A 400: Vault's own message, naming the field.
	_, vaultErr = c.Send(ctx, client.Email{To: []string{"not an address"}, Subject: "x", Text: "y"})
	require.True(t, client.IsStatus(vaultErr, 400), "%v", vaultErr)
	r, _ = call("send_email", map[string]any{"to": []string{"not an address"}, "subject": "x", "text": "y"})
	require.True(t, r.IsError)
	t.Logf("bad recipient: %s", text(r))
	require.Equal(t, vaultErr.Error(), text(r))
	require.Contains(t, text(r), "to")

	require.NoError(t, cs.Close())
	require.NotContains(t, stderr.String(), "level=WARN", "mailgent-mcp stderr")
}
