// Package client is a thin Go client for one Mailgent agent, over
// github.com/hashicorp/vault/api: AppRole login, credentials, TOTP codes,
// the inbox (with wait-for-code), threads, sending, login reports and the
// audit trail.
//
//	c, err := client.LoginAppRole(ctx, api.DefaultConfig(), client.AppRole{
//		Mount: "mailgent", Agent: "billing-bot", RoleID: roleID, WrappedSecretID: token,
//	})
//	code, err := c.TOTP(ctx, "aws", 10)
//	msg, err := c.WaitForMessage(ctx, client.WaitOptions{From: "aws.amazon.com", Timeout: 60 * time.Second})
package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// Client acts as one agent on one Mailgent mount.
type Client struct {
	vault *api.Client
	mount string
	agent string
}

// New wraps a Vault client that already holds the agent's token.
func New(vault *api.Client, mount, agent string) *Client {
	return &Client{vault: vault, mount: strings.Trim(mount, "/"), agent: agent}
}

// Vault returns the underlying Vault client.
func (c *Client) Vault() *api.Client { return c.vault }

// Agent is the agent's name.
func (c *Client) Agent() string { return c.agent }

// Mount is the Mailgent mount's path.
func (c *Client) Mount() string { return c.mount }

// AppRole is what `mailgent onboard` hands an agent.
type AppRole struct {
	Mount        string // Mailgent mount, e.g. "mailgent"
	Agent        string
	AppRoleMount string // default "approle"
	RoleID       string
	// SecretID, or WrappedSecretID: the response-wrapping token, unwrapped once here.
	SecretID        string
	WrappedSecretID string
}

// LoginAppRole logs the agent in with AppRole and returns its client.
func LoginAppRole(ctx context.Context, cfg *api.Config, a AppRole) (*Client, error) {
	vc, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	vc.ClearToken()
	secretID := a.SecretID
	if a.WrappedSecretID != "" {
		wc, err := vc.Clone()
		if err != nil {
			return nil, err
		}
		wc.SetToken(a.WrappedSecretID)
		sec, err := wc.Logical().UnwrapWithContext(ctx, "")
		if err != nil {
			return nil, wrapErr("unwrap secret_id", err)
		}
		if sec == nil || sec.Data["secret_id"] == nil {
			return nil, errors.New("unwrap secret_id: the wrapping token holds no secret_id")
		}
		secretID = fmt.Sprint(sec.Data["secret_id"])
	}
	mount := a.AppRoleMount
	if mount == "" {
		mount = "approle"
	}
	sec, err := vc.Logical().WriteWithContext(ctx, "auth/"+strings.Trim(mount, "/")+"/login", map[string]interface{}{
		"role_id": a.RoleID, "secret_id": secretID,
	})
	if err != nil {
		return nil, wrapErr("approle login", err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, errors.New("approle login: Vault returned no token")
	}
	vc.SetToken(sec.Auth.ClientToken)
	return New(vc, a.Mount, a.Agent), nil
}

// Error is a Vault error response: the HTTP status and Vault's messages.
type Error struct {
	Op       string
	Status   int
	Messages []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Op, e.Status, strings.Join(e.Messages, "; "))
}

// IsStatus tells whether err is a Vault error with this HTTP status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func wrapErr(op string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &Error{Op: op, Status: re.StatusCode, Messages: re.Errors}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (c *Client) path(parts ...string) string {
	return c.mount + "/agents/" + c.agent + "/" + strings.Join(parts, "/")
}

// read performs a GET with query parameters and decodes data into out.
func (c *Client) read(ctx context.Context, op, path string, q url.Values, out interface{}) error {
	sec, err := c.vault.Logical().ReadWithDataWithContext(ctx, path, q)
	if err != nil {
		return wrapErr(op, err)
	}
	if sec == nil {
		// The Go API turns a 404 into (nil, nil); ask again for the raw
		// answer, to carry the plugin's own message ("agent … has no …").
		msgs := []string{"not found: " + path}
		resp, err := c.vault.Logical().ReadRawWithDataWithContext(ctx, path, q)
		var re *api.ResponseError
		if errors.As(err, &re) && len(re.Errors) > 0 {
			msgs = re.Errors
		}
		if resp != nil {
			resp.Body.Close()
		}
		return &Error{Op: op, Status: http.StatusNotFound, Messages: msgs}
	}
	return decode(op, sec.Data, out)
}

func (c *Client) write(ctx context.Context, op, path string, body map[string]interface{}, out interface{}) error {
	sec, err := c.vault.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return wrapErr(op, err)
	}
	if out == nil || sec == nil {
		return nil
	}
	return decode(op, sec.Data, out)
}

func decode(op string, data map[string]interface{}, out interface{}) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// Credential is what an agent stores. The TOTP seed goes in, never comes out.
type Credential struct {
	Username   string            `json:"username,omitempty"`
	Password   string            `json:"password,omitempty"`
	URL        string            `json:"url,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	TOTPSecret string            `json:"-"` // base32; write-only
	TOTPURI    string            `json:"-"` // otpauth://totp/…; write-only
	// TOTPQR is the site's enrolment QR code, a PNG, JPEG or GIF image of
	// at most 1 MiB (see ReadQRImage); the engine decodes it. Write-only.
	TOTPQR []byte `json:"-"`
	// BackupCodes are the site's one-time recovery codes: nil leaves the
	// stored set alone, a non-nil list replaces it (empty: removes it).
	// Write-only; BackupCode hands them out one at a time.
	BackupCodes []string `json:"-"`
}

// MaxQRImageBytes is the largest QR image the engine accepts.
const MaxQRImageBytes = 1 << 20

// ReadQRImage reads a QR image file for Credential.TOTPQR, refusing one
// over MaxQRImageBytes before sending it.
func ReadQRImage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxQRImageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxQRImageBytes {
		return nil, fmt.Errorf("totp_qr: %s is over %d bytes, the most the engine takes", path, MaxQRImageBytes)
	}
	return b, nil
}

// StoredCredential is a credential as read back: no seed, its TOTP parameters.
type StoredCredential struct {
	Credential     string            `json:"credential"`
	Version        int               `json:"version"`
	CurrentVersion int               `json:"current_version"`
	Versions       []int             `json:"versions"`
	Username       string            `json:"username"`
	Password       string            `json:"password"`
	URL            string            `json:"url"`
	Fields         map[string]string `json:"fields"`
	TOTP           struct {
		Enabled   bool   `json:"enabled"`
		Algorithm string `json:"algorithm"`
		Digits    int    `json:"digits"`
		Period    int    `json:"period"`
		Issuer    string `json:"issuer"`
		Account   string `json:"account"`
	} `json:"totp"`
	// BackupCodesRemaining is how many recovery codes BackupCode can still
	// hand out; the codes themselves are never read back.
	BackupCodesRemaining int      `json:"backup_codes_remaining"`
	DelegationChain      []string `json:"delegation_chain"`
}

// StoreCredential writes a new version (merged with the current one) and
// returns its number. cas, when not nil, must equal the current version.
func (c *Client) StoreCredential(ctx context.Context, name string, cred Credential, cas *int) (int, error) {
	body := map[string]interface{}{}
	b, _ := json.Marshal(cred)
	_ = json.Unmarshal(b, &body)
	if cred.TOTPSecret != "" {
		body["totp_secret"] = cred.TOTPSecret
	}
	if cred.TOTPURI != "" {
		body["totp_uri"] = cred.TOTPURI
	}
	if cred.TOTPQR != nil {
		body["totp_qr"] = base64.StdEncoding.EncodeToString(cred.TOTPQR)
	}
	if cred.BackupCodes != nil {
		body["backup_codes"] = cred.BackupCodes
	}
	if cas != nil {
		body["cas"] = *cas
	}
	var out struct {
		Version int `json:"version"`
	}
	err := c.write(ctx, "store credential "+name, c.path("creds", name), body, &out)
	return out.Version, err
}

// GetCredential reads the current version (version 0) or a given one.
func (c *Client) GetCredential(ctx context.Context, name string, version int) (*StoredCredential, error) {
	q := url.Values{}
	if version > 0 {
		q.Set("version", strconv.Itoa(version))
	}
	out := &StoredCredential{}
	return out, c.read(ctx, "read credential "+name, c.path("creds", name), q, out)
}

// ListCredentials returns the agent's credential names.
func (c *Client) ListCredentials(ctx context.Context) ([]string, error) {
	sec, err := c.vault.Logical().ListWithContext(ctx, c.path("creds"))
	if err != nil {
		return nil, wrapErr("list credentials", err)
	}
	if sec == nil {
		return []string{}, nil
	}
	var out struct {
		Keys []string `json:"keys"`
	}
	return out.Keys, decode("list credentials", sec.Data, &out)
}

// Code is a TOTP code and how long it stays valid.
type Code struct {
	Code             string `json:"code"`
	SecondsRemaining int    `json:"seconds_remaining"`
	ValidUntil       string `json:"valid_until"`
	Period           int    `json:"period"`
	Digits           int    `json:"digits"`
	Algorithm        string `json:"algorithm"`
}

// TOTP returns the credential's current code; with minRemaining > 0 it
// waits for the next step when fewer seconds are left.
func (c *Client) TOTP(ctx context.Context, name string, minRemaining int) (*Code, error) {
	q := url.Values{}
	if minRemaining > 0 {
		q.Set("min_remaining", strconv.Itoa(minRemaining))
	}
	out := &Code{}
	return out, c.read(ctx, "totp "+name, c.path("creds", name, "totp"), q, out)
}

// FreshTOTP returns a code of a later time step than any code of the
// credential handed out before (a site refuses a code it has seen), waiting
// for the next step when needed; minRemaining as for TOTP.
func (c *Client) FreshTOTP(ctx context.Context, name string, minRemaining int) (*Code, error) {
	q := url.Values{"fresh": {"true"}}
	if minRemaining > 0 {
		q.Set("min_remaining", strconv.Itoa(minRemaining))
	}
	out := &Code{}
	return out, c.read(ctx, "fresh totp "+name, c.path("creds", name, "totp"), q, out)
}

// EnrollTOTPFromQRFile stores the TOTP seed of the QR image at path (read
// with ReadQRImage) in the credential and returns the new version.
func (c *Client) EnrollTOTPFromQRFile(ctx context.Context, name, path string, cas *int) (int, error) {
	img, err := ReadQRImage(path)
	if err != nil {
		return 0, err
	}
	return c.StoreCredential(ctx, name, Credential{TOTPQR: img}, cas)
}

// BackupCode is one recovery code, handed out once.
type BackupCode struct {
	Code      string `json:"code"`
	Remaining int    `json:"remaining"`
}

// BackupCode hands out the credential's next unused recovery code and marks
// it used; none left is an *Error with status 409.
func (c *Client) BackupCode(ctx context.Context, name string) (*BackupCode, error) {
	out := &BackupCode{}
	return out, c.write(ctx, "backup code "+name, c.path("creds", name, "backup-code"), map[string]interface{}{}, out)
}

// ReportLogin records a login attempt with a credential.
func (c *Client) ReportLogin(ctx context.Context, name string, success bool, detail string) error {
	outcome := "failure"
	if success {
		outcome = "success"
	}
	return c.write(ctx, "report login "+name, c.path("creds", name, "login"), map[string]interface{}{"outcome": outcome, "detail": detail}, nil)
}

// CodeCandidate is a candidate verification code and its context.
type CodeCandidate struct {
	Code    string `json:"code"`
	Context string `json:"context"`
}

// Link is a link of a message, verification links first.
type Link struct {
	URL  string `json:"url"`
	Text string `json:"text"`
	Kind string `json:"kind"`
	// Host is the link's host (IDNA ASCII form); Aligned tells whether it
	// belongs to the sender's organisational domain.
	Host    string `json:"host"`
	Aligned bool   `json:"aligned"`
}

// Sender verdicts (Message.Trust).
const (
	TrustVerified   = "verified"
	TrustUnverified = "unverified"
	TrustAny        = "any"
)

// Message is one inbox message (summary fields always; the rest on reads).
type Message struct {
	ID          string `json:"id"`
	From        string `json:"from"`
	FromAddress string `json:"from_address"`
	// SenderDomain is the From address's domain; Trust is TrustVerified
	// when an aligned DKIM/SPF/DMARC pass authenticated it, TrustReason
	// says why (or why not).
	SenderDomain  string          `json:"sender_domain"`
	Trust         string          `json:"trust"`
	TrustReason   string          `json:"trust_reason"`
	Subject       string          `json:"subject"`
	Code          string          `json:"code"`
	Unread        bool            `json:"unread"`
	StoredAt      string          `json:"stored_at"`
	Text          string          `json:"text"`
	HTML          string          `json:"html"`
	ExtractedText string          `json:"extracted_text"`
	Codes         []CodeCandidate `json:"codes"`
	Links         []Link          `json:"links"`
	MessageID     string          `json:"message_id"`
}

// Filter selects messages.
type Filter struct {
	// From is a sender domain (it and its subdomains) or an exact address.
	From string
	// FromContains matches a substring of the display From or address: a
	// search aid, never a trust decision.
	FromContains string
	Subject      string
	// Trust is TrustVerified, TrustUnverified or "" (any).
	Trust      string
	Since      time.Time
	UnreadOnly bool
	Limit      int
}

func (f Filter) values() url.Values {
	q := url.Values{}
	if f.From != "" {
		q.Set("from", f.From)
	}
	if f.FromContains != "" {
		q.Set("from_contains", f.FromContains)
	}
	if f.Trust != "" {
		q.Set("trust", f.Trust)
	}
	if f.Subject != "" {
		q.Set("subject", f.Subject)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.UnreadOnly {
		q.Set("unread", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Messages lists the inbox, newest first.
func (c *Client) Messages(ctx context.Context, f Filter) ([]Message, error) {
	var out struct {
		Messages []Message `json:"messages"`
	}
	return out.Messages, c.read(ctx, "list messages", c.path("messages"), f.values(), &out)
}

// ReadMessage returns one message and marks it read.
func (c *Client) ReadMessage(ctx context.Context, id string) (*Message, error) {
	out := &Message{}
	return out, c.read(ctx, "read message "+id, c.path("messages", id), nil, out)
}

// WaitOptions select the message WaitForMessage waits for.
type WaitOptions struct {
	// From is a sender domain or exact address. With From set the mount
	// returns only verified mail unless Trust is TrustAny.
	From, Subject string
	// Trust is TrustVerified, TrustAny or "" (the mount's default).
	Trust   string
	Since   time.Time
	Timeout time.Duration // default 30 s, capped by the mount
}

// WaitForMessage blocks until a matching unread message arrives (or one
// arrived in the last minute), marks it read and returns it. A timeout is
// an *Error with status 408.
func (c *Client) WaitForMessage(ctx context.Context, o WaitOptions) (*Message, error) {
	q := Filter{From: o.From, Subject: o.Subject, Trust: o.Trust, Since: o.Since}.values()
	if o.Timeout > 0 {
		q.Set("timeout", strconv.Itoa(int(o.Timeout.Seconds())))
	}
	out := &Message{}
	return out, c.read(ctx, "wait for message", c.path("messages", "wait"), q, out)
}

// ThreadMessage is one message of a thread: Kind "inbox" (ID for
// ReadMessage) or "sent" (ID for SentMessage). From, To, Subject, Unread
// and Status are filled by Thread, not by Threads.
type ThreadMessage struct {
	Kind    string   `json:"kind"`
	ID      string   `json:"id"`
	At      string   `json:"at"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Unread  bool     `json:"unread"`
	Status  string   `json:"status"`
}

// Thread is one conversation of inbox and sent mail.
type Thread struct {
	ID            string          `json:"id"`
	Subject       string          `json:"subject"`
	Participants  []string        `json:"participants"`
	MessageCount  int             `json:"message_count"`
	Unread        int             `json:"unread"`
	FirstActivity string          `json:"first_activity"`
	LastActivity  string          `json:"last_activity"`
	Messages      []ThreadMessage `json:"messages"`
	InboxIDs      []string        `json:"inbox_ids"`
	SentIDs       []string        `json:"sent_ids"`
}

// Threads lists the agent's conversations, newest activity first: at most
// limit (0: the mount's default) after the cursor after (""). It returns
// the cursor of the next page, "" at the end.
func (c *Client) Threads(ctx context.Context, limit int, after string) ([]Thread, string, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	var out struct {
		Threads    []Thread `json:"threads"`
		NextCursor string   `json:"next_cursor"`
	}
	err := c.read(ctx, "list threads", c.path("threads"), q, &out)
	return out.Threads, out.NextCursor, err
}

// Thread returns one conversation with each message's sender, recipients
// and subject.
func (c *Client) Thread(ctx context.Context, id string) (*Thread, error) {
	out := &Thread{}
	return out, c.read(ctx, "read thread "+id, c.path("threads", id), nil, out)
}

// Attachment to send.
type Attachment struct {
	Filename    string
	ContentType string
	Content     []byte
}

// Email is a message the agent sends from its own address.
type Email struct {
	To, Cc, Bcc []string
	Subject     string
	Text, HTML  string
	ReplyTo     string
	InReplyTo   string // an inbox message ID
	Attachments []Attachment
}

// Sent is a sent message and its delivery status.
type Sent struct {
	ID        string   `json:"id"`
	MessageID string   `json:"message_id"`
	Status    string   `json:"status"`
	Reply     string   `json:"reply"`
	Subject   string   `json:"subject"`
	To        []string `json:"to"`
	Cc        []string `json:"cc"`
	Bcc       []string `json:"bcc"`
	InReplyTo string   `json:"in_reply_to"`
	Attempts  int      `json:"attempts"`
	QueuedAt  string   `json:"queued_at"`
	UpdatedAt string   `json:"updated_at"`
}

// Send queues an email; its status goes from queued to sent or failed.
func (c *Client) Send(ctx context.Context, e Email) (*Sent, error) {
	body := map[string]interface{}{"to": e.To, "subject": e.Subject}
	for k, v := range map[string]string{"text": e.Text, "html": e.HTML, "reply_to": e.ReplyTo, "in_reply_to": e.InReplyTo} {
		if v != "" {
			body[k] = v
		}
	}
	if len(e.Cc) > 0 {
		body["cc"] = e.Cc
	}
	if len(e.Bcc) > 0 {
		body["bcc"] = e.Bcc
	}
	for _, a := range e.Attachments {
		list, _ := body["attachments"].([]map[string]interface{})
		body["attachments"] = append(list, map[string]interface{}{"filename": a.Filename, "content_type": a.ContentType, "content": a.Content})
	}
	out := &Sent{}
	return out, c.write(ctx, "send", c.path("send"), body, out)
}

// SentMessage returns a sent message's current status.
func (c *Client) SentMessage(ctx context.Context, id string) (*Sent, error) {
	out := &Sent{}
	return out, c.read(ctx, "sent "+id, c.path("sent", id), nil, out)
}

// AuditEvent is one event of the agent's audit trail.
type AuditEvent struct {
	ID              string   `json:"id"`
	Time            string   `json:"time"`
	Operation       string   `json:"operation"`
	Outcome         string   `json:"outcome"`
	Credential      string   `json:"credential"`
	Detail          string   `json:"detail"`
	DelegationChain []string `json:"delegation_chain"`
	RequestID       string   `json:"request_id"`
	DisplayName     string   `json:"display_name"`
}

// Audit returns the agent's audit trail, newest first (operation may be a
// family such as "cred.*").
func (c *Client) Audit(ctx context.Context, operation string, limit int) ([]AuditEvent, error) {
	q := url.Values{}
	if operation != "" {
		q.Set("operation", operation)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Events []AuditEvent `json:"events"`
	}
	return out.Events, c.read(ctx, "audit", c.path("audit"), q, &out)
}
