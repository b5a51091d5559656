package mailparse

import (
	"fmt"
	"testing"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

func TestClassifyLink(t *testing.T) {
	cases := []struct{ url, text, want string }{
		{"https://x.example/verify?token=abc123def456", "Verify email", mailmsg.LinkVerify},
		{"https://x.example/e/abc", "Confirm my account", mailmsg.LinkVerify},
		{"https://x.example/auth/magic?token=Zx9Kq2Lm8Np4Rs7Tv1Wy", "Sign in", mailmsg.LinkVerify},
		{"https://x.example/account/activate/9f8e7d6c5b4a39281706", "", mailmsg.LinkVerify},
		{"https://x.example/login", "Log in", mailmsg.LinkOther},
		{"https://x.example/password_reset/abc123def456ghi789", "Reset your password", mailmsg.LinkReset},
		{"https://x.example/forgot", "click here", mailmsg.LinkReset},
		{"https://x.example/unsubscribe?u=1", "click here", mailmsg.LinkUnsubscribe},
		{"https://x.example/prefs", "Manage preferences", mailmsg.LinkUnsubscribe},
		{"https://x.example/legal/privacy", "Privacy", mailmsg.LinkPrivacy},
		{"https://x.example/tos", "Terms of Service", mailmsg.LinkPrivacy},
		{"https://x.example/help", "Help Center", mailmsg.LinkOther},
		{"https://links.x.example/ls/click?upn=abc", "", mailmsg.LinkTracking},
		{"https://x.example/wf/open?upn=abc", "", mailmsg.LinkTracking},
	}
	for _, c := range cases {
		if got := ClassifyLink(c.url, c.text); got != c.want {
			t.Errorf("ClassifyLink(%q, %q) = %q, want %q", c.url, c.text, got, c.want)
		}
	}
}

func TestLinksRankedAndDeduplicated(t *testing.T) {
	html := `<a href="https://x.example/unsubscribe?u=1">Unsubscribe</a>
<a href="https://x.example/privacy">Privacy</a>
<a href="https://x.example/blog">Blog</a>
<a href="https://x.example/reset?token=Zx9Kq2Lm8Np4Rs7Tv1Wy">Reset password</a>
<a href="HTTPS://x.example/verify?token=Zx9Kq2Lm8Np4Rs7Tv1Wy">Verify</a>
<a href="mailto:a@b.example">mail</a><a href="javascript:alert(1)">js</a>
<img src="https://x.example/o.gif" width="1" height="1">`
	text := "Verify: https://x.example/verify?token=Zx9Kq2Lm8Np4Rs7Tv1Wy.\nBlog (https://x.example/blog)\n"
	a := Analyse("", text, html, "<https://x.example/unsubscribe?u=1>, <mailto:u@x.example>", "x.example")
	var kinds, urls []string
	for _, l := range a.Links {
		kinds = append(kinds, l.Kind)
		urls = append(urls, l.URL)
	}
	want := []string{mailmsg.LinkVerify, mailmsg.LinkReset, mailmsg.LinkOther, mailmsg.LinkUnsubscribe, mailmsg.LinkPrivacy, mailmsg.LinkTracking}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds %v, want %v (urls %v)", kinds, want, urls)
	}
	if urls[0] != "https://x.example/verify?token=Zx9Kq2Lm8Np4Rs7Tv1Wy" {
		t.Errorf("first %q", urls[0])
	}
}
