package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Conversations: an agent's inbox and sent mail grouped into threads
// (agents/:agent/threads). Messages are linked by their headers — a
// message joins every message whose Message-ID its In-Reply-To or
// References names, and every message that names one of the same IDs —
// and a sent reply to the inbox message it answered. A message its
// headers link to nothing the agent holds joins by subject only if its
// subject is a reply or forward ("Re:", "Fwd:", "AW:", …) of a thread's
// subject: two unrelated notifications with the same subject stay apart.
// Everything comes from the inbox and sent indexes; no body is read.

// Bounds of the threading headers kept per message (in the indexes).
const (
	maxThreadRefs  = 20  // References kept: the first (the root) and the last 19
	maxThreadIDLen = 255 // a longer message ID is dropped, not cut
)

// threadID is a message ID as kept for threading: without angle brackets
// or space, "" when it is too long to be one.
func threadID(id string) string {
	id = strings.Trim(strings.TrimSpace(id), "<>")
	if len(id) > maxThreadIDLen || strings.ContainsAny(id, " \t\r\n") {
		return ""
	}
	return id
}

// threadIDs keeps the IDs of a References header within maxThreadRefs.
func threadIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if id = threadID(id); id != "" {
			out = append(out, id)
		}
	}
	if len(out) > maxThreadRefs {
		out = append(out[:1], out[len(out)-maxThreadRefs+1:]...)
	}
	return out
}

// Kinds of thread items.
const (
	itemInbox = "inbox"
	itemSent  = "sent"
)

// threadItem is one message of a thread, inbox or sent.
type threadItem struct {
	kind, id string
	at       time.Time
	// messageID is its Message-ID; refs what its References and
	// In-Reply-To name, root first; links other keys it joins (a sent
	// reply: the inbox message it answered).
	messageID   string
	refs, links []string
	subject     string
	from        string   // an inbox message's sender, a sent one's agent
	to          []string // a sent message's To and Cc
	unread      bool     // inbox
	status      string   // sent
}

// inboxLink is the key that links a sent reply to the inbox message it answered.
func inboxLink(key string) string { return "\x00inbox/" + key }

func inboxItem(s *inboxSummary) *threadItem {
	refs := slices.Clone(s.References)
	if s.InReplyTo != "" && !slices.Contains(refs, s.InReplyTo) {
		refs = append(refs, s.InReplyTo)
	}
	return &threadItem{kind: itemInbox, id: s.Key, at: s.StoredAt, messageID: s.MessageID, refs: refs,
		links: []string{inboxLink(s.Key)}, subject: s.Subject, from: strings.ToLower(s.FromAddress), unread: s.Unread}
}

func sentItem(e *sentEntry, agentAddress string) *threadItem {
	it := &threadItem{kind: itemSent, id: e.ID, at: e.QueuedAt, messageID: e.MessageID, refs: e.References,
		subject: e.Subject, from: agentAddress, status: e.Status}
	if e.InReplyTo != "" {
		it.links = []string{inboxLink(e.InReplyTo)}
	}
	for _, a := range append(slices.Clone(e.To), e.Cc...) {
		it.to = append(it.to, strings.ToLower(a))
	}
	return it
}

// conversation is one thread.
type conversation struct {
	id, subject string
	items       []*threadItem // oldest first
	first, last time.Time
	unread      int
}

// cursor is the thread's place in the listing, newest activity first:
// what after= and next_cursor carry.
func (c *conversation) cursor() string { return reverseTime(c.last) + "-" + c.id }

// participants are the addresses of everyone in the thread, sorted.
func (c *conversation) participants() []string {
	seen := map[string]bool{}
	for _, it := range c.items {
		for _, a := range append([]string{it.from}, it.to...) {
			if a != "" {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// groupThreads groups items into conversations, newest activity first:
// by header links (linkByHeaders), then lone messages by reply subject
// (joinBySubject).
func groupThreads(items []*threadItem) []*conversation {
	sort.Slice(items, func(i, j int) bool { return itemBefore(items[i], items[j]) })
	groups := joinBySubject(linkByHeaders(items))
	out := make([]*conversation, 0, len(groups))
	for _, g := range groups {
		out = append(out, newConversation(g))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cursor() < out[j].cursor() })
	return out
}

func itemBefore(a, b *threadItem) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.kind+a.id < b.kind+b.id
}

// linkByHeaders unites each message with every ID it has or names; it
// returns the groups, each oldest first, in the order of their first
// message.
func linkByHeaders(items []*threadItem) [][]*threadItem {
	parent := make([]int, len(items))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{} // an ID or link → the first item that has or names it
	for i, it := range items {
		keys := append(append(slices.Clone(it.refs), it.links...), it.messageID)
		for _, k := range keys {
			if k == "" {
				continue
			}
			if j, ok := owner[k]; ok {
				parent[find(i)] = find(j)
				continue
			}
			owner[k] = i
		}
	}
	index := map[int]int{}
	var groups [][]*threadItem
	for i, it := range items {
		r := find(i)
		g, ok := index[r]
		if !ok {
			g = len(groups)
			index[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], it)
	}
	return groups
}

// replyPrefix is one reply or forward marker at the start of a subject, in
// the languages mail clients write them: Re, Fwd, Fw, AW, WG, SV, VS,
// Antw, Odp, TR, RIF, Res, Enc, R, with an optional counter ("Re[2]:").
var replyPrefix = regexp.MustCompile(`(?i)^\s*(?:re|fwd?|aw|wg|sv|vs|antw|odp|tr|rif|res|enc|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// normalizeSubject strips reply and forward markers, folds case and space;
// reply tells whether there was a marker.
func normalizeSubject(s string) (norm string, reply bool) {
	for {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil {
			break
		}
		s, reply = s[loc[1]:], true
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " ")), reply
}

// joinBySubject merges each lone message whose subject is a reply or
// forward into the latest earlier group with the same subject. groups are
// in the order of their first message.
func joinBySubject(groups [][]*threadItem) [][]*threadItem {
	bySubject := map[string]int{} // normalised subject → latest group with it
	var out [][]*threadItem
	for _, g := range groups {
		norm, reply := normalizeSubject(g[0].subject)
		if j, ok := bySubject[norm]; ok && len(g) == 1 && reply && norm != "" {
			out[j] = append(out[j], g[0])
			continue
		}
		if norm != "" {
			bySubject[norm] = len(out)
		}
		out = append(out, g)
	}
	for _, g := range out {
		sort.Slice(g, func(i, j int) bool { return itemBefore(g[i], g[j]) })
	}
	return out
}

// newConversation makes a group (oldest first) a thread. Its ID is a hash
// of its root — the first message's first reference, else its own
// Message-ID, else its key — so it stays as the thread grows, and even
// when the first message the agent held is deleted from a reply chain.
func newConversation(items []*threadItem) *conversation {
	first := items[0]
	root := first.kind + "/" + first.id
	switch {
	case len(first.refs) > 0:
		root = first.refs[0]
	case first.messageID != "":
		root = first.messageID
	}
	sum := sha256.Sum256([]byte("mailgent-thread\x00" + root))
	c := &conversation{id: hex.EncodeToString(sum[:12]), subject: first.subject, items: items,
		first: first.at, last: items[len(items)-1].at}
	for _, it := range items {
		if it.unread {
			c.unread++
		}
	}
	return c
}
