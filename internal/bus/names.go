package bus

import "strings"

// Where things live on the bus: streams, buckets, subjects, consumers and
// headers. Names of a domain or agent are escaped by token.
const (
	// InboundStream holds mail accepted by a relay until the plugin stored it.
	InboundStream = "MAILGENT_INBOUND"
	// InboundSubjectPrefix is followed by the recipient domain and agent name.
	InboundSubjectPrefix = "mailgent.inbound."
	// InboundBlobBucket is the object store for sealed inbound payloads
	// over InlineLimit.
	InboundBlobBucket = "mailgent_inbound_blobs"

	// DirectoryBucket is the KV bucket the plugin writes and relays read:
	// live agents, the plugin's public keys and the registered relays, per
	// domain (directory.go).
	DirectoryBucket = "mailgent_directory"

	// OutboundStream holds signed messages the plugin queued until a relay
	// delivered them (or gave up).
	OutboundStream        = "MAILGENT_OUTBOUND"
	OutboundSubjectPrefix = "mailgent.outbound."
	// OutboundBlobBucket holds queued messages too large for one stream
	// message. The plugin writes it, relays only read it (a bucket apart
	// from the inbound blobs, which relays write).
	OutboundBlobBucket = "mailgent_outbound_blobs"
	// StatusStream carries delivery results back to the plugin.
	StatusStream        = "MAILGENT_OUTBOUND_STATUS"
	StatusSubjectPrefix = "mailgent.outstatus."
	// DeliveryBucket remembers which messages a relay delivered, so a
	// redelivered queue message is never sent twice (webhook events too,
	// under WebhookDeliveryKey).
	DeliveryBucket = "mailgent_delivered"

	// WebhookStream holds webhook events, signed by the plugin and sealed
	// to the relays, until a relay delivered them (or gave up).
	WebhookStream        = "MAILGENT_WEBHOOKS"
	WebhookSubjectPrefix = "mailgent.webhook."
	// WebhookStatusStream carries the relays' delivery attempts back to
	// the plugin (a webhook's deliveries listing).
	WebhookStatusStream        = "MAILGENT_WEBHOOK_STATUS"
	WebhookStatusSubjectPrefix = "mailgent.webhookstatus."
)

// Headers of the messages on the bus.
const (
	// HeaderBlob names the blob holding the payload, when there is one.
	HeaderBlob = "Mailgent-Blob"
	// HeaderAgent and HeaderDomain say whom a message is for, in clear, so
	// the plugin can drop mail for unknown agents without decrypting it.
	HeaderAgent  = "Mailgent-Agent"
	HeaderDomain = "Mailgent-Domain"
	// HeaderSeal is the version of the sealing a payload uses.
	HeaderSeal = "Mailgent-Seal"
)

// InboundSubject is the subject of mail for one agent of one domain.
func InboundSubject(domain, agent string) string {
	return InboundSubjectPrefix + token(domain) + "." + token(agent)
}

// InboundFilter is the consumer filter of one domain.
func InboundFilter(domain string) string {
	return InboundSubjectPrefix + token(domain) + ".>"
}

// InboundConsumerName is the durable consumer of the mount serving a
// domain's inbound mail.
func InboundConsumerName(domain string) string { return "mailgent-plugin-" + token(domain) }

// ConsumerName is InboundConsumerName.
//
// Deprecated: kept for callers of the old name; use InboundConsumerName.
func ConsumerName(domain string) string { return InboundConsumerName(domain) }

// OutboundSubject is where the plugin queues a domain's outbound mail.
func OutboundSubject(domain string) string { return OutboundSubjectPrefix + token(domain) }

// StatusSubject is where relays report a domain's delivery results.
func StatusSubject(domain string) string { return StatusSubjectPrefix + token(domain) }

// RelayConsumerName is the durable consumer all relays of a domain share:
// each queued message goes to one relay.
func RelayConsumerName(domain string) string { return "mailgent-relay-" + token(domain) }

// StatusConsumerName is the plugin's durable consumer of delivery results.
func StatusConsumerName(domain string) string { return "mailgent-plugin-status-" + token(domain) }

// WebhookSubject is where the plugin publishes a domain's webhook events.
func WebhookSubject(domain string) string { return WebhookSubjectPrefix + token(domain) }

// WebhookStatusSubject is where relays report a domain's webhook attempts.
func WebhookStatusSubject(domain string) string { return WebhookStatusSubjectPrefix + token(domain) }

// WebhookConsumerName is the durable consumer all relays of a domain
// share: each event goes to one relay at a time.
func WebhookConsumerName(domain string) string { return "mailgent-relay-webhooks-" + token(domain) }

// WebhookStatusConsumerName is the plugin's durable consumer of attempts.
func WebhookStatusConsumerName(domain string) string {
	return "mailgent-plugin-webhook-status-" + token(domain)
}

// WebhookDeliveryKey is the DeliveryBucket key recording that a webhook
// event (an ID of webhook.EventID's shape) was delivered.
func WebhookDeliveryKey(eventID string) string { return "webhook_" + eventID }

// token makes a name ([a-z0-9._-]) one NATS subject token, injectively:
// '_' becomes "_5f" and '.' "_2e", so "a.b" and "a_b" stay apart.
func token(s string) string {
	return strings.NewReplacer("_", "_5f", ".", "_2e").Replace(s)
}
