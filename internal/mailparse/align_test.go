package mailparse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

func TestURLHost(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://GitHub.com/login", "github.com"},
		{"https://gіthub.com/login/device", "xn--gthub-n2e.com"}, // Cyrillic і
		{"https://github.com.evil.example/login", "github.com.evil.example"},
		{"https://github.com@evil.example/login", "evil.example"},
		{"https://user:pw@mail.example.com:8443/x", "mail.example.com"},
		{"https://evil.example\\@github.com/", "evil.example"},
		{"https://%67ithub.com/", "github.com"},
		{"https://github.com./x", "github.com"},
		{"https://ｇｉｔｈｕｂ.com/x", "github.com"}, // full-width letters map to ASCII
		{"http://192.0.2.7/x", "192.0.2.7"},
		{"http://[2001:db8::1]:80/x", "[2001:db8::1]"},
		{"https://under_score.example/x", "under_score.example"},
		{"https://x.example?q=1", "x.example"},
		{"https://x.example#frag", "x.example"},
		{"https:///x.example/path", "x.example"},
		{"https://\\x.example/path", "x.example"},
	} {
		if got := urlHost(tc.url); got != tc.want {
			t.Errorf("urlHost(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestTextDomain(t *testing.T) {
	for _, tc := range []struct {
		text, want string // "" for none
	}{
		{"https://github.com/login/device", "github.com"},
		{"Go to www.github.com/login", "www.github.com"},
		{"github.com", "github.com"},
		{"Sign in at GitHub.com.", "github.com"},
		{"(accounts.google.co.uk)", "accounts.google.co.uk"},
		{"e.g. this one", ""},
		{"Release v1.2 notes", ""},
		{"Download report.zip", ""},
		{"Open README.md", ""},
		{"https://files.example.com/report.zip", "files.example.com"},
		{"Write to support@github.com", ""},
		{"acme.example", ""}, // not an ICANN suffix
		{"Verify email", ""},
		{"com", ""},
		{"mailto:x@github.com", ""},
	} {
		got, ok := textDomain(tc.text)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("textDomain(%q) = %q, %v; want %q", tc.text, got, ok, tc.want)
		}
	}
}

func TestIsSuspicious(t *testing.T) {
	for _, tc := range []struct {
		text, url string
		want      bool
	}{
		{"https://github.com/login/device", "https://github.com.evil.example/login/device?token=x", true},
		{"github.com", "https://gіthub.com/login", true},
		{"www.github.com/login", "https://github.com/login", false},
		{"https://github.com/login", "https://gist.github.com/x", false},
		{"https://docs.stripe.com", "https://stripe.com/docs", false},
		{"Verify your email", "https://evil.example/verify", false},
		{"https://github.com/login", "https://click.mailer.example/r?url=https%3A%2F%2Fgithub.com%2Flogin", false},
		{"https://github.com/login", "https://click.mailer.example/r?url=https%3A%2F%2Fevil.example%2Flogin", true},
		{"Read e.g. the docs", "https://docs.acme.example/", false},
	} {
		if got := isSuspicious(tc.text, tc.url, urlHost(tc.url)); got != tc.want {
			t.Errorf("isSuspicious(%q, %q) = %v, want %v", tc.text, tc.url, got, tc.want)
		}
	}
}

func TestLinksRankedByAlignment(t *testing.T) {
	html := `<a href="https://acme.example/unsubscribe?u=1">Unsubscribe</a>
<a href="https://verify-acme.example.net/confirm?token=Zx9Kq2Lm8Np4Rs7Tv1Wy">Verify your email</a>
<a href="https://other.example/blog">Blog</a>
<a href="https://help.acme.example/">Help</a>
<a href="https://reset.thirdparty.example/reset?token=Ab9Kq2Lm8Np4Rs7Tv1Wy">Reset password</a>
<a href="https://github.com.evil.example/login?token=Cd9Kq2Lm8Np4Rs7Tv1Wy">https://github.com/login</a>
<a href="https://id.acme.example/reset?token=Ef9Kq2Lm8Np4Rs7Tv1Wy">Reset password</a>
<a href="https://app.acme.example/verify?token=Gh9Kq2Lm8Np4Rs7Tv1Wy">Verify your email</a>`
	type want struct {
		host    string
		kind    string
		aligned bool
	}
	cases := []struct {
		name, sender string
		want         []want
	}{
		{"sender acme.example", "mail.acme.example", []want{
			{"app.acme.example", mailmsg.LinkVerify, true},
			{"id.acme.example", mailmsg.LinkReset, true},
			{"help.acme.example", mailmsg.LinkOther, true},
			{"other.example", mailmsg.LinkOther, false},
			{"verify-acme.example.net", mailmsg.LinkVerify, false},
			{"reset.thirdparty.example", mailmsg.LinkReset, false},
			{"acme.example", mailmsg.LinkUnsubscribe, true},
			{"github.com.evil.example", mailmsg.LinkSuspicious, false},
		}},
		{"no sender domain", "", []want{
			{"other.example", mailmsg.LinkOther, false},
			{"help.acme.example", mailmsg.LinkOther, false},
			{"verify-acme.example.net", mailmsg.LinkVerify, false}, // same score: document order
			{"app.acme.example", mailmsg.LinkVerify, false},
			{"reset.thirdparty.example", mailmsg.LinkReset, false},
			{"id.acme.example", mailmsg.LinkReset, false},
			{"acme.example", mailmsg.LinkUnsubscribe, false},
			{"github.com.evil.example", mailmsg.LinkSuspicious, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyse("", "", html, "", tc.sender)
			var got []want
			for _, l := range a.Links {
				got = append(got, want{l.Host, l.Kind, l.Aligned})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("links\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestParseLinksAligned runs the whole parse: the sender domain comes from
// From, a display name that looks like a domain counts for nothing, and an
// unparseable From makes every link unaligned.
func TestParseLinksAligned(t *testing.T) {
	msg := func(from string) []byte {
		return []byte("From: " + from + "\r\nTo: a@agents.mailgent.test\r\nSubject: Verify\r\n" +
			"Content-Type: text/html; charset=utf-8\r\n\r\n" +
			`<p><a href="https://github.com/login/device?token=Zx9Kq2Lm8Np4Rs7Tv1Wy">Verify device</a></p>` + "\r\n")
	}
	for _, tc := range []struct {
		from    string
		aligned bool
	}{
		{"GitHub <noreply@github.com>", true},
		{"GitHub <noreply@Mail.GitHub.com>", true},
		{`"github.com" <attacker@evil.example>`, false},
		{"GitHub <noreply@gіthub.com>", false}, // look-alike sender
		{"not an address", false},
	} {
		m, err := Parse(msg(tc.from), DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", tc.from, err)
		}
		if len(m.Links) != 1 || m.Links[0].Aligned != tc.aligned || m.Links[0].Host != "github.com" {
			t.Errorf("From %s: links %+v, want aligned %v", tc.from, m.Links, tc.aligned)
		}
	}
}

// checkLinkOrder is the ranking invariant the corpus and fuzz tests hold
// every message to.
func checkLinkOrder(links []mailmsg.Link, fromAddress string) error {
	for i, l := range links {
		if (l.Aligned && l.Host == "") || strings.ContainsAny(l.Host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return fmt.Errorf("link %d %q: host %q", i, l.URL, l.Host)
		}
		if l.Aligned && !strings.Contains(fromAddress, "@") {
			return fmt.Errorf("link %d aligned without a sender domain", i)
		}
		if i > 0 && linkTier(links[i-1]) > linkTier(l) {
			return fmt.Errorf("link %d (%s, aligned %v) ranks after link %d (%s, aligned %v)",
				i, l.Kind, l.Aligned, i-1, links[i-1].Kind, links[i-1].Aligned)
		}
	}
	return nil
}
