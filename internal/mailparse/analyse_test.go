package mailparse

import (
	"strings"
	"testing"
)

func TestExtractText(t *testing.T) {
	text := `Hi Sam,

Your verification code is 123456.

Thanks,
The Acme Team

--
Acme Inc. | 1 Main Street, Springfield, IL 62701
Unsubscribe: https://acme.example/unsub
`
	got := ExtractText(text, "")
	if want := "Hi Sam,\n\nYour verification code is 123456."; got != want {
		t.Errorf("ExtractText = %q, want %q", got, want)
	}

	// Quoted replies go.
	reply := "New code: 583920\n\nOn Tue, Mar 18, 2025 at 9:41 AM Support <s@x.example> wrote:\n> Your code is 402117\n"
	if got := ExtractText(reply, ""); got != "New code: 583920" {
		t.Errorf("reply: %q", got)
	}
	orig := "New PIN 917364\n\n-----Original Message-----\nFrom: x\nSent: y\nTo: z\nSubject: w\n\nOld PIN 551208\n"
	if got := ExtractText(orig, ""); got != "New PIN 917364" {
		t.Errorf("original message: %q", got)
	}
	// A footer line that holds the code stays, and so does everything
	// before it.
	footerCode := "Hello,\n\nYou received this email because you asked for a code: 482913\n© 2025 Acme Inc. All rights reserved."
	if got := ExtractText(footerCode, ""); !strings.Contains(got, "482913") || strings.Contains(got, "©") {
		t.Errorf("footer code: %q", got)
	}
	// A reply that is nothing but a quote keeps the quote.
	onlyQuote := "On Tue, Mar 18, 2025 at 9:41 AM Support <s@x.example> wrote:\n> Your code is 402117\n"
	if got := ExtractText(onlyQuote, ""); !strings.Contains(got, "402117") {
		t.Errorf("only quote: %q", got)
	}
	// HTML wins over text; hidden text and preheaders go.
	html := `<div style="display:none">preheader</div><p>Your code is <b>739142</b></p><div class="gmail_quote"><blockquote>old 111222</blockquote></div>`
	if got := ExtractText("text version", html); got != "Your code is 739142" {
		t.Errorf("html: %q", got)
	}
}
