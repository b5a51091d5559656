package mcpserver

import (
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testToken = "0123456789abcdef0123456789abcdef-test"

// The guard's answers, request by request: only a loopback or configured
// Host, a same-origin or loopback Origin and the right token get through.
func TestGuardRefusesWhatIsNotTheAgent(t *testing.T) {
	reached := false
	g := guard{token: []byte(testToken), hosts: []string{"mcp.corp.example"},
		next: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached = true })}
	for _, tc := range []struct {
		name, host, origin, auth string
		want                     int
		says                     string
	}{
		{"loopback with token", "127.0.0.1:8931", "", "Bearer " + testToken, 200, ""},
		{"localhost, same origin", "localhost:8931", "http://localhost:8931", "Bearer " + testToken, 200, ""},
		{"IPv6 loopback, loopback origin", "[::1]:8931", "http://127.0.0.1:3000", "bearer " + testToken, 200, ""},
		{"configured host", "MCP.corp.example:8931", "https://mcp.corp.example:8931", "Bearer " + testToken, 200, ""},
		{"no token", "127.0.0.1:8931", "", "", 401, "bearer token"},
		{"wrong token", "127.0.0.1:8931", "", "Bearer " + strings.Repeat("x", 40), 401, "wrong bearer token"},
		{"token without scheme", "127.0.0.1:8931", "", testToken, 401, "Authorization: Bearer"},
		{"basic auth", "127.0.0.1:8931", "", "Basic " + testToken, 401, "bearer token"},
		{"foreign origin", "127.0.0.1:8931", "https://evil.example", "Bearer " + testToken, 403, "Origin"},
		{"null origin", "127.0.0.1:8931", "null", "Bearer " + testToken, 403, "Origin"},
		{"look-alike origin", "127.0.0.1:8931", "http://localhost.evil.example", "Bearer " + testToken, 403, "Origin"},
		{"rebound host", "evil.example:8931", "", "Bearer " + testToken, 403, "Host"},
		{"rebound host, its own origin", "evil.example:8931", "http://evil.example:8931", "Bearer " + testToken, 403, "Host"},
		{"empty host", "", "", "Bearer " + testToken, 403, "Host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			require.Equal(t, tc.want, w.Code, w.Body.String())
			require.Equal(t, tc.want == 200, reached)
			require.Contains(t, w.Body.String(), tc.says)
			require.NotContains(t, w.Body.String(), testToken, "an answer never echoes the token")
			if tc.want == 401 {
				require.Equal(t, `Bearer realm="mailgent-mcp"`, w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestCheckListenNeedsTLSBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tls  bool
		ok   bool
	}{
		{"127.0.0.1:8931", false, true},
		{"[::1]:8931", false, true},
		{"localhost:8931", false, true},
		{"0.0.0.0:8931", false, false},
		{":8931", false, false},
		{"192.0.2.10:8931", false, false},
		{"mcp.corp.example:8931", false, false},
		{"0.0.0.0:8931", true, true},
		{"no-port", true, false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := CheckListen(tc.addr, tc.tls)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), "-http")
		})
	}
}

func TestAllowedHostsAreTheListenHostAndTheCertificatesNames(t *testing.T) {
	cert := &x509.Certificate{DNSNames: []string{"mcp.corp.example"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.10")}}
	require.Equal(t, []string{"mcp.corp.example", "192.0.2.10"}, AllowedHosts("0.0.0.0:8931", cert))
	require.Equal(t, []string{"mcp.corp.example", "192.0.2.10"}, AllowedHosts(":8931", cert))
	require.Equal(t, []string{"192.0.2.10", "mcp.corp.example", "192.0.2.10"}, AllowedHosts("192.0.2.10:8931", cert))
	require.Equal(t, []string{"127.0.0.1"}, AllowedHosts("127.0.0.1:8931", nil))
}

func TestHTTPTokenComesFromFileEnvOrIsGenerated(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good, short, spaced := write("good", testToken+"\n"), write("short", "abc\n"), write("spaced", "0123456789abcdef 0123456789abcdef")
	for _, tc := range []struct {
		name, file, env string
		want            string
		generated       bool
		err             string
	}{
		{name: "file", file: good, env: "ignored-when-a-file-is-given-0123456789", want: testToken},
		{name: "env", env: testToken, want: testToken},
		{name: "generated", generated: true},
		{name: "short file", file: short, err: "-http-token-file " + short + ": the token must have at least 32"},
		{name: "short env", env: "abc", err: "MAILGENT_MCP_TOKEN: the token must have at least 32"},
		{name: "empty file", file: write("empty", "\n"), err: "at least 32"},
		{name: "missing file", file: filepath.Join(dir, "nope"), err: "-http-token-file"},
		{name: "white space", file: spaced, err: "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, generated, err := HTTPToken(tc.file, tc.env)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "0123456789abcdef", "an error never echoes a token")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.generated, generated)
			if tc.generated {
				require.Len(t, tok, 43)
				again, _, _ := HTTPToken("", "")
				require.NotEqual(t, tok, again)
				return
			}
			require.Equal(t, tc.want, tok)
		})
	}
}
