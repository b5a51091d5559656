package mailparse

import (
	"fmt"
	"testing"
	"time"
)

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
