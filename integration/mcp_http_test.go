package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/devcerts"
	"github.com/mailgent/mailgent/internal/harness"
)

// TestMCPHTTPIsGuarded runs mailgent-mcp -http as an operator would and
// knocks on it: without the bearer token 401, with a foreign Origin or a
// rebound Host 403, a non-loopback bind without TLS refused at start;
// with the token (given by env, generated and printed once, or by file
// over TLS) the MCP SDK's client works.
func TestMCPHTTPIsGuarded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startInbound(t, "http-bot")
	env := append(os.Environ(), "VAULT_ADDR="+s.Vault.Addr, "VAULT_TOKEN="+s.Vault.Token, "MAILGENT_ROLE_ID=", "MAILGENT_MCP_TOKEN=")
	token := "test-token-" + strings.Repeat("7", 32)

	t.Run("token from env", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		startMCPHTTP(t, append(env, "MAILGENT_MCP_TOKEN="+token), "-agent", "http-bot", "-http", addr)
		for _, tc := range []struct {
			name, host, origin, auth string
			want                     int
		}{
			{"no token", "", "", "", http.StatusUnauthorized},
			{"wrong token", "", "", "Bearer " + strings.Repeat("x", 43), http.StatusUnauthorized},
			{"foreign Origin", "", "https://evil.example", "Bearer " + token, http.StatusForbidden},
			{"rebound Host", "evil.example:80", "", "Bearer " + token, http.StatusForbidden},
			{"rebound Host, no token", "evil.example:80", "", "", http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := rawMCPPost(t, http.DefaultClient, "http://"+addr, tc.host, tc.origin, tc.auth)
				require.Equal(t, tc.want, status, body)
				require.NotContains(t, body, token)
			})
		}
		cs := connectMCPHTTP(ctx, t, "http://"+addr, token, nil)
		out, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_identity"})
		require.NoError(t, err)
		require.False(t, out.IsError, toolText(out))
		require.Contains(t, toolText(out), "http-bot@"+s.Domain)
	})

	t.Run("generated token printed once", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		stderr := startMCPHTTP(t, env, "-agent", "http-bot", "-http", addr)
		m := regexp.MustCompile(`shown only now\): ([A-Za-z0-9_-]{43})\n`).FindStringSubmatch(stderr.String())
		require.NotNil(t, m, "no token on stderr: %s", stderr)
		require.Equal(t, 1, strings.Count(stderr.String(), m[1]))
		status, _ := rawMCPPost(t, http.DefaultClient, "http://"+addr, "", "", "")
		require.Equal(t, http.StatusUnauthorized, status)
		cs := connectMCPHTTP(ctx, t, "http://"+addr, m[1], nil)
		_, err := cs.ListTools(ctx, nil)
		require.NoError(t, err)
	})

	t.Run("non-loopback bind needs TLS", func(t *testing.T) {
		for _, addr := range []string{fmt.Sprintf("0.0.0.0:%d", harness.FreePort(t)), fmt.Sprintf(":%d", harness.FreePort(t))} {
			cmd := exec.CommandContext(ctx, harness.Own(t, "mailgent-mcp"), "-agent", "http-bot", "-http", addr)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "started on %s without TLS: %s", addr, out)
			require.Equal(t, 2, cmd.ProcessState.ExitCode())
			require.Contains(t, string(out), "is not a loopback address: serving beyond this machine needs TLS (-http-tls-cert and -http-tls-key)")
			require.NotContains(t, string(out), "token", "refused before any token was made")
		}
	})

	t.Run("TLS with a token file", func(t *testing.T) {
		dir := t.TempDir()
		certs, err := devcerts.Generate(dir, []string{"127.0.0.1", "localhost"}, time.Hour)
		require.NoError(t, err)
		tokenFile := filepath.Join(dir, "token")
		require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
		port := harness.FreePort(t)
		stderr := startMCPHTTP(t, env, "-agent", "http-bot", "-http", fmt.Sprintf("0.0.0.0:%d", port),
			"-http-tls-cert", certs.Cert, "-http-tls-key", certs.Key, "-http-token-file", tokenFile)
		require.NotContains(t, stderr.String(), token)
		pem, err := os.ReadFile(certs.CA)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(pem))
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		endpoint := fmt.Sprintf("https://127.0.0.1:%d", port)
		status, body := rawMCPPost(t, hc, endpoint, "", "", "")
		require.Equal(t, http.StatusUnauthorized, status, body)
		status, body = rawMCPPost(t, hc, endpoint, "", "https://evil.example", "Bearer "+token)
		require.Equal(t, http.StatusForbidden, status, body)
		cs := connectMCPHTTP(ctx, t, endpoint, token, hc.Transport)
		_, err = cs.ListTools(ctx, nil)
		require.NoError(t, err)
	})
}

// startMCPHTTP starts mailgent-mcp with args, waits until it listens and
// returns its stderr so far.
func startMCPHTTP(t *testing.T, env []string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(harness.Own(t, "mailgent-mcp"), args...)
	cmd.Env = env
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "serving MCP over streamable HTTP") },
		15*time.Second, 20*time.Millisecond, "mailgent-mcp -http never served: %s", stderr)
	addr := args[len(args)-1]
	for i, a := range args {
		if a == "-http" {
			addr = args[i+1]
		}
	}
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, 15*time.Second, 20*time.Millisecond, "mailgent-mcp -http never listened: %s", stderr)
	return stderr
}

// rawMCPPost sends an MCP initialize by hand, with the given Host, Origin
// and Authorization ("" leaves them as Go sets them), and returns the
// status and body.
func rawMCPPost(t *testing.T, hc *http.Client, endpoint, host, origin, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// connectMCPHTTP connects the MCP SDK's client with the bearer token.
func connectMCPHTTP(ctx context.Context, t *testing.T, endpoint, token string, base http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	hc := &http.Client{Transport: bearer{token: token, next: base}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcp-test-http", Version: "v0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// bearer adds the token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
