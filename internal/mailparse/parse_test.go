package mailparse

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

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
