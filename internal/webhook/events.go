package webhook

import (
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"strings"
	"time"
)

// The events a webhook may subscribe to.
const (
	// MessageReceived: a message is stored in an agent's inbox.
	MessageReceived = "message.received"
	// MessageSent: the smarthost accepted a message an agent sent.
	MessageSent = "message.sent"
	// MessageFailed: a message an agent sent could not be delivered.
	MessageFailed = "message.failed"
	// LoginReported: an agent reported a login attempt.
	LoginReported = "login.reported"
)

// EventTypes lists every event type, in the order the docs give them.
func EventTypes() []string {
	return []string{MessageReceived, MessageSent, MessageFailed, LoginReported}
}

// ValidEventType tells whether t is one of EventTypes.
func ValidEventType(t string) bool {
	for _, e := range EventTypes() {
		if e == t {
			return true
		}
	}
	return false
}

// EventID is the stable ID of one event for one webhook: the same webhook
// and source (what happened, e.g. "message.received/<message id>") always
// give the same ID, so a retried publish is deduplicated by JetStream and
// a receiver can drop a duplicate delivery by its webhook-id.
func EventID(webhookID, source string) string {
	sum := sha256.Sum256([]byte(webhookID + "\x00" + source))
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// eventIDRe is the shape of EventID.
var eventIDRe = regexp.MustCompile(`^msg_[a-z2-7]{26}$`)

// ValidEventID tells whether id has the shape of an EventID.
func ValidEventID(id string) bool { return eventIDRe.MatchString(id) }

// Payload is the JSON body every delivery carries, as the Standard
// Webhooks specification recommends: the type, when it happened, and the
// event's data.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}
