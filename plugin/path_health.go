package plugin

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/mailgent/mailgent/internal/version"
)

// health and metrics: what an operator's monitoring polls. Vault's
// standbys forward every request to the active node, so both always
// describe the active node's plugin process — served_by names it.

func (b *backend) pathHealth() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:      "health",
			DisplayAttrs: pathDisplay("health"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathHealthRead, DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"}},
			},
			HelpSynopsis:    "Whether the engine is well: the active node's bus status (no token needed). 200 when well, 503 when not.",
			HelpDescription: healthHelp,
		},
		{
			Pattern: "metrics",
			Fields: map[string]*framework.FieldSchema{
				"format": {
					Type:        framework.TypeString,
					Description: "prometheus: the Prometheus text format itself (for a scraper); otherwise JSON with the text in the field prometheus.",
				},
			},
			DisplayAttrs: pathDisplay("metrics"),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathMetricsRead, DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"}},
			},
			HelpSynopsis: "The engine's counters in Prometheus text format: inbound outcomes and store latency, consumer lag, inbox indexes, audit writes, TOTP codes, outbound mail.",
		},
	}
}

// pathHealthRead answers 200 while the engine can take mail — or has no
// bus configured — and 503 while its bus is down or not running here.
func (b *backend) pathHealthRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	status, lastErr := b.supervisor.status()
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	configured := cfg != nil
	well := configured && (status == busConnected || status == busDisabled)
	data := map[string]interface{}{
		"ok":          well,
		"configured":  configured,
		"bus_status":  status,
		"active_node": b.WriteSafeReplicationState(),
		"served_by":   servedBy(),
		"version":     version.String(),
	}
	if lastErr != "" {
		data["bus_error"] = lastErr
	}
	code := http.StatusOK
	if !well {
		code = http.StatusServiceUnavailable
	}
	return logical.RespondWithStatusCode(&logical.Response{Data: data}, req, code)
}

func (b *backend) pathMetricsRead(_ context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(d); resp != nil {
		return resp, nil
	}
	text, err := b.metrics.text()
	if err != nil {
		return nil, err
	}
	switch d.Get("format").(string) {
	case "prometheus":
		return &logical.Response{Data: map[string]interface{}{
			logical.HTTPContentType: "text/plain; version=0.0.4; charset=utf-8",
			logical.HTTPRawBody:     text,
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	case "", "json":
		return &logical.Response{Data: map[string]interface{}{"prometheus": string(text), "served_by": servedBy()}}, nil
	default:
		return logical.ErrorResponse("format: must be prometheus or json, got %q", d.Get("format")), nil
	}
}

const healthHelp = `
No token needed: a load balancer or monitor polls it. ok is true (HTTP 200)
when the mount is configured and its bus is connected (or off: no nats_url),
false (HTTP 503) otherwise, with bus_status and bus_error saying why.
served_by names the plugin process that answered: Vault's standbys forward
requests to the active node, so it is always the active node's.
`
