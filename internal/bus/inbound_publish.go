package bus

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publishing inbound mail: the relay hands a sealed payload (inbound_seal.go)
// to the inbound stream, inline or, over InlineLimit, through the inbound
// blob store.

// MessageID derives a message's ID from the recipient and the bytes the
// sender sent, so a sender's retry of the same message (after a lost 250)
// gets the same ID and JetStream's and the inbox's dedup keep one copy.
func MessageID(domain, agent string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(agent + "@" + domain + "\n"))
	h.Write(raw)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:20]))
}

// Publish sends one sealed payload and returns once JetStream has it
// durably (PubAck, and for a blob every chunk acknowledged). dup tells a
// message JetStream had already seen.
func Publish(ctx context.Context, js jetstream.JetStream, obs jetstream.ObjectStore, domain, agent, id string, sealed []byte) (dup bool, err error) {
	msg := nats.NewMsg(InboundSubject(domain, agent))
	msg.Header.Set(jetstream.MsgIDHeader, id)
	msg.Header.Set(HeaderAgent, agent)
	msg.Header.Set(HeaderDomain, domain)
	msg.Header.Set(HeaderSeal, sealVersionHeader)
	if len(sealed) > InlineLimit {
		// Refuse a large payload before it goes to the blob store when the
		// agent's backlog is full, as the stream would: a relay may not
		// delete blobs (its NATS user cannot purge), so a refused one would
		// sit there until the bucket's TTL.
		if err := checkBacklog(ctx, js, InboundSubject(domain, agent)); err != nil {
			return false, fmt.Errorf("publish: %w", err)
		}
	}
	if err := attachPayload(ctx, obs, msg, id, sealed); err != nil {
		return false, fmt.Errorf("put blob: %w", classifyFull(err))
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("publish: %w", classifyFull(err))
	}
	return ack.Duplicate, nil
}

// checkBacklog returns ErrAgentBacklog when subject holds as many
// messages as the stream keeps per subject already.
func checkBacklog(ctx context.Context, js jetstream.JetStream, subject string) error {
	st, err := js.Stream(ctx, InboundStream)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return err
	}
	if limit := info.Config.MaxMsgsPerSubject; limit > 0 && uint64(info.State.Subjects[subject]) >= uint64(limit) {
		return fmt.Errorf("%w: %d messages", ErrAgentBacklog, info.State.Subjects[subject])
	}
	return nil
}

// Errors of a full bus, so a relay can answer what a sender should hear.
var (
	// ErrAgentBacklog: the stream holds MaxPendingPerAgent messages for
	// this agent that the plugin has not stored yet.
	ErrAgentBacklog = errors.New("too much mail is waiting to be stored for this agent")
	// ErrBusFull: the stream or the blob store is at its size limit.
	ErrBusFull = errors.New("the mail bus is full")
)

// classifyFull wraps a JetStream refusal for want of room in ErrAgentBacklog
// or ErrBusFull (keeping err); any other error is returned as it is.
func classifyFull(err error) error {
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch {
	case strings.Contains(api.Description, "maximum messages per subject exceeded"):
		return fmt.Errorf("%w: %w", ErrAgentBacklog, err)
	case strings.Contains(api.Description, "maximum bytes exceeded"), strings.Contains(api.Description, "maximum messages exceeded"),
		strings.Contains(api.Description, "insufficient resources"):
		return fmt.Errorf("%w: %w", ErrBusFull, err)
	}
	return err
}
