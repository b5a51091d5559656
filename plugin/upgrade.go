package plugin

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/domain"
	"github.com/mailgent/mailgent/internal/mailmsg"
)

// What exists only for data earlier versions wrote, and why each stays.
// Nothing here is written any more; it is read, or removed, because
// storage may still hold it.

// 1. Sealed inbox entries and sent-mail records as JSON (a sealedBox,
// base64 inside), before the binary form (sealing.go). Stays: a message
// keeps its entries as first written until it is deleted or its
// message_retention (up to ten years) ends, and so does a sent record.

// isSealedJSON tells the JSON form, which begins with '{' (the binary
// form begins with sealedBinaryTag).
func isSealedJSON(b []byte) bool { return len(b) > 0 && b[0] == '{' }

// parseSealedJSON reads the JSON form.
func parseSealedJSON(b []byte) (*sealedBox, error) {
	box := &sealedBox{}
	if err := json.Unmarshal(b, box); err != nil {
		return nil, err
	}
	return box, nil
}

// 2. The first inbox layout's dedup markers, unread marks and count
// entry. Not read: the in-memory index (inbox_index.go) answers what they
// did. Stays: an agent's are removed with the agent's inbox when it is
// revoked (sweepRevoked; docs/api.md lists them), and nothing else
// removes them.
const (
	inboxDedupPrefix  = "inboxdedup/"  // inboxdedup/<agent>/<message ID>
	inboxUnreadPrefix = "inboxunread/" // inboxunread/<agent>/<key>
	inboxStatPrefix   = "inboxstat/"   // inboxstat/<agent>: the counts
)

// deleteLegacyInbox removes a revoked agent's entries of the first inbox
// layout and reports how many there were.
func deleteLegacyInbox(ctx context.Context, s logical.Storage, agent string) (int, error) {
	n := 0
	for _, p := range []string{inboxDedupPrefix, inboxUnreadPrefix} {
		k, err := deleteTree(ctx, s, p+agent+"/")
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, s.Delete(ctx, inboxStatPrefix+agent)
}

// 3. Summaries stored before the relay's sender verdict was recorded:
// no sender_domain, trust or trust_reason. Stays for the same reason as
// 1; such mail was never verified, and from= still matches the domain
// of its address.

// senderDomain is the normalised domain of the sender.
func (s *inboxSummary) senderDomain() string {
	if s.SenderDomain != "" {
		return s.SenderDomain
	}
	return domain.OfAddress(s.FromAddress)
}

// trust is the sender verdict: verified, or else unverified.
func (s *inboxSummary) trust() string {
	if s.Trust == mailmsg.TrustVerified {
		return mailmsg.TrustVerified
	}
	return mailmsg.TrustUnverified
}

// trustReason explains the verdict.
func (s *inboxSummary) trustReason() string {
	if s.Trust == "" {
		return "stored before sender verification was recorded"
	}
	return s.TrustReason
}

// 4. Configs written before require_verified_sender existed: readConfig
// decodes a stored config onto defaultConfig(), so a field the entry
// lacks takes its default (true here), for this and every later field.
