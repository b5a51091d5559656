package integration

import (
	"context"
	"encoding/base32"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/internal/harness"
	"github.com/mailgent/mailgent/internal/rfc6238"
)

// qrCorpus is a file of the plugin's QR corpus (plugin/testdata/qr).
func qrCorpus(t *testing.T, name string) string {
	return filepath.Join(harness.RepoRoot(t), "plugin", "testdata", "qr", name)
}

// codeStep is the step a code belongs to, from its valid_until.
func codeStep(t *testing.T, c *client.Code) int64 {
	t.Helper()
	until, err := time.Parse(time.RFC3339, c.ValidUntil)
	require.NoError(t, err)
	return until.Unix()/int64(c.Period) - 1
}

// The credential toolkit through the Go client, as an onboarded agent on
// the real stack: TOTP enrolled from a photographed QR code, fresh codes
// across a plugin reload, recovery codes handed out once each, and a
// thread formed by a reply to mail the agent sent. No seed or code in
// Vault's audit log.
func TestToolkitOnTheRealStack(t *testing.T) {
	ctx := context.Background()
	s := startInbound(t)
	_, c := s.agentClient(ctx, "kit-bot")

	t.Run("totp_qr", func(t *testing.T) {
		v, err := c.EnrollTOTPFromQRFile(ctx, "aws", qrCorpus(t, "photo-rotated.jpg"), nil)
		require.NoError(t, err)
		require.Equal(t, 1, v)
		cred, err := c.GetCredential(ctx, "aws", 0)
		require.NoError(t, err)
		require.True(t, cred.TOTP.Enabled)
		require.Equal(t, "AWS", cred.TOTP.Issuer)
		code, err := c.TOTP(ctx, "aws", 0)
		require.NoError(t, err)
		seed := []byte(strings.Repeat("e", 20)) // what the corpus's photo holds
		require.Equal(t, rfc6238.Code(seed, "SHA1", 6, 30, time.Unix(codeStep(t, code)*30, 0)), code.Code)

		img, err := os.ReadFile(qrCorpus(t, "truncated.png"))
		require.NoError(t, err)
		_, err = c.StoreCredential(ctx, "aws", client.Credential{TOTPQR: img}, nil)
		require.True(t, client.IsStatus(err, http.StatusBadRequest), "%v", err)
		require.Contains(t, err.Error(), "totp_qr: the PNG image is truncated or corrupt")
		cred, err = c.GetCredential(ctx, "aws", 0)
		require.NoError(t, err)
		require.Equal(t, 1, cred.CurrentVersion, "a bad image stores nothing")
	})

	t.Run("fresh across a plugin reload", func(t *testing.T) {
		seed := []byte("12345678901234567890")
		s.rec.must(s.Vault.Token, "POST", "mailgent/agents/kit-bot/creds/fast", map[string]interface{}{
			"totp_secret": base32.StdEncoding.EncodeToString(seed), "totp_period": 2,
		})
		check := func(code *client.Code) int64 {
			step := codeStep(t, code)
			require.Equal(t, rfc6238.Code(seed, "SHA1", 6, 2, time.Unix(step*2, 0)), code.Code)
			return step
		}
		plain, err := c.TOTP(ctx, "fast", 0)
		require.NoError(t, err)
		last := check(plain)
		for i := range 2 {
			fresh, err := c.FreshTOTP(ctx, "fast", 0)
			require.NoError(t, err)
			step := check(fresh)
			require.Greater(t, step, last, "fresh call %d", i)
			last = step
		}
		_, err = s.Vault.Client.Sys().ReloadPlugin(&api.ReloadPluginInput{Plugin: "vault-plugin-mailgent"})
		require.NoError(t, err)
		var fresh *client.Code
		require.Eventually(t, func() bool {
			fresh, err = c.FreshTOTP(ctx, "fast", 0)
			return err == nil
		}, 30*time.Second, 100*time.Millisecond, "the mount after the reload: %v", err)
		require.Greater(t, check(fresh), last, "the step handed out before the reload is not handed out again")
	})

	t.Run("backup codes", func(t *testing.T) {
		codes := []string{"8841-2290", "1175-6603", "5092-7718"}
		_, err := c.StoreCredential(ctx, "aws", client.Credential{BackupCodes: codes}, nil)
		require.NoError(t, err)
		cred, err := c.GetCredential(ctx, "aws", 0)
		require.NoError(t, err)
		require.Equal(t, 3, cred.BackupCodesRemaining)
		require.True(t, cred.TOTP.Enabled, "a merge keeps the seed")
		for i, want := range codes {
			bc, err := c.BackupCode(ctx, "aws")
			require.NoError(t, err)
			require.Equal(t, want, bc.Code)
			require.Equal(t, 2-i, bc.Remaining)
		}
		_, err = c.BackupCode(ctx, "aws")
		require.True(t, client.IsStatus(err, http.StatusConflict), "%v", err)
		events, err := c.Audit(ctx, "cred.backup_code", 10)
		require.NoError(t, err)
		require.Len(t, events, 4)
		audit, err := os.ReadFile(s.Vault.AuditLog)
		require.NoError(t, err)
		for _, code := range codes {
			require.NotContains(t, string(audit), code, "Vault's audit log holds a backup code in clear")
		}
		require.NotContains(t, string(audit), base32.StdEncoding.EncodeToString([]byte(strings.Repeat("e", 20)))[:16])
	})

	t.Run("a reply to sent mail forms a thread", func(t *testing.T) {
		to := "kit-bot@" + s.Domain
		sent, err := c.Send(ctx, client.Email{To: []string{"finance@corp.example"}, Subject: "Budget 2027", Text: "Draft attached soon."})
		require.NoError(t, err)
		s.waitSent("kit-bot", sent.ID, "sent")
		reply := strings.ReplaceAll(`From: Finance <finance@corp.example>
To: `+to+`
Subject: RE: Budget 2027
Message-ID: <budget-reply@corp.example>
In-Reply-To: <`+sent.MessageID+`>
References: <`+sent.MessageID+`>
Content-Type: text/plain

Thanks, waiting for it.
`, "\n", "\r\n")
		require.NoError(t, s.send("finance@corp.example", to, []byte(reply)))
		got, err := c.WaitForMessage(ctx, client.WaitOptions{Subject: "Budget 2027", Timeout: 20 * time.Second})
		require.NoError(t, err)

		threads, next, err := c.Threads(ctx, 10, "")
		require.NoError(t, err)
		require.Empty(t, next)
		var th *client.Thread
		for i := range threads {
			if threads[i].Subject == "Budget 2027" {
				th = &threads[i]
			}
		}
		require.NotNil(t, th, "threads: %+v", threads)
		require.Equal(t, 2, th.MessageCount)
		require.Equal(t, []string{sent.ID}, th.SentIDs)
		require.Equal(t, []string{got.ID}, th.InboxIDs)
		require.Equal(t, []string{"finance@corp.example", to}, th.Participants)
		one, err := c.Thread(ctx, th.ID)
		require.NoError(t, err)
		require.Equal(t, "sent", one.Messages[0].Kind)
		require.Equal(t, "inbox", one.Messages[1].Kind)
		require.Equal(t, "RE: Budget 2027", one.Messages[1].Subject)
		require.Equal(t, "finance@corp.example", one.Messages[1].From)
	})
}
