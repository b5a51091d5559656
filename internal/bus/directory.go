package bus

import "strings"

// The address directory's keys (DirectoryBucket), names escaped by token:
//
//	agent.<domain>.<agent>   "active" while the agent is live
//	key.<domain>             the plugin's inbound HPKE public key
//	signer.<domain>          the plugin's outbound signing key
//	relay.<domain>.<key ID>  a registered relay (value: its name)

// DirectoryAgentKey is where an agent of domain is listed while live.
func DirectoryAgentKey(domain, agent string) string {
	return "agent." + token(domain) + "." + token(agent)
}

// DirectoryAgentFilter matches every agent key of one domain.
func DirectoryAgentFilter(domain string) string { return "agent." + token(domain) + ".*" }

// DirectoryPublicKeyKey is where a domain's HPKE public key is published.
func DirectoryPublicKeyKey(domain string) string { return "key." + token(domain) }

// DirectorySignerKey is where the plugin publishes its outbound signing
// key (Ed25519, 32 bytes) for the relays to check queued mail with.
func DirectorySignerKey(domain string) string { return "signer." + token(domain) }

// DirectoryRelayKey marks a registered relay's key ID (value: its name), so
// a relay knows it is registered before it accepts mail it could not hand
// over.
func DirectoryRelayKey(domain, keyID string) string { return "relay." + token(domain) + "." + keyID }

// DirectoryRelayFilter matches every relay key of one domain.
func DirectoryRelayFilter(domain string) string { return "relay." + token(domain) + ".*" }

// AgentFromDirectoryKey returns the agent of one of domain's directory
// keys, or "" if the key is not one.
func AgentFromDirectoryKey(domain, key string) string {
	rest, ok := strings.CutPrefix(key, "agent."+token(domain)+".")
	if !ok {
		return ""
	}
	return strings.NewReplacer("_2e", ".", "_5f", "_").Replace(rest)
}
