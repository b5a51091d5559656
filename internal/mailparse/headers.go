package mailparse

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/mailgent/mailgent/internal/mailmsg"
	"golang.org/x/text/encoding/htmlindex"
)

// headerSource is where the header fields come from: enmime's envelope, or
// the lenient reader of the fallback.
type headerSource interface {
	// get returns a header field decoded (RFC 2047) to UTF-8.
	get(name string) string
	// addresses parses an address header.
	addresses(name string) ([]*mail.Address, error)
}

type envHeaders struct{ env *enmime.Envelope }

func (h envHeaders) get(name string) string { return h.env.GetHeader(name) }

func (h envHeaders) addresses(name string) ([]*mail.Address, error) {
	return h.env.AddressList(name)
}

// fillHeaders sets the header fields of msg.
func fillHeaders(msg *mailmsg.Message, h headerSource, problems *[]string) {
	note := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf(format, args...))
	}
	msg.Subject = cleanHeader(h.get("Subject"))
	msg.From, msg.FromAddress = fromHeader(h, note)
	msg.To = addressHeader(h, "To", note)
	msg.Cc = addressHeader(h, "Cc", note)
	msg.ReplyTo = addressHeader(h, "Reply-To", note)
	msg.Date = dateHeader(h, note)
	msg.MessageID = firstID(h.get("Message-Id"))
	msg.InReplyTo = firstID(h.get("In-Reply-To"))
	msg.References = allIDs(h.get("References"))
}

// rawHeaders is a leniently read header section: "Name: value" lines,
// unfolded, first occurrence of each name kept; lines that are not fields
// are skipped.
type rawHeaders struct {
	fields map[string]string
}

var headerNameRe = regexp.MustCompile(`^([!-9;-~]{1,76})[ \t]*:(.*)$`)

func lenientHeaders(section []byte) rawHeaders {
	h := rawHeaders{fields: map[string]string{}}
	var name string
	for _, line := range strings.Split(string(section), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" && len(h.fields[name]) < 8192 {
				h.fields[name] += " " + strings.TrimSpace(line)
			}
			continue
		}
		m := headerNameRe.FindStringSubmatch(line)
		if m == nil {
			name = ""
			continue
		}
		name = strings.ToLower(m[1])
		if _, seen := h.fields[name]; seen {
			name = "" // keep the first occurrence
			continue
		}
		h.fields[name] = strings.TrimSpace(m[2])
	}
	return h
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}}

func (h rawHeaders) get(name string) string {
	v := h.fields[strings.ToLower(name)]
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			return d
		}
	}
	return v
}

func (h rawHeaders) addresses(name string) ([]*mail.Address, error) {
	return enmime.ParseAddressList(h.fields[strings.ToLower(name)])
}

var wsRun = regexp.MustCompile(`[\s\x00]+`)

// cleanHeader makes a decoded header value one tidy line of valid UTF-8.
func cleanHeader(s string) string {
	return strings.TrimSpace(collapseWSRuns(toValidUTF8(s)))
}

// collapseWSRuns is wsRun.ReplaceAllString(s, " "), by bytes: wsRun's
// characters are all ASCII.
func collapseWSRuns(s string) string {
	i := 0
	for i < len(s) && (!isWSRunByte(s[i]) || (s[i] == ' ' && (i+1 == len(s) || !isWSRunByte(s[i+1])))) {
		i++
	}
	if i == len(s) {
		return s // no run but single spaces
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for i < len(s) {
		if !isWSRunByte(s[i]) {
			b = append(b, s[i])
			i++
			continue
		}
		b = append(b, ' ')
		for i < len(s) && isWSRunByte(s[i]) {
			i++
		}
	}
	return string(b)
}

func isWSRunByte(c byte) bool { return isReSpace(c) || c == 0 }

var addrInAngle = regexp.MustCompile(`<([^<>\s]+@[^<>\s]+)>`)

var bareAddr = regexp.MustCompile(`[^\s<>"(),;:]+@[^\s<>"(),;:]+\.[^\s<>"(),;:]+`)

// displayAddress formats a parsed address as `Name <addr>` in UTF-8.
func displayAddress(a *mail.Address) string {
	name := cleanHeader(a.Name)
	addr := cleanHeader(a.Address)
	if name == "" || strings.EqualFold(name, addr) {
		return addr
	}
	if strings.ContainsAny(name, `",;<>@()[]:\`) {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + addr + ">"
}

func fromHeader(h headerSource, note func(string, ...any)) (display, addr string) {
	raw := cleanHeader(h.get("From"))
	if raw == "" {
		return "", ""
	}
	list, err := h.addresses("From")
	if err == nil && len(list) > 0 && list[0] != nil {
		return displayAddress(list[0]), strings.ToLower(cleanHeader(list[0].Address))
	}
	if err != nil {
		note("[W] Malformed Header: From: %v", err)
	}
	// Salvage an address from a header net/mail refused.
	if m := addrInAngle.FindStringSubmatch(raw); m != nil {
		if a, err := mail.ParseAddress(m[1]); err == nil {
			return raw, strings.ToLower(a.Address)
		}
	}
	if m := bareAddr.FindString(raw); m != "" {
		if a, err := mail.ParseAddress(m); err == nil {
			return raw, strings.ToLower(a.Address)
		}
	}
	return raw, ""
}

func addressHeader(h headerSource, name string, note func(string, ...any)) []string {
	raw := cleanHeader(h.get(name))
	if raw == "" {
		return nil
	}
	list, err := h.addresses(name)
	if err != nil || len(list) == 0 {
		if err != nil {
			note("[W] Malformed Header: %s: %v", name, err)
		}
		return []string{raw}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a != nil {
			out = append(out, displayAddress(a))
		}
	}
	return out
}

// rfc5322Date is the first layout with a day name that mail.ParseDate
// tries.
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// Date layouts seen in the wild that net/mail refuses.
var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 January 2006 15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	time.RFC3339,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

func dateHeader(h headerSource, note func(string, ...any)) time.Time {
	raw := cleanHeader(h.get("Date"))
	if raw == "" {
		return time.Time{}
	}
	// The commonest form, which mail.ParseDate reaches after 24 layouts
	// that fail on its day name: the same answer, without their errors.
	if t, err := time.Parse(rfc5322Date, raw); err == nil {
		return t
	}
	if t, err := mail.ParseDate(raw); err == nil {
		return t
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, raw); err == nil {
			return t
		}
	}
	note("[W] Malformed Header: Date: cannot parse %q", TruncateUTF8(raw, 80))
	return time.Time{}
}

var msgIDRe = regexp.MustCompile(`<([^<>]*)>`)

// firstID returns the first message id of a Message-ID or In-Reply-To
// header, without angle brackets.
func firstID(v string) string {
	v = cleanHeader(v)
	if v == "" {
		return ""
	}
	if m := msgIDRe.FindStringSubmatch(v); m != nil && strings.TrimSpace(m[1]) != "" {
		return strings.TrimSpace(m[1])
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return strings.Trim(f[0], "<>")
}

// allIDs returns the message ids of a References header.
func allIDs(v string) []string {
	v = cleanHeader(v)
	if v == "" {
		return nil
	}
	var out []string
	if ms := msgIDRe.FindAllStringSubmatch(v, 1000); len(ms) > 0 {
		for _, m := range ms {
			if id := strings.TrimSpace(m[1]); id != "" {
				out = append(out, id)
			}
		}
		return out
	}
	for _, f := range strings.Fields(v) {
		if id := strings.Trim(f, "<>,"); id != "" {
			out = append(out, id)
		}
	}
	return out
}
