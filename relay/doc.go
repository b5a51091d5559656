// Package relay is Mailgent's stateless SMTP relay: it accepts mail for live
// agent addresses, hands it to NATS JetStream for the Vault plugin, and
// delivers the agents' outbound mail to a smarthost. Its files, by concept:
//
//   - server.go: the process — New, Run, the wiring and the bus handles
//   - config.go: Config, its flags and environment, Validate
//   - session.go: the SMTP protocol of inbound mail
//   - delivery.go: inbound mail from the session to the bus, behind the
//     delivery interface
//   - replies.go: every SMTP reply, and the one error → reply mapping
//   - ratelimit.go, listener.go: per sender domain and client IP limits
//   - senderauth.go: DKIM, SPF and DMARC of inbound mail
//   - directory.go: the relay's view of the plugin's address directory
//   - registration.go: the relay's key and its registration
//   - outbound.go: the outbound state machine, one queued message at a time
//   - outbound_workers.go: the workers pulling queued mail
//   - smarthost.go: the SMTP client delivering outbound mail
package relay
