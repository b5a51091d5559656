// Package agent is the autonomous side of the sign-up demo: an agent that,
// using only Mailgent (the Go client), signs up for a web service with its
// own address, reads the verification code from its own inbox, enrolls TOTP
// keeping the seed in its vault, logs in with password and a fresh code,
// reads the protected page, reports the login and emails a summary from its
// own address.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/mailgent/mailgent/client"
)

// Config says where to sign up and whom to tell.
type Config struct {
	ServiceURL string // e.g. http://127.0.0.1:8090
	// ServiceFrom is the domain the service mails from (to wait for its mail).
	ServiceFrom string
	// Address is the agent's own email address.
	Address string
	// ReportTo receives the summary email.
	ReportTo string
	// Say narrates each step.
	Say func(format string, args ...interface{})
}

// Result is what the agent achieved.
type Result struct {
	Dashboard string
	SentID    string
}

var (
	otpauthRe = regexp.MustCompile(`<code id="otpauth">([^<]+)</code>`)
	bodyRe    = regexp.MustCompile(`<p id="body">([^<]*)</p>`)
	errorRe   = regexp.MustCompile(`<p id="error">([^<]*)</p>`)
)

// Run does the whole story with the agent's Mailgent client.
func Run(ctx context.Context, c *client.Client, cfg Config) (*Result, error) {
	say := cfg.Say
	if say == nil {
		say = func(string, ...interface{}) {}
	}
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	// body returns a response's body, or an error with the page's message.
	body := func(path string, resp *http.Response, err error) (string, error) {
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s: %s", path, resp.Status, firstMatch(errorRe, string(b)))
		}
		return string(b), nil
	}
	post := func(path string, form url.Values) (string, error) {
		resp, err := web.PostForm(cfg.ServiceURL+path, form)
		return body(path, resp, err)
	}
	get := func(path string) (string, error) {
		resp, err := web.Get(cfg.ServiceURL + path)
		return body(path, resp, err)
	}

	// 1. A password of its own, stored before it is used anywhere.
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	password := base64.RawURLEncoding.EncodeToString(pw)
	cred := "demo-service"
	if _, err := c.StoreCredential(ctx, cred, client.Credential{Username: cfg.Address, Password: password, URL: cfg.ServiceURL}, nil); err != nil {
		return nil, err
	}
	say("stored a fresh password for %s in its vault (credential %q)", cfg.ServiceURL, cred)

	// 2. Sign up with its own address.
	signupAt := time.Now()
	if _, err := post("/signup", url.Values{"email": {cfg.Address}, "password": {password}}); err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	say("signed up as %s; waiting for the verification email", cfg.Address)

	// 3. The code from its own inbox.
	msg, err := c.WaitForMessage(ctx, client.WaitOptions{From: cfg.ServiceFrom, Since: signupAt.Add(-time.Second), Timeout: 60 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("wait for the verification email: %w", err)
	}
	if len(msg.Codes) == 0 {
		return nil, fmt.Errorf("the verification email %q has no code", msg.Subject)
	}
	code := msg.Codes[0].Code
	say("received %q; code %s (context: %q)", msg.Subject, code, msg.Codes[0].Context)
	if _, err := post("/verify", url.Values{"email": {cfg.Address}, "code": {code}}); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	say("email verified")

	// 4. TOTP enrollment: the seed goes into the vault, never anywhere else.
	page, err := get("/totp/enroll")
	if err != nil {
		return nil, fmt.Errorf("enrollment page: %w", err)
	}
	uri := html.UnescapeString(firstMatch(otpauthRe, page))
	if !strings.HasPrefix(uri, "otpauth://totp/") {
		return nil, fmt.Errorf("enrollment page shows no otpauth URI")
	}
	if _, err := c.StoreCredential(ctx, cred, client.Credential{TOTPURI: uri}, nil); err != nil {
		return nil, err
	}
	say("stored the TOTP seed in its vault; Mailgent will never show it again")
	totp, err := c.TOTP(ctx, cred, 3)
	if err != nil {
		return nil, err
	}
	if _, err := post("/totp/enroll", url.Values{"code": {totp.Code}}); err != nil {
		return nil, fmt.Errorf("enroll TOTP: %w", err)
	}
	say("two-factor authentication enabled with code %s", totp.Code)

	// 5. Log in with the password from the vault and a fresh code.
	stored, err := c.GetCredential(ctx, cred, 0)
	if err != nil {
		return nil, err
	}
	totp, err = c.TOTP(ctx, cred, 5)
	if err != nil {
		return nil, err
	}
	jar, _ = cookiejar.New(nil)
	web.Jar = jar
	_, err = post("/login", url.Values{"email": {stored.Username}, "password": {stored.Password}, "code": {totp.Code}})
	if err != nil {
		_ = c.ReportLogin(ctx, cred, false, "login refused")
		return nil, fmt.Errorf("log in: %w", err)
	}
	say("logged in with its password and TOTP code %s (%ds left)", totp.Code, totp.SecondsRemaining)

	// 6. The protected page, the login report, the summary email.
	dash, err := get("/dashboard")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	summary := firstMatch(bodyRe, dash)
	say("dashboard: %q", summary)
	if err := c.ReportLogin(ctx, cred, true, "dashboard reached"); err != nil {
		return nil, err
	}
	say("reported the successful login to its audit trail")
	sent, err := c.Send(ctx, client.Email{
		To:      []string{cfg.ReportTo},
		Subject: "Signed up for " + cfg.ServiceURL,
		Text:    "I signed up with my own address, verified it, enabled two-factor authentication and logged in.\n\nDashboard: " + summary + "\n",
	})
	if err != nil {
		return nil, err
	}
	say("emailed a summary to %s from %s (status %s)", cfg.ReportTo, cfg.Address, sent.Status)
	return &Result{Dashboard: summary, SentID: sent.ID}, nil
}

func firstMatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}
