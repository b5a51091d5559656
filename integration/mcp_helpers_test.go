package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/onboard"
)

// mcpAgent is an MCP client session, the MCP SDK's own client, on a
// mailgent-mcp started over stdio with an agent's AppRole. It keeps every
// text the tools answered, so a test can prove what never came back.
type mcpAgent struct {
	t      *testing.T
	ctx    context.Context
	cs     *mcp.ClientSession
	stderr *strings.Builder
	said   *[]toolAnswer // shared by the views on subtests
}

// on is a view of the session that fails subtest t.
func (a *mcpAgent) on(t *testing.T) *mcpAgent {
	b := *a
	b.t = t
	return &b
}

// toolAnswer is what one tool call answered, as the model reads it.
type toolAnswer struct{ tool, text string }

func startMCPAgent(ctx context.Context, t *testing.T, s *inboundStack, agent string, res *onboard.Result) *mcpAgent {
	t.Helper()
	cmd := exec.Command(harness.Own(t, "mailgent-mcp"))
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Vault.Addr, "VAULT_TOKEN=", "MAILGENT_AGENT="+agent,
		"MAILGENT_ROLE_ID="+res.RoleID, "MAILGENT_WRAPPED_SECRET_ID="+res.WrappingToken, "MAILGENT_SECRET_ID=")
	a := &mcpAgent{t: t, ctx: ctx, stderr: &strings.Builder{}, said: &[]toolAnswer{}}
	cmd.Stderr = a.stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcp-test", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	require.NoError(t, err, "mailgent-mcp stderr: %s", a.stderr)
	a.cs = cs
	t.Cleanup(func() { _ = cs.Close() })
	return a
}

// call calls a tool; a tool error (Vault's or the server's) is not a
// protocol error, and comes back as isErr with its text.
func (a *mcpAgent) call(name string, args map[string]any) (out map[string]any, text string, isErr bool) {
	a.t.Helper()
	r, err := a.cs.CallTool(a.ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(a.t, err, name)
	text = toolText(r)
	*a.said = append(*a.said, toolAnswer{name, text})
	if !r.IsError {
		b, err := json.Marshal(r.StructuredContent)
		require.NoError(a.t, err)
		require.NoError(a.t, json.Unmarshal(b, &out))
	}
	return out, text, r.IsError
}

// must calls a tool that has to succeed.
func (a *mcpAgent) must(name string, args map[string]any) map[string]any {
	a.t.Helper()
	out, text, isErr := a.call(name, args)
	require.False(a.t, isErr, "%s: %s", name, text)
	return out
}

// refused calls a tool that has to fail, and returns its error text.
func (a *mcpAgent) refused(name string, args map[string]any) string {
	a.t.Helper()
	_, text, isErr := a.call(name, args)
	require.True(a.t, isErr, "%s should have failed: %s", name, text)
	return text
}

// neverSaid checks that no tool answer so far held any of secrets, but
// those of the tools in except.
func (a *mcpAgent) neverSaid(except []string, secrets ...string) {
	a.t.Helper()
	for _, ans := range *a.said {
		if slices.Contains(except, ans.tool) {
			continue
		}
		for _, s := range secrets {
			require.NotContains(a.t, ans.text, s, "%s answered it", ans.tool)
		}
	}
}

func toolText(r *mcp.CallToolResult) string {
	var sb strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String()
}

// syncBuffer is a process's output, read while the process still writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
