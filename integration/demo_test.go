package integration

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailgent/mailgent/examples/signup/agent"
	"github.com/mailgent/mailgent/examples/signup/service"
)

// The autonomous sign-up story, as `make demo` runs it, on the real stack.
func TestAutonomousSignup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startInbound(t)
	res, c := s.agentClient(ctx, "signup-agent")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + l.Addr().String()
	srv := &http.Server{Handler: service.New("DemoCloud", base, s.Relay.Addr, "no-reply@democloud.test").Handler()}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	out, err := agent.Run(ctx, c, agent.Config{ServiceURL: base, ServiceFrom: "democloud.test", Address: res.Address, ReportTo: "owner@corp.example",
		Say: func(f string, a ...interface{}) { t.Logf(f, a...) }})
	require.NoError(t, err)
	require.Contains(t, out.Dashboard, "Welcome "+res.Address)

	require.Eventually(t, func() bool {
		st, err := c.SentMessage(ctx, out.SentID)
		return err == nil && st.Status == "sent"
	}, 30*time.Second, 100*time.Millisecond)
	ids := mailpitMessages(t, s.Mailpit.URL)
	require.Len(t, ids, 1)
	require.Contains(t, string(mailpitRaw(t, s.Mailpit.URL, ids[0])), "From: <"+res.Address+">")

	// The seed never left the vault: the credential read shows parameters only.
	cred, err := c.GetCredential(ctx, "demo-service", 0)
	require.NoError(t, err)
	require.True(t, cred.TOTP.Enabled)
	events, err := c.Audit(ctx, "", 200)
	require.NoError(t, err)
	var ops []string
	for _, e := range events {
		ops = append(ops, e.Operation)
	}
	for _, op := range []string{"message.wait", "totp.generate", "login.report", "message.send"} {
		require.Contains(t, strings.Join(ops, " "), op)
	}
}
