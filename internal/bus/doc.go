// Package bus is the one place that knows how Mailgent's plugin and relay
// meet on NATS JetStream. Its files, by concept:
//
//   - connect.go: connection options, transport checks, Connect
//   - streams.go: stream, bucket and consumer names, subjects and settings;
//     the plugin creates them (Ensure…), a relay only binds to them (Bind)
//   - directory.go: the keys of the address directory the plugin writes
//   - relay_key.go: a relay's identity (its signing and sealing keys)
//   - sealing.go: the HPKE suite and AEAD every sealed message uses
//   - inbound_seal.go, inbound_publish.go: relay → plugin mail
//   - outbound_seal.go, outbound_publish.go: plugin → relay mail and the
//     delivery results coming back
package bus
