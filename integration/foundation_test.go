// Package integration runs Mailgent against the real servers — vault,
// nats-server, mailgent-relay, mailpit — started by internal/harness.
package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
	"github.com/mailgent/mailgent/internal/harness"
)

func TestPluginMountsThroughCatalogAndServesConfig(t *testing.T) {
	v := harness.StartVault(t)

	// The catalog holds the plugin under the SHA-256 of the binary.
	info, err := v.Client.Sys().GetPluginWithContext(context.Background(), &api.GetPluginInput{
		Name: harness.PluginName, Type: api.PluginTypeSecrets,
	})
	require.NoError(t, err)
	require.Equal(t, v.PluginSHA, info.SHA256)

	v.MountMailgent(t, "mailgent", nil)
	mounts, err := v.Client.Sys().ListMounts()
	require.NoError(t, err)
	require.Equal(t, harness.PluginName, mounts["mailgent/"].Type)
	require.Equal(t, v.PluginSHA, mounts["mailgent/"].RunningSha256, "Vault runs the binary it checked")

	// Writes and reads go over Vault's HTTP API, as any client's would.
	status, body := vaultHTTP(t, v, http.MethodPost, "mailgent/config", `{"domain":"agents.example.com","nats_url":"nats://127.0.0.1:1","nats_username":"u","nats_password":"hunter2-hunter2","max_inbox_messages":25}`)
	require.Equal(t, http.StatusNoContent, status, body)

	status, body = vaultHTTP(t, v, http.MethodGet, "mailgent/config", "")
	require.Equal(t, http.StatusOK, status, body)
	var read struct {
		Data map[string]interface{} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &read))
	require.Equal(t, "agents.example.com", read.Data["domain"])
	require.Equal(t, float64(25), read.Data["max_inbox_messages"])
	require.Equal(t, true, read.Data["nats_password_set"])
	require.NotContains(t, body, "hunter2-hunter2", "the NATS password is write-only")

	// Bad input: 400 that names the field, and nothing changes.
	for _, tc := range []struct{ body, field string }{
		{`{"domian":"x.example.com"}`, "domian"},
		{`{"domain":"not a domain"}`, "domain"},
		{`{"nats_url":"http://127.0.0.1:4222"}`, "nats_url"},
		{`{"max_inbox_messages":-3}`, "max_inbox_messages"},
		{`{"send_rate_limit":"many"}`, "send_rate_limit"},
		{`{"message_retention":"-1h"}`, "message_retention"},
	} {
		status, errBody := vaultHTTP(t, v, http.MethodPost, "mailgent/config", tc.body)
		require.Equal(t, http.StatusBadRequest, status, "%s → %s", tc.body, errBody)
		require.Contains(t, errBody, tc.field, "the error names the field")
	}
	_, after := vaultHTTP(t, v, http.MethodGet, "mailgent/config", "")
	var readAfter struct {
		Data map[string]interface{} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(after), &readAfter))
	delete(read.Data, "bus_status")
	delete(read.Data, "bus_error")
	delete(readAfter.Data, "bus_status")
	delete(readAfter.Data, "bus_error")
	require.Equal(t, read.Data, readAfter.Data, "config unchanged by refused writes")
}

func TestPluginServesWithNATSDownAndConnectsWhenConfigured(t *testing.T) {
	n := harness.StartNATS(t)
	v := harness.StartVault(t)

	// Invariant 8: the mount comes up and answers with nothing listening.
	dead := fmt.Sprintf("nats://127.0.0.1:%d", harness.FreePort(t))
	v.MountMailgent(t, "mailgent", map[string]interface{}{"domain": "agents.example.com", "nats_url": dead})
	cfg, err := v.Client.Logical().Read("mailgent/config")
	require.NoError(t, err)
	require.Equal(t, "connecting", cfg.Data["bus_status"])
	// …and serves identities, credentials and TOTP codes meanwhile.
	_, err = v.Client.Logical().Write("mailgent/orgs/acme", map[string]interface{}{})
	require.NoError(t, err)
	_, err = v.Client.Logical().Write("mailgent/agents/bot", map[string]interface{}{"org": "acme"})
	require.NoError(t, err)
	_, err = v.Client.Logical().Write("mailgent/agents/bot/creds/site", map[string]interface{}{"password": "pw", "totp_secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"})
	require.NoError(t, err)
	code, err := v.Client.Logical().Read("mailgent/agents/bot/creds/site/totp")
	require.NoError(t, err)
	require.Len(t, code.Data["code"], 6)

	// Wrong password: still connecting, with the server's reason.
	_, err = v.Client.Logical().Write("mailgent/config", map[string]interface{}{
		"nats_url": n.URL, "nats_username": n.Username, "nats_password": "wrong-password", "nats_ca_cert": string(n.CACert),
	})
	require.NoError(t, err)
	waitBusStatus(t, v, "connecting", "uthorization")

	// Right credentials: the plugin reaches JetStream and creates its stream.
	_, err = v.Client.Logical().Write("mailgent/config", map[string]interface{}{"nats_password": n.Password})
	require.NoError(t, err)
	waitBusStatus(t, v, "connected", "")

	nc, err := bus.Connect(n.Options("test"))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(context.Background(), bus.InboundStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, jetstream.WorkQueuePolicy, info.Config.Retention)
	require.Equal(t, bus.DuplicateWindow, info.Config.Duplicates)

	// Publishing with a message ID (as a relay: the plugin's user may not
	// publish inbound mail) is deduplicated by the stream.
	rc, err := bus.Connect(n.RelayOptions("test-relay"))
	require.NoError(t, err)
	defer rc.Close()
	rjs, err := jetstream.New(rc)
	require.NoError(t, err)
	ack1, err := rjs.Publish(context.Background(), bus.InboundSubjectPrefix+"probe", []byte("x"), jetstream.WithMsgID("probe-1"))
	require.NoError(t, err)
	ack2, err := rjs.Publish(context.Background(), bus.InboundSubjectPrefix+"probe", []byte("x"), jetstream.WithMsgID("probe-1"))
	require.NoError(t, err)
	require.False(t, ack1.Duplicate)
	require.True(t, ack2.Duplicate)

	// The NATS password appears in no log line of Vault or the plugin.
	require.NotContains(t, v.Log(), n.Password)
	require.NotContains(t, v.Log(), "wrong-password")
}

func waitBusStatus(t *testing.T, v *harness.Vault, want, errContains string) {
	t.Helper()
	var last map[string]interface{}
	require.Eventually(t, func() bool {
		s, err := v.Client.Logical().Read("mailgent/config")
		if err != nil || s == nil {
			return false
		}
		last = s.Data
		if s.Data["bus_status"] != want {
			return false
		}
		return errContains == "" || strings.Contains(fmt.Sprint(s.Data["bus_error"]), errContains)
	}, 30*time.Second, 100*time.Millisecond, "bus_status never became %q (%q): last %v", want, errContains, last)
}

func TestRelayGreetsRefusesAndShutsDown(t *testing.T) {
	n := harness.StartNATS(t)
	r := harness.StartRelay(t, harness.RelayOptions{Domain: "agents.example.com", NATS: n})

	greeting, err := harness.SMTPGreeting(r.Addr)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(greeting, "220 agents.example.com ESMTP"), greeting)

	c, err := smtp.Dial(r.Addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Hello("client.example.org"))
	ok, sizeParam := c.Extension("SIZE")
	require.True(t, ok)
	require.Equal(t, "10485760", sizeParam)
	require.NoError(t, c.Mail("sender@example.org"))
	// Never an open relay.
	requireSMTPCode(t, c.Rcpt("someone@elsewhere.example.net"), 550, "5.7.1")
	requireSMTPCode(t, c.Rcpt("not an address"), 501, "5.5.2")
	// Without the plugin there is no address directory: mail for the
	// domain is deferred (the sender retries), never refused.
	time.Sleep(time.Second)
	requireSMTPCode(t, c.Rcpt("nobody@agents.example.com"), 451, "4.3.0")
	require.NoError(t, c.Quit())

	// The relay changes no stream configuration: the plugin owns it, so
	// with no plugin there is still no stream.
	nc, err := bus.Connect(n.Options("test"))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Stream(context.Background(), bus.InboundStream)
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	require.Contains(t, r.Log(), "the plugin's streams and buckets are not there yet")

	// SIGTERM: graceful exit, status 0, the log says so.
	r.Stop()
	exited, err := r.Exited()
	require.True(t, exited)
	require.NoError(t, err, "exit status after SIGTERM")
	require.Contains(t, r.Log(), "stopped")
	require.NotContains(t, r.Log(), n.Password)
}

func TestRelayVersionAndBadFlags(t *testing.T) {
	bin := harness.Own(t, "mailgent-relay")
	out, err := exec.Command(bin, "-version").CombinedOutput()
	require.NoError(t, err)
	require.Regexp(t, `^mailgent-relay v\d+\.\d+\.\d+`, string(out))

	out, err = exec.Command(bin, "-domain", "agents.example.com", "-key-file", filepath.Join(t.TempDir(), "relay.key"), "-max-recipients", "-1").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "-max-recipients")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 2, exitErr.ExitCode())
}

func requireSMTPCode(t *testing.T, err error, code int, enhanced string) {
	t.Helper()
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, code, te.Code, te.Msg)
	require.True(t, strings.HasPrefix(te.Msg, enhanced+" "), "reply %d %q, want enhanced code %s", te.Code, te.Msg, enhanced)
}

// vaultHTTP sends one raw request to Vault's HTTP API with the root token.
func vaultHTTP(t *testing.T, v *harness.Vault, method, path, body string) (int, string) {
	t.Helper()
	status, raw, err := vaultCall(http.DefaultClient, v.Addr, v.Token, method, path, body)
	require.NoError(t, err)
	return status, string(raw)
}
