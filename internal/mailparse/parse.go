package mailparse

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// ErrEmpty is returned for an empty message.
var ErrEmpty = errors.New("mailparse: empty message")

// ErrUnusable is returned for input that is neither a parseable message nor
// readable text.
var ErrUnusable = errors.New("mailparse: input is not a usable email message")

// InternalError is a panic inside the parser, recovered. It is a bug: the
// fuzz test fails on it.
type InternalError struct {
	Panic any
	Stack string
}

// Error names the recovered panic.
func (e *InternalError) Error() string {
	return fmt.Sprintf("mailparse: internal error: %v", e.Panic)
}

func internalError(r any) error {
	return &InternalError{Panic: r, Stack: string(debug.Stack())}
}

// maxParseErrors caps Message.ParseErrors.
const maxParseErrors = 50

// parsed is what Parse and AttachmentContent share: enmime's envelope and
// the attachment list in Index order.
type parsed struct {
	env         *enmime.Envelope
	attachments []*enmime.Part
	notes       []string // problems found and repaired before or after enmime
}

// Parse parses and analyses raw. It returns a *LimitError when raw exceeds
// lim (zero fields of lim mean the default), ErrEmpty or ErrUnusable for
// input that cannot be a message, and otherwise a Message, with
// ParseErrors listing what could not be parsed. It never panics.
//
// ID, ReceivedAt, Envelope and Auth are left for the caller.
func Parse(raw []byte, lim Limits) (msg *mailmsg.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, internalError(r)
		}
	}()
	p, perr := parseMIME(raw, lim)
	if perr != nil {
		var le *LimitError
		if errors.As(perr, &le) || errors.Is(perr, ErrEmpty) {
			return nil, perr
		}
		return fallbackMessage(raw, perr)
	}
	env := p.env
	msg = &mailmsg.Message{Size: int64(len(raw))}
	problems := append([]string(nil), p.notes...)
	fillHeaders(msg, envHeaders{env}, &problems)
	msg.Text = toValidUTF8(env.Text)
	msg.HTML = toValidUTF8(env.HTML)

	for i, part := range p.attachments {
		msg.Attachments = append(msg.Attachments, describe(i, part))
	}

	a := Analyse(msg.Subject, msg.Text, msg.HTML, env.GetHeader("List-Unsubscribe"), domain.OfAddress(msg.FromAddress))
	msg.ExtractedText = a.ExtractedText
	msg.Codes = a.Codes
	msg.Links = a.Links

	for _, e := range env.Errors {
		if e == nil || e.Name == enmime.ErrorPlainTextFromHTML {
			continue
		}
		problems = append(problems, e.Error())
	}
	msg.ParseErrors = capErrors(problems)
	return msg, nil
}

// AttachmentContent returns the description and decoded bytes of
// attachment index of raw, as listed by Parse.
func AttachmentContent(raw []byte, lim Limits, index int) (att mailmsg.Attachment, content []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			att, content, err = mailmsg.Attachment{}, nil, internalError(r)
		}
	}()
	p, err := parseMIME(raw, lim)
	if err != nil {
		return mailmsg.Attachment{}, nil, err
	}
	if index < 0 || index >= len(p.attachments) {
		return mailmsg.Attachment{}, nil, fmt.Errorf("mailparse: no attachment %d (message has %d)", index, len(p.attachments))
	}
	part := p.attachments[index]
	return describe(index, part), part.Content, nil
}

// parseMIME enforces lim and runs enmime, repairing a multipart message
// whose boundary is missing or wrong.
func parseMIME(raw []byte, lim Limits) (*parsed, error) {
	if len(raw) == 0 {
		return nil, ErrEmpty
	}
	lim = lim.withDefaults()
	p, err := readEnvelope(raw, lim)
	if err != nil {
		return nil, err
	}
	if fixed, note := repairMultipart(raw, p.env.Root); fixed != nil {
		if p2, err2 := readEnvelope(fixed, lim); err2 == nil {
			p2.notes = append(p2.notes, note)
			return p2, nil
		} else if errors.As(err2, new(*LimitError)) {
			return nil, err2
		}
		p.notes = append(p.notes, note)
	}
	return p, nil
}

// readEnvelope is one pass of pre-scan, enmime and exact limit check.
func readEnvelope(raw []byte, lim Limits) (*parsed, error) {
	if err := prescan(raw, lim); err != nil {
		return nil, err
	}
	guard := &mediaTypeGuard{max: 2*lim.MaxParts + 8}
	parser := enmime.NewParser(
		enmime.SkipMalformedParts(true),
		enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
		enmime.MaxStoredPartErrors(10),
		enmime.DisableTextConversion(true),
		enmime.DisableCharacterDetection(true),
		enmime.SetCustomParseMediaType(guard.parse),
	)
	env, err := parser.ReadEnvelope(bytes.NewReader(raw))
	if guard.exceeded {
		return nil, &LimitError{Limit: LimitParts, Max: lim.MaxParts, Got: guard.seen}
	}
	if err != nil {
		return nil, err
	}
	if env == nil || env.Root == nil {
		return nil, ErrUnusable
	}
	parts, depth := treeShape(env.Root)
	if parts > lim.MaxParts {
		return nil, &LimitError{Limit: LimitParts, Max: lim.MaxParts, Got: parts}
	}
	if depth > lim.MaxDepth {
		return nil, &LimitError{Limit: LimitDepth, Max: lim.MaxDepth, Got: depth}
	}
	return &parsed{env: env, attachments: attachmentParts(env)}, nil
}

var delimiterLineRe = regexp.MustCompile(`(?m)^--([^\s]{1,200})\s*$`)

// repairMultipart handles a top-level multipart whose boundary parameter is
// missing, or names a boundary the body does not use: it guesses the
// boundary from the body's first delimiter-looking line, or else reads the
// body as plain text. It returns the repaired message and what was wrong,
// or nil when nothing needs repair.
func repairMultipart(raw []byte, root *enmime.Part) ([]byte, string) {
	if root == nil || !strings.HasPrefix(root.ContentType, "multipart/") {
		return nil, ""
	}
	if root.Boundary != "" && root.FirstChild != nil {
		return nil, ""
	}
	hlen := headerSectionLen(raw)
	body := raw[hlen:]
	problem := "multipart message without boundary parameter"
	if root.Boundary != "" {
		problem = fmt.Sprintf("boundary %q not found in the body", root.Boundary)
	}
	newType := "text/plain"
	how := "read as plain text"
	for _, m := range delimiterLineRe.FindAllSubmatch(body, 20) {
		b := strings.TrimSuffix(string(m[1]), "--")
		if b == "" || strings.Trim(b, "-") == "" || b == root.Boundary {
			continue
		}
		newType = fmt.Sprintf("%s; boundary=%q", root.ContentType, b)
		how = fmt.Sprintf("guessed boundary %q", b)
		break
	}
	fixed := replaceContentType(raw[:hlen], newType)
	if fixed == nil {
		return nil, ""
	}
	return append(fixed, body...), fmt.Sprintf("[E] Missing Boundary: %s; %s", problem, how)
}

// replaceContentType rewrites the Content-Type field of a header section
// (with its continuation lines).
func replaceContentType(header []byte, ctype string) []byte {
	lines := bytes.SplitAfter(header, []byte("\n"))
	var out []byte
	replaced := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !replaced && isContentTypeLine(bytes.TrimRight(line, "\r\n")) {
			out = append(out, "Content-Type: "+ctype+"\r\n"...)
			for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
				i++
			}
			replaced = true
			continue
		}
		out = append(out, line...)
	}
	if !replaced {
		return nil
	}
	return out
}

// attachmentParts lists, in document order, the parts Parse reports as
// attachments: enmime's attachments, inlines and other non-text parts, less
// the inline text bodies.
func attachmentParts(env *enmime.Envelope) []*enmime.Part {
	want := map[*enmime.Part]bool{}
	for _, p := range env.Attachments {
		want[p] = true
	}
	for _, list := range [][]*enmime.Part{env.Inlines, env.OtherParts} {
		for _, p := range list {
			if isBodyText(p) {
				continue
			}
			want[p] = true
		}
	}
	var out []*enmime.Part
	// Depth-first, document order, iteratively.
	stack := []*enmime.Part{env.Root}
	seen := map[*enmime.Part]bool{}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p == nil || seen[p] {
			continue
		}
		seen[p] = true
		if want[p] {
			out = append(out, p)
		}
		var children []*enmime.Part
		for c := p.FirstChild; c != nil && !seen[c]; c = c.NextSibling {
			children = append(children, c)
		}
		for i := len(children) - 1; i >= 0; i-- {
			stack = append(stack, children[i])
		}
	}
	return out
}

func isBodyText(p *enmime.Part) bool {
	if p.FileName != "" || p.Disposition == "attachment" {
		return false
	}
	return p.ContentType == "text/plain" || p.ContentType == "text/html" || p.ContentType == ""
}

func describe(i int, p *enmime.Part) mailmsg.Attachment {
	ct := p.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return mailmsg.Attachment{
		Index:       i,
		Filename:    toValidUTF8(p.FileName),
		ContentType: ct,
		Size:        len(p.Content),
		ContentID:   toValidUTF8(p.ContentID),
		Inline:      p.Disposition == "inline" || (p.Disposition == "" && p.ContentID != ""),
	}
}

// fallbackMessage makes what it can of input enmime refused: the header
// fields a lenient reader finds, and the text after the first empty line
// (or all of it) when it is mostly readable text.
func fallbackMessage(raw []byte, cause error) (*mailmsg.Message, error) {
	hlen := headerSectionLen(raw)
	h := lenientHeaders(raw[:hlen])
	body := raw
	if hlen < len(raw) || len(h.fields) > 0 {
		body = raw[hlen:]
	}
	text := strings.TrimSpace(toValidUTF8(string(body)))
	if (text == "" && len(h.fields) == 0) || (text != "" && !mostlyText(text)) {
		return nil, fmt.Errorf("%w: %v", ErrUnusable, cause)
	}
	msg := &mailmsg.Message{Size: int64(len(raw)), Text: text}
	problems := []string{"[E] MIME structure: " + cause.Error()}
	fillHeaders(msg, h, &problems)
	a := Analyse(msg.Subject, text, "", "", domain.OfAddress(msg.FromAddress))
	msg.ExtractedText, msg.Codes, msg.Links = a.ExtractedText, a.Codes, a.Links
	msg.ParseErrors = capErrors(problems)
	return msg, nil
}

func mostlyText(s string) bool {
	printable, total := 0, 0
	for _, r := range s {
		total++
		if r == utf8.RuneError {
			continue
		}
		if r >= ' ' || r == '\n' || r == '\r' || r == '\t' {
			printable++
		}
	}
	return total > 0 && printable*10 >= total*9
}

func capErrors(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range list {
		e = toValidUTF8(e)
		if len(e) > 300 {
			e = TruncateUTF8(e, 300) + "…"
		}
		if seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, e)
	}
	if len(out) > maxParseErrors {
		more := len(out) - maxParseErrors
		out = append(out[:maxParseErrors], fmt.Sprintf("… and %d more", more))
	}
	return out
}
