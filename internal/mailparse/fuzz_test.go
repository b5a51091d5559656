package mailparse

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mailgent/mailgent/internal/mailmsg"
)

// FuzzParse feeds Parse arbitrary input, seeded with the corpus, and checks
// that it never panics (a recovered panic is an *InternalError) and that
// what it returns holds together.
func FuzzParse(f *testing.F) {
	for _, file := range corpusFiles(f) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(""))
	f.Add([]byte("Subject: x\r\n\r\n"))
	f.Add(multipartN(3))
	f.Add(nested(3))
	lim := Limits{MaxParts: 50, MaxDepth: 5, MaxHeaderBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// No input may take long: a hang kills the worker, and the fuzzer
		// keeps the input as a crasher.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("Parse of %d bytes takes over 10s", len(raw)))
			}
		}()
		msg, err := Parse(raw, lim)
		if err != nil {
			var ie *InternalError
			if errors.As(err, &ie) {
				t.Fatalf("panic: %v\n%s", ie.Panic, ie.Stack)
			}
			var le *LimitError
			if !errors.As(err, &le) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrUnusable) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if msg == nil {
			t.Fatal("nil message without error")
		}
		if msg.Size != int64(len(raw)) {
			t.Fatalf("Size %d, len %d", msg.Size, len(raw))
		}
		for _, c := range msg.Codes {
			if c.Code == "" || strings.IndexFunc(c.Code, unicode.IsSpace) >= 0 || strings.Contains(c.Code, "-") {
				t.Fatalf("bad code %q", c.Code)
			}
		}
		for _, l := range msg.Links {
			if !strings.HasPrefix(l.URL, "http://") && !strings.HasPrefix(l.URL, "https://") {
				t.Fatalf("bad link %q", l.URL)
			}
			if _, ok := reportedLinkKinds[l.Kind]; !ok {
				t.Fatalf("bad link kind %q", l.Kind)
			}
		}
		if err := checkLinkOrder(msg.Links, msg.FromAddress); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]string{"subject": msg.Subject, "from": msg.From, "text": msg.Text,
			"html": msg.HTML, "extracted": msg.ExtractedText} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not valid UTF-8", name)
			}
		}
		for i, a := range msg.Attachments {
			if a.Index != i {
				t.Fatalf("attachment %d has index %d", i, a.Index)
			}
			if i < 2 {
				got, content, err := AttachmentContent(raw, lim, i)
				if err != nil {
					t.Fatalf("AttachmentContent(%d): %v", i, err)
				}
				if got != a || len(content) != a.Size {
					t.Fatalf("AttachmentContent(%d) = %+v (%d bytes), Parse said %+v", i, got, len(content), a)
				}
			}
		}
	})
}

// reportedLinkKinds are the link kinds Parse may report.
var reportedLinkKinds = map[string]bool{
	mailmsg.LinkVerify: true, mailmsg.LinkReset: true, mailmsg.LinkOther: true,
	mailmsg.LinkUnsubscribe: true, mailmsg.LinkPrivacy: true, mailmsg.LinkTracking: true,
	mailmsg.LinkSuspicious: true,
}
