package integration

import (
	"context"
	"encoding/base32"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/rfc6238"
)

func TestGoClientAsAnAgent(t *testing.T) {
	ctx := context.Background()
	s := startInbound(t)
	_, c := s.agentClient(ctx, "client-bot")

	seed := []byte("12345678901234567890")
	v, err := c.StoreCredential(ctx, "site", client.Credential{Username: "client-bot", Password: "pw-123456", TOTPSecret: base32.StdEncoding.EncodeToString(seed)}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, v)
	cred, err := c.GetCredential(ctx, "site", 0)
	require.NoError(t, err)
	require.Equal(t, "pw-123456", cred.Password)
	require.True(t, cred.TOTP.Enabled)
	names, err := c.ListCredentials(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"site"}, names)

	code, err := c.TOTP(ctx, "site", 0)
	require.NoError(t, err)
	until, err := time.Parse(time.RFC3339, code.ValidUntil)
	require.NoError(t, err)
	require.Equal(t, rfc6238.Code(seed, "SHA1", 6, 30, until.Add(-30*time.Second)), code.Code)
	require.NoError(t, c.ReportLogin(ctx, "site", true, "dashboard reached"))

	// Mail in: wait returns the code.
	to := "client-bot@" + s.Domain
	require.NoError(t, s.send("no-reply@service.example.com", to, verificationMail(to, "314159")))
	msg, err := c.WaitForMessage(ctx, client.WaitOptions{From: "service.example.com", Timeout: 20 * time.Second})
	require.NoError(t, err)
	require.Equal(t, "314159", msg.Codes[0].Code)
	_, err = c.WaitForMessage(ctx, client.WaitOptions{Timeout: time.Second})
	require.True(t, client.IsStatus(err, http.StatusRequestTimeout), "%v", err)

	// Mail out: delivered to Mailpit.
	sent, err := c.Send(ctx, client.Email{To: []string{"finance@corp.example"}, Subject: "done", Text: "signed up", InReplyTo: msg.ID,
		Attachments: []client.Attachment{{Filename: "n.txt", ContentType: "text/plain", Content: []byte("note")}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := c.SentMessage(ctx, sent.ID)
		return err == nil && st.Status == "sent"
	}, 30*time.Second, 100*time.Millisecond)

	events, err := c.Audit(ctx, "", 100)
	require.NoError(t, err)
	ops := map[string]bool{}
	for _, e := range events {
		ops[e.Operation] = true
	}
	for _, op := range []string{"cred.write", "cred.read", "totp.generate", "login.report", "message.wait", "message.send"} {
		require.True(t, ops[op], "audit has %s", op)
	}

	// Errors carry Vault's status and message.
	other := client.New(c.Vault(), "mailgent", "someone-else")
	_, err = other.TOTP(ctx, "site", 0)
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	_, err = c.GetCredential(ctx, "missing", 0)
	require.True(t, client.IsStatus(err, http.StatusNotFound), "%v", err)
	require.Contains(t, err.Error(), `has no credential "missing"`, "the plugin's own message")
}
