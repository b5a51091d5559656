package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/jhillyerd/enmime/v2"
	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/internal/bus"
)

// mailpitMessages returns Mailpit's message IDs, newest first.
func mailpitMessages(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/messages")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	ids := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		ids[i] = m.ID
	}
	return ids
}

func mailpitRaw(t *testing.T, url, id string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/message/" + id + "/raw")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

func (s *inboundStack) sentStatus(agent, id string) map[string]interface{} {
	return s.rec.must(s.Vault.Token, "GET", "mailgent/agents/"+agent+"/sent/"+id, nil)
}

func (s *inboundStack) waitSent(agent, id, status string) map[string]interface{} {
	s.t.Helper()
	var last map[string]interface{}
	require.Eventually(s.t, func() bool {
		last = s.sentStatus(agent, id)
		return last["status"] == status
	}, 60*time.Second, 100*time.Millisecond, "status never became %s: %v", status, last)
	return last
}

func TestOutboundSendArrivesSignedAndThreaded(t *testing.T) {
	s := startInbound(t, "reporter")
	to := "reporter@" + s.Domain

	// A message to answer.
	orig := strings.ReplaceAll(`From: Finance <finance@corp.example>
To: `+to+`
Subject: Q3 numbers?
Message-ID: <q3-question@corp.example>
References: <earlier-thread@corp.example>
Content-Type: text/plain

Can you send the Q3 summary?
`, "\n", "\r\n")
	require.NoError(t, s.send("finance@corp.example", to, []byte(orig)))
	st, d := s.wait("reporter", "timeout=20")
	require.Equal(t, 200, st, "%v", d)
	inboxID := d["id"].(string)

	csv := []byte("region,revenue\nEMEA,1200000\nAPAC,900000\n")
	sent := s.rec.must(s.Vault.Token, "POST", "mailgent/agents/reporter/send", map[string]interface{}{
		"to":          []string{"finance@corp.example"},
		"cc":          []string{"Controller <controller@corp.example>"},
		"bcc":         []string{"audit@corp.example"},
		"text":        "Q3 summary attached. Revenue is up 8%.",
		"html":        "<p>Q3 summary attached. Revenue is up <b>8%</b>.</p>",
		"in_reply_to": inboxID,
		"attachments": []map[string]interface{}{{"filename": "q3.csv", "content_type": "text/csv", "content": base64.StdEncoding.EncodeToString(csv)}},
	})
	require.Equal(t, "queued", sent["status"])
	require.Equal(t, "Re: Q3 numbers?", sent["subject"])
	done := s.waitSent("reporter", sent["id"].(string), "sent")
	require.Contains(t, done["reply"], "250")

	ids := mailpitMessages(t, s.Mailpit.URL)
	require.Len(t, ids, 1)
	raw := mailpitRaw(t, s.Mailpit.URL, ids[0])
	env, err := enmime.ReadEnvelope(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, to, strings.Trim(env.GetHeader("From"), "<>"))
	require.Equal(t, "<q3-question@corp.example>", env.GetHeader("In-Reply-To"))
	require.Equal(t, "<earlier-thread@corp.example> <q3-question@corp.example>", env.GetHeader("References"))
	// The message carries no Bcc header; Mailpit adds one for envelope
	// recipients missing from To/Cc, which shows the Bcc copy was delivered.
	require.Equal(t, "audit@corp.example", strings.Trim(env.GetHeader("Bcc"), "<> "))
	require.Equal(t, "<"+sent["message_id"].(string)+">", env.GetHeader("Message-ID"))
	require.Len(t, env.Attachments, 1)
	require.Equal(t, "q3.csv", env.Attachments[0].FileName)
	require.Equal(t, csv, env.Attachments[0].Content)
	require.Contains(t, env.Text, "Revenue is up 8%")

	// Both DKIM signatures verify against the records config/dkim publishes.
	dk := s.rec.must(s.Vault.Token, "GET", "mailgent/config/dkim", nil)
	records := map[string]string{}
	for _, k := range dk["keys"].([]interface{}) {
		km := k.(map[string]interface{})
		records[km["dns_name"].(string)] = km["dns_txt"].(string)
	}
	require.Len(t, records, 2)
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := records[name]; ok {
				return []string{v}, nil
			}
			return nil, fmt.Errorf("no TXT for %s", name)
		},
	})
	require.NoError(t, err)
	require.Len(t, verifs, 2)
	for _, v := range verifs {
		require.NoError(t, v.Err, "DKIM signature by %s", v.Domain)
		require.Equal(t, s.Domain, v.Domain)
	}

	// The send is on the record.
	ev := s.rec.must(s.Vault.Token, "GET", "mailgent/agents/reporter/audit?operation=message.send", nil)["events"].([]interface{})
	require.Equal(t, "success", ev[0].(map[string]interface{})["outcome"])
}

func outboundQueued(t *testing.T, s *inboundStack) uint64 {
	t.Helper()
	st, err := s.jetStream().Stream(context.Background(), bus.OutboundStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func TestOutboundGuardRails(t *testing.T) {
	s := startInbound(t, "bot")
	good := func() map[string]interface{} {
		return map[string]interface{}{"to": []string{"a@corp.example"}, "subject": "hi", "text": "hello"}
	}
	for _, tc := range []struct {
		name  string
		patch map[string]interface{}
		field string
	}{
		{"from override", map[string]interface{}{"from": "ceo@corp.example"}, "from"},
		{"subject injection", map[string]interface{}{"subject": "hi\r\nBcc: victim@evil.example"}, "subject"},
		{"to injection", map[string]interface{}{"to": []string{"a@corp.example\r\nBcc: v@evil.example"}}, "to"},
		{"bad address", map[string]interface{}{"to": []string{"not-an-address"}}, "to"},
		{"no recipient", map[string]interface{}{"to": []string{}}, "to"},
		{"no body", map[string]interface{}{"text": ""}, "text"},
		{"bad attachment", map[string]interface{}{"attachments": []map[string]interface{}{{"filename": "a\r\nb.txt", "content": "eA=="}}}, "attachments[0].filename"},
		{"bad base64", map[string]interface{}{"attachments": []map[string]interface{}{{"filename": "a.txt", "content": "!!!"}}}, "attachments[0].content"},
		{"huge body", map[string]interface{}{"text": strings.Repeat("x", 600<<10)}, "text"},
		{"bad reply_to", map[string]interface{}{"reply_to": "x\r\ny"}, "reply_to"},
		{"unknown field", map[string]interface{}{"sender": "x"}, "sender"},
	} {
		body := good()
		for k, v := range tc.patch {
			body[k] = v
		}
		status, out := s.rec.call(s.Vault.Token, "POST", "mailgent/agents/bot/send", body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %v", tc.name, out)
		require.Contains(t, fmt.Sprint(out["errors"]), tc.field, tc.name)
	}
	require.Zero(t, outboundQueued(t, s), "nothing was queued")
	require.Empty(t, s.rec.must(s.Vault.Token, "GET", "mailgent/agents/bot/sent", nil)["messages"])

	// Allowlist: only corp.example.
	s.rec.must(s.Vault.Token, "POST", "mailgent/agents/bot", map[string]interface{}{"send_allowlist": "corp.example"})
	body := good()
	body["to"] = []string{"someone@elsewhere.example"}
	status, out := s.rec.call(s.Vault.Token, "POST", "mailgent/agents/bot/send", body)
	require.Equal(t, http.StatusForbidden, status, "%v", out)
	require.Contains(t, fmt.Sprint(out["errors"]), "allowlist")

	// Rate limit: 2 per hour.
	s.rec.must(s.Vault.Token, "POST", "mailgent/config", map[string]interface{}{"send_rate_limit": 2})
	for i := 0; i < 2; i++ {
		s.rec.must(s.Vault.Token, "POST", "mailgent/agents/bot/send", good())
	}
	status, out = s.rec.call(s.Vault.Token, "POST", "mailgent/agents/bot/send", good())
	require.Equal(t, http.StatusTooManyRequests, status, "%v", out)
	require.Contains(t, fmt.Sprint(out["errors"]), "send_rate_limit")

	// A revoked agent sends nothing.
	s.rec.must(s.Vault.Token, "DELETE", "mailgent/agents/bot", nil)
	status, _ = s.rec.call(s.Vault.Token, "POST", "mailgent/agents/bot/send", good())
	require.Equal(t, http.StatusGone, status)
}

func TestOutboundLargeAttachmentThroughBlobStore(t *testing.T) {
	s := startInbound(t, "bot")
	// Three attachments of 700 KB: each base64 string stays under Vault's
	// 1 MiB JSON string limit; together they are past one NATS message.
	var parts [][]byte
	var atts []map[string]interface{}
	for i := 0; i < 3; i++ {
		p := bytes.Repeat([]byte(fmt.Sprintf("part-%d-0123456789abcdef", i)), 700_000/22)
		parts = append(parts, p)
		atts = append(atts, map[string]interface{}{"filename": fmt.Sprintf("p%d.bin", i), "content": base64.StdEncoding.EncodeToString(p)})
	}
	sent := s.rec.must(s.Vault.Token, "POST", "mailgent/agents/bot/send", map[string]interface{}{
		"to": []string{"a@corp.example"}, "subject": "big", "text": "see attachments", "attachments": atts})
	s.waitSent("bot", sent["id"].(string), "sent")
	ids := mailpitMessages(t, s.Mailpit.URL)
	require.Len(t, ids, 1)
	env, err := enmime.ReadEnvelope(bytes.NewReader(mailpitRaw(t, s.Mailpit.URL, ids[0])))
	require.NoError(t, err)
	require.Len(t, env.Attachments, 3)
	for i, a := range env.Attachments {
		require.Equal(t, parts[i], a.Content, "attachment %d byte-exact", i)
	}
}

func TestOutboundSmarthostDownThenDeliveredOnce(t *testing.T) {
	s := startInbound(t, "bot")
	s.Mailpit.Stop()
	sent := s.rec.must(s.Vault.Token, "POST", "mailgent/agents/bot/send", map[string]interface{}{
		"to": []string{"a@corp.example"}, "subject": "while down", "text": "hello"})
	id := sent["id"].(string)
	st := s.waitSent("bot", id, "deferred")
	require.NotEmpty(t, st["reply"])

	// The relay dies while the message waits; a new one takes over.
	s.Relay.Kill()
	s.Mailpit.Start()
	s.Relay.Start()
	s.Relay.WaitReady()
	s.waitSent("bot", id, "sent")
	time.Sleep(2 * time.Second) // any duplicate delivery would land by now
	require.Len(t, mailpitMessages(t, s.Mailpit.URL), 1, "delivered exactly once")
}
