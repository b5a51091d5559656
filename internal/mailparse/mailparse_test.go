package mailparse

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// crlf turns "\n" into "\r\n".
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

const simpleHeader = `From: "Acme, Support" <Support@Acme.EXAMPLE>
To: Agent One <agent1@agents.mailgent.test>, agent2@agents.mailgent.test
Cc: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>
Reply-To: help@acme.example
Subject: =?ISO-8859-1?Q?Best=E4tigung?= =?UTF-8?B?IOKAkyBjb2Rl?=
Date: Tue, 4 Mar 2025 10:14:09 +0100
Message-ID: <abc.123@acme.example>
In-Reply-To: <prev.1@acme.example>
References: <root.0@acme.example> <prev.1@acme.example>
MIME-Version: 1.0
`

func mustParse(t *testing.T, raw []byte) *mailmsg.Message {
	t.Helper()
	msg, err := Parse(raw, DefaultLimits())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return msg
}

func TestHeaders(t *testing.T) {
	raw := crlf(simpleHeader + "Content-Type: text/plain; charset=utf-8\n\nYour code is 123456.\n")
	msg := mustParse(t, raw)
	if msg.From != `"Acme, Support" <Support@Acme.EXAMPLE>` {
		t.Errorf("From = %q", msg.From)
	}
	if msg.FromAddress != "support@acme.example" {
		t.Errorf("FromAddress = %q", msg.FromAddress)
	}
	if want := []string{"Agent One <agent1@agents.mailgent.test>", "agent2@agents.mailgent.test"}; fmt.Sprint(msg.To) != fmt.Sprint(want) {
		t.Errorf("To = %q", msg.To)
	}
	if len(msg.Cc) != 1 || msg.Cc[0] != "Jürgen <juergen@example.org>" {
		t.Errorf("Cc = %q", msg.Cc)
	}
	if len(msg.ReplyTo) != 1 || msg.ReplyTo[0] != "help@acme.example" {
		t.Errorf("ReplyTo = %q", msg.ReplyTo)
	}
	if msg.Subject != "Bestätigung – code" {
		t.Errorf("Subject = %q", msg.Subject)
	}
	if want := time.Date(2025, 3, 4, 9, 14, 9, 0, time.UTC); !msg.Date.Equal(want) {
		t.Errorf("Date = %v", msg.Date)
	}
	if msg.MessageID != "abc.123@acme.example" || msg.InReplyTo != "prev.1@acme.example" {
		t.Errorf("MessageID %q InReplyTo %q", msg.MessageID, msg.InReplyTo)
	}
	if fmt.Sprint(msg.References) != "[root.0@acme.example prev.1@acme.example]" {
		t.Errorf("References = %q", msg.References)
	}
	if msg.Size != int64(len(raw)) {
		t.Errorf("Size = %d, want %d", msg.Size, len(raw))
	}
	if len(msg.Codes) == 0 || msg.Codes[0].Code != "123456" {
		t.Errorf("Codes = %+v", msg.Codes)
	}
	if msg.ID != "" || !msg.ReceivedAt.IsZero() || msg.Envelope.MailFrom != "" {
		t.Errorf("Parse filled relay fields")
	}
}

func TestSubjectCharsets(t *testing.T) {
	for enc, want := range map[string]string{
		"=?iso-8859-1?q?Ihr_Best=E4tigungscode?=":          "Ihr Bestätigungscode",
		"=?windows-1252?Q?Code_=96_=93719304=94?=":         "Code – “719304”",
		"=?UTF-8?B?VHUgY8OzZGlnbyBkZSB2ZXJpZmljYWNpw7Nu?=": "Tu código de verificación",
		"=?utf-8?q?Votre_code_de_v=C3=A9rification?=":      "Votre code de vérification",
		"plain ASCII subject":                              "plain ASCII subject",
	} {
		msg := mustParse(t, crlf("From: a@b.example\nSubject: "+enc+"\n\nbody\n"))
		if msg.Subject != want {
			t.Errorf("Subject %s decoded to %q, want %q", enc, msg.Subject, want)
		}
	}
}

// multipartN builds a multipart/mixed message with n text parts.
func multipartN(n int) []byte {
	var b strings.Builder
	b.WriteString("From: a@b.example\nSubject: many\nContent-Type: multipart/mixed; boundary=\"BB\"\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--BB\nContent-Type: text/plain\n\npart %d\n", i)
	}
	b.WriteString("--BB--\n")
	return []byte(b.String())
}

// nested builds depth levels of multipart/mixed around one text part.
func nested(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: a@b.example\nSubject: deep\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"L%d\"\n\n--L%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\nYour code is 123456\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--L%d--\n", i)
	}
	return []byte(b.String())
}

func wantLimit(t *testing.T, err error, limit string) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LimitError", err)
	}
	if le.Limit != limit {
		t.Fatalf("limit %q, want %q (%v)", le.Limit, limit, le)
	}
	if !strings.Contains(le.Error(), limit) && !strings.Contains(le.Error(), map[string]string{
		LimitParts: "parts", LimitDepth: "nested", LimitHeader: "header"}[limit]) {
		t.Errorf("message %q does not say which limit", le.Error())
	}
	code, enh := le.SMTPStatus()
	if code != 552 && code != 554 || enh == "" {
		t.Errorf("SMTPStatus = %d %q", code, enh)
	}
}

func TestLimitParts(t *testing.T) {
	if _, err := Parse(multipartN(150), DefaultLimits()); err != nil {
		t.Fatalf("150 parts: %v", err)
	}
	_, err := Parse(multipartN(250), DefaultLimits())
	wantLimit(t, err, LimitParts)
	_, _, err = AttachmentContent(multipartN(250), DefaultLimits(), 0)
	wantLimit(t, err, LimitParts)
	// A custom limit.
	_, err = Parse(multipartN(5), Limits{MaxParts: 3})
	wantLimit(t, err, LimitParts)
}

func TestLimitDepth(t *testing.T) {
	msg, err := Parse(nested(10), DefaultLimits())
	if err != nil {
		t.Fatalf("depth 10: %v", err)
	}
	if len(msg.Codes) == 0 || msg.Codes[0].Code != "123456" {
		t.Errorf("depth 10 codes %+v", msg.Codes)
	}
	_, err = Parse(nested(12), DefaultLimits())
	wantLimit(t, err, LimitDepth)
	_, err = Parse(nested(4), Limits{MaxDepth: 3})
	wantLimit(t, err, LimitDepth)
}

func TestLimitHeader(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\n")
	for b.Len() < 300<<10 {
		b.WriteString("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
	}
	b.WriteString("Subject: big\n\nbody\n")
	_, err := Parse([]byte(b.String()), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// No empty line at all: the whole input is header.
	_, err = Parse([]byte(strings.Repeat("X-Filler: aaaa\n", 30000)), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// A single Content-Type field folded over a huge number of lines.
	huge := "From: a@b.example\nSubject: s\n\nbody\n--x\nContent-Type: multipart/mixed;\n" + strings.Repeat(" a=b;\n", 60000) + "\nz\n"
	_, err = Parse([]byte(huge), DefaultLimits())
	wantLimit(t, err, LimitHeader)

	// Under the limit is fine.
	if _, err := Parse([]byte(b.String()), Limits{MaxHeaderBytes: 1 << 20}); err != nil {
		t.Errorf("1 MiB header limit: %v", err)
	}
}

// Pathological inputs must be refused quickly, before enmime builds them.
func TestLimitPathological(t *testing.T) {
	cases := map[string][]byte{
		// 100 000 nested multiparts.
		"deep": nested(100000),
		// 200 000 empty parts of a one-letter boundary.
		"wide": []byte("Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\n", 200000)),
		// The same boundary declared over and over.
		"redeclared": []byte("Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\nContent-Type: multipart/mixed; boundary=b\n\n", 50000)),
	}
	for name, raw := range cases {
		start := time.Now()
		_, err := Parse(raw, DefaultLimits())
		var le *LimitError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v, want a *LimitError", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
}

func TestMalformedNeverPanics(t *testing.T) {
	cases := map[string]string{
		"truncated MIME":             "From: a@b.example\nSubject: t\nContent-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nYour code is 123456\n--XX\nContent-Type: text/html\n\n<p>Your code is <b>1234",
		"missing boundary parameter": "From: a@b.example\nSubject: t\nContent-Type: multipart/mixed\n\n--XX\nContent-Type: text/plain\n\nYour code is 123456\n--XX--\n",
		"boundary not in body":       "From: a@b.example\nSubject: t\nContent-Type: multipart/mixed; boundary=YY\n\n--XX\nContent-Type: text/plain\n\nYour code is 123456\n--XX--\n",
		"no delimiter at all":        "From: a@b.example\nSubject: t\nContent-Type: multipart/alternative; boundary=YY\n\nYour code is 123456\n",
		"bad charset":                "From: a@b.example\nSubject: t\nContent-Type: text/plain; charset=x-no-such-charset\n\nYour code is 123456\n",
		"bad base64 body":            "From: a@b.example\nSubject: t\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nWW91ciBjb2RlIGlzIDEyMzQ1Ng==!!!@@@***\n",
		"bad base64 attachment":      "From: a@b.example\nSubject: t\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nYour code is 123456\n--XX\nContent-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\n%%%%not base64 at all\n--XX--\n",
		"header without colon":       ": nothing\nFrom a@b.example\nSubject: Your code 123456\n\nYour code is 123456\n",
		"headerless text":            "hello there, 123456 is your code\n",
		"bad quoted-printable":       "From: a@b.example\nSubject: t\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nYour code is 123456 =ZZ =\n",
		"unknown transfer encoding":  "From: a@b.example\nSubject: t\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nYour code is 123456\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			msg, err := Parse(crlf(raw), DefaultLimits())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			// enmime repairs bad quoted-printable silently.
			if len(msg.ParseErrors) == 0 && name != "bad quoted-printable" {
				t.Errorf("no ParseErrors")
			}
			if len(msg.Codes) == 0 || msg.Codes[0].Code != "123456" && name != "truncated MIME" {
				t.Errorf("codes %+v (text %q)", msg.Codes, msg.Text)
			}
			if msg.Size != int64(len(crlf(raw))) {
				t.Errorf("Size %d", msg.Size)
			}
		})
	}
}

func TestMissingBoundaryRepaired(t *testing.T) {
	raw := "From: a@b.example\nSubject: t\nContent-Type: multipart/mixed\n\n--XX\nContent-Type: text/plain\n\nhello\n--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=x.pdf\n\n%PDF\n--XX--\n"
	msg := mustParse(t, crlf(raw))
	if strings.TrimSpace(msg.Text) != "hello" || len(msg.Attachments) != 1 || msg.Attachments[0].Filename != "x.pdf" {
		t.Errorf("text %q attachments %+v", msg.Text, msg.Attachments)
	}
	if !strings.Contains(strings.Join(msg.ParseErrors, "\n"), `guessed boundary "XX"`) {
		t.Errorf("ParseErrors %q", msg.ParseErrors)
	}
}

func TestUnusable(t *testing.T) {
	if _, err := Parse(nil, DefaultLimits()); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := Parse([]byte("\x00\x01\x02\x03\xff\xfe\x00\x00"), DefaultLimits()); !errors.Is(err, ErrUnusable) {
		t.Errorf("binary: %v", err)
	}
}

func TestAttachmentContentRoundTrip(t *testing.T) {
	pdf := make([]byte, 10000)
	if _, err := rand.Read(pdf); err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\nnot really a png")
	b64 := func(data []byte) string {
		s := base64.StdEncoding.EncodeToString(data)
		var out strings.Builder
		for len(s) > 76 {
			out.WriteString(s[:76] + "\n")
			s = s[76:]
		}
		out.WriteString(s + "\n")
		return out.String()
	}
	raw := crlf(`From: a@b.example
Subject: statement
Content-Type: multipart/mixed; boundary="MIX"

--MIX
Content-Type: multipart/related; boundary="REL"

--REL
Content-Type: text/html; charset=utf-8

<p>Your statement is attached. <img src="cid:logo@x"></p>
--REL
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

` + b64(png) + `--REL--

--MIX
Content-Type: application/pdf; name="=?UTF-8?Q?Kontoauszug_M=C3=A4rz.pdf?="
Content-Disposition: attachment; filename*=UTF-8''Kontoauszug%20M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

` + b64(pdf) + `--MIX--
`)
	msg := mustParse(t, raw)
	if len(msg.Attachments) != 2 {
		t.Fatalf("attachments %+v", msg.Attachments)
	}
	logo, doc := msg.Attachments[0], msg.Attachments[1]
	if logo.ContentType != "image/png" || logo.ContentID != "logo@x" || !logo.Inline || logo.Size != len(png) || logo.Index != 0 {
		t.Errorf("logo %+v", logo)
	}
	if doc.Filename != "Kontoauszug März.pdf" || doc.ContentType != "application/pdf" || doc.Inline || doc.Size != len(pdf) || doc.Index != 1 {
		t.Errorf("doc %+v", doc)
	}
	for i, want := range [][]byte{png, pdf} {
		att, content, err := AttachmentContent(raw, DefaultLimits(), i)
		if err != nil {
			t.Fatalf("AttachmentContent(%d): %v", i, err)
		}
		if att != msg.Attachments[i] {
			t.Errorf("AttachmentContent(%d) describes %+v, Parse %+v", i, att, msg.Attachments[i])
		}
		if !bytes.Equal(content, want) {
			t.Errorf("AttachmentContent(%d): %d bytes differ from the %d sent", i, len(content), len(want))
		}
	}
	for _, bad := range []int{-1, 2} {
		if _, _, err := AttachmentContent(raw, DefaultLimits(), bad); err == nil {
			t.Errorf("AttachmentContent(%d) did not fail", bad)
		}
	}
}

func TestAttachmentContentCorpus(t *testing.T) {
	raw, err := os.ReadFile(corpusDir + "/esign_attachment_security_code.eml")
	if err != nil {
		t.Fatal(err)
	}
	msg := mustParse(t, raw)
	if len(msg.Attachments) != 2 {
		t.Fatalf("attachments %+v", msg.Attachments)
	}
	att, content, err := AttachmentContent(raw, DefaultLimits(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if att.Filename != "Master Services Agreement - Acme Robotics.pdf" || !bytes.HasPrefix(content, []byte("%PDF-1.4")) || len(content) != att.Size {
		t.Errorf("%+v %q", att, content[:min(len(content), 20)])
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"7 3 9 1 4 2": "739142",
		"739-142":     "739142",
		"739 142":     "739142",
		"739–142":     "739142",
		"K7Q-2MX":     "K7Q2MX",
		"ABC123":      "ABC123",
	} {
		if got := NormalizeCode(in); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtractCodes(t *testing.T) {
	cases := []struct {
		subject, text string
		want          string // "" for no code
	}{
		{"", "Your verification code:\n7 3 9 1 4 2", "739142"},
		{"", "Your code is 739-142.", "739142"},
		{"", "Your code is 739 142.", "739142"},
		{"", "Enter 73 91 42 to continue", "739142"},
		{"", "Temporary login code: K7Q-2MX", "K7Q2MX"},
		{"", "Your one-time code: ABC123", "ABC123"},
		{"", "Your PIN is 4821.", "4821"},
		{"", "Verification code\n\n48207913", "48207913"},
		{"739142 is your Acme code", "Do not share it.", "739142"},
		{"", "Call us at 555-0199 or +1 (415) 555-0132.", ""},
		{"", "Order #104382 shipped on March 11, 2025. Total $1,299.00.", ""},
		{"", "Your order 48213 is confirmed. Ship to 742 Evergreen Terrace, Springfield, OR 97403.", ""},
		{"", "Save 30% — use promo code SAVE2025 before 2025-05-04.", ""},
		{"", "Meeting ID: 845 2291 0034", ""},
		{"", "The colour is #A1B2C3 and the year is 2024.", ""},
		{"", "Tracking number 1Z999AA10123456784, postcode 10117 Berlin", ""},
		{"", "Visit https://example.com/verify?code=123456 to continue", ""},
		{"", "Order 12345: your verification code is 998877", "998877"},
		{"", "Your code: 123456 (the old code 654321 has expired)", "123456"},
		{"", "Upgrade to 2048 MB of storage for 12 months", ""},
		{"", "SHA256 and UTF8 and ISO8859 are not codes", ""},
	}
	for _, c := range cases {
		codes := ExtractCodes(c.subject, c.text)
		got := ""
		if len(codes) > 0 {
			got = codes[0].Code
		}
		if got != c.want {
			t.Errorf("ExtractCodes(%q, %q) = %+v, want %q first", c.subject, c.text, codes, c.want)
		}
		for _, code := range codes {
			if code.Code == "" || strings.ContainsAny(code.Code, " -") || code.Context == "" {
				t.Errorf("bad code %+v", code)
			}
		}
	}
}

func TestRenderHTML(t *testing.T) {
	html := `<html><head><title>T</title><style>.x{color:#FF0000}</style><script>var a=1;</script></head><body>
<span style="display:none !important">hidden preheader 111111</span>
<div style="font-size:0;max-height:0;overflow:hidden">ghost 222222</div>
<div style="font-size:1px;color:#fff">tiny 333333</div>
<div style="opacity:0">invisible 444444</div>
<div style="visibility: hidden">invisible 555555</div>
<h1>Welcome</h1><p>First <b>para</b>.<br>Second line.</p>
<table><tr><td>Code</td><td style="font-size:32px">739142</td></tr><tr><td>Row 2</td><td>x</td></tr></table>
<p><a href=" https://ex.example/verify?t=abc ">Verify <img src="x.png" alt="icon"> email</a></p>
<img src="https://t.example/open.gif" width="1" height="1">
<div style="font-size:0"><span style="font-size:16px">shown inside zero-size container</span></div>
<blockquote>quoted line</blockquote>
</body></html>`
	r := renderHTML(html)
	for _, gone := range []string{"111111", "222222", "333333", "444444", "555555", "var a", "color", "T\n"} {
		if strings.Contains(r.text, gone) {
			t.Errorf("rendered text holds %q:\n%s", gone, r.text)
		}
	}
	for _, kept := range []string{"Welcome", "First para.\nSecond line.", "Code 739142\nRow 2 x", "Verify email", "shown inside zero-size container", "> quoted line"} {
		if !strings.Contains(r.text, kept) {
			t.Errorf("rendered text lacks %q:\n%s", kept, r.text)
		}
	}
	if len(r.links) != 2 || r.links[0].url != "https://ex.example/verify?t=abc" || r.links[0].text != "Verify email" || !r.links[1].pixel {
		t.Errorf("links %+v", r.links)
	}
	found := false
	for _, e := range r.emph {
		if e == "739142" {
			found = true
		}
	}
	if !found {
		t.Errorf("emph %q", r.emph)
	}
	// A pathologically deep document renders without blowing the stack.
	deep := strings.Repeat("<div>", 200000) + "deep text" + strings.Repeat("</div>", 200000)
	_ = RenderHTML(deep)
}

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

func TestQuotedCodeRanksBelow(t *testing.T) {
	html := `<div>Use this one: 258193</div><div class="gmail_quote">On Thu, Mar 20, 2025 at 4:15 PM Bot &lt;b@x.example&gt; wrote:<blockquote>Your verification code is 664420</blockquote></div>`
	a := Analyse("Re: code", "", html, "", "")
	if len(a.Codes) == 0 || a.Codes[0].Code != "258193" {
		t.Errorf("codes %+v", a.Codes)
	}
}

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
