package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/examples/signup/service"
)

// TestMCPSignupStory is the product's story told by an LLM agent's hands:
// the MCP SDK's own client drives mailgent-mcp (stdio, AppRole) through the
// whole sign-up at the demo service — store the password, sign up, wait for
// the code, verify, enrol TOTP from the QR image the page shows, log in with
// a fresh code, report the login, mail a summary — using only MCP tools for
// everything Mailgent does. The test plays the browser.
func TestMCPSignupStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startInbound(t)
	res := s.onboardAgent(ctx, "mcp-signup")
	web := newBrowser(t, startDemoService(t, s))
	a := startMCPAgent(ctx, t, s, "mcp-signup", res)
	const cred = "democloud"

	// 1. Who it is, and a password stored before it is used anywhere.
	address := a.must("get_identity", nil)["address"].(string)
	require.Equal(t, res.Address, address)
	password := randomPassword(t)
	stored := a.must("store_credential", map[string]any{"name": cred, "username": address, "password": password, "url": web.base, "cas": 0})
	require.EqualValues(t, 1, stored["version"])

	// 2. Sign up; the code from its own inbox, from a verified sender only.
	web.post("/signup", url.Values{"email": {address}, "password": {password}})
	mail := a.must("wait_for_code", map[string]any{"from": demoDomain, "timeout_seconds": 60})
	require.Equal(t, "verified", mail["trust"])
	require.Equal(t, demoDomain, mail["sender_domain"])
	require.Regexp(t, `^\d{6}$`, mail["code"])
	require.True(t, strings.HasPrefix(mail["content"].(string), "<<<UNTRUSTED EMAIL CONTENT"))
	web.post("/verify", url.Values{"email": {address}, "code": {mail["code"].(string)}})

	// 3. TOTP from the QR image the enrolment page shows.
	page := web.get("/totp/enroll")
	require.Contains(t, page, `<img id="totp-qr" src="/totp/qr.png"`)
	seed := regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(html.UnescapeString(page))
	require.NotNil(t, seed, "the page shows the key for manual entry too")
	qr := filepath.Join(t.TempDir(), "qr.png")
	require.NoError(t, os.WriteFile(qr, web.getBytes("/totp/qr.png"), 0o600))
	enrol := a.must("enroll_totp", map[string]any{"name": cred, "qr_image_path": qr, "min_remaining": 3})
	require.EqualValues(t, 2, enrol["version"], "the seed joins the stored password")
	web.post("/totp/enroll", url.Values{"code": {enrol["code"].(string)}})

	// 4. Log in with the stored password and a code the site has not seen.
	fresh := a.must("totp_code", map[string]any{"name": cred, "fresh": true})
	require.Greater(t, parseTime(t, fresh["valid_until"]), parseTime(t, enrol["valid_until"]), "a fresh code is of a later step")
	login := a.must("get_credential", map[string]any{"name": cred})
	require.Equal(t, password, login["password"])
	require.Equal(t, true, login["totp"].(map[string]any)["enabled"])
	web.reset()
	web.post("/login", url.Values{"email": {login["username"].(string)}, "password": {login["password"].(string)}, "code": {fresh["code"].(string)}})
	require.Contains(t, web.get("/dashboard"), "Welcome "+address)
	require.Equal(t, true, a.must("report_login", map[string]any{"credential": cred, "success": true, "detail": "dashboard reached"})["recorded"])

	list := a.must("list_credentials", nil)["credentials"].([]any)
	require.Len(t, list, 1)
	require.Equal(t, map[string]any{"name": cred, "url": web.base, "current_version": float64(2), "totp_enabled": true,
		"backup_codes_remaining": float64(0), "updated_at": list[0].(map[string]any)["updated_at"]}, list[0])

	// 5. A summary by mail: refused until an operator allows recipients.
	summary := map[string]any{"to": []string{"owner@corp.example"}, "subject": "Signed up", "text": "Two-factor on; dashboard reached."}
	require.Contains(t, a.refused("send_email", summary), `send_email is refused: agent "mcp-signup" has no send allowlist`)
	require.Empty(t, a.must("list_sent", nil)["messages"], "a refused send sends nothing")
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/mcp-signup", map[string]interface{}{"send_allowlist": "corp.example"})
	require.Contains(t, a.refused("send_email", map[string]any{"to": []string{"x@elsewhere.example"}, "subject": "s", "text": "t"}),
		"not in agent \"mcp-signup\"'s send allowlist")
	sent := a.must("send_email", summary)
	require.Eventually(t, func() bool {
		return a.must("sent_status", map[string]any{"id": sent["id"]})["status"] == "sent"
	}, 30*time.Second, 200*time.Millisecond)
	listed := a.must("list_sent", map[string]any{"status": "sent"})["messages"].([]any)
	require.Len(t, listed, 1)
	require.Equal(t, sent["id"], listed[0].(map[string]any)["id"])
	require.Equal(t, "<<<UNTRUSTED: Signed up>>>", listed[0].(map[string]any)["subject"])

	// The seed never came back, and the password only from get_credential.
	a.neverSaid(nil, seed[1], strings.ToLower(seed[1]))
	a.neverSaid([]string{"get_credential"}, password)
	// The operator's audit trail saw each step as the agent.
	events, err := client.New(s.Vault.Client, "mailgent", "mcp-signup").Audit(ctx, "", 200)
	require.NoError(t, err)
	var ops []string
	for _, e := range events {
		ops = append(ops, e.Operation)
	}
	for _, op := range []string{"cred.write", "message.wait", "totp.generate", "cred.read", "login.report", "message.send"} {
		require.Contains(t, ops, op)
	}
}

// startDemoService serves the sign-up demo service on loopback, mailing
// through the stack's relay as its verified test domain.
func startDemoService(t *testing.T, s *inboundStack) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + l.Addr().String()
	srv := &http.Server{Handler: service.New("DemoCloud", base, s.Relay.Addr, "no-reply@"+demoDomain).Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return base
}

// browser is the agent's web client: a cookie jar on the service.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	b := &browser{t: t, base: base}
	b.reset()
	return b
}

// reset forgets the session, as a new login would.
func (b *browser) reset() {
	jar, _ := cookiejar.New(nil)
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func (b *browser) do(resp *http.Response, err error) []byte {
	b.t.Helper()
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	require.Equal(b.t, http.StatusOK, resp.StatusCode, "%s: %s", resp.Request.URL.Path, body)
	return body
}

func (b *browser) post(path string, form url.Values) string {
	b.t.Helper()
	return string(b.do(b.c.PostForm(b.base+path, form)))
}

func (b *browser) get(path string) string {
	b.t.Helper()
	return string(b.getBytes(path))
}

func (b *browser) getBytes(path string) []byte {
	b.t.Helper()
	return b.do(b.c.Get(b.base + path))
}

func randomPassword(t *testing.T) string {
	p := make([]byte, 18)
	_, err := rand.Read(p)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(p)
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, v.(string))
	require.NoError(t, err)
	return ts
}
