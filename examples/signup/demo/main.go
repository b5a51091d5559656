// Command demo runs the autonomous sign-up story against `make dev`'s stack
// (`make demo`): it onboards a fresh agent with AppRole, starts the demo web
// service, and lets the agent sign up, verify, enroll TOTP, log in and
// report — narrating each step. It reads the addresses from .data/env.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/mailgent/mailgent/client"
	"github.com/mailgent/mailgent/examples/signup/agent"
	"github.com/mailgent/mailgent/examples/signup/service"
	"github.com/mailgent/mailgent/internal/onboard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "MAILGENT_SMTP_ADDR", "MAILGENT_DOMAIN"} {
		if os.Getenv(k) == "" {
			return fmt.Errorf("%s is not set: start `make dev` and run `make demo` (it sources .data/env)", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	say := func(format string, args ...interface{}) {
		fmt.Printf("%s  "+format+"\n", append([]interface{}{time.Now().Format("15:04:05.000")}, args...)...)
	}

	admin, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		return err
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "signup-" + hex.EncodeToString(suffix)
	res, err := onboard.Run(ctx, admin, onboard.Options{Mount: "mailgent", Org: "demo", CreateOrg: true, Agent: name, Description: "sign-up demo"})
	if err != nil {
		return err
	}
	say("onboarded agent %s (%s), delegation chain %v", name, res.Address, res.Chain)
	c, err := client.LoginAppRole(ctx, api.DefaultConfig(), client.AppRole{Mount: "mailgent", Agent: name, RoleID: res.RoleID, WrappedSecretID: res.WrappingToken})
	if err != nil {
		return err
	}
	say("the agent logged in with AppRole (role_id + the unwrapped secret_id)")
	if err := waitRcpt(ctx, os.Getenv("MAILGENT_SMTP_ADDR"), res.Address); err != nil {
		return err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + l.Addr().String()
	svc := service.New("DemoCloud", base, os.Getenv("MAILGENT_SMTP_ADDR"), "no-reply@democloud.test")
	go func() { _ = http.Serve(l, svc.Handler()) }()
	say("demo service DemoCloud listening on %s (mails through %s)", base, os.Getenv("MAILGENT_SMTP_ADDR"))

	out, err := agent.Run(ctx, c, agent.Config{ServiceURL: base, ServiceFrom: "democloud.test", Address: res.Address, ReportTo: "owner@corp.example", Say: say})
	if err != nil {
		return err
	}
	for i := 0; i < 50; i++ {
		st, err := c.SentMessage(ctx, out.SentID)
		if err == nil && st.Status != "queued" && st.Status != "deferred" {
			say("summary email %s: %s", st.Status, st.Reply)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	say("done. See the summary in Mailpit: %s; the agent's trail: vault read mailgent/agents/%s/audit", os.Getenv("MAILPIT_URL"), name)
	return nil
}

// waitRcpt waits until the relay accepts mail for the new agent.
func waitRcpt(ctx context.Context, relay, addr string) error {
	for ctx.Err() == nil {
		if c, err := smtp.Dial(relay); err == nil {
			err = c.Mail("probe@democloud.test")
			if err == nil {
				err = c.Rcpt(addr)
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}
