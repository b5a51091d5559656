// Package webhook is what the plugin and the relays share about webhooks:
// the event types and their IDs (events.go), the Standard Webhooks
// signature and secrets (sign.go), the retry schedule (schedule.go) and
// which targets may be called (target.go). The bus carries the events
// (internal/bus, webhook_*.go); the plugin makes them (plugin/webhooks.go)
// and the relays deliver them (relay/webhooks.go).
package webhook
